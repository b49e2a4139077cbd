/**
 * Messages between the pool (main thread) and its Workers. Each `postMessage` carries a batch
 * of them, so a burst of tasks costs one message per Worker, as one JSON string: everything in a
 * message is plain JSON already (args, results and progress are checked), and a string crosses
 * threads several times faster than a structured clone of many small objects.
 * @module
 */

import { isPermanentError, PermanentError } from "../errors.ts";
import type { AbortCause, HandlerLogLevel } from "../executor.ts";
import type { JsonValue } from "../json.ts";

/** An error as it crosses the thread boundary. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** For a handler that failed to load: the file and the problem. */
  file?: string;
  problem?: string;
  /** The error was a `PermanentError` (or `ctx.fail`): the task fails without a retry. */
  permanent?: boolean;
}

/** The options a Worker starts with. */
export interface WorkerInit {
  /** Absolute paths of the handler files, as the main thread listed them. */
  files: string[];
  /** Heap bytes above which the Worker reports itself over its memory limit; null: no limit. */
  maxHeapBytes: number | null;
  /** How often the Worker samples its heap, in ms. */
  heapCheckMillis: number;
}

/** One attempt to run. `job` is the pool's key for it. */
export interface RunCommand {
  t: "run";
  job: number;
  taskId: string;
  name: string;
  queue: string;
  args: JsonValue;
  attempt: number;
  maxAttempts: number;
  /** The schedule slot the task runs for, or null. */
  scheduledFor: number | null;
  /** The `traceparent` of the attempt's span in the main thread, or null (tracing off). */
  traceparent: string | null;
}

/** Main thread to Worker. */
export type ToWorker =
  | { t: "init"; init: WorkerInit }
  | RunCommand
  | { t: "abort"; job: number; kind: AbortCause; message: string }
  /** The main thread stored (or refused, with `error`) progress `request`. */
  | { t: "progressAck"; request: number; error: string | null };

/** Why a Worker cannot go on. */
export type CrashCause = "uncaught" | "exit" | "memory";

/** Worker to main thread. */
export type FromWorker =
  | { t: "ready"; names: string[] }
  | { t: "loadFailed"; error: WireError }
  | { t: "completed"; job: number; result: JsonValue }
  /** `retryDelay`: the task's own backoff (ms), when it has one. */
  | { t: "failed"; job: number; error: WireError; permanent: boolean; retryDelay?: number }
  /** The handler called `ctx.snooze`. */
  | { t: "snoozed"; job: number; delayMillis: number }
  | { t: "progress"; job: number; request: number; value: JsonValue }
  /** A `ctx.log` line, or (`console` set) a `console.*` call of the handler, at `level`. */
  | {
    t: "log";
    job: number;
    line: string;
    level?: HandlerLogLevel;
    console?: "log" | "info" | "debug" | "warn" | "error";
  }
  /** `job` is the attempt that caused it, when the Worker knows; else null. */
  | { t: "crash"; cause: CrashCause; error: WireError; job: number | null };

/** The wire form of a thrown value. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const wire: WireError = { name: error.name, message: error.message || error.name };
    if (error.stack) wire.stack = error.stack;
    if (isPermanentError(error)) wire.permanent = true;
    return wire;
  }
  if (typeof error === "object" && error !== null && "message" in error) {
    return { name: "Error", message: String((error as { message: unknown }).message) };
  }
  if (typeof error === "string") return { name: "Error", message: error };
  let text: string;
  try {
    text = JSON.stringify(error) ?? String(error);
  } catch {
    text = String(error);
  }
  return { name: "Error", message: `Non-error thrown: ${text}` };
}

/** An `Error` back from its wire form. */
export function fromWireError(wire: WireError): Error {
  const error = wire.permanent ? new PermanentError(wire.message) : new Error(wire.message);
  error.name = wire.name;
  if (wire.stack) error.stack = wire.stack;
  return error;
}

/** A batch as it crosses the thread boundary. Throws on a value that is not JSON (a bigint). */
export function encodeBatch(messages: readonly (ToWorker | FromWorker)[]): string {
  return JSON.stringify(messages);
}

/** A batch back from its wire form. */
export function decodeBatch<T extends ToWorker | FromWorker>(data: string): T[] {
  return JSON.parse(data) as T[];
}
