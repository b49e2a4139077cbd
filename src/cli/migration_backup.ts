/**
 * Migrations are one-way: before the CLI upgrades the schema of an existing database (`migrate`,
 * `worker` start), it copies the database with `VACUUM INTO` to `<db>.bak-v<N>`, N being the
 * schema version the file had. `VACUUM INTO` reads one consistent snapshot, so it is safe while
 * other processes use the file, and writes a compact copy that opens as a normal database.
 * @module
 */

import { stat } from "node:fs/promises";
import { openSqliteDriver } from "../store/sqlite/open.ts";
import { readSchemaVersion, SCHEMA_VERSION } from "../store/sqlite/schema.ts";
import type { SqliteDriver } from "../store/sqlite/driver.ts";
import { oneLine } from "./exit.ts";

/** How long the backup waits for a lock held by another process, in ms. */
export const BACKUP_BUSY_TIMEOUT_MILLIS = 5000;

/** A backup taken before a migration. */
export interface MigrationBackup {
  /** The copy's path: `<db>.bak-v<fromVersion>` (with a time suffix if that name was taken). */
  path: string;
  /** The schema version of the database and of the copy. */
  fromVersion: number;
  /** The version the migration will bring the database to. */
  toVersion: number;
}

/**
 * Copies the database at `path` to `<path>.bak-v<N>` when opening it would migrate it: it exists
 * and has schema version N with 0 < N < {@linkcode SCHEMA_VERSION}. Returns `null` when there is
 * nothing to back up (no file, a new or empty database, already up to date, newer than this
 * version, or not a database: opening it reports that). Never overwrites a file: when the name is
 * taken, the copy gets a time suffix. Throws when the copy cannot be written, so nothing is
 * migrated without one.
 */
export async function backupBeforeMigration(
  path: string,
  now: () => Date = () => new Date(),
): Promise<MigrationBackup | null> {
  const found = await stat(path).catch(() => null);
  if (!found?.isFile() || found.size === 0) return null;
  let driver: SqliteDriver;
  let version: number;
  try {
    driver = await openSqliteDriver(path);
  } catch {
    return null;
  }
  try {
    try {
      driver.exec(`PRAGMA busy_timeout = ${BACKUP_BUSY_TIMEOUT_MILLIS}`);
      version = readSchemaVersion(driver);
    } catch {
      return null;
    }
    if (version <= 0 || version >= SCHEMA_VERSION) return null;
    let target = `${path}.bak-v${version}`;
    if (await stat(target).catch(() => null)) {
      target = `${target}-${now().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`;
    }
    try {
      driver.run("VACUUM INTO ?", [target]);
    } catch (error) {
      throw new Error(
        `Cannot back up "${path}" to "${target}" before migrating it from schema ${version} to ${SCHEMA_VERSION}: ${
          oneLine(error)
        }; nothing was migrated`,
      );
    }
    return { path: target, fromVersion: version, toVersion: SCHEMA_VERSION };
  } finally {
    driver.close();
  }
}
