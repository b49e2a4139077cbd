/**
 * The SQLite driver over Bun's built-in `bun:sqlite`. The only file that imports it.
 * @module
 */

import { constants, Database } from "bun:sqlite";
import { StorageFullError } from "../../errors.ts";
import { diskIsFull } from "./disk_space.ts";
import {
  DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
  immutableUri,
  type SqliteDriver,
  type SqliteDriverOptions,
  type SqlValue,
} from "./driver.ts";

/** The part of a `bun:sqlite` statement the driver uses. */
interface BunStatement {
  all(...params: SqlValue[]): unknown[];
  get(...params: SqlValue[]): unknown;
  run(...params: SqlValue[]): { changes: number };
  finalize(): void;
}

/** The part of a `bun:sqlite` database the driver uses. */
interface BunDatabase {
  prepare(sql: string): BunStatement;
  exec(sql: string): void;
  readonly inTransaction: boolean;
  close(throwOnError?: boolean): void;
}

/**
 * Opens the database file at `path`, or `":memory:"`, with `bun:sqlite`: read-write, creating it
 * if needed, unless `options.readOnly`.
 */
export function openBunSqliteDriver(
  path: string,
  options: SqliteDriverOptions = {},
): SqliteDriver {
  const { readOnly = false, immutable = false } = options;
  const open = Database as new (path: string, options: object | number) => BunDatabase;
  const db = !readOnly
    ? new open(path, { create: true, readwrite: true })
    : immutable
    ? new open(immutableUri(path), constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_URI)
    : new open(path, { readonly: true });
  // Our own cache: `db.query()` keeps only the 20 most recently used statements.
  const statements = new Map<string, BunStatement>();
  const prepare = (sql: string): BunStatement => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  // SQLITE_FULL (a full disk, or max_page_count reached) becomes StorageFullError, and so does
  // an I/O error while the disk has no space left.
  const full = <T>(call: () => T): T => {
    try {
      return call();
    } catch (error) {
      const code = codeOf(error);
      if (code === "SQLITE_FULL") throw new StorageFullError(path, { cause: error });
      if (code.startsWith("SQLITE_IOERR") && diskIsFull(path)) {
        throw new StorageFullError(path, { cause: error, reported: 'SQLite: "disk I/O error"' });
      }
      throw error;
    }
  };
  return {
    exec: (sql) => full(() => db.exec(sql)),
    all: <T>(sql: string, params?: readonly SqlValue[]) =>
      full(() => (params ? prepare(sql).all(...params) : prepare(sql).all()) as T[]),
    get: <T>(sql: string, params?: readonly SqlValue[]) =>
      full(() =>
        ((params ? prepare(sql).get(...params) : prepare(sql).get()) ?? undefined) as T | undefined
      ),
    run: (sql, params) => full(() => params ? prepare(sql).run(...params) : prepare(sql).run()),
    get inTransaction() {
      return db.inTransaction;
    },
    // bun:sqlite sets `code` to the SQLite code name (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, ...).
    isBusy: (error) => codeOf(error).startsWith("SQLITE_BUSY"),
    isReadOnly: (error) => codeOf(error).startsWith("SQLITE_READONLY"),
    isNotADatabase: (error) => codeOf(error) === "SQLITE_NOTADB",
    path,
    readOnly,
    lockTimeoutMillis: options.lockTimeoutMillis ?? DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
    close: () => {
      for (const statement of statements.values()) statement.finalize();
      statements.clear();
      db.close(false);
    },
  };
}

/** The SQLite code name bun:sqlite puts on its errors (`SQLITE_BUSY`, …), or "". */
function codeOf(error: unknown): string {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : "";
}
