/**
 * How a failed attempt ends: retry after a backoff, or fail for good. Shared by the worker and
 * the lease rescuer so both count attempts and delays the same way.
 * @module
 */

import { backoffDelay } from "./retry.ts";
import type { Outcome } from "./store/store.ts";
import type { TaskError, TaskRecord } from "./task.ts";

/** The stored form of a thrown value: its message and, for errors, the stack. */
export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    const stored: TaskError = { message: error.message || error.name };
    if (error.stack) stored.stack = error.stack;
    return stored;
  }
  if (typeof error === "string") return { message: error };
  try {
    return { message: `Non-error thrown: ${JSON.stringify(error)}` };
  } catch {
    return { message: `Non-error thrown: ${String(error)}` };
  }
}

/**
 * The outcome of a failed attempt of `task` (whose `attempts` counts this attempt): `retry`
 * after the backoff while attempts remain and the failure is not `permanent`, else `failed`.
 * `retryDelay` (ms), when given, is the task's own backoff; else the exponential one of its
 * `retryConfig` applies.
 */
export function failureOutcome(
  task: TaskRecord,
  token: string,
  error: TaskError,
  now: number,
  random: () => number,
  permanent = false,
  retryDelay?: number,
): Outcome {
  if (permanent || task.attempts >= task.maxAttempts) {
    return { kind: "failed", id: task.id, token, now, error };
  }
  const runAt = now + (retryDelay ?? backoffDelay(task.retryConfig, task.attempts, random));
  return { kind: "retry", id: task.id, token, now, error, runAt };
}
