/**
 * The errors callers catch. Option mistakes throw plain `TypeError`/`RangeError`.
 * @module
 */

/** Enqueue named a task no registry knows. `suggestions` holds near matches. */
export class UnknownTaskError extends Error {
  override name = "UnknownTaskError";
  constructor(readonly taskName: string, readonly suggestions: string[]) {
    const hint = suggestions.length
      ? `; did you mean ${suggestions.map((s) => `"${s}"`).join(" or ")}?`
      : "";
    super(`Unknown task "${taskName}"${hint}`);
  }
}

/** One problem with task arguments: where, and what was expected. */
export interface ArgumentIssue {
  path: string;
  message: string;
}

/** Task arguments failed the task's schema or are not JSON. */
export class InvalidArgumentsError extends Error {
  override name = "InvalidArgumentsError";
  constructor(readonly taskName: string, readonly issues: ArgumentIssue[]) {
    super(
      `Invalid arguments for task "${taskName}": ` +
        issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; "),
    );
  }
}

/** No task has this id. */
export class TaskNotFoundError extends Error {
  override name = "TaskNotFoundError";
  constructor(readonly taskId: string) {
    super(`No task with id "${taskId}"`);
  }
}

/** The request does not fit the task's current status (e.g. cancel a COMPLETED task). */
export class IllegalTransitionError extends Error {
  override name = "IllegalTransitionError";
  constructor(
    readonly taskId: string,
    readonly action: string,
    readonly status: string,
    readonly allowed: readonly string[],
  ) {
    super(
      `Cannot ${action} task ${taskId}: it is ${status}; only ${allowed.join(", ")} tasks can be ${
        action === "cancel" ? "cancelled" : action === "delete" ? "deleted" : "retried"
      }`,
    );
  }
}

/** The database was written by a newer aether-tasks than this one. */
export class SchemaVersionError extends Error {
  override name = "SchemaVersionError";
  constructor(readonly found: number, readonly known: number) {
    super(
      `The database schema is version ${found}, newer than the ${known} this aether-tasks knows; ` +
        `upgrade aether-tasks instead of opening it with an older one`,
    );
  }
}

/** `waitFor` gave up before the task reached a final status. */
export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
  constructor(readonly taskId: string, readonly timeoutMillis: number) {
    super(`Task ${taskId} did not finish within ${timeoutMillis} ms`);
  }
}

/** A page cursor that no earlier page returned (mistyped, cut, or from another store). */
export class InvalidCursorError extends RangeError {
  override name = "InvalidCursorError";
  constructor(readonly cursor: unknown) {
    super(
      `cursor must be the nextCursor of an earlier page, got ${
        JSON.stringify(String(cursor).slice(0, 60))
      }`,
    );
  }
}

/** An id prefix matched more than one task. `candidates` holds some of them. */
export class AmbiguousIdError extends Error {
  override name = "AmbiguousIdError";
  constructor(readonly prefix: string, readonly candidates: string[]) {
    super(
      `The id prefix "${prefix}" matches more than one task (${candidates.join(", ")}${
        candidates.length > 1 ? ", …" : ""
      }); give more characters`,
    );
  }
}

/**
 * A SQLite file that is not an aether-tasks database: another application's (its
 * `application_id` differs, or it holds tables of its own), or not a SQLite database at all.
 * It was refused before anything was written to it.
 */
export class ForeignDatabaseError extends Error {
  override name = "ForeignDatabaseError";
  constructor(readonly path: string, readonly reason: string) {
    super(
      `Refusing to use "${path}": it is not an aether-tasks database (${reason}); ` +
        `it was left unchanged`,
    );
  }
}

/** A write to a database that cannot be written: opened read-only, or a read-only file or folder. */
export class ReadOnlyDatabaseError extends Error {
  override name = "ReadOnlyDatabaseError";
  constructor(readonly path: string, readonly reason: string) {
    super(`The database "${path}" cannot be written: ${reason}`);
  }
}

/** A database opened read-only has an older schema than this aether-tasks reads; migrate it first. */
export class MigrationNeededError extends Error {
  override name = "MigrationNeededError";
  constructor(readonly path: string, readonly found: number, readonly known: number) {
    super(
      found === 0
        ? `The database "${path}" is empty: no aether-tasks schema was created in it yet ` +
          `(start a worker, enqueue a task or run migrate first)`
        : `The database "${path}" has schema version ${found}, older than the ${known} this ` +
          `aether-tasks reads, and was opened read-only; run migrate first`,
    );
  }
}

/**
 * Another connection held a lock on the database for longer than the lock timeout.
 * `holders` describes the processes that hold it (`pid 123 (sqlite3)`) when the OS tells.
 */
export class DatabaseLockedError extends Error {
  override name = "DatabaseLockedError";
  constructor(
    readonly path: string,
    readonly waitedMillis: number,
    readonly holders: readonly string[],
    options?: ErrorOptions,
  ) {
    const held = holders.length ? `; held by ${holders.join(", ")}` : "";
    super(
      `The database "${path}" is locked by another connection; gave up after ${
        (waitedMillis / 1000).toFixed(1)
      }s${held}`,
      options,
    );
  }
}

/**
 * A store could not reach its database (unreachable host, refused login, missing database, a
 * URL that does not parse). The message names the problem and the target, with any password
 * masked.
 */
export class StoreConnectionError extends Error {
  override name = "StoreConnectionError";
  constructor(message: string, readonly target: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A write failed because the database's disk (or its `max_page_count`) is full: SQLite reported
 * SQLITE_FULL, "database or disk is full" (or SQLITE_IOERR, "disk I/O error", while the disk has
 * no space left: SQLite reports a full disk so when it grows the `-shm`/`-wal` files at open), or
 * PostgreSQL SQLSTATE 53100 `disk_full` (or 53000
 * `insufficient_resources`). Nothing of the failed write was stored; writes work again once
 * space is freed. `path` is the SQLite file or the PostgreSQL URL (password masked);
 * `options.reported` is what the database said (default: SQLite's message).
 */
export class StorageFullError extends Error {
  override name = "StorageFullError";
  constructor(readonly path: string, options?: ErrorOptions & { reported?: string }) {
    super(
      `The database "${path}" cannot grow: its disk is full (${
        options?.reported ?? 'SQLite: "database or disk is full"'
      }); nothing was written; free space, then try again`,
      options,
    );
  }
}

const PERMANENT = Symbol.for("aether-tasks.permanentError");

/**
 * Thrown by a handler (or made by `ctx.fail`): the task fails at once, FAILED with this error,
 * whatever attempts remain. It crosses the pool's Worker boundary as a flag on the serialized
 * error, so `isPermanentError` holds for it in the main thread too.
 *
 * @example
 * ```ts
 * if (!user) throw new PermanentError(`No user ${id}: retrying will not help`);
 * ```
 */
export class PermanentError extends Error {
  override name = "PermanentError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    Object.defineProperty(this, PERMANENT, { value: true });
  }
}

/**
 * Whether `error` is a {@linkcode PermanentError} (of any copy of this library: the mark is a
 * registered symbol, so a handler bundled with its own copy is recognised too).
 */
export function isPermanentError(error: unknown): boolean {
  return typeof error === "object" && error !== null && PERMANENT in error;
}
