/**
 * Published task types: what a worker tells the store about the tasks it defines (in its
 * registry row's `meta.taskTypes`), so a producer without the handler code can enqueue them
 * with the right defaults, and `stats` can tell which waiting tasks no live worker can run.
 *
 * The args schema travels as JSON Schema made by `@valibot/to-json-schema` (what valibot
 * cannot express is left out, never an error); a schema larger than
 * {@linkcode MAX_ARGS_SCHEMA_BYTES}, or one that cannot be converted, is published as null.
 * @module
 */

import { toJsonSchema } from "@valibot/to-json-schema";
import { DEFAULT_HEARTBEAT_TIMEOUT } from "./heartbeat.ts";
import type { JsonValue } from "./json.ts";
import type { TaskDefinition } from "./registry.ts";
import type { RetryConfig } from "./retry.ts";
import type { TaskStore, WorkerInfo } from "./store/store.ts";
import type { TaskPriority } from "./task.ts";

/** The largest args schema published per task type, as JSON text (bytes of UTF-16 units). */
export const MAX_ARGS_SCHEMA_BYTES = 4096;
/**
 * The largest list of task types a worker publishes, as JSON text: beyond it the args schemas
 * are dropped (null), largest first, until it fits. Names and defaults are always published.
 */
export const MAX_TASK_TYPES_BYTES = 65_536;

/** A task type as a worker publishes it (and `GET /api/v1/task-types` lists it). */
export interface TaskTypeInfo {
  name: string;
  queue: string;
  priority: TaskPriority;
  maxAttempts: number;
  /** Milliseconds one attempt may run, or null for no limit. */
  timeoutMillis: number | null;
  retry: RetryConfig;
  /** The args' JSON Schema, or null when the task has none (or it could not be published). */
  argsSchema: JsonValue | null;
}

/** What {@linkcode describeTaskTypes} reads of a definition (any args type). */
export type DescribedDefinition = Pick<
  TaskDefinition,
  "name" | "queue" | "priority" | "retryConfig" | "timeout" | "schema"
>;

const schemaCache = new WeakMap<object, JsonValue | null>();

/** The JSON Schema of a definition's args (cached per schema), or null. Never throws. */
function argsSchemaOf(definition: DescribedDefinition): JsonValue | null {
  const schema = definition.schema;
  if (!schema) return null;
  if (schemaCache.has(schema)) return schemaCache.get(schema)!;
  let converted: JsonValue | null = null;
  try {
    // "throw": a schema with parts JSON Schema cannot say (transforms, custom checks) publishes
    // as null, not as a looser schema than the worker checks.
    const json = JSON.stringify(toJsonSchema(schema, { errorMode: "throw" }));
    converted = json.length <= MAX_ARGS_SCHEMA_BYTES ? JSON.parse(json) as JsonValue : null;
  } catch {
    converted = null;
  }
  schemaCache.set(schema, converted);
  return converted;
}

/**
 * The task types of `definitions`, by name, within {@linkcode MAX_TASK_TYPES_BYTES}.
 *
 * @example
 * ```ts
 * describeTaskTypes(registry.definitions());
 * // [{ name: "resize", queue: "images", priority: "NORMAL", maxAttempts: 3, … }]
 * ```
 */
export function describeTaskTypes(definitions: readonly DescribedDefinition[]): TaskTypeInfo[] {
  const types = [...definitions].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    .map((d): TaskTypeInfo => ({
      name: d.name,
      queue: d.queue,
      priority: d.priority,
      maxAttempts: d.retryConfig.maxAttempts,
      timeoutMillis: d.timeout,
      retry: { ...d.retryConfig },
      argsSchema: argsSchemaOf(d),
    }));
  let size = JSON.stringify(types).length;
  if (size <= MAX_TASK_TYPES_BYTES) return types;
  const bySchemaSize = types.filter((t) => t.argsSchema !== null)
    .map((t) => ({ t, bytes: JSON.stringify(t.argsSchema).length }))
    .sort((a, b) => b.bytes - a.bytes);
  for (const { t, bytes } of bySchemaSize) {
    if (size <= MAX_TASK_TYPES_BYTES) break;
    t.argsSchema = null;
    size -= bytes - 4;
  }
  return types;
}

/**
 * The task types live workers publish: by name, the first worker's entry (newest beat first),
 * and `anyName` when a live worker publishes no list (it claims every name: a custom
 * executor).
 */
export interface PublishedTaskTypes {
  types: Map<string, TaskTypeInfo>;
  anyName: boolean;
  /** Live workers found. */
  workers: number;
}

/**
 * Reads the worker registry and gathers what its live workers publish (see
 * {@linkcode PublishedTaskTypes}): a worker is live while its last beat is at most `liveMillis`
 * old (default {@linkcode DEFAULT_HEARTBEAT_TIMEOUT}, after which other workers take it for gone).
 */
export async function publishedTaskTypes(
  store: Pick<TaskStore, "listWorkers">,
  now: number,
  liveMillis: number = DEFAULT_HEARTBEAT_TIMEOUT,
): Promise<PublishedTaskTypes> {
  const live = (await store.listWorkers()).filter((w) => now - w.lastBeatAt <= liveMillis)
    .sort((a, b) => b.lastBeatAt - a.lastBeatAt);
  const types = new Map<string, TaskTypeInfo>();
  let anyName = false;
  for (const worker of live) {
    const published = taskTypesOf(worker);
    if (published === null) anyName = true;
    else for (const type of published) if (!types.has(type.name)) types.set(type.name, type);
  }
  return { types, anyName, workers: live.length };
}

/** The task types a worker row publishes, or null when it publishes none (any name). */
export function taskTypesOf(worker: WorkerInfo): TaskTypeInfo[] | null {
  const meta = worker.meta;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return null;
  const list = meta.taskTypes;
  if (!Array.isArray(list)) return null;
  return list.filter((t): t is TaskTypeInfo & JsonValue =>
    typeof t === "object" && t !== null && !Array.isArray(t) && typeof t.name === "string"
  ) as unknown as TaskTypeInfo[];
}
