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
import type { RetryConfig } from "../retry.ts";
import type { TaskPriority } from "../task.ts";

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
): TaskDefinition<v.InferOutput<TSchema>> {
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
  const definition = createDefinition<Args>(spec.name, spec.run, options);
  Object.defineProperty(definition, DEFINED, { value: true });
  return definition;
}

/**
 * Whether `value` was made by {@linkcode defineTask} (of any copy of this library: the mark is
 * a registered symbol).
 */
export function isDefinedTask(value: unknown): value is TaskDefinition {
  return typeof value === "object" && value !== null && DEFINED in value;
}
