/**
 * Retention: deletes finished tasks once they are older than their status's retention, on the
 * leader only, in bounded batches (one short transaction each, so claims never wait long).
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { parseDuration } from "./duration.ts";
import { positiveInteger } from "./options.ts";
import type { TaskStore } from "./store/store.ts";
import type { TaskStatus } from "./task.ts";
import { MAINTENANCE_LEADERSHIP } from "./leader.ts";
import { logErrorTo } from "./log.ts";

/** The final statuses retention applies to. */
export type RetainedStatus = "COMPLETED" | "FAILED" | "CANCELLED";

/** How long finished tasks are kept, per status, in ms; null keeps them forever. */
export type Retention = Record<RetainedStatus, number | null>;

/**
 * The default retention: COMPLETED and CANCELLED tasks 7 days, FAILED ones 30 days (long
 * enough to look into a failure after a holiday).
 */
export const DEFAULT_RETENTION: Readonly<Retention> = {
  COMPLETED: 7 * 86_400_000,
  CANCELLED: 7 * 86_400_000,
  FAILED: 30 * 86_400_000,
};
/** How long recorded schedule slots are kept: 7 days. */
export const SLOT_RETENTION_MILLIS = 7 * 86_400_000;
/** Default {@linkcode PrunerOptions.interval}: a pass a minute. */
export const DEFAULT_PRUNE_INTERVAL_MILLIS = 60_000;
/** Default {@linkcode PrunerOptions.batchSize}: rows deleted per transaction. */
export const DEFAULT_PRUNE_BATCH = 1000;

const RETAINED: readonly RetainedStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];

/**
 * Reads retention as the CLI takes it: `completed=1d,failed=90d,cancelled=never`, or `never`
 * for all; statuses not named keep their default. Throws a `RangeError` naming the part.
 *
 * @example
 * ```ts
 * parseRetention("completed=1d,failed=90d"); // { COMPLETED: 86400000, FAILED: 7776000000, CANCELLED: 604800000 }
 * ```
 */
export function parseRetention(text: string, label = "--retention"): Retention {
  const retention: Retention = { ...DEFAULT_RETENTION };
  const value = String(text).trim();
  if (value === "never") return { COMPLETED: null, FAILED: null, CANCELLED: null };
  if (value === "") throw new RangeError(`${label} must be STATUS=DURATION,... or never, got ""`);
  for (const part of value.split(",")) {
    const match = /^\s*([a-z]+)\s*=\s*(\S+)\s*$/i.exec(part);
    const status = match?.[1]?.toUpperCase() as RetainedStatus | undefined;
    if (!match || !status || !RETAINED.includes(status)) {
      throw new RangeError(
        `${label} must be STATUS=DURATION parts (status completed, failed or cancelled) or never, got ${
          JSON.stringify(part)
        }`,
      );
    }
    retention[status] = match[2] === "never"
      ? null
      : parseDuration(match[2], `${label} ${status.toLowerCase()}`, { bareMillis: false });
  }
  return retention;
}

/** Options of {@linkcode Pruner}. */
export interface PrunerOptions {
  /** Per status; default {@linkcode DEFAULT_RETENTION}. */
  retention?: Partial<Retention>;
  /** Default {@linkcode DEFAULT_PRUNE_INTERVAL_MILLIS}. */
  interval?: number;
  /** Default {@linkcode DEFAULT_PRUNE_BATCH}. */
  batchSize?: number;
  /**
   * Whether this process leads maintenance now (a worker passes its `LeaderElector`'s
   * `isLeader`). Without it, each pass bids for the leadership itself as `holder`.
   */
  leading?: () => boolean;
  /** Who bids for the leadership when `leading` is not given (a worker id). Default: random. */
  holder?: string;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /** Store errors of the loop (it goes on). Default: logged through LogTape. */
  onError?: (error: unknown) => void;
}

/**
 * Deletes expired finished tasks (and old schedule slots) while it leads `maintenance`.
 *
 * @example
 * ```ts
 * const pruner = new Pruner(store, { retention: { COMPLETED: 86_400_000 } });
 * pruner.start();
 * ```
 */
export class Pruner {
  readonly retention: Readonly<Retention>;
  readonly #store: TaskStore;
  readonly #interval: number;
  readonly #batch: number;
  readonly #holder: string;
  readonly #leading: (() => boolean) | undefined;
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(store: TaskStore, options: PrunerOptions = {}) {
    this.#store = store;
    const retention = { ...DEFAULT_RETENTION, ...options.retention };
    for (const status of RETAINED) {
      const millis = retention[status];
      if (millis !== null && (!Number.isSafeInteger(millis) || millis < 0)) {
        throw new RangeError(
          `retention.${status} must be ms >= 0 or null (never), got ${String(millis)}`,
        );
      }
    }
    for (const key of Object.keys(retention)) {
      if (!RETAINED.includes(key as RetainedStatus)) {
        throw new RangeError(
          `retention.${key} is not a final status; expected ${RETAINED.join(", ")}`,
        );
      }
    }
    this.retention = retention;
    this.#interval = positiveInteger(options.interval ?? DEFAULT_PRUNE_INTERVAL_MILLIS, "interval");
    // A timer longer than 2^31-1 ms fires at once.
    if (this.#interval > 2 ** 31 - 1) {
      throw new RangeError(`interval must be at most ${2 ** 31 - 1} ms, got ${this.#interval}`);
    }
    this.#batch = positiveInteger(options.batchSize ?? DEFAULT_PRUNE_BATCH, "batchSize");
    this.#holder = options.holder ?? `pruner-${crypto.randomUUID().slice(0, 8)}`;
    this.#leading = options.leading;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? logErrorTo("pruner", "pruner");
  }

  /** Runs a pass every `interval`. Calling it again does nothing. */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.runOnce().catch(this.#onError).finally(() => {
        this.#running = undefined;
      });
    }, this.#interval);
  }

  /** Stops, waits for a pass in flight and gives up a leadership it bid for. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
    if (!this.#leading) {
      await this.#store.resign(MAINTENANCE_LEADERSHIP, this.#holder).catch(this.#onError);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * One pass: unless it leads `maintenance` (its `leading`, or a bid of its own), nothing; else, per status,
   * batches of at most `batchSize` tasks finished before `now - retention` until none is left.
   * Returns how many tasks it deleted (0 when another process leads).
   */
  async runOnce(): Promise<number> {
    const now = this.#clock.now();
    if (this.#leading) {
      if (!this.#leading()) return 0;
    } else {
      const lease = await this.#store.lead({
        name: MAINTENANCE_LEADERSHIP,
        holder: this.#holder,
        now,
        ttlMillis: this.#interval * 3,
      });
      if (lease.holder !== this.#holder) return 0;
    }
    let deleted = 0;
    for (const status of RETAINED) {
      const keep = this.retention[status];
      if (keep === null) continue;
      const statuses: TaskStatus[] = [status];
      for (;;) {
        if (this.#stopped) return deleted;
        const n = await this.#store.prune({ before: now - keep, statuses, limit: this.#batch });
        deleted += n;
        if (n < this.#batch) break;
      }
    }
    while (await this.#store.pruneSlots(now - SLOT_RETENTION_MILLIS, this.#batch) >= this.#batch) {
      if (this.#stopped) break;
    }
    return deleted;
  }
}
