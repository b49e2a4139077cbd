/**
 * Retry configuration and the exponential backoff schedule.
 * @module
 */

import { parseDuration } from "./duration.ts";

/** How often and how soon a failed task runs again. */
export interface RetryConfig {
  /** Total attempts, the first one included. Default {@linkcode DEFAULT_RETRY_CONFIG}.maxAttempts = 3. */
  maxAttempts: number;
  /** Delay before the second attempt, in ms. Default 1000. */
  baseDelayMillis: number;
  /** Each further delay is the previous one times this. Default 2.0. */
  backoffMultiplier: number;
  /** No delay is longer than this, in ms. Default 60000. */
  maxDelayMillis: number;
  /**
   * When true (the default), each delay is drawn uniformly from [delay / 2, delay] ("equal
   * jitter"), so retries of tasks that failed together spread out but never come sooner than
   * half the nominal delay nor later than it.
   */
  useJitter: boolean;
}

/** The defaults of the original module. */
export const DEFAULT_RETRY_CONFIG: Readonly<RetryConfig> = Object.freeze({
  maxAttempts: 3,
  baseDelayMillis: 1000,
  backoffMultiplier: 2.0,
  maxDelayMillis: 60_000,
  useJitter: true,
});

/** The most attempts a task may have: 1000. */
export const MAX_ATTEMPTS = 1000;
/** The longest `baseDelayMillis` and `maxDelayMillis`: 365 days, in ms. */
export const MAX_BACKOFF_DELAY_MILLIS = 365 * 86_400_000;
/** The largest `backoffMultiplier`: 100. */
export const MAX_BACKOFF_MULTIPLIER = 100;

/**
 * Merges `partial` over `base` and validates the result; a bad field throws a `RangeError` or
 * `TypeError` that names it and its value.
 */
export function resolveRetryConfig(
  partial: Partial<RetryConfig> | undefined,
  base: Readonly<RetryConfig> = DEFAULT_RETRY_CONFIG,
  label = "retryConfig",
): RetryConfig {
  if (partial !== undefined && (typeof partial !== "object" || partial === null)) {
    throw new TypeError(`${label} must be an object, got ${String(partial)}`);
  }
  const config: RetryConfig = { ...base };
  for (const [key, value] of Object.entries(partial ?? {})) {
    if (value === undefined) continue;
    if (!Object.hasOwn(DEFAULT_RETRY_CONFIG, key)) {
      throw new TypeError(
        `${label}.${key} is not a retry option; expected one of ${
          Object.keys(DEFAULT_RETRY_CONFIG).join(", ")
        }`,
      );
    }
    (config as unknown as Record<string, unknown>)[key] = value;
  }
  const intFromTo = (key: keyof RetryConfig, min: number, max: number) => {
    const v = config[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(
        `${label}.${key} must be an integer from ${min} to ${max}, got ${String(v)}`,
      );
    }
  };
  intFromTo("maxAttempts", 1, MAX_ATTEMPTS);
  intFromTo("baseDelayMillis", 0, MAX_BACKOFF_DELAY_MILLIS);
  intFromTo("maxDelayMillis", 0, MAX_BACKOFF_DELAY_MILLIS);
  const m = config.backoffMultiplier;
  if (typeof m !== "number" || !Number.isFinite(m) || m < 1 || m > MAX_BACKOFF_MULTIPLIER) {
    throw new RangeError(
      `${label}.backoffMultiplier must be a number from 1 to ${MAX_BACKOFF_MULTIPLIER}, got ${
        String(m)
      }`,
    );
  }
  if (typeof config.useJitter !== "boolean") {
    throw new TypeError(`${label}.useJitter must be a boolean, got ${String(config.useJitter)}`);
  }
  return config;
}

/**
 * The nominal delay before the attempt after `failedAttempt` (1-based), without jitter:
 * `min(baseDelayMillis * backoffMultiplier ** (failedAttempt - 1), maxDelayMillis)`.
 *
 * @example
 * ```ts
 * // maxAttempts 5: delays after attempts 1..4 are 1000, 2000, 4000, 8000
 * nominalBackoff(DEFAULT_RETRY_CONFIG, 3); // 4000
 * ```
 */
export function nominalBackoff(config: RetryConfig, failedAttempt: number): number {
  if (config.baseDelayMillis === 0) return 0;
  const raw = config.baseDelayMillis * config.backoffMultiplier ** Math.max(0, failedAttempt - 1);
  // Past the cap (Infinity included, e.g. 100 ** 999) the delay is the cap.
  return raw >= config.maxDelayMillis ? config.maxDelayMillis : Math.round(raw);
}

/**
 * The delay to wait after `failedAttempt`: the nominal one, or with jitter a value in
 * [nominal / 2, nominal]. `random` returns a number in [0, 1).
 */
export function backoffDelay(
  config: RetryConfig,
  failedAttempt: number,
  random: () => number = Math.random,
): number {
  const nominal = nominalBackoff(config, failedAttempt);
  if (!config.useJitter) return nominal;
  const half = nominal / 2;
  return Math.round(half + random() * half);
}

/**
 * A task's own backoff (`defineTask({ backoff })`): the delay before the next attempt after
 * attempt `attempt` (1-based) failed with `error` (what the handler threw), in ms or as a
 * duration string (`"30s"`). Its result must be from 0 to {@linkcode MAX_BACKOFF_DELAY_MILLIS};
 * a backoff that throws or returns anything else falls back to the exponential default of the
 * task's `retryConfig` (and is logged, rate-limited). It is not called for the last attempt, nor
 * for a permanent failure. `retryConfig.useJitter` does not apply to it.
 *
 * @example
 * ```ts
 * // Honour a partner API's Retry-After, else wait a minute per attempt.
 * backoff: (attempt, error) => (error as { retryAfterMillis?: number }).retryAfterMillis ?? attempt * 60_000,
 * ```
 */
export type BackoffFunction = (attempt: number, error: unknown) => number | string;

/** Throws a `TypeError` naming `label` unless `backoff` is a function. */
export function assertBackoff(backoff: unknown, label: string): asserts backoff is BackoffFunction {
  if (typeof backoff !== "function") {
    throw new TypeError(
      `${label} must be a function (attempt, error) => ms or duration, got ${typeof backoff}`,
    );
  }
}

/**
 * Calls a task's {@linkcode BackoffFunction} and checks its result: the delay in whole ms, or
 * `problem`, a one-line message saying what was wrong (the caller falls back to the default).
 */
export function customBackoffDelay(
  backoff: BackoffFunction,
  attempt: number,
  error: unknown,
  taskName: string,
): { delay: number } | { problem: string } {
  const label = `The backoff of task "${taskName}"`;
  const fallback = "; used the exponential default";
  let value: unknown;
  try {
    value = backoff(attempt, error);
  } catch (thrown) {
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    return { problem: `${label} threw: ${message.split("\n")[0]}${fallback}` };
  }
  let delay: number | undefined;
  if (typeof value === "number" || typeof value === "string") {
    try {
      // A text of digits without a unit is refused, as everywhere; a number is ms.
      delay = parseDuration(value, "backoff", { bareMillis: typeof value === "number" });
    } catch {
      delay = undefined;
    }
  }
  if (delay === undefined || delay > MAX_BACKOFF_DELAY_MILLIS) {
    let shown: string;
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
    return {
      problem: `${label} returned ${
        shown.slice(0, 100)
      }; expected milliseconds from 0 to ${MAX_BACKOFF_DELAY_MILLIS} (365d) or a duration such as "30s"${fallback}`,
    };
  }
  return { delay };
}
