/**
 * One attempt of a handler, written once for every executor: find the definition, check the
 * args against its schema, build the handler's context, run it, check the result is plain JSON.
 * The in-process executor and the pool's Worker entry both call {@linkcode runAttempt}.
 * @module
 */

import { findNonJson, type JsonValue } from "./json.ts";
import { parseArgs, type TaskContext, type TaskDefinition } from "./registry.ts";

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
}

/** What the caller lends the handler. */
export interface AttemptHooks {
  signal: AbortSignal;
  /** Stores a progress value (already checked as plain JSON). */
  progress(value: JsonValue): Promise<void>;
  log(line: string): void;
}

/** How the handler's attempt ended. */
export type AttemptOutcome =
  | { kind: "completed"; result: JsonValue }
  | { kind: "failed"; error: unknown; permanent: boolean };

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
}

/**
 * Runs `definition`'s handler for `task`. Never rejects. A missing handler or a thrown error
 * fails the attempt; args that fail the schema fail it for good (`permanent`); a result that is
 * not plain JSON fails it saying what is wrong.
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
  const ctx: TaskContext = {
    taskId: task.taskId,
    name: task.name,
    queue: task.queue,
    attempt: task.attempt,
    maxAttempts: task.maxAttempts,
    signal: hooks.signal,
    scheduledFor: task.scheduledFor ?? null,
    progress: (value) => {
      const problem = findNonJson(value, "progress");
      if (problem) return Promise.reject(new TypeError(`${problem}; progress must be plain JSON`));
      return hooks.progress((value ?? null) as JsonValue);
    },
    log: (...parts) => hooks.log(parts.map(formatLogPart).join(" ")),
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
    result ??= null;
    const problem = isJsonScalar(result) ? null : findNonJson(result, "result");
    if (problem) {
      const error = new TypeError(`${problem}; a task's result must be plain JSON`);
      return { kind: "failed", error, permanent: false };
    }
    return { kind: "completed", result: result as JsonValue };
  } catch (error) {
    return { kind: "failed", error, permanent: false };
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
