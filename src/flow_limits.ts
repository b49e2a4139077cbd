/**
 * Rate and concurrency limits as users write them — `rateLimit: { limit: 10, per: "1s" }`,
 * `maxRunning: 5`, or `10/1s` on the command line — checked once and turned into the
 * {@linkcode FlowLimits} the store keeps (see `FlowLimit` in the store contract).
 * @module
 */

import { parseDuration } from "./duration.ts";
import type { FlowLimits, RateLimit } from "./store/store.ts";

/** A rate limit as written: `limit` starts per `per` (a duration such as `"1s"`, or ms). */
export interface RateLimitOptions {
  limit: number;
  per: string | number;
}

/** Limits as written for a queue or task name; leave a side out (or null) for no limit. */
export interface FlowLimitOptions {
  rateLimit?: RateLimitOptions | string | null;
  maxRunning?: number | null;
}

/**
 * A rate limit from `{ limit, per }` or text `"10/1s"`; throws a `RangeError` naming `label`.
 *
 * @example
 * ```ts
 * parseRateLimit("20/1s", "rateLimit"); // { limit: 20, perMillis: 1000 }
 * ```
 */
export function parseRateLimit(value: unknown, label = "rateLimit"): RateLimit {
  let limit: unknown, per: unknown;
  if (typeof value === "string") {
    const match = /^\s*(\S+)\s*\/\s*(\S+)\s*$/.exec(value);
    if (!match) {
      throw new RangeError(`${label} must be LIMIT/DURATION such as 10/1s, got ${show(value)}`);
    }
    limit = Number(match[1]);
    per = match[2];
  } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    ({ limit, per } = value as Record<string, unknown>);
  } else {
    throw new TypeError(
      `${label} must be { limit, per } such as { limit: 10, per: "1s" }, got ${show(value)}`,
    );
  }
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`${label}.limit must be an integer >= 1, got ${show(limit)}`);
  }
  const perMillis = parseDuration(per, `${label}.per`, { bareMillis: typeof per === "number" });
  if (perMillis < 1) {
    throw new RangeError(`${label}.per must be a duration of at least 1ms, got ${show(per)}`);
  }
  return { limit, perMillis };
}

/** Checks `maxRunning`: an integer >= 0, or null. */
export function parseMaxRunning(value: unknown, label = "maxRunning"): number | null {
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${label} must be an integer >= 0 or null, got ${show(value)}`);
  }
  return value;
}

/** The {@linkcode FlowLimits} of written options; `label` prefixes the field in errors. */
export function parseFlowLimits(value: unknown, label = "limits"): FlowLimits {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      `${label} must be an object with rateLimit and/or maxRunning, got ${show(value)}`,
    );
  }
  for (const key of Object.keys(value)) {
    if (key !== "rateLimit" && key !== "maxRunning") {
      throw new TypeError(`${label}.${key} is not a limit; expected rateLimit or maxRunning`);
    }
  }
  const { rateLimit, maxRunning } = value as FlowLimitOptions;
  return {
    rateLimit: rateLimit == null ? null : parseRateLimit(rateLimit, `${label}.rateLimit`),
    maxRunning: maxRunning === undefined
      ? null
      : parseMaxRunning(maxRunning, `${label}.maxRunning`),
  };
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
