/**
 * A log for errors that may repeat many times a second (a background loop failing on every
 * turn): the first occurrence of a message is written at once, its repeats are counted and
 * written as one line per window, `… (repeated 250 times in the last 10s)`.
 * @module
 */

import { formatDuration } from "./duration.ts";

/** The default {@linkcode RateLimitedLogOptions.windowMillis}. */
export const DEFAULT_REPEAT_WINDOW_MILLIS = 10_000;
/** The default {@linkcode RateLimitedLogOptions.maxMessages}. */
export const DEFAULT_MAX_TRACKED_MESSAGES = 100;

/** Options of {@linkcode RateLimitedLog}. */
export interface RateLimitedLogOptions {
  /** Writes one line (the message, or its summary with the count). */
  write: (line: string) => void;
  /** How long repeats of one message are counted before their count is written. Default 10 s. */
  windowMillis?: number;
  /** How many distinct messages are counted at once; the oldest is summed up and dropped. Default 100. */
  maxMessages?: number;
  /** Default `Date.now`. */
  now?: () => number;
}

interface Repeats {
  since: number;
  count: number;
}

/**
 * Writes each distinct message at most once per window, with the count of its repeats.
 * Timer-free: a count is written by the next occurrence after its window, by
 * {@linkcode RateLimitedLog.flushExpired} (call it every window or so) and by
 * {@linkcode RateLimitedLog.flush} (call it at shutdown).
 *
 * @example
 * ```ts
 * const errors = new RateLimitedLog({ write: (line) => console.error(line) });
 * worker = new TaskWorker(store, { onError: (error) => errors.report(String(error)) });
 * ```
 */
export class RateLimitedLog {
  readonly #write: (line: string) => void;
  readonly #windowMillis: number;
  readonly #maxMessages: number;
  readonly #now: () => number;
  readonly #repeats = new Map<string, Repeats>();

  constructor(options: RateLimitedLogOptions) {
    if (typeof options?.write !== "function") {
      throw new TypeError(`write must be a function, got ${String(options?.write)}`);
    }
    const windowMillis = options.windowMillis ?? DEFAULT_REPEAT_WINDOW_MILLIS;
    if (!Number.isFinite(windowMillis) || windowMillis <= 0) {
      throw new RangeError(`windowMillis must be a positive number, got ${String(windowMillis)}`);
    }
    const maxMessages = options.maxMessages ?? DEFAULT_MAX_TRACKED_MESSAGES;
    if (!Number.isInteger(maxMessages) || maxMessages < 1) {
      throw new RangeError(`maxMessages must be a positive integer, got ${String(maxMessages)}`);
    }
    this.#write = options.write;
    this.#windowMillis = windowMillis;
    this.#maxMessages = maxMessages;
    this.#now = options.now ?? Date.now;
  }

  /** Writes `message` now, or counts it when it was written less than a window ago. */
  report(message: string): void {
    const now = this.#now();
    const repeats = this.#repeats.get(message);
    if (repeats && now - repeats.since < this.#windowMillis) {
      repeats.count++;
      return;
    }
    if (repeats && repeats.count > 0) {
      // This occurrence closes the window: one line for it and the repeats before it.
      this.#write(summary(message, repeats.count + 1, now - repeats.since));
    } else {
      this.#write(message);
    }
    this.#repeats.delete(message);
    this.#repeats.set(message, { since: now, count: 0 });
    if (this.#repeats.size > this.#maxMessages) {
      const [oldest, old] = this.#repeats.entries().next().value!;
      this.#repeats.delete(oldest);
      if (old.count > 0) this.#write(summary(oldest, old.count, now - old.since));
    }
  }

  /** Writes the counts of messages whose window has ended. */
  flushExpired(): void {
    const now = this.#now();
    for (const [message, repeats] of this.#repeats) {
      if (now - repeats.since < this.#windowMillis) continue;
      this.#repeats.delete(message);
      if (repeats.count > 0) this.#write(summary(message, repeats.count, now - repeats.since));
    }
  }

  /** Writes every count not written yet and forgets all messages. */
  flush(): void {
    const now = this.#now();
    for (const [message, repeats] of this.#repeats) {
      if (repeats.count > 0) this.#write(summary(message, repeats.count, now - repeats.since));
    }
    this.#repeats.clear();
  }
}

function summary(message: string, count: number, millis: number): string {
  return `${message} (repeated ${count} ${count === 1 ? "time" : "times"} in the last ${
    formatDuration(millis)
  })`;
}
