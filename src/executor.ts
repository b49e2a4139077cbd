/**
 * Executors run one claimed attempt. The worker keeps the store, claims and leases; an executor
 * only runs handlers: in this process ({@linkcode InProcessExecutor}) or in a pool of Web Workers.
 * @module
 */

import { findNonJson } from "./json.ts";
import { parseArgs, type TaskContext, type TaskRegistry } from "./registry.ts";
import type { TaskRecord } from "./task.ts";

/** What the worker lends an attempt. */
export interface AttemptControl {
  /** Aborts on cancel, timeout, lost lease or shutdown; `reason` is an {@linkcode AttemptAborted}. */
  signal: AbortSignal;
  /** Stores a progress value on the task. */
  progress(value: unknown): Promise<void>;
  /** Appends a log line to the task. */
  log(line: string): void;
}

/**
 * How an attempt ended, as the executor saw it:
 * - `completed` with the handler's return value;
 * - `failed` with the error; `permanent` skips remaining retries (bad args, poison task);
 * - `released`: stopped through no fault of its own; the attempt is not counted.
 */
export type AttemptResult =
  | { kind: "completed"; result: unknown }
  | { kind: "failed"; error: unknown; permanent?: boolean }
  | { kind: "released" };

/**
 * Runs attempts. `execute` never rejects, and settles promptly once `control.signal` aborts.
 */
export interface TaskExecutor {
  execute(task: TaskRecord, control: AttemptControl): Promise<AttemptResult>;
  /** Called once by the worker that owns the executor, when it stops. */
  close?(): Promise<void>;
}

/** Why an attempt was stopped. */
export type AbortCause = "cancel" | "timeout" | "shutdown" | "leaseLost";

/** The reason of an attempt's aborted signal. */
export class AttemptAborted extends Error {
  override name = "AttemptAborted";
  constructor(readonly kind: AbortCause, message: string) {
    super(message);
  }
}

/**
 * Runs handlers of a {@linkcode TaskRegistry} in this process. An aborted attempt settles at
 * once; a handler that ignores its signal keeps running in the background, since JavaScript
 * cannot stop a function from outside — use the Web Worker pool for hard isolation.
 */
export class InProcessExecutor implements TaskExecutor {
  constructor(private readonly registry: TaskRegistry) {}

  async execute(task: TaskRecord, control: AttemptControl): Promise<AttemptResult> {
    if (!this.registry.has(task.name)) {
      return {
        kind: "failed",
        error: new Error(`No handler for task "${task.name}" is registered in this worker`),
      };
    }
    const definition = this.registry.get(task.name);
    let args: unknown;
    try {
      args = parseArgs(definition, task.args);
    } catch (error) {
      return { kind: "failed", error, permanent: true };
    }
    const ctx: TaskContext = {
      taskId: task.id,
      name: task.name,
      queue: task.queue,
      attempt: task.attempts,
      maxAttempts: task.maxAttempts,
      signal: control.signal,
      scheduledFor: task.scheduledFor ?? null,
      progress: (value) => control.progress(value),
      log: (...parts) => control.log(parts.map(formatLogPart).join(" ")),
    };
    let stopWaiting = () => {};
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => reject(control.signal.reason);
      if (control.signal.aborted) onAbort();
      control.signal.addEventListener("abort", onAbort, { once: true });
      stopWaiting = () => control.signal.removeEventListener("abort", onAbort);
    });
    try {
      const result = await Promise.race([
        Promise.resolve().then(() => definition.run(args, ctx)),
        aborted,
      ]);
      return { kind: "completed", result };
    } catch (error) {
      return { kind: "failed", error };
    } finally {
      stopWaiting();
      aborted.catch(() => {});
    }
  }
}

/** Formats one `ctx.log` argument: strings as they are, errors by stack, the rest as JSON. */
export function formatLogPart(part: unknown): string {
  if (typeof part === "string") return part;
  if (part instanceof Error) return part.stack ?? `${part.name}: ${part.message}`;
  if (findNonJson(part, "value") === null) return JSON.stringify(part);
  return String(part);
}
