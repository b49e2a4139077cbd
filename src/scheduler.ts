/**
 * The scheduler: fires the cron schedules of a store. Every worker runs one; the store's slot
 * ledger makes each slot fire once however many run (see `TaskStore.recordSlot`), so no leader
 * is needed and a restart or a second host never fires a slot twice.
 * @module
 */

import type { Cron } from "croner";
import { type Clock, systemClock } from "./clock.ts";
import { TaskDispatcher } from "./dispatcher.ts";
import { defaultRegistry, type TaskRegistry } from "./registry.ts";
import { cronOf, dueSlots } from "./schedule.ts";
import { positiveInteger } from "./options.ts";
import { logErrorTo } from "./log.ts";
import type { ScheduleInput, ScheduleRecord, TaskStore } from "./store/store.ts";

/** The longest delay a timer takes (about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1;
/**
 * Default {@linkcode SchedulerOptions.refreshInterval}: how often schedules are re-read (15 s).
 * Well under `SLOT_GRACE_MILLIS` (60 s), so a schedule another process adds fires its first
 * slot even when that slot is due before this scheduler has read it; each re-read of 1,000
 * schedules costs a few ms.
 */
export const DEFAULT_SCHEDULE_REFRESH_MILLIS = 15_000;

/** Options of {@linkcode Scheduler}. */
export interface SchedulerOptions {
  /**
   * Tasks it can enqueue (their defaults and schemas); schedules of other tasks are left to a
   * scheduler that knows them. Default {@linkcode defaultRegistry}.
   */
  registry?: TaskRegistry;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /**
   * How often to re-read the schedules, in ms, for ones another process added or changed.
   * Default {@linkcode DEFAULT_SCHEDULE_REFRESH_MILLIS} (15000).
   */
  refreshInterval?: number;
  /** Store errors of the loop (it goes on). Default: logged through LogTape. */
  onError?: (error: unknown) => void;
}

/** What one {@linkcode Scheduler.runOnce} did. */
export interface SchedulerPass {
  /** Slots that enqueued a task. */
  fired: number;
  /** Slots recorded as skipped (overlap `skip`). */
  skipped: number;
  /** The earliest next fire time of the known schedules, or null. */
  nextAt: number | null;
}

interface Known {
  record: ScheduleRecord;
  job: Cron;
  /** The next fire time after the last look. */
  nextAt: number | null;
}

/**
 * Fires due slots of every schedule whose task it knows.
 *
 * @example
 * ```ts
 * await using scheduler = new Scheduler(store, { registry });
 * scheduler.start();
 * ```
 */
export class Scheduler {
  readonly #store: TaskStore;
  readonly #registry: TaskRegistry;
  readonly #dispatcher: TaskDispatcher;
  readonly #clock: Clock;
  readonly #refreshInterval: number;
  readonly #onError: (error: unknown) => void;
  #known = new Map<string, Known>();
  #refreshedAt = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<unknown> | undefined;
  #state: "new" | "running" | "stopped" = "new";

  constructor(store: TaskStore, options: SchedulerOptions = {}) {
    this.#store = store;
    this.#registry = options.registry ?? defaultRegistry;
    this.#clock = options.clock ?? systemClock;
    this.#dispatcher = new TaskDispatcher(store, { registry: this.#registry, clock: this.#clock });
    this.#refreshInterval = positiveInteger(
      options.refreshInterval ?? DEFAULT_SCHEDULE_REFRESH_MILLIS,
      "refreshInterval",
    );
    if (this.#refreshInterval > MAX_TIMER_MILLIS) {
      throw new RangeError(
        `refreshInterval must be at most ${MAX_TIMER_MILLIS} ms, got ${this.#refreshInterval}`,
      );
    }
    this.#onError = options.onError ?? logErrorTo("scheduler", "scheduler");
  }

  /**
   * Writes the schedules that handler definitions declare (`defineTask({ cron })`) and retires
   * `source: "code"` schedules of the registry's tasks that the code no longer declares.
   * Schedules of tasks this registry does not know are left alone (another worker may own them).
   * Returns the ids it retired.
   */
  async syncCodeSchedules(): Promise<string[]> {
    const now = this.#clock.now();
    const declared: ScheduleInput[] = this.#registry.definitions().flatMap((d) =>
      d.schedules ?? []
    );
    for (const input of declared) await this.#store.upsertSchedule(input, now);
    const mine = new Set(this.#registry.names());
    const ids = new Set(declared.map((s) => s.id));
    const keep = (await this.#store.listSchedules())
      .filter((s) => !(s.source === "code" && mine.has(s.task) && !ids.has(s.id)))
      .map((s) => s.id);
    const retired = await this.#store.retireSchedules(keep, now);
    this.#refreshedAt = -Infinity;
    return retired;
  }

  /** Starts the loop. Calling it again does nothing; a stopped scheduler cannot restart. */
  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    this.#tick();
  }

  /** Stops the loop and waits for a pass in flight. Idempotent. */
  async stop(): Promise<void> {
    this.#state = "stopped";
    clearTimeout(this.#timer);
    await this.#running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Re-reads the schedules at the next pass (e.g. after this process changed one). */
  refresh(): void {
    this.#refreshedAt = -Infinity;
  }

  /**
   * One pass at `clock.now()`: re-reads the schedules when due, then fires every due slot of
   * each active schedule whose task is registered, under its catch-up and overlap policies.
   */
  async runOnce(): Promise<SchedulerPass> {
    const now = this.#clock.now();
    if (now - this.#refreshedAt >= this.#refreshInterval) await this.#reload(now);
    const pass: SchedulerPass = { fired: 0, skipped: 0, nextAt: null };
    let stale = false;
    for (const known of this.#known.values()) {
      const { record } = known;
      if (known.nextAt !== null && known.nextAt > now) {
        if (pass.nextAt === null || known.nextAt < pass.nextAt) pass.nextAt = known.nextAt;
        continue;
      }
      const from = record.lastSlotAt ?? record.createdAt;
      try {
        for (const slotAt of dueSlots(known.job, record, from, now)) {
          const result = await this.#dispatcher.fireSlot(record, slotAt);
          if (result.outcome === "taken") {
            // Another scheduler got there first (or the schedule changed): re-read soon.
            stale = true;
            continue;
          }
          record.lastSlotAt = slotAt;
          if (result.outcome === "fired") {
            record.lastTaskId = result.taskId;
            pass.fired++;
          } else pass.skipped++;
        }
      } catch (error) {
        // One schedule's failure (a busy store, a task whose schema changed) must not stop
        // the others; its slot is tried again at the next pass.
        this.#onError(error);
        known.nextAt = null;
        continue;
      }
      known.nextAt = nextAfter(known.job, Math.max(now, record.lastSlotAt ?? now));
      if (known.nextAt !== null && (pass.nextAt === null || known.nextAt < pass.nextAt)) {
        pass.nextAt = known.nextAt;
      }
    }
    if (stale) this.#refreshedAt = -Infinity;
    return pass;
  }

  async #reload(now: number): Promise<void> {
    const schedules = await this.#store.listSchedules();
    this.#refreshedAt = now;
    const next = new Map<string, Known>();
    for (const record of schedules) {
      if (record.retired || !this.#registry.has(record.task)) continue;
      const old = this.#known.get(record.id);
      let job: Cron;
      if (old && old.record.cron === record.cron && old.record.timezone === record.timezone) {
        job = old.job;
      } else {
        try {
          job = cronOf(record.cron, record.timezone, `schedule "${record.id}": cron`);
        } catch (error) {
          this.#onError(error);
          continue;
        }
      }
      const unchanged = old && old.record.updatedAt === record.updatedAt &&
        old.record.lastSlotAt === record.lastSlotAt;
      next.set(record.id, { record, job, nextAt: unchanged ? old.nextAt : null });
    }
    this.#known = next;
  }

  #tick(): void {
    if (this.#state !== "running") return;
    const pass = this.runOnce().then(
      (result) => result.nextAt,
      (error) => {
        this.#onError(error);
        return null;
      },
    );
    this.#running = pass;
    void pass.then((nextAt) => {
      if (this.#state !== "running") return;
      const now = this.#clock.now();
      const untilRefresh = this.#refreshedAt + this.#refreshInterval - now;
      const untilSlot = nextAt === null ? Infinity : nextAt - now;
      const delay = Math.max(0, Math.min(untilRefresh, untilSlot, this.#refreshInterval));
      this.#timer = setTimeout(() => this.#tick(), delay);
    });
  }
}

function nextAfter(job: Cron, after: number): number | null {
  return job.nextRun(new Date(after))?.getTime() ?? null;
}
