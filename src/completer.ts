/**
 * The worker's completer: the outcomes of attempts from any executor (in process, any pool
 * Worker) and the start marks of prefetched tasks are written by one writer, in as few
 * transactions as the load allows, each still fenced per task by its attempt token. A claim to
 * refill the worker rides along in the same transaction.
 *
 * When idle, a commit starts at the end of the current microtask queue: no added latency. Under
 * load (the last commit ended under {@linkcode BUSY_WITHIN_MILLIS} ago), it waits for the end of
 * the event loop's turn, so outcomes that arrive in separate callbacks (Worker messages) join it.
 * Start marks alone wait up to {@linkcode MARK_DELAY_MILLIS} for company.
 * @module
 */

import { setImmediate } from "node:timers";
import type { ClaimRequest, Outcome, StartMark, TaskStore } from "./store/store.ts";
import type { TaskRecord } from "./task.ts";

/** See the module notes. */
export const BUSY_WITHIN_MILLIS = 1;
/** How long a start mark waits for an outcome to travel with, in ms. */
export const MARK_DELAY_MILLIS = 100;
/** The longest pause before a failed commit is tried again, in ms (it doubles from 25). */
export const MAX_RETRY_DELAY_MILLIS = 1000;

/** One outcome to write, with the caller's handle on it. */
export interface Completion<T> {
  outcome: Outcome;
  ref: T;
}

/** What the completer asks of and tells its worker. */
export interface CompleterHooks<T> {
  /** A claim to ride along with the commit about to start (its slots reserved), or null. */
  takeClaim(): ClaimRequest | null;
  /** A commit landed: per completion the updated task (null: rejected by the fence). */
  committed(
    done: readonly Completion<T>[],
    finished: readonly (TaskRecord | null)[],
    claimed: TaskRecord[],
    claim: ClaimRequest | null,
  ): void;
  /** A commit failed; its completions are kept and retried. The claim was not made. */
  failed(error: unknown, claim: ClaimRequest | null): void;
}

/** Group-commits outcomes and start marks (see the module notes). */
export class Completer<T> {
  readonly #store: TaskStore;
  readonly #hooks: CompleterHooks<T>;
  #completions: Completion<T>[] = [];
  #marks = new Map<string, StartMark>();
  #scheduled: "soon" | "marks" | undefined;
  #markTimer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #lastCommitAt = -Infinity;
  #failures = 0;
  #idle: (() => void)[] = [];

  constructor(store: TaskStore, hooks: CompleterHooks<T>) {
    this.#store = store;
    this.#hooks = hooks;
  }

  /** Outcomes waiting to be written or being written. */
  get pending(): readonly Completion<T>[] {
    return this.#completions;
  }

  /** Writes `outcome` soon. */
  complete(outcome: Outcome, ref: T): void {
    // A mark for this attempt is moot: the outcome carries its start.
    const mark = this.#marks.get(outcome.id);
    if (mark && mark.token === outcome.token) {
      this.#marks.delete(outcome.id);
      outcome.startedAt ??= mark.at;
    }
    this.#completions.push({ outcome, ref });
    this.#schedule("soon");
  }

  /** Records that a claimed task started, with the next commit (at most MARK_DELAY_MILLIS away). */
  markStarted(mark: StartMark): void {
    this.#marks.set(mark.id, mark);
    this.#schedule("marks");
  }

  /** Drops the start mark of a task this worker no longer holds. */
  forget(id: string): void {
    this.#marks.delete(id);
  }

  /** Commits now whatever waits (used at shutdown), and resolves when nothing waits. */
  async drain(): Promise<void> {
    while (this.#completions.length || this.#marks.size || this.#running) {
      if (!this.#running) this.#start();
      await this.#running;
    }
  }

  /** Resolves once no outcome waits (marks may). */
  whenIdle(): Promise<void> {
    if (!this.#completions.length && !this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops timers; what waits stays for {@linkcode drain}. */
  stop(): void {
    clearTimeout(this.#markTimer);
    this.#markTimer = undefined;
    if (this.#scheduled === "marks") this.#scheduled = undefined;
  }

  #schedule(urgency: "soon" | "marks"): void {
    if (this.#running) return; // the running commit reschedules when it ends
    if (this.#scheduled === "soon" || this.#scheduled === urgency) return;
    if (urgency === "marks") {
      this.#scheduled = "marks";
      this.#markTimer = setTimeout(() => this.#start(), MARK_DELAY_MILLIS);
      return;
    }
    clearTimeout(this.#markTimer);
    this.#scheduled = "soon";
    if (performance.now() - this.#lastCommitAt < BUSY_WITHIN_MILLIS) {
      setImmediate(() => this.#start());
    } else queueMicrotask(() => this.#start());
  }

  #start(): void {
    this.#scheduled = undefined;
    clearTimeout(this.#markTimer);
    this.#markTimer = undefined;
    if (this.#running) return;
    if (!this.#completions.length && !this.#marks.size) return;
    this.#running = this.#commit().finally(() => {
      this.#running = undefined;
      this.#lastCommitAt = performance.now();
      if (this.#completions.length) this.#schedule("soon");
      else {
        if (this.#marks.size) this.#schedule("marks");
        for (const resolve of this.#idle.splice(0)) resolve();
      }
    });
  }

  async #commit(): Promise<void> {
    const done = this.#completions;
    this.#completions = [];
    const marks = [...this.#marks.values()];
    this.#marks.clear();
    const outcomes = done.map((c) => c.outcome);
    const claim = this.#hooks.takeClaim();
    let finished: (TaskRecord | null)[];
    let claimed: TaskRecord[] = [];
    try {
      if (claim) {
        ({ finished, claimed } = await this.#store.finishAndClaim(outcomes, claim, marks));
      } else {
        finished = await this.#store.finish(outcomes, marks);
      }
    } catch (error) {
      // Keep everything for the next try, ahead of what arrived meanwhile.
      this.#completions = [...done, ...this.#completions];
      for (const mark of marks) if (!this.#marks.has(mark.id)) this.#marks.set(mark.id, mark);
      this.#hooks.failed(error, claim);
      const delay = Math.min(MAX_RETRY_DELAY_MILLIS, 25 * 2 ** this.#failures++);
      await new Promise((resolve) => setTimeout(resolve, delay));
      return;
    }
    this.#failures = 0;
    this.#hooks.committed(done, finished, claimed, claim);
  }
}
