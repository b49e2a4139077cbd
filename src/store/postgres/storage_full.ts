/**
 * PostgreSQL's "out of space" errors as the store's {@linkcode StorageFullError}, so a full disk
 * is a 507 (and `/readyz` a 503) instead of a 500.
 *
 * Mapped: SQLSTATE 53100 `disk_full` ("could not extend file …: No space left on device", also
 * a full `pg_wal` when a WAL segment cannot be created) and 53000 `insufficient_resources` (the
 * class's generic code, also raised for a full `/dev/shm`). Not mapped, because freeing disk
 * space does not help: 53200 `out_of_memory`, 53300 `too_many_connections`, 53400
 * `configuration_limit_exceeded` (e.g. `temp_file_limit`).
 * @module
 */

import { StorageFullError } from "../../errors.ts";

/** The SQLSTATE codes that mean the database has no space left to write. */
export const STORAGE_FULL_SQLSTATES: readonly string[] = ["53100", "53000"];

/**
 * The {@linkcode StorageFullError} for an error of the `postgres` client that says the disk is
 * full, or undefined for any other error. `display` names the database (password masked).
 */
export function storageFullError(error: unknown, display: string): StorageFullError | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== "string" || !STORAGE_FULL_SQLSTATES.includes(code)) return undefined;
  const said = typeof message === "string" ? message.split("\n")[0] : "out of space";
  return new StorageFullError(display, {
    cause: error,
    reported: `PostgreSQL: ${said} (SQLSTATE ${code})`,
  });
}
