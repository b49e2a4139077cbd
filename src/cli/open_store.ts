/**
 * The database every command works on: `--db`, else `AETHER_DB`, else `./data/tasks.db`. A
 * `postgres://` (or `postgresql://`) URL selects the PostgreSQL store; anything else is a SQLite
 * file. A URL's password is masked wherever it is shown.
 * @module
 */

import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { formatDuration } from "../duration.ts";
import {
  DatabaseLockedError,
  SchemaVersionError,
  StorageFullError,
  StoreConnectionError,
} from "../errors.ts";
import { PostgresTaskStore } from "../store/postgres/store.ts";
import { isPostgresUrl, maskPassword } from "../store/postgres/url.ts";
import type { TaskStore } from "../store/store.ts";
import {
  DEFAULT_SQLITE_DURABILITY,
  DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
  type SqliteDurability,
  type SqliteStoreOptions,
  SqliteTaskStore,
} from "../store/sqlite/store.ts";
import type { OptionSpec } from "./command.ts";
import { EXIT_USAGE, exitCodeOf, oneLine, UsageError } from "./exit.ts";
import { duration, oneOf, resolveSetting, type Setting, text } from "./settings.ts";

/** The database path when neither `--db` nor `AETHER_DB` says otherwise. */
export const DEFAULT_DB_PATH = "./data/tasks.db";

/** `--db PATH`. */
export const DB_OPTION = {
  type: "string",
  value: "PATH",
  description: "SQLite database file, or a postgres://user:pass@host:5432/db?schema=name URL",
  default: DEFAULT_DB_PATH,
  env: "AETHER_DB",
} as const satisfies OptionSpec;

/** `--durability normal|full`. */
export const DURABILITY_OPTION = {
  type: "string",
  value: "normal|full",
  description:
    "normal: a commit survives a crash of the process; full: also a power loss (fsync per commit, slower)",
  default: "normal",
  env: "AETHER_DURABILITY",
} as const satisfies OptionSpec;

/** `--lock-timeout DURATION`. */
export const LOCK_TIMEOUT_OPTION = {
  type: "string",
  value: "DURATION",
  description: "How long to wait for a lock another connection holds on the database, in total",
  default: formatDuration(DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS),
  env: "AETHER_LOCK_TIMEOUT",
} as const satisfies OptionSpec;

/** The longest lock timeout (what `PRAGMA busy_timeout` and timers take). */
const MAX_LOCK_TIMEOUT_MILLIS = 2 ** 31 - 1;

/** The lock timeout from `--lock-timeout`, `AETHER_LOCK_TIMEOUT` or the default (5s). */
export function resolveLockTimeout(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Setting<number> {
  return resolveSetting(
    "lock-timeout",
    flag,
    "AETHER_LOCK_TIMEOUT",
    env,
    DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
    (value, label) => {
      const millis = duration(value, label);
      if (millis > MAX_LOCK_TIMEOUT_MILLIS) {
        throw new UsageError(
          `${label} must be at most ${formatDuration(MAX_LOCK_TIMEOUT_MILLIS)}, got ${
            JSON.stringify(value)
          }`,
        );
      }
      return millis;
    },
  );
}

/** The database path from `--db`, `AETHER_DB` or the default. */
export function resolveDbPath(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Setting<string> {
  return resolveSetting("db", flag, "AETHER_DB", env, DEFAULT_DB_PATH, text);
}

/** The durability from `--durability`, `AETHER_DURABILITY` or the default (`normal`). */
export function resolveDurability(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Setting<SqliteDurability> {
  return resolveSetting(
    "durability",
    flag,
    "AETHER_DURABILITY",
    env,
    DEFAULT_SQLITE_DURABILITY,
    parseDurability,
  );
}

const parseDurability = oneOf<SqliteDurability>(["normal", "full"]);

/** How {@linkcode openStore} treats a database file that does not exist yet. */
export type MissingDatabase = "create" | "refuse";

/** How {@linkcode openStore} opens the database. */
export interface OpenStoreOptions {
  missing: MissingDatabase;
  durability?: SqliteDurability;
  /** Open read-only: for commands that only read (nothing is migrated or written). */
  readOnly?: boolean;
  /** Default {@linkcode DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS}. */
  lockTimeoutMillis?: number;
}

/**
 * Opens the task database. With `missing: "create"`, creates the file and its folder; with
 * `"refuse"` (for commands that only read or manage tasks) a missing file is a usage error.
 * A failure that says what is wrong with the database (not ours, read-only, locked, a schema to
 * migrate or too new) passes through for its own exit code; any other failure to open — not a
 * database, no permission — throws {@linkcode UsageError} with one line naming the path.
 */
export async function openStore(
  path: string,
  options: OpenStoreOptions,
): Promise<TaskStore> {
  if (isPostgresUrl(path)) return await openPostgres(path, options);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(path)?.[1];
  if (scheme) {
    throw new UsageError(
      `--db takes a SQLite file path or a postgres:// URL, got a ${scheme}:// URL (${
        maskPassword(path)
      })`,
    );
  }
  const found = await stat(path).catch(() => null);
  if (found?.isDirectory()) {
    throw new UsageError(`The database path "${path}" is a folder; --db wants a file`);
  }
  if (!found) {
    if (options.missing === "refuse" || options.readOnly) {
      throw new UsageError(
        `No database at "${path}"; start a worker or enqueue a task first, or pass --db (or set AETHER_DB)`,
      );
    }
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (error) {
      throw new UsageError(`Cannot create the folder of the database "${path}": ${oneLine(error)}`);
    }
  }
  const storeOptions: SqliteStoreOptions = {};
  if (options.durability) storeOptions.durability = options.durability;
  if (options.readOnly) storeOptions.readOnly = true;
  if (options.lockTimeoutMillis !== undefined) {
    storeOptions.lockTimeoutMillis = options.lockTimeoutMillis;
  }
  try {
    return await SqliteTaskStore.open(path, storeOptions);
  } catch (error) {
    if (error instanceof SchemaVersionError) throw new UsageError(`${path}: ${error.message}`);
    if (
      exitCodeOf(error) === EXIT_USAGE || error instanceof DatabaseLockedError ||
      error instanceof StorageFullError
    ) throw error;
    const message = oneLine(error);
    throw new UsageError(
      message.includes(path) ? message : `Cannot open the database "${path}": ${message}`,
    );
  }
}

/**
 * Opens a PostgreSQL store. Every failure to connect (a URL that does not parse, an unreachable
 * host, a wrong password, a missing database) is a {@linkcode UsageError} (exit 2) with one line
 * and the password masked; a newer schema too.
 */
async function openPostgres(url: string, options: OpenStoreOptions): Promise<TaskStore> {
  try {
    const store = await PostgresTaskStore.open(url);
    if (!options.readOnly) await store.migrate();
    return store;
  } catch (error) {
    if (error instanceof StoreConnectionError) throw new UsageError(oneLine(error));
    if (error instanceof SchemaVersionError) {
      throw new UsageError(`${maskPassword(url)}: ${error.message}`);
    }
    throw new UsageError(
      `Cannot open the PostgreSQL database ${maskPassword(url)}: ${
        oneLine(error).replaceAll(url, maskPassword(url))
      }`,
    );
  }
}

/** The database as it may be shown: a PostgreSQL URL with its password masked. */
export function displayDb(db: string): string {
  return isPostgresUrl(db) ? maskPassword(db) : db;
}

/** Opens the database, runs `body` with it and closes it, also when `body` throws. */
export async function withStore<T>(
  path: string,
  options: OpenStoreOptions,
  body: (store: TaskStore) => Promise<T>,
): Promise<T> {
  const store = await openStore(path, options);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}
