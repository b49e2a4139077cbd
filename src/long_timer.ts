/**
 * A `setTimeout` for any duration. Bun and Deno fire a timer longer than 2^31−1 ms (about 24.8
 * days) after about 1 ms; a long timer waits in chunks of at most that, so `--timeout 30d` means
 * thirty days.
 * @module
 */

import {
  clearInterval as clearNodeInterval,
  clearTimeout as clearNodeTimeout,
  setInterval as setNodeInterval,
  setTimeout as setNodeTimeout,
} from "node:timers";

/** The longest delay one runtime timer takes as written: 2^31−1 ms, about 24.8 days. */
export const MAX_TIMER_CHUNK_MILLIS = 2 ** 31 - 1;

/** The timer functions a {@linkcode LongTimer} schedules its chunks with (injectable for tests). */
export interface TimerFunctions {
  setTimeout(callback: () => void, millis: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The runtime's timers (from `node:timers`, whose handles can be unref'd on both runtimes). */
export const RUNTIME_TIMERS: TimerFunctions = {
  setTimeout: (callback, millis) => setNodeTimeout(callback, millis),
  clearTimeout: (handle) => clearNodeTimeout(handle as ReturnType<typeof setNodeTimeout>),
};

/** A pending {@linkcode setLongTimeout}. */
export interface LongTimer {
  /** Cancels the timer; the callback will not run. Idempotent. */
  clear(): void;
  /** Lets the process exit while only this timer is pending. Returns the timer. */
  unref(): LongTimer;
}

/**
 * Calls `callback` once after `millis` ms, for any `millis` ≥ 0: a delay longer than
 * {@linkcode MAX_TIMER_CHUNK_MILLIS} is waited in chunks. `Infinity` never fires. Throws a
 * `RangeError` for a negative or NaN delay.
 *
 * @example
 * ```ts
 * const timer = setLongTimeout(() => abort("Timed out"), 30 * 86_400_000); // 30 days
 * timer.clear();
 * ```
 */
export function setLongTimeout(
  callback: () => void,
  millis: number,
  timers: TimerFunctions = RUNTIME_TIMERS,
): LongTimer {
  if (typeof millis !== "number" || Number.isNaN(millis) || millis < 0) {
    throw new RangeError(`A timer delay must be a number of ms >= 0, got ${String(millis)}`);
  }
  let left = millis;
  let handle: unknown;
  let cleared = false;
  let unrefd = false;
  const schedule = () => {
    if (left === Infinity) return;
    const chunk = Math.min(left, MAX_TIMER_CHUNK_MILLIS);
    left -= chunk;
    handle = timers.setTimeout(() => {
      handle = undefined;
      if (cleared) return;
      if (left > 0) schedule();
      else callback();
    }, chunk);
    if (unrefd) unrefHandle(handle);
  };
  schedule();
  const timer: LongTimer = {
    clear() {
      cleared = true;
      if (handle !== undefined) timers.clearTimeout(handle);
      handle = undefined;
    },
    unref() {
      unrefd = true;
      unrefHandle(handle);
      return timer;
    },
  };
  return timer;
}

/**
 * Calls `callback` every `millis` ms until cleared, for any `millis`: up to
 * {@linkcode MAX_TIMER_CHUNK_MILLIS} it is the runtime's `setInterval`; above, each period is a
 * {@linkcode setLongTimeout}. `Infinity` never fires. Throws a `RangeError` for a negative or
 * NaN period.
 *
 * @example
 * ```ts
 * const renewal = setLongInterval(() => renewLeases(), leaseMillis / 3);
 * renewal.clear();
 * ```
 */
export function setLongInterval(
  callback: () => void,
  millis: number,
  timers: TimerFunctions = RUNTIME_TIMERS,
): LongTimer {
  if (typeof millis !== "number" || !(millis >= 0)) {
    throw new RangeError(`An interval must be a number of ms >= 0, got ${String(millis)}`);
  }
  if (millis <= MAX_TIMER_CHUNK_MILLIS && timers === RUNTIME_TIMERS) {
    const handle = setNodeInterval(callback, millis);
    const timer: LongTimer = {
      clear: () => clearNodeInterval(handle),
      unref() {
        handle.unref?.();
        return timer;
      },
    };
    return timer;
  }
  let current: LongTimer | undefined;
  let cleared = false;
  let unrefd = false;
  const schedule = () => {
    current = setLongTimeout(
      () => {
        if (cleared) return;
        schedule();
        callback();
      },
      millis,
      timers,
    );
    if (unrefd) current.unref();
  };
  schedule();
  const timer: LongTimer = {
    clear() {
      cleared = true;
      current?.clear();
    },
    unref() {
      unrefd = true;
      current?.unref();
      return timer;
    },
  };
  return timer;
}

/** Clears a timer that may not exist; `clearLongTimeout(undefined)` does nothing. */
export function clearLongTimeout(timer: LongTimer | undefined): void {
  timer?.clear();
}

function unrefHandle(handle: unknown): void {
  (handle as { unref?: () => void } | undefined)?.unref?.();
}
