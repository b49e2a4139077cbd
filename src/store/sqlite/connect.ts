/**
 * Opens the task database file safely: refuses a file that is not ours before anything is written
 * to it, opens read-only without migrating or changing the journal mode, refuses at once a
 * writable open of a database that cannot be written, and bounds every wait for a lock.
 * @module
 */

import { accessSync, constants as fsConstants, existsSync } from "node:fs";
import { dirname } from "node:path";
import {
  DatabaseLockedError,
  ForeignDatabaseError,
  MigrationNeededError,
  ReadOnlyDatabaseError,
  SchemaVersionError,
  StorageFullError,
} from "../../errors.ts";
import { retryWhileBusy, type SqliteDriver, type SqlValue } from "./driver.ts";
import { openSqliteDriver } from "./open.ts";
import { checkOwnership, referenceSchemas } from "./ownership.ts";
import { DEFAULT_WAL_LIMIT_BYTES } from "./wal_keeper.ts";
import { migrate, MIGRATIONS, readSchemaVersion, SCHEMA_VERSION } from "./schema.ts";

/** Options of {@linkcode openTaskDatabase}, already validated. */
export interface TaskDatabaseOptions {
  readOnly: boolean;
  durability: "normal" | "full";
  busyTimeoutMillis: number;
  lockTimeoutMillis: number;
}

/**
 * Connects to the task database at `path` (or `":memory:"`).
 *
 * Writable: a new or empty file becomes ours; one of ours is set to WAL mode (with a
 * `journal_size_limit` of {@linkcode DEFAULT_WAL_LIMIT_BYTES}) and migrated;
 * anything else is refused unchanged. A file or folder that cannot be written is refused at once.
 *
 * Read-only (`readOnly`): nothing is written — no migration, no journal mode; a database in a
 * folder this process cannot write, that no connection has open, is read as immutable. A schema
 * older than this code reads is refused with {@linkcode MigrationNeededError}; a write fails with
 * {@linkcode ReadOnlyDatabaseError}.
 *
 * Throws {@linkcode ForeignDatabaseError}, {@linkcode ReadOnlyDatabaseError},
 * {@linkcode MigrationNeededError}, {@linkcode SchemaVersionError}, {@linkcode DatabaseLockedError}
 * as they are, any other failure as an `Error` naming the path.
 */
export async function openTaskDatabase(
  path: string,
  options: TaskDatabaseOptions,
): Promise<SqliteDriver> {
  const { readOnly, lockTimeoutMillis } = options;
  // Set first on each connection, so what follows waits for a lock instead of failing (and no
  // longer than the lock timeout: node:sqlite's own default is 5 s).
  const busyTimeout = `PRAGMA busy_timeout = ${
    Math.min(options.busyTimeoutMillis, lockTimeoutMillis)
  }`;
  const onDisk = path !== ":memory:" && path !== "";
  let driver: SqliteDriver | undefined;
  try {
    const references = await referenceSchemas(MIGRATIONS);
    // No -wal: nobody has the database open, and an immutable read sees all of it.
    let atRest = onDisk && !existsSync(`${path}-wal`);
    for (let tries = 0; onDisk && existsSync(path); tries++) {
      // Decide on a connection that cannot write and, at rest, creates no -shm or -wal beside
      // the file either, so a file that is not ours is left exactly as it was.
      const inspector = await openSqliteDriver(path, {
        readOnly: true,
        immutable: atRest,
        lockTimeoutMillis,
      });
      try {
        inspector.exec(busyTimeout);
        await retryWhileBusy(inspector, () => checkOwnership(inspector, references));
        break;
      } catch (error) {
        const refused = inspector.isNotADatabase(error)
          ? new ForeignDatabaseError(path, 'SQLite says "file is not a database"')
          : error;
        // An immutable read of a file another process began to write (it creates its -wal or
        // -journal as it starts) can see a torn, half-migrated state: look again, now with a
        // connection that honours that process's locks. A file at rest is judged at once.
        const beingWritten = existsSync(`${path}-wal`) || existsSync(`${path}-journal`);
        if (!(refused instanceof ForeignDatabaseError) || !atRest || !beingWritten || tries >= 50) {
          throw refused;
        }
        atRest = false;
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        inspector.close();
      }
    }
    driver = await openSqliteDriver(path, {
      readOnly,
      immutable: readOnly && atRest && !isWritable(dirname(path)),
      lockTimeoutMillis,
    });
    const connected = driver;
    connected.exec(busyTimeout);
    // Checked again on the connection: another process may have written since.
    await retryWhileBusy(connected, () => checkOwnership(connected, references));
    if (readOnly) {
      const version = await retryWhileBusy(connected, () => readSchemaVersion(connected));
      if (version > SCHEMA_VERSION) throw new SchemaVersionError(version, SCHEMA_VERSION);
      if (version < SCHEMA_VERSION) throw new MigrationNeededError(path, version, SCHEMA_VERSION);
      return refusingWrites(connected);
    }
    await retryWhileBusy(connected, () => probeWrite(connected));
    await retryWhileBusy(connected, () => {
      connected.exec("PRAGMA journal_mode = WAL");
      connected.exec(`PRAGMA synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
      connected.exec("PRAGMA foreign_keys = ON");
      // A WAL that grew while a reader held it open is cut back to this when it is next reset.
      connected.exec(`PRAGMA journal_size_limit = ${DEFAULT_WAL_LIMIT_BYTES}`);
    });
    await migrate(connected);
    return connected;
  } catch (error) {
    driver?.close();
    throw explain(path, driver, error);
  }
}

/** The error `openTaskDatabase` throws for `error`. */
function explain(path: string, driver: SqliteDriver | undefined, error: unknown): Error {
  if (
    error instanceof ForeignDatabaseError || error instanceof ReadOnlyDatabaseError ||
    error instanceof MigrationNeededError || error instanceof SchemaVersionError ||
    error instanceof DatabaseLockedError || error instanceof StorageFullError
  ) {
    return error;
  }
  if (driver && !driver.readOnly && driver.isReadOnly(error)) {
    return new ReadOnlyDatabaseError(path, whyNotWritable(path, error));
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new Error(`Cannot open the SQLite database "${path}": ${reason}`, { cause: error });
}

/**
 * Makes sure the connection can write: takes the write lock and writes the header (the same
 * user_version) in a transaction it rolls back. SQLite opens a read-only file read-only without
 * a word, and a folder it cannot create the journal in fails only at the first write.
 */
function probeWrite(driver: SqliteDriver): void {
  driver.run("BEGIN IMMEDIATE");
  try {
    driver.exec(`PRAGMA user_version = ${readSchemaVersion(driver)}`);
  } finally {
    if (driver.inTransaction) driver.run("ROLLBACK");
  }
}

/** Why writing `path` failed, for {@linkcode ReadOnlyDatabaseError}. */
function whyNotWritable(path: string, error: unknown): string {
  const detail = error instanceof Error ? error.message : String(error);
  if (!isWritable(path)) return `the file is read-only for this process (${detail})`;
  if (!isWritable(dirname(path))) {
    return `its folder is read-only for this process, and SQLite writes its journal there (${detail})`;
  }
  return detail;
}

function isWritable(path: string): boolean {
  try {
    accessSync(path, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The read-only `driver`, whose failed writes throw {@linkcode ReadOnlyDatabaseError} instead of
 * SQLite's "attempt to write a readonly database".
 */
function refusingWrites(driver: SqliteDriver): SqliteDriver {
  const refuse = (error: unknown): never => {
    if (!driver.isReadOnly(error)) throw error;
    throw new ReadOnlyDatabaseError(
      driver.path,
      "it was opened read-only (open it without readOnly to change tasks)",
    );
  };
  const guarded = <A extends unknown[], R>(call: (...args: A) => R) => (...args: A): R => {
    try {
      return call(...args);
    } catch (error) {
      return refuse(error);
    }
  };
  return {
    exec: guarded((sql: string) => driver.exec(sql)),
    all: <T>(sql: string, params?: readonly SqlValue[]) =>
      guarded(() => driver.all<T>(sql, params))(),
    get: <T>(sql: string, params?: readonly SqlValue[]) =>
      guarded(() => driver.get<T>(sql, params))(),
    run: guarded((sql: string, params?: readonly SqlValue[]) => driver.run(sql, params)),
    get inTransaction() {
      return driver.inTransaction;
    },
    isBusy: (error) => driver.isBusy(error),
    isReadOnly: (error) => error instanceof ReadOnlyDatabaseError || driver.isReadOnly(error),
    isNotADatabase: (error) => driver.isNotADatabase(error),
    path: driver.path,
    readOnly: true,
    lockTimeoutMillis: driver.lockTimeoutMillis,
    close: () => driver.close(),
  };
}
