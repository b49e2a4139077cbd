/**
 * One attempt of a handler, written once for every executor: find the definition, check the
 * args against its schema, build the handler's context, run it, check the result is plain JSON.
 * The in-process executor and the pool's Worker entry both call {@linkcode runAttempt}.
 * @module
 */

import { parseDuration } from "./duration.ts";
import { MAX_DELAY_MILLIS } from "./enqueue_input.ts";
import { isPermanentError, PermanentError } from "./errors.ts";
import { findNonJson, type JsonValue } from "./json.ts";
import { RateLimitedLog } from "./rate_limited_log.ts";
import { parseArgs, type TaskContext, type TaskDefinition } from "./registry.ts";
import { customBackoffDelay } from "./retry.ts";

/** The task fields an attempt needs, as a claim or a pool message carries them. */
export interface AttemptTask {
  taskId: string;
  name: string;
  queue: string;
  args: JsonValue;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  /** The schedule slot the task runs for, if any (`ctx.scheduledFor`). */
  scheduledFor?: number | null;
  /** The `traceparent` of the attempt's span, if tracing is on (`ctx.traceparent`). */
  traceparent?: string | null;
}

/** What the caller lends the handler. */
export interface AttemptHooks {
  signal: AbortSignal;
  /** Stores a progress value (already checked as plain JSON). */
  progress(value: JsonValue): Promise<void>;
  log(line: string, level?: "debug" | "info" | "warning" | "error"): void;
}

/**
 * How the handler's attempt ended. A failure that is not permanent carries `retryDelay` when the
 * task's own backoff gave one (ms); else the worker uses the exponential default. A snooze
 * (`ctx.snooze`) carries its delay in ms.
 */
export type AttemptOutcome =
  | { kind: "completed"; result: JsonValue }
  | { kind: "failed"; error: unknown; permanent: boolean; retryDelay?: number }
  | { kind: "snoozed"; delayMillis: number };

/** Options of {@linkcode runAttempt}. */
export interface RunAttemptOptions {
  /**
   * Settle as soon as the signal aborts, leaving a handler that ignores it running in the
   * background (in process); otherwise wait for the handler (a Worker, which the pool can
   * terminate after a grace).
   */
  settleOnAbort: boolean;
  /** Where handlers come from, for the "No handler" message, e.g. "registered in this worker". */
  missing: string;
  /** Wraps the handler's call (the Worker runs it inside its job's async context). */
  call?: <T>(run: () => T) => T;
  /**
   * Where a problem with a task's own backoff goes (it threw or returned a bad value, and the
   * default was used). Default: stderr, each message at most once per 10 s
   * ({@linkcode RateLimitedLog}).
   */
  warn?: (message: string) => void;
}

/** Bad backoffs of this process (or pool Worker), on stderr, rate-limited. */
const backoffWarnings = new RateLimitedLog({
  write: (line) => console.error(`aether-tasks: ${line}`),
});

/** What `ctx.snooze` throws to end the handler (the attempt's outcome is already decided). */
class SnoozeRequested extends Error {
  override name = "SnoozeRequested";
}

/**
 * Runs `definition`'s handler for `task`. Never rejects. A missing handler or a thrown error
 * fails the attempt; args that fail the schema, a {@linkcode PermanentError} and `ctx.fail` fail
 * it for good (`permanent`); a result that is not plain JSON fails it saying what is wrong;
 * `ctx.snooze` snoozes it. Once `ctx.fail` or `ctx.snooze` is called, the attempt ends that way
 * whatever the handler does next. A failure with attempts left asks the task's own backoff, if
 * it has one, for `retryDelay`.
 */
export async function runAttempt(
  definition: TaskDefinition | undefined,
  task: AttemptTask,
  hooks: AttemptHooks,
  options: RunAttemptOptions,
): Promise<AttemptOutcome> {
  if (!definition) {
    const error = new Error(`No handler for task "${task.name}" is ${options.missing}`);
    return { kind: "failed", error, permanent: false };
  }
  let args: unknown = task.args;
  // Args come parsed from stored JSON, so they are plain JSON: only a schema has more to check.
  if (definition.schema) {
    try {
      args = parseArgs(definition, task.args);
    } catch (error) {
      return { kind: "failed", error, permanent: true };
    }
  }
  /** What `ctx.fail` or `ctx.snooze` decided, first call wins. */
  let decided: AttemptOutcome | undefined;
  const failed = (error: unknown, permanent: boolean): AttemptOutcome => {
    permanent ||= isPermanentError(error);
    const outcome: AttemptOutcome = { kind: "failed", error, permanent };
    if (!permanent && definition.backoff && task.attempt < task.maxAttempts) {
      const found = customBackoffDelay(definition.backoff, task.attempt, error, task.name);
      if ("delay" in found) outcome.retryDelay = found.delay;
      else (options.warn ?? ((message) => backoffWarnings.report(message)))(found.problem);
    }
    return outcome;
  };
  const ctx: TaskContext = {
    taskId: task.taskId,
    name: task.name,
    queue: task.queue,
    attempt: task.attempt,
    maxAttempts: task.maxAttempts,
    signal: hooks.signal,
    scheduledFor: task.scheduledFor ?? null,
    traceparent: task.traceparent ?? null,
    progress: (value) => {
      const problem = findNonJson(value, "progress");
      if (problem) return Promise.reject(new TypeError(`${problem}; progress must be plain JSON`));
      return hooks.progress((value ?? null) as JsonValue);
    },
    log: (...parts) => hooks.log(parts.map(formatLogPart).join(" ")),
    fail: (reason) => {
      const error = toPermanentError(reason);
      decided ??= { kind: "failed", error, permanent: true };
      throw error;
    },
    snooze: (duration) => {
      const delayMillis = parseSnooze(duration);
      decided ??= { kind: "snoozed", delayMillis };
      throw new SnoozeRequested(`The handler snoozed for ${delayMillis} ms`);
    },
  };
  const call = options.call ?? ((run) => run());
  let stopWaiting = () => {};
  try {
    const running = Promise.resolve().then(() => call(() => definition.run(args, ctx)));
    let result: unknown;
    if (options.settleOnAbort) {
      // One promise that settles with the handler or at the abort, whichever comes first.
      result = await new Promise((resolve, reject) => {
        const { signal } = hooks;
        if (signal.aborted) return reject(signal.reason);
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        stopWaiting = () => signal.removeEventListener("abort", onAbort);
        running.then(resolve, reject);
      });
    } else {
      result = await running;
    }
    if (decided) return decided;
    result ??= null;
    const problem = isJsonScalar(result) ? null : findNonJson(result, "result");
    if (problem) {
      return failed(new TypeError(`${problem}; a task's result must be plain JSON`), false);
    }
    return { kind: "completed", result: result as JsonValue };
  } catch (error) {
    return decided ?? failed(error, false);
  } finally {
    stopWaiting();
  }
}

/** Null, a boolean or a finite number: plain JSON without a walk (strings may be too large). */
function isJsonScalar(value: unknown): boolean {
  return value === null || typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value));
}

/** Formats one `ctx.log` argument: strings as they are, errors by stack, the rest as JSON. */
export function formatLogPart(part: unknown): string {
  if (typeof part === "string") return part;
  if (part instanceof Error) return part.stack ?? `${part.name}: ${part.message}`;
  if (findNonJson(part, "value") === null) return JSON.stringify(part);
  return String(part);
}

/** `ctx.fail`'s argument as a {@linkcode PermanentError} (an error keeps its stack as the cause's). */
function toPermanentError(reason: unknown): Error {
  if (isPermanentError(reason)) return reason as Error;
  if (reason instanceof Error) {
    const error = new PermanentError(reason.message || reason.name, { cause: reason });
    if (reason.stack) error.stack = reason.stack;
    return error;
  }
  return new PermanentError(typeof reason === "string" ? reason : String(reason));
}

/** A `ctx.snooze` duration in ms, or a `RangeError` naming the value and the range. */
function parseSnooze(duration: unknown): number {
  // A text of digits without a unit is refused, as everywhere; a number is ms.
  const millis = parseDuration(duration, "ctx.snooze(duration)", {
    bareMillis: typeof duration === "number",
  });
  if (millis > MAX_DELAY_MILLIS) {
    throw new RangeError(
      `ctx.snooze(duration) must be at most 10 years (${MAX_DELAY_MILLIS} ms), got ${
        JSON.stringify(duration)
      }`,
    );
  }
  return millis;
}
