/**
 * Cron schedules as users write them, checked where they are written, and their fire times
 * (computed by `croner`, including its handling of daylight-saving changes: a slot in the hour
 * that is skipped fires at the first valid time after it; a slot in the hour that repeats fires
 * once, at its first occurrence).
 * @module
 */

import { Cron } from "croner";
import { parseDuration } from "./duration.ts";
import { findNonJson, type JsonValue } from "./json.ts";
import { assertName, assertPriority } from "./registry.ts";
import type { CatchUpPolicy, OverlapPolicy, ScheduleInput } from "./store/store.ts";
import type { TaskPriority } from "./task.ts";

/** A schedule as written in `dispatcher.schedule(id, …)` or a handler module's `schedules`. */
export interface ScheduleOptions {
  /** The task enqueued at each slot (in a handler module: that module's task). */
  task: string;
  /** A cron expression: 5 fields (minute precision), 6 with seconds, or `@daily` and kin. */
  cron: string;
  /** Args of each enqueued task. Default `{}`. */
  args?: JsonValue;
  /** An IANA time zone such as `"Europe/Berlin"`. Default: UTC. */
  timezone?: string;
  /** Queue and priority of the enqueued tasks. Default: the task's own. */
  queue?: string;
  priority?: TaskPriority;
  /**
   * After a time with no scheduler running: `"skip"` (default) fires none of the missed slots,
   * only the next; `"latest"` fires the most recent missed one; `"all"` fires each missed one,
   * oldest first. Either looks back at most `catchUpWindow`.
   */
  catchUp?: CatchUpPolicy;
  /** Default {@linkcode DEFAULT_CATCH_UP_WINDOW_MILLIS} (24 hours). */
  catchUpWindow?: string | number;
  /**
   * `"allow"` (default): each slot enqueues. `"skip"`: a slot whose previous task still waits
   * or runs is recorded as skipped and enqueues nothing.
   */
  overlap?: OverlapPolicy;
}

/** The default {@linkcode ScheduleOptions.catchUpWindow}: 24 hours. */
export const DEFAULT_CATCH_UP_WINDOW_MILLIS = 24 * 60 * 60_000;
/**
 * A slot counts as missed (not fired by `catchUp: "skip"`) once it is this much overdue; a slot
 * younger than this fires even when the scheduler woke a little late.
 */
export const SLOT_GRACE_MILLIS = 60_000;
/** The most slots one scheduler pass fires for one schedule (`catchUp: "all"`). */
export const MAX_CATCH_UP_SLOTS = 1000;

const OPTION_KEYS = new Set([
  "task",
  "cron",
  "args",
  "timezone",
  "queue",
  "priority",
  "catchUp",
  "catchUpWindow",
  "overlap",
]);

/** Throws a `RangeError` naming `label` unless `timezone` is an IANA time zone this runtime knows. */
export function assertTimezone(timezone: unknown, label: string): asserts timezone is string {
  let ok = typeof timezone === "string" && timezone.length > 0;
  if (ok) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone as string });
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new RangeError(
      `${label} must be an IANA time zone such as "Europe/Berlin", got ${show(timezone)}`,
    );
  }
}

/** The croner job of an expression (paused: it only computes times). */
export function cronOf(cron: string, timezone: string | null, label = "cron"): Cron {
  if (typeof cron !== "string" || cron.trim() === "") {
    throw new RangeError(
      `${label} must be a cron expression such as "0 3 * * *", got ${show(cron)}`,
    );
  }
  if (timezone !== null) assertTimezone(timezone, `${label} timezone`);
  try {
    const job = new Cron(cron, { paused: true, ...(timezone === null ? {} : { timezone }) });
    // Some mistakes (e.g. February 30th) only show when a time is computed.
    job.nextRun(new Date(0));
    return job;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new RangeError(`${label} ${show(cron)} is not a valid cron expression: ${reason}`);
  }
}

/**
 * Checks a schedule and returns what the store keeps. Throws a `TypeError`/`RangeError` naming
 * the schedule and the field: `schedule "nightly": cron "61 * * * *" is not a valid cron ...`.
 */
export function parseSchedule(
  id: string,
  options: ScheduleOptions,
  source: ScheduleInput["source"],
): ScheduleInput {
  assertName(id, "Schedule id");
  const label = `schedule "${id}":`;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `${label} options must be an object with task and cron, got ${show(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new TypeError(
        `${label} ${key} is not a schedule option; expected one of ${[...OPTION_KEYS].join(", ")}`,
      );
    }
  }
  assertName(options.task, `${label} task`);
  const timezone = options.timezone ?? null;
  if (timezone !== null) assertTimezone(timezone, `${label} timezone`);
  cronOf(options.cron, timezone, `${label} cron`);
  const args = options.args ?? {};
  const notJson = findNonJson(args, "args");
  if (notJson) throw new TypeError(`${label} ${notJson}; schedule args must be plain JSON`);
  const queue = options.queue ?? null;
  if (queue !== null) assertName(queue, `${label} queue`);
  const priority = options.priority ?? null;
  if (priority !== null) assertPriority(priority, `${label} priority`);
  const catchUp = options.catchUp ?? "skip";
  if (catchUp !== "skip" && catchUp !== "latest" && catchUp !== "all") {
    throw new RangeError(
      `${label} catchUp must be "skip", "latest" or "all", got ${show(catchUp)}`,
    );
  }
  const overlap = options.overlap ?? "allow";
  if (overlap !== "allow" && overlap !== "skip") {
    throw new RangeError(`${label} overlap must be "allow" or "skip", got ${show(overlap)}`);
  }
  const catchUpWindowMillis = options.catchUpWindow === undefined
    ? DEFAULT_CATCH_UP_WINDOW_MILLIS
    : parseDuration(options.catchUpWindow, `${label} catchUpWindow`);
  if (catchUpWindowMillis < 1) {
    throw new RangeError(
      `${label} catchUpWindow must be at least 1ms, got ${show(options.catchUpWindow)}`,
    );
  }
  return {
    id,
    task: options.task,
    cron: options.cron,
    timezone,
    args: args as JsonValue,
    queue,
    priority,
    catchUp,
    catchUpWindowMillis,
    overlap,
    source,
    retired: false,
  };
}

/** The next `count` fire times (epoch ms) strictly after `after`. */
export function nextFireTimes(
  cron: string,
  timezone: string | null,
  after: number,
  count: number,
): number[] {
  return cronOf(cron, timezone).nextRuns(count, new Date(after)).map((d) => d.getTime());
}

/**
 * The slots of a schedule to fire at `now` under its catch-up policy: fire times after `from`
 * (its last slot, or when it was created) and at or before `now`, oldest first.
 */
export function dueSlots(
  job: Cron,
  policy: { catchUp: CatchUpPolicy; catchUpWindowMillis: number },
  from: number,
  now: number,
): number[] {
  const lookBack = policy.catchUp === "skip" ? SLOT_GRACE_MILLIS : policy.catchUpWindowMillis;
  // Start just before the window: nextRun is strictly after its argument.
  let cursor = Math.max(from, now - lookBack - 1);
  const slots: number[] = [];
  for (;;) {
    const next = job.nextRun(new Date(cursor))?.getTime();
    if (next === undefined || next > now) break;
    slots.push(next);
    if (policy.catchUp === "all" && slots.length >= MAX_CATCH_UP_SLOTS) break;
    if (policy.catchUp !== "all" && slots.length > 1) slots.shift();
    cursor = next;
  }
  return slots;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
