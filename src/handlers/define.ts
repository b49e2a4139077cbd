/**
 * `defineTask`: how a handler module describes its task.
 * @module
 */

import type * as v from "valibot";
import {
  type ArgsSchema,
  createDefinition,
  type TaskContext,
  type TaskDefinition,
  type TaskOptions,
} from "../registry.ts";
import type { BackoffFunction, RetryConfig } from "../retry.ts";
import type { TaskPriority } from "../task.ts";
import type { UniqueOptions } from "../unique.ts";
import type { RateLimitOptions } from "../flow_limits.ts";
import type { ScheduleOptions } from "../schedule.ts";

/** What {@linkcode defineTask} takes. Every field but `name` and `run` is optional. */
export interface TaskSpec<TSchema extends ArgsSchema = ArgsSchema> {
  /** The task name, unique across the handlers folder. */
  name: string;
  /** A valibot schema; `run` receives its output. Default: any JSON. */
  args?: TSchema;
  /** Merged over {@linkcode DEFAULT_RETRY_CONFIG}. */
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
  /**
   * One cron schedule (schedule id: the task name): `cron: "0 3 * * *"`, with `timezone` and
   * `cronArgs` (the args of each enqueued task; `args` is the schema here). For several, use
   * `schedules`.
   */
  cron?: string;
  /** The time zone of `cron`. Default UTC. */
  timezone?: string;
  /** The args of the tasks `cron` enqueues. Default `{}`. */
  cronArgs?: unknown;
  /**
   * Several cron schedules, each `{ cron, args, timezone, catchUp, overlap, … }`; an `id`
   * names one (default `<task>:<index>`). Schedules removed from code are retired at the next
   * worker start.
   */
  schedules?: readonly (Omit<ScheduleOptions, "task"> & { id?: string })[];
  /**
   * The delay before a retry, from the failed attempt (1-based) and its error: ms or a duration
   * (`"30s"`), from 0 to 365 days. Default: the exponential backoff of `retryConfig`. A backoff
   * that throws or returns anything else falls back to that default (logged, rate-limited).
   */
  backoff?: BackoffFunction;
  /** Runs one attempt; its return value (plain JSON) becomes the task's result. */
  run(args: v.InferOutput<TSchema>, ctx: TaskContext): unknown;
}

const DEFINED = Symbol.for("aether-tasks.definedTask");

/**
 * Describes a task for a handler module, whose default export it is. Validates the options now,
 * so a mistake fails when the module loads, naming the task.
 *
 * @example
 * ```ts
 * import { defineTask, v } from "aether-tasks";
 *
 * export default defineTask({
 *   name: "resize-image",
 *   args: v.object({ path: v.string(), width: v.pipe(v.number(), v.integer()) }),
 *   retryConfig: { maxAttempts: 5 },
 *   timeout: 60_000,
 *   async run({ path, width }, ctx) {
 *     ctx.log("resizing", path);
 *     return { path, width };
 *   },
 * });
 * ```
 */
export function defineTask<TSchema extends ArgsSchema = ArgsSchema>(
  spec: TaskSpec<TSchema>,
): TaskDefinition<v.InferOutput<TSchema>, v.InferInput<TSchema>> {
  if (typeof spec !== "object" || spec === null) {
    throw new TypeError(`defineTask expects an object with name and run, got ${String(spec)}`);
  }
  type Args = v.InferOutput<TSchema>;
  const options: TaskOptions<Args> = {};
  if (spec.args !== undefined) options.schema = spec.args as ArgsSchema<Args>;
  if (spec.retryConfig !== undefined) options.retryConfig = spec.retryConfig;
  if (spec.timeout !== undefined) options.timeout = spec.timeout;
  if (spec.queue !== undefined) options.queue = spec.queue;
  if (spec.priority !== undefined) options.priority = spec.priority;
  if (spec.unique !== undefined) options.unique = spec.unique;
  if (spec.rateLimit !== undefined) options.rateLimit = spec.rateLimit;
  if (spec.maxRunning !== undefined) options.maxRunning = spec.maxRunning;
  if (spec.backoff !== undefined) options.backoff = spec.backoff;
  const schedules: Record<string, Omit<ScheduleOptions, "task">> = {};
  if (spec.cron !== undefined) {
    const schedule: Omit<ScheduleOptions, "task"> = { cron: spec.cron };
    if (spec.timezone !== undefined) schedule.timezone = spec.timezone;
    if (spec.cronArgs !== undefined) {
      schedule.args = spec.cronArgs as NonNullable<ScheduleOptions["args"]>;
    }
    schedules[spec.name] = schedule;
  } else if (spec.timezone !== undefined || spec.cronArgs !== undefined) {
    throw new TypeError(`Task "${spec.name}": timezone and cronArgs need cron`);
  }
  if (spec.schedules !== undefined) {
    if (!Array.isArray(spec.schedules)) {
      throw new TypeError(`Task "${spec.name}": schedules must be an array of { cron, ... }`);
    }
    spec.schedules.forEach((entry, i) => {
      const { id = `${spec.name}:${i}`, ...schedule } = entry ?? {};
      if (id in schedules) {
        throw new RangeError(`Task "${spec.name}": schedule id "${id}" is used twice`);
      }
      schedules[id] = schedule as Omit<ScheduleOptions, "task">;
    });
  }
  if (Object.keys(schedules).length > 0) options.schedules = schedules;
  const definition = createDefinition<Args>(spec.name, spec.run, options);
  Object.defineProperty(definition, DEFINED, { value: true });
  // The schema's input type rides along for typed enqueues (`dispatcher.enqueue(task, args)`).
  return definition as TaskDefinition<Args, v.InferInput<TSchema>>;
}

/**
 * Whether `value` was made by {@linkcode defineTask} (of any copy of this library: the mark is
 * a registered symbol).
 */
export function isDefinedTask(value: unknown): value is TaskDefinition {
  return typeof value === "object" && value !== null && DEFINED in value;
}
