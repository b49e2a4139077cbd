/**
 * The database every command works on: `--db`, else `AETHER_DB`, else `./data/tasks.db`.
 * @module
 */

import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { SchemaVersionError } from "../errors.ts";
import {
  DEFAULT_SQLITE_DURABILITY,
  type SqliteDurability,
  SqliteTaskStore,
} from "../store/sqlite/store.ts";
import type { OptionSpec } from "./command.ts";
import { oneLine, UsageError } from "./exit.ts";
import { oneOf, resolveSetting, type Setting, text } from "./settings.ts";

/** The database path when neither `--db` nor `AETHER_DB` says otherwise. */
export const DEFAULT_DB_PATH = "./data/tasks.db";

/** `--db PATH`. */
export const DB_OPTION = {
  type: "string",
  value: "PATH",
  description: "SQLite database file",
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

/**
 * Opens the task database. With `missing: "create"`, creates the file and its folder; with
 * `"refuse"` (for commands that only read or manage tasks) a missing file is a usage error.
 * Every failure to open — not a database, no permission, a newer schema — throws
 * {@linkcode UsageError} with one line naming the path and the problem.
 */
export async function openStore(
  path: string,
  options: { missing: MissingDatabase; durability?: SqliteDurability },
): Promise<SqliteTaskStore> {
  const found = await stat(path).catch(() => null);
  if (found?.isDirectory()) {
    throw new UsageError(`The database path "${path}" is a folder; --db wants a file`);
  }
  if (!found) {
    if (options.missing === "refuse") {
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
  try {
    return await SqliteTaskStore.open(
      path,
      options.durability ? { durability: options.durability } : {},
    );
  } catch (error) {
    if (error instanceof SchemaVersionError) throw new UsageError(`${path}: ${error.message}`);
    const message = oneLine(error);
    throw new UsageError(
      message.includes(path) ? message : `Cannot open the database "${path}": ${message}`,
    );
  }
}

/** Opens the database, runs `body` with it and closes it, also when `body` throws. */
export async function withStore<T>(
  path: string,
  options: { missing: MissingDatabase; durability?: SqliteDurability },
  body: (store: SqliteTaskStore) => Promise<T>,
): Promise<T> {
  const store = await openStore(path, options);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}
