/**
 * How the library logs: through LogTape (`@logtape/logtape`), under categories that start with
 * {@linkcode LOG_CATEGORY}. Nothing is written anywhere unless the application configures
 * LogTape; the CLI configures a pretty or JSON sink on stderr.
 *
 * | Category | What logs there |
 * | --- | --- |
 * | `["aether-tasks", "worker"]` | the worker's background loops (claims, leases, outcomes) |
 * | `["aether-tasks", "pool"]` | the Web Worker pool |
 * | `["aether-tasks", "leader"]` | leader election |
 * | `["aether-tasks", "heartbeat"]` | worker registry heartbeats and gone workers |
 * | `["aether-tasks", "scheduler"]` | recurring schedules |
 * | `["aether-tasks", "pruner"]` | retention (deleting old final tasks) |
 * | `["aether-tasks", "admin"]` | the admin HTTP endpoint |
 * | `["aether-tasks", "signals"]` | a signal listener that threw |
 * | `["aether-tasks", "store"]` | a store change listener that threw |
 * | `["aether-tasks", "task"]` | handler output: `ctx.log` lines, and `console.*` inside a pool Worker |
 *
 * Every record has an `event` property (e.g. `"worker.error"`, `"task.log"`); error records have
 * `error` (the message) and handler output has `taskId`, `name` and `attempt`.
 *
 * @example
 * ```ts
 * import { configure, getConsoleSink } from "@logtape/logtape";
 * await configure({
 *   sinks: { console: getConsoleSink() },
 *   loggers: [{ category: ["aether-tasks"], sinks: ["console"], lowestLevel: "info" }],
 * });
 * ```
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";

/** The root category of every logger of the library. */
export const LOG_CATEGORY = "aether-tasks";

/** The levels the library logs at. */
export type LibraryLogLevel = "debug" | "info" | "warning" | "error";

/** The library's logger for one part, e.g. `libraryLogger("worker")`. */
export function libraryLogger(part: string): Logger {
  return getLogger([LOG_CATEGORY, part]);
}

/**
 * Logs `message` as it is (braces in it are not placeholders) with `event` and `fields` as the
 * record's properties.
 */
export function logEvent(
  logger: Logger,
  level: LibraryLogLevel,
  event: string,
  message: string,
  fields: Record<string, unknown> = {},
): void {
  const template = message.replaceAll("{", "{{").replaceAll("}", "}}");
  logger[level](template, { event, ...fields });
}

/**
 * The `onError` the library uses when none is given: one `error` record under `part` with the
 * event `${part}.error` and the error as `error` (the `Error` itself, so a sink may show its stack).
 */
export function logErrorTo(part: string, what: string): (error: unknown) => void {
  const logger = libraryLogger(part);
  return (error) => {
    const message = error instanceof Error ? error.message : String(error);
    logEvent(logger, "error", `${part}.error`, `${what}: ${message}`, {
      error: error instanceof Error ? error : message,
    });
  };
}
