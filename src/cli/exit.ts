/**
 * Exit codes of the CLI and how an error maps to one.
 * @module
 */

import {
  AmbiguousIdError,
  DatabaseLockedError,
  ForeignDatabaseError,
  IllegalTransitionError,
  InvalidArgumentsError,
  InvalidCursorError,
  MigrationNeededError,
  ReadOnlyDatabaseError,
  SchemaVersionError,
  TaskNotFoundError,
  UnknownTaskError,
} from "../errors.ts";

/** The command did what was asked. */
export const EXIT_OK = 0;
/** The operation failed: a task failed or was cancelled, a task was not found, a store error. */
export const EXIT_FAILED = 1;
/** The command line or its configuration is wrong: nothing was done. */
export const EXIT_USAGE = 2;

/**
 * A mistake in the command line or the configuration (flag, environment variable, handlers folder,
 * database path). Its message is one line that names the problem; the CLI exits with
 * {@linkcode EXIT_USAGE}.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * The exit code for an error a command threw: {@linkcode EXIT_USAGE} when the command line, its
 * configuration or the database it names is wrong (not ours, not writable, to migrate, too new),
 * else {@linkcode EXIT_FAILED} (a database locked past the lock timeout among them).
 */
export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof UnknownTaskError ||
      error instanceof InvalidArgumentsError || error instanceof SchemaVersionError ||
      error instanceof InvalidCursorError || error instanceof AmbiguousIdError ||
      error instanceof ForeignDatabaseError || error instanceof ReadOnlyDatabaseError ||
      error instanceof MigrationNeededError
    ? EXIT_USAGE
    : EXIT_FAILED;
}

/** Errors whose message says everything; the CLI prints the stack of others with `AETHER_DEBUG=1`. */
export function isExpected(error: unknown): boolean {
  return exitCodeOf(error) === EXIT_USAGE || error instanceof TaskNotFoundError ||
    error instanceof IllegalTransitionError || error instanceof DatabaseLockedError;
}

/** The message of an error on one line. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, " ").trim();
}
