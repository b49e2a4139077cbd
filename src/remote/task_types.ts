/**
 * Published task types: each task name the workers define, with the JSON Schema of its args,
 * its queue, priority, retry and timeout defaults, so clients in other languages can validate
 * before they send and generate types (`GET /api/v1/task-types`).
 * @module
 */

import { toJsonSchema } from "@valibot/to-json-schema";
import type { JsonValue } from "../json.ts";
import type { TaskRegistry } from "../registry.ts";
import type { RetryConfig } from "../retry.ts";
import type { WorkerInfo } from "../store/store.ts";

/** One published task type, as workers put it in their registry row's `meta.taskTypes`. */
export interface TaskType {
  name: string;
  queue: string;
  priority: string;
  maxAttempts: number;
  timeoutMillis: number | null;
  retry: RetryConfig;
  /** The args' JSON Schema (draft-07), or null when the task has no schema or it has no JSON form. */
  argsSchema: { [key: string]: JsonValue } | null;
}

/**
 * The task types a registry defines, by name, with each valibot args schema converted to JSON
 * Schema (null when a schema has parts JSON Schema cannot say, such as transforms or custom
 * checks: a client would otherwise validate less than the worker does).
 *
 * @example
 * ```ts
 * const types = describeTaskTypes(registry);
 * await store.heartbeatWorker(workerId, Date.now(), { taskTypes: types });
 * ```
 */
export function describeTaskTypes(registry: TaskRegistry): TaskType[] {
  return registry.definitions().map((definition) => ({
    name: definition.name,
    queue: definition.queue,
    priority: definition.priority,
    maxAttempts: definition.retryConfig.maxAttempts,
    timeoutMillis: definition.timeout,
    retry: { ...definition.retryConfig },
    argsSchema: definition.schema === null ? null : argsJsonSchema(definition.schema),
  })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * The union of the task types live workers publish (`meta.taskTypes` of their registry rows)
 * and `local` (this process's own), by name; of two workers defining a name, the one that beat
 * last wins, and a worker's entry wins over `local`.
 */
export function publishedTaskTypes(
  workers: readonly WorkerInfo[],
  local: readonly TaskType[] = [],
): TaskType[] {
  const byName = new Map<string, { type: TaskType; at: number }>();
  for (const type of local) byName.set(type.name, { type, at: -Infinity });
  for (const worker of workers) {
    for (const type of taskTypesOf(worker.meta)) {
      const seen = byName.get(type.name);
      if (!seen || seen.at <= worker.lastBeatAt) {
        byName.set(type.name, { type, at: worker.lastBeatAt });
      }
    }
  }
  return [...byName.values()].map((entry) => entry.type).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  );
}

function argsJsonSchema(schema: unknown): TaskType["argsSchema"] {
  try {
    // "throw": a schema with parts JSON Schema cannot express publishes as null, not as a
    // looser schema than the worker checks.
    const converted = toJsonSchema(schema as Parameters<typeof toJsonSchema>[0], {
      errorMode: "throw",
    });
    return JSON.parse(JSON.stringify(converted));
  } catch {
    return null;
  }
}

function taskTypesOf(meta: JsonValue): TaskType[] {
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return [];
  const types = meta.taskTypes;
  if (!Array.isArray(types)) return [];
  return types.filter((t): t is TaskType & { [key: string]: JsonValue } =>
    typeof t === "object" && t !== null && !Array.isArray(t) && typeof t.name === "string" &&
    typeof t.queue === "string"
  ) as unknown as TaskType[];
}
