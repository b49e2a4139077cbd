/**
 * Executors run one claimed attempt. The worker keeps the store, claims and leases; an executor
 * only runs handlers: in this process ({@linkcode InProcessExecutor}) or in a pool of Web Workers.
 * @module
 */

import { formatLogPart, runAttempt } from "./attempt.ts";
import { runCapturingConsole } from "./console_capture.ts";
import type { TaskDefinition, TaskRegistry } from "./registry.ts";
import type { TaskRecord } from "./task.ts";

/** What the worker lends an attempt. */
export interface AttemptControl {
  /** Aborts on cancel, timeout, lost lease or shutdown; `reason` is an {@linkcode AttemptAborted}. */
  signal: AbortSignal;
  /** Stores a progress value on the task. */
  progress(value: unknown): Promise<void>;
  /**
   * Appends a log line to the task (and logs it under `["aether-tasks", "task"]`). `level`:
   * `info` for `ctx.log`; a captured `console.*` call gives its own.
   */
  log(line: string, level?: HandlerLogLevel): void;
  /** The `traceparent` of the attempt's span, when tracing is on (the handler's `ctx.traceparent`). */
  traceparent?: string | null;
}

/** The level of a line of handler output: `ctx.log` is `info`; `console.warn` is `warning`. */
export type HandlerLogLevel = "debug" | "info" | "warning" | "error";

/**
 * How an attempt ended, as the executor saw it:
 * - `completed` with the handler's return value;
 * - `failed` with the error; `permanent` skips remaining retries (bad args, poison task,
 *   `PermanentError`, `ctx.fail`); `retryDelay` (ms) is the task's own backoff, when it has one;
 * - `released`: stopped through no fault of its own; the attempt is not counted;
 * - `snoozed`: the handler called `ctx.snooze`; it runs again `delayMillis` from now, the
 *   attempt not counted.
 */
export type AttemptResult =
  /** `checked`: the executor made sure `result` is plain JSON (so the worker need not). */
  | { kind: "completed"; result: unknown; checked?: boolean }
  | { kind: "failed"; error: unknown; permanent?: boolean; retryDelay?: number }
  | { kind: "released" }
  | { kind: "snoozed"; delayMillis: number };

/**
 * Runs attempts. `execute` never rejects, and settles promptly once `control.signal` aborts.
 */
export interface TaskExecutor {
  execute(task: TaskRecord, control: AttemptControl): Promise<AttemptResult>;
  /**
   * The tasks this executor can run (read at each claim). The worker claims only their names
   * and publishes them in the worker registry; absent, it claims every name and publishes none.
   */
  readonly definitions?: readonly TaskDefinition[];
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
  /**
   * `options.warn` gets each problem with a task's own backoff (see `RunAttemptOptions.warn`);
   * default: stderr, rate-limited.
   */
  constructor(
    private readonly registry: TaskRegistry,
    private readonly options: { warn?: (message: string) => void } = {},
  ) {}

  /** The registry's definitions, as they are now. */
  get definitions(): readonly TaskDefinition[] {
    return this.registry.definitions();
  }

  async execute(task: TaskRecord, control: AttemptControl): Promise<AttemptResult> {
    const definition = this.registry.has(task.name) ? this.registry.get(task.name) : undefined;
    return await runAttempt(
      definition,
      {
        taskId: task.id,
        name: task.name,
        queue: task.queue,
        args: task.args,
        attempt: task.attempts,
        maxAttempts: task.maxAttempts,
        scheduledFor: task.scheduledFor ?? null,
        traceparent: control.traceparent ?? null,
      },
      control,
      {
        settleOnAbort: true,
        missing: "registered in this worker",
        // With captureConsoleOutput(), the handler's console.* calls go to its task's log.
        call: (run) => runCapturingConsole((line, level) => control.log(line, level), run),
        ...(this.options.warn ? { warn: this.options.warn } : {}),
      },
    ).then((outcome) => outcome.kind === "completed" ? { ...outcome, checked: true } : outcome);
  }
}

export { formatLogPart };
