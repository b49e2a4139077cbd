/**
 * Group commit: writes that callers start at about the same time share one transaction, and
 * each caller's promise settles only once its own part is committed.
 * @module
 */

interface Pending<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects items and commits them with one call of `commit`, which must write all of them in one
 * transaction and return one result per item. A group closes at the end of the current microtask
 * queue (no added latency: callers that resume together, like many producers awaiting their
 * previous enqueue, share it), or, while a commit is running, when that commit ends. When a group
 * fails, each item is committed again on its own, so one bad item fails alone with its own error.
 * (Requests that arrive in separate event-loop turns, such as HTTP enqueues, are grouped one level
 * up, by the admin endpoint's `GroupEnqueue`.)
 */
export class GroupCommit<I, R> {
  #pending: Pending<I, R>[] = [];
  #scheduled = false;
  #running: Promise<void> | undefined;

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
        if (this.#pending.length) this.#schedule();
      });
    };
    queueMicrotask(run);
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
