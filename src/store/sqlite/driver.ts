/**
 * The small synchronous SQLite interface the SQLite store is written against, with one driver per
 * runtime (`bun.ts` over `bun:sqlite`, `node.ts` over `node:sqlite`), and the transaction and
 * busy-retry helpers every caller of a driver shares.
 * @module
 */

import { resolve } from "node:path";
import { DatabaseLockedError } from "../../errors.ts";
import { describeLockHolders } from "./lock_holders.ts";

/** A value bound to a positional `?` parameter or read from a column. Integers stay below 2^53. */
export type SqlValue = string | number | null;

/**
 * One open SQLite connection. Every method prepares its SQL once and reuses the statement, so
 * callers pass constant SQL text and vary only the parameters.
 */
export interface SqliteDriver {
  /** Runs one or more statements without parameters and without caching them (DDL, pragmas). */
  exec(sql: string): void;
  /** All rows of a statement. */
  all<T>(sql: string, params?: readonly SqlValue[]): T[];
  /** The first row of a statement, or undefined when it yields none. */
  get<T>(sql: string, params?: readonly SqlValue[]): T | undefined;
  /** Runs a statement for its effect; `changes` counts the rows it wrote. */
  run(sql: string, params?: readonly SqlValue[]): { changes: number };
  /** True while a transaction is open on this connection. */
  readonly inTransaction: boolean;
  /** True when `error` is SQLITE_BUSY (the database stayed locked past `busy_timeout`). */
  isBusy(error: unknown): boolean;
  /** True when `error` is SQLITE_READONLY (a write to a read-only connection, file or folder). */
  isReadOnly(error: unknown): boolean;
  /** True when `error` is SQLITE_NOTADB (the file is not a SQLite database). */
  isNotADatabase(error: unknown): boolean;
  /** The path the connection was opened with. */
  readonly path: string;
  /** True when the connection was opened read-only. */
  readonly readOnly: boolean;
  /** How long {@linkcode retryWhileBusy} keeps trying an operation that finds the database locked, in ms. */
  readonly lockTimeoutMillis: number;
  /** Closes the connection and its cached statements. */
  close(): void;
}

/** Options of a driver's open function. */
export interface SqliteDriverOptions {
  /** Open read-only: SQLite refuses every write. Default false (read-write, creating the file). */
  readOnly?: boolean;
  /**
   * With `readOnly`: open the file as `immutable` (no locks, no `-shm`), for a database in a
   * folder this process cannot write and that no connection has open. Default false.
   */
  immutable?: boolean;
  /** The driver's {@linkcode SqliteDriver.lockTimeoutMillis}. Default {@linkcode DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS}. */
  lockTimeoutMillis?: number;
}

/**
 * The SQLite URI that opens `path` immutable (`file:///abs/path?immutable=1`): SQLite then takes
 * no locks and creates no `-shm`, which a database in a read-only folder needs.
 */
export function immutableUri(path: string): string {
  const escaped = resolve(path).replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return `file://${escaped}?immutable=1`;
}

/**
 * How long an operation waits in total for another connection's lock before it fails with
 * {@linkcode DatabaseLockedError}, in ms.
 */
export const DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS = 5000;
/** The first pause before trying a busy operation again, in ms; it doubles on each retry. */
export const BUSY_RETRY_BASE_DELAY_MILLIS = 5;
/** The longest pause between two tries of a busy operation, in ms. */
export const BUSY_RETRY_MAX_DELAY_MILLIS = 250;

/**
 * Runs the synchronous `operation`, and when it fails with SQLITE_BUSY waits a little (doubling
 * from {@linkcode BUSY_RETRY_BASE_DELAY_MILLIS}, with jitter, without blocking the event loop) and
 * runs it again, until {@linkcode SqliteDriver.lockTimeoutMillis} have passed since the first
 * try; then throws {@linkcode DatabaseLockedError}, naming the processes that hold the lock when
 * the OS tells. Other errors pass through at once.
 */
export async function retryWhileBusy<T>(driver: SqliteDriver, operation: () => T): Promise<T> {
  const started = performance.now();
  for (let retry = 0;; retry++) {
    try {
      return operation();
    } catch (error) {
      if (!driver.isBusy(error)) throw error;
      const waited = performance.now() - started;
      if (waited >= driver.lockTimeoutMillis) {
        throw new DatabaseLockedError(
          driver.path,
          Math.round(waited),
          describeLockHolders(driver.path),
          { cause: error },
        );
      }
    }
    const ceiling = Math.min(
      BUSY_RETRY_BASE_DELAY_MILLIS * 2 ** retry,
      BUSY_RETRY_MAX_DELAY_MILLIS,
    );
    await new Promise((resolve) => setTimeout(resolve, ceiling / 2 + Math.random() * ceiling / 2));
  }
}

/**
 * Runs `body` inside `BEGIN IMMEDIATE` … `COMMIT`, so the write lock is taken before the first
 * read and two connections never interleave their read-modify-write. Rolls back and rethrows when
 * `body` or the commit fails.
 */
export function immediateTransaction<T>(driver: SqliteDriver, body: () => T): T {
  driver.run("BEGIN IMMEDIATE");
  try {
    const result = body();
    driver.run("COMMIT");
    return result;
  } catch (error) {
    if (driver.inTransaction) {
      try {
        driver.run("ROLLBACK");
      } catch {
        // The connection already rolled back (SQLite does so itself after some errors).
      }
    }
    throw error;
  }
}
