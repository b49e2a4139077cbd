/**
 * The `"aether-tasks"` module as handler files see it: `defineTask`, valibot as `v`, and the
 * types a handler needs. It resolves in every way of running:
 * - Deno from source: the `"imports"` map of `deno.json`;
 * - Bun from source and the compiled binary: a runtime plugin that serves this module
 *   (`src/adapter/bun/plugin.ts`), so handler files outside the project resolve it too.
 *
 * @example
 * ```ts
 * // handlers/greet.ts
 * import { defineTask, v } from "aether-tasks";
 *
 * export default defineTask({
 *   name: "greet",
 *   args: v.object({ name: v.string() }),
 *   run: ({ name }) => `hello ${name}`,
 * });
 * ```
 * @module
 */

export * as v from "valibot";
export { defineTask, type TaskSpec } from "./handlers/define.ts";
export { PermanentError } from "./errors.ts";
export type { BackoffFunction } from "./retry.ts";
export type { AbortCause } from "./executor.ts";
export type { TaskContext, TaskDefinition } from "./registry.ts";
export type { RetryConfig } from "./retry.ts";
export { TaskPriority } from "./task.ts";
