/**
 * One message outbox, used at both ends of a pool channel: messages queued in one turn of the
 * event loop leave as one batch at the end of it (one `postMessage` for a burst of tasks).
 * @module
 */

/** Collects messages and hands them to `post` as one batch, once per microtask checkpoint. */
export class Outbox<M> {
  #queued: M[] = [];

  constructor(private readonly post: (batch: M[]) => void) {}

  /** How many messages wait. */
  get size(): number {
    return this.#queued.length;
  }

  push(message: M): void {
    if (!this.#queued.length) queueMicrotask(() => this.flush());
    this.#queued.push(message);
  }

  /** Sends what waits now. */
  flush(): void {
    if (!this.#queued.length) return;
    const batch = this.#queued;
    this.#queued = [];
    this.post(batch);
  }

  /** Drops what waits (the channel is gone). */
  clear(): void {
    this.#queued = [];
  }
}
