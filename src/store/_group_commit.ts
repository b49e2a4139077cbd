/**
 * Group commit: writes that callers start at about the same time share one transaction, and
 * each caller's promise settles only once its own part is committed.
 * @module
 */

import { setImmediate } from "node:timers";

interface Pending<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * How soon after a commit the next one counts as "under load", in ms: then the next flush waits
 * for the end of the event loop's turn (`setImmediate`), so writes that arrive in separate
 * callbacks (HTTP requests, Worker messages) join it. An idle store flushes at the end of the
 * current microtask queue instead, which adds no latency.
 */
const BUSY_WITHIN_MILLIS = 1;

/**
 * Collects items and commits them with one call of `commit`, which must write all of them in one
 * transaction and return one result per item. When a group fails, each item is committed again
 * on its own, so one bad item fails alone with its own error.
 */
export class GroupCommit<I, R> {
  #pending: Pending<I, R>[] = [];
  #scheduled = false;
  #running: Promise<void> | undefined;
  #lastCommitAt = -Infinity;

  constructor(private readonly commit: (items: readonly I[]) => Promise<readonly R[]>) {}

  /** Resolves with the item's result once the group that carried it is committed. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    const run = () => {
      this.#scheduled = false;
      this.#running = this.#flush().finally(() => {
        this.#running = undefined;
        this.#lastCommitAt = performance.now();
        if (this.#pending.length) this.#schedule();
      });
    };
    if (performance.now() - this.#lastCommitAt < BUSY_WITHIN_MILLIS) setImmediate(run);
    else queueMicrotask(run);
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    try {
      const results = await this.commit(batch.map((p) => p.item));
      batch.forEach((pending, i) => pending.resolve(results[i]!));
      return;
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
    }
    // The group failed: each item on its own, so only the bad one fails, with its own error.
    for (const pending of batch) {
      try {
        pending.resolve((await this.commit([pending.item]))[0]!);
      } catch (error) {
        pending.reject(error);
      }
    }
  }
}
