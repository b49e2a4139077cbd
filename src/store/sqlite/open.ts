/**
 * Opens a SQLite connection with the driver of the running runtime.
 * @module
 */

import type { SqliteDriver, SqliteDriverOptions } from "./driver.ts";

/**
 * Opens (creating if needed, unless `options.readOnly`) the SQLite database at `path`, or an
 * in-memory one for `":memory:"`: with `bun:sqlite` under Bun, with `node:sqlite` elsewhere
 * (Deno). It only connects: it reads and writes nothing, so it cannot tell whether the file is a
 * database, or ours (see `openTaskDatabase` for that). A failure
 * throws an `Error` whose message names the path; the driver's error is its `cause`.
 *
 * @example
 * ```ts
 * const driver = await openSqliteDriver("data/tasks.db");
 * driver.get<{ n: number }>("SELECT count(*) AS n FROM tasks");
 * ```
 */
export async function openSqliteDriver(
  path: string,
  options: SqliteDriverOptions = {},
): Promise<SqliteDriver> {
  // String-literal imports, so `bun build --compile` bundles both drivers.
  const open = "Bun" in globalThis
    ? (await import("./bun.ts")).openBunSqliteDriver
    : (await import("./node.ts")).openNodeSqliteDriver;
  try {
    return open(path, options);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot open the SQLite database "${path}": ${reason}`, { cause: error });
  }
}
