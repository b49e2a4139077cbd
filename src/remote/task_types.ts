/**
 * Published task types for clients in other languages (`GET /api/v1/task-types`): each task
 * name the workers define, with the JSON Schema of its args, its queue, priority, retry and
 * timeout defaults, so they can validate before they send and generate types. Workers publish
 * them in their registry rows (`meta.taskTypes`, see `src/task_types.ts`); this merges them.
 * @module
 */

import type { TaskRegistry } from "../registry.ts";
import type { WorkerInfo } from "../store/store.ts";
import { describeTaskTypes, type TaskTypeInfo, taskTypesOf } from "../task_types.ts";

/** One published task type (the shape workers publish). */
export type TaskType = TaskTypeInfo;

/** The task types of a registry, as a worker publishes them. */
export function registryTaskTypes(registry: TaskRegistry): TaskType[] {
  return describeTaskTypes(registry.definitions());
}

/**
 * The union of the task types `workers` publish and `local` (this process's own), by name; of
 * two workers defining a name, the one that beat last wins, and a worker's entry wins over
 * `local`. Sorted by name.
 */
export function mergeTaskTypes(
  workers: readonly WorkerInfo[],
  local: readonly TaskType[] = [],
): TaskType[] {
  const byName = new Map<string, { type: TaskType; at: number }>();
  for (const type of local) byName.set(type.name, { type, at: -Infinity });
  for (const worker of workers) {
    for (const type of taskTypesOf(worker) ?? []) {
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
