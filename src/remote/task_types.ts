/**
 * Published task types for clients in other languages (`GET /api/v1/task-types`): each task
 * name the workers define, with the JSON Schema of its args, its queue, priority, retry and
 * timeout defaults, so they can validate before they send and generate types. Workers publish
 * them in their registry rows (`meta.taskTypes`, see `src/task_types.ts`); this merges them.
 * @module
 */

import type { TaskRegistry } from "../registry.ts";
import { describeTaskTypes, type PublishedTaskTypes, type TaskTypeInfo } from "../task_types.ts";

/** One published task type (the shape workers publish). */
export type TaskType = TaskTypeInfo;

/** The task types of a registry, as a worker publishes them. */
export function registryTaskTypes(registry: TaskRegistry): TaskType[] {
  return describeTaskTypes(registry.definitions());
}

/**
 * The task types for clients: this process's own (`local`) with what live workers publish (see
 * {@linkcode publishedTaskTypes}: the newest beat wins) over them, sorted by name.
 */
export function mergeTaskTypes(
  published: PublishedTaskTypes,
  local: readonly TaskType[] = [],
): TaskType[] {
  const byName = new Map(local.map((type) => [type.name, type]));
  for (const [name, type] of published.types) byName.set(name, type);
  return [...byName.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
