/**
 * Unique tasks: the `unique` enqueue option, checked once, and the key the store compares.
 *
 * | `by` holds | two enqueues are the same task when they have the same … |
 * | --- | --- |
 * | `name` | task name |
 * | `queue` | queue (after defaults) |
 * | `args` | args, compared as JSON with object keys sorted |
 * | (and `key`) | the given `key` text as well |
 *
 * …while the first is in one of `states` (default: waiting or running) and, with a `period`,
 * in the same period bucket (buckets start at multiples of the period since the epoch).
 * @module
 */

import { parseDuration } from "./duration.ts";
import type { JsonValue } from "./json.ts";
import { UNIQUE_REQUIRED_STATUSES } from "./store/store.ts";
import { TASK_STATUSES, type TaskStatus } from "./task.ts";

/** What makes two enqueues the same task (see the module notes). */
export type UniqueField = "name" | "queue" | "args";

/** The `unique` option of an enqueue or a task definition. */
export interface UniqueOptions {
  /** Extra text that is part of the key (e.g. a customer id). */
  key?: string;
  /** Default {@linkcode DEFAULT_UNIQUE_BY}: name, queue and args. */
  by?: readonly UniqueField[];
  /**
   * Statuses in which a stored task blocks a new one. Default
   * {@linkcode UNIQUE_REQUIRED_STATUSES} (waiting and running); final ones may be added (e.g.
   * `"COMPLETED"`: once done, never again within the period); the defaults cannot be left out.
   */
  states?: readonly TaskStatus[];
  /** A duration (`"1h"`, or ms): uniqueness holds within one bucket of this length. Default: none. */
  period?: string | number;
}

/** Uniqueness as checked, ready for {@linkcode uniqueKey}. */
export interface UniqueSpec {
  key: string | null;
  by: readonly UniqueField[];
  states: readonly TaskStatus[];
  periodMillis: number | null;
}

/** The default {@linkcode UniqueOptions.by}. */
export const DEFAULT_UNIQUE_BY: readonly UniqueField[] = ["name", "queue", "args"];
const FIELDS: readonly UniqueField[] = ["name", "queue", "args"];
const KEYS = new Set(["key", "by", "states", "period"]);

/** Checks a `unique` option; throws a `TypeError`/`RangeError` naming `label.field` and the value. */
export function parseUnique(value: unknown, label = "unique"): UniqueSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      `${label} must be an object such as { by: ["name", "args"] }, got ${show(value)}`,
    );
  }
  for (const k of Object.keys(value)) {
    if (!KEYS.has(k)) {
      throw new TypeError(
        `${label}.${k} is not a unique option; expected one of ${[...KEYS].join(", ")}`,
      );
    }
  }
  const options = value as UniqueOptions;
  const key = options.key ?? null;
  if (key !== null && (typeof key !== "string" || key.length === 0 || key.length > 1000)) {
    throw new TypeError(`${label}.key must be a text of 1 to 1000 characters, got ${show(key)}`);
  }
  const by = options.by ?? DEFAULT_UNIQUE_BY;
  if (
    !Array.isArray(by) || by.length === 0 || !by.every((f) => FIELDS.includes(f as UniqueField))
  ) {
    throw new RangeError(
      `${label}.by must list one or more of ${FIELDS.join(", ")}, got ${show(by)}`,
    );
  }
  const states = options.states ?? UNIQUE_REQUIRED_STATUSES;
  if (!Array.isArray(states) || !states.every((s) => TASK_STATUSES.includes(s as TaskStatus))) {
    throw new RangeError(
      `${label}.states must list statuses of ${TASK_STATUSES.join(", ")}, got ${show(states)}`,
    );
  }
  const missing = UNIQUE_REQUIRED_STATUSES.filter((s) => !states.includes(s));
  if (missing.length) {
    throw new RangeError(
      `${label}.states must include ${UNIQUE_REQUIRED_STATUSES.join(", ")} (missing ${
        missing.join(", ")
      }), got ${show(states)}`,
    );
  }
  let periodMillis: number | null = null;
  if (options.period !== undefined) {
    periodMillis = parseDuration(options.period, `${label}.period`);
    if (periodMillis < 1) {
      throw new RangeError(`${label}.period must be at least 1ms, got ${show(options.period)}`);
    }
  }
  return {
    key,
    by: [...new Set(by)].sort() as UniqueField[],
    states: [...new Set(states)],
    periodMillis,
  };
}

/** The key the store compares for a task: a SHA-256 of the chosen fields, then the bucket. */
export async function uniqueKey(
  spec: UniqueSpec,
  task: { name: string; queue: string; args: JsonValue },
  now: number,
): Promise<string> {
  const parts: JsonValue[] = [spec.key];
  for (const field of spec.by) {
    parts.push(field, field === "args" ? sortKeys(task.args) : task[field]);
  }
  const bytes = new TextEncoder().encode(JSON.stringify(parts));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return spec.periodMillis === null ? hex : `${hex}@${Math.floor(now / spec.periodMillis)}`;
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` give one key. */
function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const sorted: Record<string, JsonValue> = {};
  for (const k of Object.keys(value).sort()) sorted[k] = sortKeys(value[k]!);
  return sorted;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
