/**
 * Taking back attempts whose worker will not finish them, and the lease rescuer, the last line
 * of defence: it finds PROCESSING tasks whose worker stopped renewing the lease (it crashed,
 * hung or lost its database) and sends them to retry, or to FAILED once out of attempts. The
 * lost attempt counts. It runs on the elected leader only ({@linkcode LeaseRescuerOptions.leading});
 * the fenced `finish` makes a second rescuer, or a late outcome of the lost attempt, harmless.
 * @module
 */

import type { Clock } from "./clock.ts";
import { failureOutcome } from "./outcome.ts";
import { type LongTimer, setLongInterval } from "./long_timer.ts";
import { positiveInteger } from "./options.ts";
import type { TaskSignals } from "./signals.ts";
import type { Outcome, TaskStore } from "./store/store.ts";
import { type TaskRecord, TaskStatus } from "./task.ts";

/** How many expired leases one batch of a pass handles; a pass loops until none is left. */
export const RESCUE_BATCH = 100;

/** What {@linkcode takeBackAttempts} needs besides the tasks. */
export interface TakeBackContext {
  now: number;
  random: () => number;
  signals: TaskSignals;
  /** The error name the signals carry, e.g. `LeaseExpired`. */
  errorName: string;
  /** The message stored as the attempt's error. */
  message: (task: TaskRecord) => string;
  /**
   * true: a retry is due at once, back in the place in line it had when it was claimed (its
   * worker is known to be gone: the task did not fail by itself); false: after the task's retry
   * backoff, as for any failed attempt.
   */
  retryAtOnce: boolean;
}

/**
 * Ends the held attempts of `tasks` (as `findExpiredLeases` or `list` returned them, with their
 * attempt tokens) like failed ones: retry, or FAILED when out of attempts; CANCELLED when a
 * cancel was requested. Fenced by each task's token: a task that finished or moved on since it
 * was read is left alone. Emits `taskRetrying`/`taskFailed`/`taskCancelled` for those changed;
 * returns their updated records.
 */
export async function takeBackAttempts(
  store: TaskStore,
  tasks: readonly TaskRecord[],
  context: TakeBackContext,
): Promise<TaskRecord[]> {
  if (!tasks.length) return [];
  const { now, random, signals } = context;
  const outcomes: Outcome[] = tasks.map((task): Outcome => {
    const token = task.attemptToken ?? "";
    // `expired`: the attempt's history entry says its lease was lost.
    if (task.cancelRequested) {
      return { kind: "cancelled", id: task.id, token, now, error: null, expired: true };
    }
    const error = { message: context.message(task) };
    if (context.retryAtOnce && task.attempts < task.maxAttempts) {
      const runAt = Math.min(now, task.runAt);
      return { kind: "retry", id: task.id, token, now, error, runAt, expired: true };
    }
    return { ...failureOutcome(task, token, error, now, random), expired: true };
  });
  const results = await store.finish(outcomes);
  const changed: TaskRecord[] = [];
  results.forEach((task, i) => {
    if (!task) return;
    changed.push(task);
    const outcome = outcomes[i]!;
    const error = Object.assign(new Error(task.lastError?.message ?? context.errorName), {
      name: context.errorName,
    });
    if (task.status === TaskStatus.RETRYING && outcome.kind === "retry") {
      signals.taskRetrying.emit({ task, error, nextRunAt: outcome.runAt });
    } else if (task.status === TaskStatus.FAILED) {
      signals.taskFailed.emit({ task, error });
    } else if (task.status === TaskStatus.CANCELLED) {
      signals.taskCancelled.emit({ task });
    }
  });
  return changed;
}

/** Options of {@linkcode LeaseRescuer}. */
export interface LeaseRescuerOptions {
  clock: Clock;
  random: () => number;
  /** Milliseconds between passes. */
  interval: number;
  signals: TaskSignals;
  onError: (error: unknown) => void;
  /**
   * Whether this process may run the timed passes now: true on the elected leader. Default:
   * always. `runOnce()` runs regardless.
   */
  leading?: () => boolean;
  /** Expired leases per batch. Default {@linkcode RESCUE_BATCH}. */
  batchSize?: number;
  /** Called after a pass that changed tasks, with their records (the worker claims them when due). */
  onRescued?: (tasks: readonly TaskRecord[]) => void;
}

/**
 * Rescues expired leases every `interval` while leading; `runOnce()` does one pass (tests call
 * it directly). A pass loops over batches of {@linkcode RESCUE_BATCH} until no expired lease is
 * left, so 400 orphans come back in one pass, not one batch per interval.
 */
export class LeaseRescuer {
  #timer: LongTimer | undefined;
  /** The pass in progress, or the last one. */
  #running: Promise<unknown> = Promise.resolve();
  #busy = false;
  readonly #batchSize: number;

  constructor(private readonly store: TaskStore, private readonly options: LeaseRescuerOptions) {
    this.#batchSize = positiveInteger(options.batchSize ?? RESCUE_BATCH, "batchSize");
  }

  /** Starts the timed passes (the first one at once). Calling it again does nothing. */
  start(): void {
    if (this.#timer) return;
    const tick = () => {
      if (this.#busy || !(this.options.leading?.() ?? true)) return;
      void this.runOnce().catch(this.options.onError);
    };
    this.#timer = setLongInterval(tick, this.options.interval);
    tick();
  }

  /** Stops the timer and waits for a pass in progress. Idempotent. */
  async stop(): Promise<void> {
    this.#timer?.clear();
    this.#timer = undefined;
    await this.#running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Rescues every lease expired now, in batches; returns how many tasks it changed. A call
   * while a pass runs starts a fresh pass (with a fresh `now`) after it.
   */
  runOnce(): Promise<number> {
    const pass = this.#running.then(() => {
      this.#busy = true;
      return this.#pass();
    }).finally(() => (this.#busy = false));
    this.#running = pass.catch(() => {});
    return pass;
  }

  async #pass(): Promise<number> {
    const now = this.options.clock.now();
    const rescued: TaskRecord[] = [];
    for (;;) {
      const expired = await this.store.findExpiredLeases(now, this.#batchSize);
      const changed = await takeBackAttempts(this.store, expired, {
        now,
        random: this.options.random,
        signals: this.options.signals,
        errorName: "LeaseExpired",
        message: (task) =>
          `Lease expired: worker ${task.workerId} stopped renewing attempt ${task.attempts} ` +
          `(it crashed, hung or lost the database)`,
        retryAtOnce: false,
      });
      rescued.push(...changed);
      // A short batch was the last one; a batch that changed nothing (every token moved on
      // meanwhile) would be read again as it is, so stop there too.
      if (expired.length < this.#batchSize || changed.length === 0) {
        if (rescued.length > 0) this.options.onRescued?.(rescued);
        return rescued.length;
      }
    }
  }
}
