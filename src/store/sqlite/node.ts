/**
 * The SQLite driver over `node:sqlite` (`DatabaseSync`), which Deno provides. The only file that
 * imports it.
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { SqliteDriver, SqlValue } from "./driver.ts";

/** Opens (creating if needed) the database file at `path`, or `":memory:"`, with `node:sqlite`. */
export function openNodeSqliteDriver(path: string): SqliteDriver {
  const db = new DatabaseSync(path);
  const statements = new Map<string, StatementSync>();
  const prepare = (sql: string): StatementSync => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  return {
    exec: (sql) => db.exec(sql),
    all: <T>(sql: string, params?: readonly SqlValue[]) =>
      (params ? prepare(sql).all(...params) : prepare(sql).all()) as T[],
    get: <T>(sql: string, params?: readonly SqlValue[]) =>
      (params ? prepare(sql).get(...params) : prepare(sql).get()) as T | undefined,
    run: (sql, params) => {
      const { changes } = params ? prepare(sql).run(...params) : prepare(sql).run();
      return { changes: Number(changes) };
    },
    get inTransaction() {
      return db.isTransaction;
    },
    // node:sqlite reports every SQLite failure as ERR_SQLITE_ERROR; newer versions add `errcode`
    // (5 is SQLITE_BUSY, extended codes keep it in the low byte), older ones only the message.
    isBusy: (error) => {
      if (!(error instanceof Error)) return false;
      const errcode = (error as { errcode?: unknown }).errcode;
      if (typeof errcode === "number") return (errcode & 0xff) === 5;
      return error.message.startsWith("database is locked");
    },
    close: () => {
      statements.clear();
      if (db.isOpen) db.close();
    },
  };
}
