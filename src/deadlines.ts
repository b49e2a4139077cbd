/**
 * Deadlines of running attempts on one shared timer: the worker adds a deadline per attempt
 * (its timeout) and removes it when the attempt settles, without a timer per task. Delays of
 * any length work (a runtime timer takes at most 2^31−1 ms; longer waits re-arm).
 * @module
 */

import { Heap } from "./store/_heap.ts";

/** The longest delay one runtime timer takes as written. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1;

interface Deadline {
  key: string;
  at: number;
  fire: () => void;
}

const byTime = (a: Deadline, b: Deadline) => a.at < b.at;

/** Calls each deadline's function once its time comes, unless it was deleted first. */
export class Deadlines {
  #heap = new Heap<Deadline>(byTime);
  readonly #live = new Map<string, Deadline>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Calls `fire` after `millis` ms (Infinity: never), replacing a deadline of the same key. */
  add(key: string, millis: number, fire: () => void): void {
    if (!(millis < Infinity)) return this.delete(key);
    const deadline = { key, at: this.now() + millis, fire };
    this.#live.set(key, deadline);
    this.#heap.push(deadline);
    if (deadline.at < this.#timerAt) this.#arm();
  }

  delete(key: string): void {
    if (!this.#live.delete(key)) return;
    // Deleted deadlines stay in the heap until their time; rebuild it before they pile up.
    if (this.#heap.size > 2 * this.#live.size + 64) {
      this.#heap = new Heap<Deadline>(byTime);
      for (const deadline of this.#live.values()) this.#heap.push(deadline);
    }
  }

  clear(): void {
    this.#live.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #arm(): void {
    // Drop deadlines deleted or replaced since they were added.
    for (
      let top = this.#heap.peek();
      top && this.#live.get(top.key) !== top;
      top = this.#heap.peek()
    ) {
      this.#heap.pop();
    }
    clearTimeout(this.#timer);
    const next = this.#heap.peek();
    if (!next) {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    this.#timerAt = next.at;
    const delay = Math.min(MAX_TIMER_MILLIS, Math.max(0, next.at - this.now()));
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.now();
    for (let top = this.#heap.peek(); top && top.at <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      if (this.#live.get(top.key) !== top) continue;
      this.#live.delete(top.key);
      top.fire();
    }
    this.#arm();
  }
}
