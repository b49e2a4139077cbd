/**
 * The lease rescuer: finds PROCESSING tasks whose worker stopped renewing the lease (it crashed,
 * hung or lost its database) and sends them to retry, or to FAILED once out of attempts. The
 * crashed attempt counts. Every worker runs one; the fenced `finish` makes concurrent rescuers
 * safe.
 * @module
 */

import type { Clock } from "./clock.ts";
import { failureOutcome } from "./outcome.ts";
import type { TaskSignals } from "./signals.ts";
import type { Outcome, TaskStore } from "./store/store.ts";
import { TaskStatus } from "./task.ts";

/** How many expired leases one pass handles. */
export const RESCUE_BATCH = 100;

/** Options of {@linkcode LeaseRescuer}. */
export interface LeaseRescuerOptions {
  clock: Clock;
  random: () => number;
  /** Milliseconds between passes. */
  interval: number;
  signals: TaskSignals;
  onError: (error: unknown) => void;
}

/** Periodically rescues expired leases; `runOnce()` does one pass (tests call it directly). */
export class LeaseRescuer {
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<number> | undefined;

  constructor(private readonly store: TaskStore, private readonly options: LeaseRescuerOptions) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(
      () => void this.runOnce().catch(this.options.onError),
      this.options.interval,
    );
    void this.runOnce().catch(this.options.onError);
  }

  /** Stops the timer and waits for a pass in progress. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Rescues up to {@linkcode RESCUE_BATCH} expired leases; returns how many it changed. */
  runOnce(): Promise<number> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pass(): Promise<number> {
    const now = this.options.clock.now();
    const expired = await this.store.findExpiredLeases(now, RESCUE_BATCH);
    if (!expired.length) return 0;
    const outcomes: Outcome[] = expired.map((task) => {
      const token = task.attemptToken ?? "";
      if (task.cancelRequested) return { kind: "cancelled", id: task.id, token, now, error: null };
      const error = {
        message:
          `Lease expired: worker ${task.workerId} stopped renewing attempt ${task.attempts} ` +
          `(it crashed, hung or lost the database)`,
      };
      return failureOutcome(task, token, error, now, this.options.random);
    });
    const results = await this.store.finish(outcomes);
    let rescued = 0;
    const { signals } = this.options;
    results.forEach((task, i) => {
      if (!task) return;
      rescued++;
      const outcome = outcomes[i]!;
      const error = Object.assign(new Error(task.lastError?.message ?? "Lease expired"), {
        name: "LeaseExpired",
      });
      if (task.status === TaskStatus.RETRYING && outcome.kind === "retry") {
        signals.taskRetrying.emit({ task, error, nextRunAt: outcome.runAt });
      } else if (task.status === TaskStatus.FAILED) {
        signals.taskFailed.emit({ task, error });
      } else if (task.status === TaskStatus.CANCELLED) {
        signals.taskCancelled.emit({ task });
      }
    });
    return rescued;
  }
}
