/**
 * Keeps the SQLite write-ahead log bounded. A reader that holds a read transaction open stops
 * checkpoints from resetting the WAL, so it grows for as long as writes go on (50,000 tasks
 * drained under such a reader: ~166 MB); `journal_size_limit` alone shrinks it only when a later
 * write resets the log. The keeper checks the `-wal` file's size every few seconds and, above the
 * limit, runs `PRAGMA wal_checkpoint(TRUNCATE)` — without waiting: while a reader or writer
 * blocks it, it is tried again on the next check.
 * @module
 */

import { statSync } from "node:fs";
import {
  type LongTimer,
  RUNTIME_TIMERS,
  setLongInterval,
  type TimerFunctions,
} from "../../long_timer.ts";
import type { SqliteDriver } from "./driver.ts";

/**
 * The WAL size above which the keeper truncates it, and our `journal_size_limit` (what a reset
 * WAL is cut back to): 8 MiB, twice what SQLite's automatic checkpoint (1000 pages of 4 KiB)
 * lets it reach in normal work, and half of the 16 MB the WAL is promised to stay under.
 */
export const DEFAULT_WAL_LIMIT_BYTES = 8 * 1024 * 1024;
/** How often the keeper checks the WAL size: every 5 s. */
export const DEFAULT_WAL_CHECK_INTERVAL_MILLIS = 5000;

/** Options of {@linkcode WalKeeper}. */
export interface WalKeeperOptions {
  /** Truncate the WAL when it is larger than this many bytes. Default {@linkcode DEFAULT_WAL_LIMIT_BYTES}. */
  limitBytes?: number;
  /** Milliseconds between checks. Default {@linkcode DEFAULT_WAL_CHECK_INTERVAL_MILLIS}. */
  intervalMillis?: number;
  /** The timers the checks are scheduled with. Default the runtime's. */
  timers?: TimerFunctions;
  /** Errors other than busy (the connection closed, an I/O error). Default: ignored. */
  onError?: (error: unknown) => void;
}

/** What one {@linkcode WalKeeper.runOnce} found and did. */
export interface WalCheck {
  /** The size of the `-wal` file before the check, in bytes (0 when there is none). */
  walBytes: number;
  /**
   * `"under-limit"`: nothing to do; `"truncated"`: checkpointed and truncated to zero bytes;
   * `"busy"`: a reader, a writer or an open transaction on this connection blocked it (tried
   * again on the next check).
   */
  action: "under-limit" | "truncated" | "busy";
}

/**
 * Checks the WAL of `driver`'s database every `intervalMillis` while started and truncates it
 * once it is larger than `limitBytes` and no reader blocks the checkpoint. Never blocks: the
 * checkpoint runs with `busy_timeout` 0. Tests call {@linkcode WalKeeper.runOnce} directly.
 *
 * @example
 * ```ts
 * const keeper = new WalKeeper(driver, { limitBytes: 8 * 1024 * 1024 });
 * keeper.start();
 * await keeper.stop();
 * ```
 */
export class WalKeeper {
  readonly #driver: SqliteDriver;
  readonly #walPath: string;
  readonly #limitBytes: number;
  readonly #intervalMillis: number;
  readonly #timers: TimerFunctions;
  readonly #onError: (error: unknown) => void;
  #timer: LongTimer | undefined;

  constructor(driver: SqliteDriver, options: WalKeeperOptions = {}) {
    this.#driver = driver;
    this.#walPath = `${driver.path}-wal`;
    this.#limitBytes = nonNegativeInteger(
      options.limitBytes ?? DEFAULT_WAL_LIMIT_BYTES,
      "limitBytes",
    );
    this.#intervalMillis = nonNegativeInteger(
      options.intervalMillis ?? DEFAULT_WAL_CHECK_INTERVAL_MILLIS,
      "intervalMillis",
    );
    if (this.#intervalMillis === 0) {
      throw new RangeError(`intervalMillis must be an integer >= 1, got 0`);
    }
    this.#timers = options.timers ?? RUNTIME_TIMERS;
    this.#onError = options.onError ?? (() => {});
  }

  /** Starts the periodic checks (the process may exit while only they are pending). Idempotent. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setLongInterval(
      () => {
        try {
          this.runOnce();
        } catch (error) {
          this.#onError(error);
        }
      },
      this.#intervalMillis,
      this.#timers,
    ).unref();
  }

  /** Stops the checks. Idempotent. */
  stop(): Promise<void> {
    this.#timer?.clear();
    this.#timer = undefined;
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Checks the WAL once: above the limit, tries `wal_checkpoint(TRUNCATE)` without waiting.
   * Throws what SQLite throws other than busy.
   */
  runOnce(): WalCheck {
    const walBytes = fileSize(this.#walPath);
    if (walBytes <= this.#limitBytes) return { walBytes, action: "under-limit" };
    // Our own transaction (the application's, on this connection) holds the WAL: not now.
    if (this.#driver.inTransaction) return { walBytes, action: "busy" };
    const db = this.#driver;
    const timeout = db.get<{ timeout: number }>("PRAGMA busy_timeout")?.timeout ?? 0;
    // TRUNCATE waits for readers through the busy handler; with 0 it returns busy at once.
    db.exec("PRAGMA busy_timeout = 0");
    try {
      const row = db.get<{ busy: number }>("PRAGMA wal_checkpoint(TRUNCATE)");
      return { walBytes, action: row?.busy === 0 ? "truncated" : "busy" };
    } catch (error) {
      if (db.isBusy(error)) return { walBytes, action: "busy" };
      throw error;
    } finally {
      db.exec(`PRAGMA busy_timeout = ${timeout}`);
    }
  }
}

/** The size of the file at `path` in bytes, 0 when there is none. */
function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function nonNegativeInteger(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be an integer >= 0, got ${String(value)}`);
  }
  return value;
}
