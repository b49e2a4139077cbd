/**
 * Type declarations of the `"aether-tasks"` module that handler files import, for editors and
 * `deno check` in a handlers folder outside this repository (`aether-tasks init` writes this
 * file). Hand-written from `src/handler_api.ts`; `tests/handler_types.test.ts` fails when the two
 * differ. Valibot's own declarations come from `"valibot"` (init writes them beside this file).
 * @module
 */

import type * as valibot from "valibot";

export * as v from "valibot";

/** A valibot schema whose output is `T` and input `TInput`. */
export type ArgsSchema<T = unknown, TInput = unknown> = valibot.GenericSchema<TInput, T>;

/** Why an attempt's signal aborted: `ctx.signal.reason.kind`. */
export type AbortCause = "cancel" | "timeout" | "shutdown" | "leaseLost";

/** The priorities, highest last. */
export declare const TaskPriority: {
  readonly LOW: "LOW";
  readonly NORMAL: "NORMAL";
  readonly HIGH: "HIGH";
  readonly CRITICAL: "CRITICAL";
};
/** One of {@linkcode TaskPriority}. */
export type TaskPriority = typeof TaskPriority[keyof typeof TaskPriority];

/** Retries of a task. */
export interface RetryConfig {
  /** Total attempts, the first one included. Default 3. */
  maxAttempts: number;
  /** Delay before the second attempt, in ms. Default 1000. */
  baseDelayMillis: number;
  /** Each further delay is the previous one times this. Default 2.0. */
  backoffMultiplier: number;
  /** No delay is longer than this, in ms. Default 60000. */
  maxDelayMillis: number;
  /** Each delay drawn from [delay / 2, delay]. Default true. */
  useJitter: boolean;
}

/** What a running handler can use. */
export interface TaskContext {
  taskId: string;
  name: string;
  queue: string;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  /** Aborts on cancel, timeout, lost lease and worker shutdown; `signal.reason` says which. */
  signal: AbortSignal;
  /** For a task a schedule enqueued, the slot it runs for (epoch ms); null otherwise. */
  scheduledFor: number | null;
  /**
   * The W3C `traceparent` of this attempt's OpenTelemetry span, for a handler that continues the
   * trace with its own tracer (in a Worker or another process); null when tracing is off.
   */
  traceparent: string | null;
  /** Stores a progress value on the task (the latest one is kept). */
  progress(value: unknown): Promise<void>;
  /** Appends a line to the task's log (the last 100 lines are kept). */
  log(...parts: unknown[]): void;
  /** Fails the task for good (no retry), with this error; throws, ending the handler. */
  fail(reason: string | Error): never;
  /**
   * Runs the task again after `duration` (`"10m"`, or ms) without spending an attempt; throws,
   * ending the handler.
   */
  snooze(duration: string | number): never;
}

/** Thrown by a handler: the task fails at once, without a retry. */
export declare class PermanentError extends Error {
  override name: string;
  constructor(message: string, options?: ErrorOptions);
}

/** A task's own retry delay: ms or a duration (`"30s"`) after attempt `attempt` failed. */
export type BackoffFunction = (attempt: number, error: unknown) => number | string;

/** Plain JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | {
  [key: string]: JsonValue;
};

/** The statuses of a task. */
export type TaskStatus =
  | "PENDING"
  | "SCHEDULED"
  | "PROCESSING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "RETRYING";

/** What makes two enqueues the same task. */
export type UniqueField = "name" | "queue" | "args";

/** The `unique` option of an enqueue or a task definition. */
export interface UniqueOptions {
  /** Extra text that is part of the key. */
  key?: string;
  /** Default name, queue and args. */
  by?: readonly UniqueField[];
  /** Statuses in which a stored task blocks a new one. Default: waiting or running. */
  states?: readonly TaskStatus[];
  /** A duration (`"1h"`, or ms): uniqueness holds within one bucket of this length. */
  period?: string | number;
}

/** Uniqueness as checked. */
export interface UniqueSpec {
  key: string | null;
  by: readonly UniqueField[];
  states: readonly TaskStatus[];
  periodMillis: number | null;
}

/** A rate limit as written: `limit` starts per `per` (a duration such as `"1s"`, or ms). */
export interface RateLimitOptions {
  limit: number;
  per: string | number;
}

/** `limit` starts in any window of `perMillis`. */
export interface RateLimit {
  limit: number;
  perMillis: number;
}

/** What a flow limit holds to; null leaves that side unlimited. */
export interface FlowLimits {
  rateLimit: RateLimit | null;
  maxRunning: number | null;
}

/** How a schedule makes up for missed slots. */
export type CatchUpPolicy = "skip" | "latest" | "all";
/** Whether a slot fires while the previous slot's task still waits or runs. */
export type OverlapPolicy = "allow" | "skip";

/** A cron schedule as written. */
export interface ScheduleOptions {
  task: string;
  cron: string;
  args?: JsonValue;
  timezone?: string;
  queue?: string;
  priority?: TaskPriority;
  catchUp?: CatchUpPolicy;
  catchUpWindow?: string | number;
  overlap?: OverlapPolicy;
}

/** A cron schedule as checked. */
export interface ScheduleInput {
  id: string;
  task: string;
  cron: string;
  timezone: string | null;
  args: JsonValue;
  queue: string | null;
  priority: TaskPriority | null;
  catchUp: CatchUpPolicy;
  catchUpWindowMillis: number;
  overlap: OverlapPolicy;
  source: "code" | "api";
  retired: boolean;
}

/** A task handler. Handlers must be idempotent: a task may run more than once. */
export type TaskHandler<TArgs = unknown> = (args: TArgs, ctx: TaskContext) => unknown;

/** A registered task, with its options resolved; `TInput` is what its schema accepts. */
export interface TaskDefinition<TArgs = unknown, TInput = unknown> {
  name: string;
  schema: ArgsSchema<TArgs, TInput> | null;
  retryConfig: RetryConfig;
  timeout: number | null;
  queue: string;
  priority: TaskPriority;
  /** Default uniqueness of its enqueues, or null. */
  unique?: UniqueSpec | null;
  /** Its flow limits (applied to the store when a worker starts), or null. */
  limits?: FlowLimits | null;
  /** Its cron schedules (upserted when a worker starts). */
  schedules?: readonly ScheduleInput[];
  /** Its own retry delay, or null for the exponential backoff of `retryConfig`. */
  backoff?: BackoffFunction | null;
  run: TaskHandler<TArgs>;
}

/** What {@linkcode defineTask} takes. Every field but `name` and `run` is optional. */
export interface TaskSpec<TSchema extends ArgsSchema = ArgsSchema> {
  /** The task name, unique across the handlers folder. */
  name: string;
  /** A valibot schema; `run` receives its output. Default: any JSON. */
  args?: TSchema;
  /** Merged over the default retry config (3 attempts, 1 s doubling up to 60 s, jitter). */
  retryConfig?: Partial<RetryConfig>;
  /** Milliseconds one attempt may run. Default 5 minutes; null: no limit. */
  timeout?: number | null;
  /** Default queue. Default `"default"`. */
  queue?: string;
  /** Default priority. Default NORMAL. */
  priority?: TaskPriority;
  /** Default `unique` option of its enqueues. Default: not unique. */
  unique?: UniqueOptions;
  /** Starts of this task across every worker process, e.g. `{ limit: 10, per: "1s" }`. */
  rateLimit?: RateLimitOptions | string;
  /** Running tasks of this name across every worker process. */
  maxRunning?: number;
  /** One cron schedule (id: the task name), e.g. `"0 3 * * *"`. */
  cron?: string;
  /** The time zone of `cron`. Default UTC. */
  timezone?: string;
  /** The args of the tasks `cron` enqueues. Default `{}`. */
  cronArgs?: unknown;
  /** Several cron schedules; an `id` names one (default `<task>:<index>`). */
  schedules?: readonly (Omit<ScheduleOptions, "task"> & { id?: string })[];
  /** The delay before a retry (ms or a duration, 0 to 365 days). Default: exponential. */
  backoff?: BackoffFunction;
  /** Runs one attempt; its return value (plain JSON) becomes the task's result. */
  run(args: valibot.InferOutput<TSchema>, ctx: TaskContext): unknown;
}

/**
 * Describes a task for a handler module, whose default export it is.
 *
 * @example
 * ```ts
 * import { defineTask, v } from "aether-tasks";
 *
 * export default defineTask({
 *   name: "greet",
 *   args: v.object({ name: v.string() }),
 *   run: ({ name }) => `hello ${name}`,
 * });
 * ```
 */
export declare function defineTask<TSchema extends ArgsSchema = ArgsSchema>(
  spec: TaskSpec<TSchema>,
): TaskDefinition<valibot.InferOutput<TSchema>, valibot.InferInput<TSchema>>;
