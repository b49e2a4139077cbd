/**
 * The SQLite driver over `node:sqlite` (`DatabaseSync`), which Deno provides. The only file that
 * imports it.
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StorageFullError } from "../../errors.ts";
import { diskIsFull } from "./disk_space.ts";
import {
  DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
  immutableUri,
  type SqliteDriver,
  type SqliteDriverOptions,
  type SqlValue,
} from "./driver.ts";

/**
 * Opens the database file at `path`, or `":memory:"`, with `node:sqlite`: read-write, creating it
 * if needed, unless `options.readOnly`.
 */
export function openNodeSqliteDriver(
  path: string,
  options: SqliteDriverOptions = {},
): SqliteDriver {
  const { readOnly = false, immutable = false } = options;
  const db = !readOnly
    ? new DatabaseSync(path)
    : new DatabaseSync(immutable ? immutableUri(path) : path, { readOnly: true });
  const statements = new Map<string, StatementSync>();
  const prepare = (sql: string): StatementSync => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  // SQLITE_FULL (13: a full disk, or max_page_count reached) becomes StorageFullError, and so
  // does an I/O error (10) while the disk has no space left.
  const full = <T>(call: () => T): T => {
    try {
      return call();
    } catch (error) {
      if (hasCode(error, 13, "database or disk is full")) {
        throw new StorageFullError(path, { cause: error });
      }
      if (hasCode(error, 10, "disk I/O error") && diskIsFull(path)) {
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
      full(() => (params ? prepare(sql).get(...params) : prepare(sql).get()) as T | undefined),
    run: (sql, params) =>
      full(() => {
        const { changes } = params ? prepare(sql).run(...params) : prepare(sql).run();
        return { changes: Number(changes) };
      }),
    get inTransaction() {
      return db.isTransaction;
    },
    // node:sqlite reports every SQLite failure as ERR_SQLITE_ERROR; newer versions add `errcode`
    // (5 is SQLITE_BUSY, extended codes keep it in the low byte), older ones only the message.
    isBusy: (error) => hasCode(error, 5, "database is locked"),
    isReadOnly: (error) => hasCode(error, 8, "attempt to write a readonly database"),
    isNotADatabase: (error) => hasCode(error, 26, "file is not a database"),
    path,
    readOnly,
    lockTimeoutMillis: options.lockTimeoutMillis ?? DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
    close: () => {
      statements.clear();
      if (db.isOpen) db.close();
    },
  };
}

/**
 * True when `error` has the primary SQLite result code `code`. node:sqlite reports every SQLite
 * failure as ERR_SQLITE_ERROR; some errors carry `errcode` (extended codes keep the primary one in
 * the low byte), others only the message, which starts with SQLite's text for the code.
 */
function hasCode(error: unknown, code: number, message: string): boolean {
  if (!(error instanceof Error)) return false;
  const errcode = (error as { errcode?: unknown }).errcode;
  if (typeof errcode === "number") return (errcode & 0xff) === code;
  return error.message.startsWith(message);
}
