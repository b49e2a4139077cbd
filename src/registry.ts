/**
 * Task definitions and the registry that maps names to them.
 * @module
 */

import * as v from "valibot";
import { MAX_TIMEOUT_MILLIS, NAME_PATTERN } from "./enqueue_input.ts";
import { InvalidArgumentsError, UnknownTaskError } from "./errors.ts";
import { findNonJson } from "./json.ts";
import {
  assertBackoff,
  type BackoffFunction,
  resolveRetryConfig,
  type RetryConfig,
} from "./retry.ts";
import { suggest } from "./suggest.ts";
import { PRIORITY_RANK, TaskPriority } from "./task.ts";
import { parseUnique, type UniqueOptions, type UniqueSpec } from "./unique.ts";
import { type FlowLimitOptions, parseFlowLimits } from "./flow_limits.ts";
import type { FlowLimits, ScheduleInput } from "./store/store.ts";
import { parseSchedule, type ScheduleOptions } from "./schedule.ts";

/** A valibot schema for task arguments (synchronous): its output is `T`, its input `TInput`. */
export type ArgsSchema<T = unknown, TInput = unknown> = v.GenericSchema<TInput, T>;

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
  /**
   * Fails the task for good, FAILED at once with this error whatever attempts remain (as
   * `throw new PermanentError(message)`). It throws, ending the handler; the attempt ends this
   * way even if the handler catches that throw.
   */
  fail(reason: string | Error): never;
  /**
   * Runs the task again after `duration` (`"10m"`, or ms from 0 to 10 years) without spending an
   * attempt: it becomes SCHEDULED, its `attempts` count does not grow (a snooze never counts
   * against `maxAttempts`; snoozes are not limited) and its history shows the attempt as
   * `snoozed`. It throws, ending the handler; the attempt ends this way even if the handler
   * catches that throw. A bad duration throws a `RangeError` naming it (the attempt then fails
   * with that error).
   */
  snooze(duration: string | number): never;
}

/** A task handler. Handlers must be idempotent: a task may run more than once. */
export type TaskHandler<TArgs = unknown> = (args: TArgs, ctx: TaskContext) => unknown;

/** Per-task defaults a registration may set. */
export interface TaskOptions<TArgs = unknown> {
  /** Validates args at enqueue and again before each run. Default: any JSON. */
  schema?: ArgsSchema<TArgs>;
  /** Merged over {@linkcode DEFAULT_RETRY_CONFIG}. */
  retryConfig?: Partial<RetryConfig>;
  /** Milliseconds one attempt may run. Default {@linkcode DEFAULT_TIMEOUT_MILLIS}; null: no limit. */
  timeout?: number | null;
  /** Default queue. Default {@linkcode DEFAULT_QUEUE}. */
  queue?: string;
  /** Default priority. Default NORMAL. */
  priority?: TaskPriority;
  /** Default `unique` of its enqueues (see {@linkcode UniqueOptions}). Default: not unique. */
  unique?: UniqueOptions;
  /** Starts of this task name across every process (`{ limit: 10, per: "1s" }`). Default: none. */
  rateLimit?: FlowLimitOptions["rateLimit"];
  /** Running tasks of this name across every process. Default: no limit. */
  maxRunning?: number | null;
  /** Cron schedules of this task, by schedule id (`task` is this task). Default: none. */
  schedules?: Readonly<Record<string, Omit<ScheduleOptions, "task">>>;
  /**
   * The delay before a retry, from the failed attempt and its error (see
   * {@linkcode BackoffFunction}). Default: the exponential backoff of `retryConfig`.
   */
  backoff?: BackoffFunction;
}

/**
 * A registered task, with its options resolved. `TInput` is what its schema accepts: the args
 * type of a typed enqueue, `dispatcher.enqueue(definition, args)`.
 */
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

/** The queue a task goes to when nothing says otherwise. */
export const DEFAULT_QUEUE = "default";
/** How long one attempt may run when nothing says otherwise: 5 minutes. */
export const DEFAULT_TIMEOUT_MILLIS = 5 * 60_000;

/** Throws unless `name` is a valid task or queue name. */
export function assertName(name: unknown, label: string): asserts name is string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    throw new TypeError(
      `${label} must be 1-128 characters of letters, digits and . _ : - /, starting with a letter or digit; got ${
        JSON.stringify(name) ?? String(name)
      }`,
    );
  }
}

/** Throws unless `timeout` is null or an integer of milliseconds from 1 to 365 days. */
export function assertTimeout(timeout: unknown, label: string): asserts timeout is number | null {
  if (
    timeout !== null &&
    (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 1 ||
      timeout > MAX_TIMEOUT_MILLIS)
  ) {
    throw new RangeError(
      `${label} must be an integer of milliseconds from 1 to ${MAX_TIMEOUT_MILLIS} (365 days) ` +
        `or null, got ${String(timeout)}`,
    );
  }
}

/** Throws unless `priority` is one of LOW, NORMAL, HIGH, CRITICAL (own keys only). */
export function assertPriority(priority: unknown, label: string): asserts priority is TaskPriority {
  if (typeof priority !== "string" || !Object.hasOwn(PRIORITY_RANK, priority)) {
    const hint = typeof priority === "string"
      ? suggest(priority.toUpperCase(), Object.keys(PRIORITY_RANK))
      : [];
    throw new RangeError(
      `${label} must be one of LOW, NORMAL, HIGH, CRITICAL, got ${
        JSON.stringify(priority) ?? String(priority)
      }${hint.length ? `; did you mean ${hint[0]}?` : ""}`,
    );
  }
}

/** Resolves and validates options into a definition. */
export function createDefinition<TArgs>(
  name: string,
  run: TaskHandler<TArgs>,
  options: TaskOptions<TArgs> = {},
): TaskDefinition<TArgs> {
  assertName(name, "Task name");
  if (typeof run !== "function") {
    throw new TypeError(`The handler of task "${name}" must be a function, got ${typeof run}`);
  }
  const queue = options.queue ?? DEFAULT_QUEUE;
  assertName(queue, `The queue of task "${name}"`);
  const priority = options.priority ?? TaskPriority.NORMAL;
  assertPriority(priority, `The priority of task "${name}"`);
  const timeout = options.timeout === undefined ? DEFAULT_TIMEOUT_MILLIS : options.timeout;
  assertTimeout(timeout, `The timeout of task "${name}"`);
  const schema = options.schema ?? null;
  if (schema !== null && (typeof schema !== "object" || !("~run" in schema))) {
    throw new TypeError(`The schema of task "${name}" must be a valibot schema`);
  }
  const definition: TaskDefinition<TArgs> = {
    name,
    schema,
    retryConfig: resolveRetryConfig(
      options.retryConfig,
      undefined,
      `The retryConfig of task "${name}"`,
    ),
    timeout,
    queue,
    priority,
    run,
  };
  if (options.backoff !== undefined) {
    assertBackoff(options.backoff, `The backoff of task "${name}"`);
    definition.backoff = options.backoff;
  }
  if (options.unique !== undefined) {
    definition.unique = parseUnique(options.unique, `The unique option of task "${name}"`);
  }
  if (options.rateLimit != null || options.maxRunning != null) {
    definition.limits = parseFlowLimits(
      { rateLimit: options.rateLimit ?? null, maxRunning: options.maxRunning ?? null },
      `The limits of task "${name}"`,
    );
  }
  if (options.schedules !== undefined) {
    if (typeof options.schedules !== "object" || options.schedules === null) {
      throw new TypeError(`The schedules of task "${name}" must be an object by schedule id`);
    }
    definition.schedules = Object.entries(options.schedules).map(([id, schedule]) => {
      const input = parseSchedule(id, { ...schedule, task: name }, "code");
      // The slot's args must pass the task's schema now, not at 3 a.m.
      try {
        parseArgs(definition, input.args);
      } catch (error) {
        if (error instanceof Error) error.message = `schedule "${id}": ${error.message}`;
        throw error;
      }
      return input;
    });
  }
  return definition;
}

/**
 * Checks `args` against the definition: JSON only, then the schema. Returns the schema's output
 * (what the handler receives) or throws {@linkcode InvalidArgumentsError} listing every issue.
 */
export function parseArgs<TArgs>(definition: TaskDefinition<TArgs>, args: unknown): TArgs {
  const notJson = findNonJson(args, "args");
  if (notJson) {
    throw new InvalidArgumentsError(definition.name, [{
      path: "args",
      message: `${notJson}; task args must be plain JSON`,
    }]);
  }
  if (!definition.schema) return args as TArgs;
  let parsed;
  try {
    parsed = v.safeParse(definition.schema, args);
  } catch (error) {
    // A getter or proxy that threw only on this second read, or a schema that throws.
    const message = error instanceof Error ? error.message : String(error);
    throw new InvalidArgumentsError(definition.name, [{
      path: "args",
      message: `args could not be read: ${message.split("\n")[0]}`,
    }]);
  }
  if (parsed.success) return parsed.output;
  throw new InvalidArgumentsError(
    definition.name,
    parsed.issues.map((issue) => {
      const dotPath = v.getDotPath(issue);
      return { path: dotPath ? `args.${dotPath}` : "args", message: issue.message };
    }),
  );
}

/**
 * Maps task names to definitions.
 *
 * @example
 * ```ts
 * const registry = new TaskRegistry();
 * registry.register("send-email", async ({ to }) => { await send(to); }, {
 *   schema: v.object({ to: v.pipe(v.string(), v.email()) }),
 *   retryConfig: { maxAttempts: 5 },
 * });
 * ```
 */
export class TaskRegistry {
  #definitions = new Map<string, TaskDefinition>();

  /**
   * Registers a handler on {@linkcode defaultRegistry}, as the original module's
   * `TaskRegistry.register(name, handler, options)` did.
   */
  static register<TArgs>(
    name: string,
    handler: TaskHandler<TArgs>,
    options: TaskOptions<TArgs> = {},
  ): TaskDefinition<TArgs> {
    return defaultRegistry.register(name, handler, options);
  }

  /** Registers a handler under `name`; a name registered twice throws. */
  register<TArgs>(
    name: string,
    handler: TaskHandler<TArgs>,
    options: TaskOptions<TArgs> = {},
  ): TaskDefinition<TArgs> {
    const definition = createDefinition(name, handler, options);
    this.add(definition);
    return definition;
  }

  /** Adds a ready definition (as {@linkcode defineTask} makes); a name registered twice throws. */
  add<TArgs>(definition: TaskDefinition<TArgs>): void {
    if (this.#definitions.has(definition.name)) {
      throw new Error(`Task "${definition.name}" is already registered`);
    }
    this.#definitions.set(definition.name, definition as TaskDefinition);
  }

  /** Removes a registration; returns whether it existed. */
  unregister(name: string): boolean {
    return this.#definitions.delete(name);
  }

  has(name: string): boolean {
    return this.#definitions.has(name);
  }

  /** The definition of `name`, or throws {@linkcode UnknownTaskError} with near matches. */
  get(name: string): TaskDefinition {
    const definition = this.#definitions.get(name);
    if (!definition) throw new UnknownTaskError(name, suggest(name, this.#definitions.keys()));
    return definition;
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#definitions.keys()].sort();
  }

  /** Every definition, by name. */
  definitions(): TaskDefinition[] {
    return this.names().map((name) => this.#definitions.get(name)!);
  }
}

/** The process-wide registry used when no other is given, as in the original module. */
export const defaultRegistry: TaskRegistry = new TaskRegistry();
