/**
 * Whether the disk under a database file is out of space, for telling a full disk from other
 * I/O errors: SQLite reports some writes on a full disk (growing the `-shm` or `-wal` file while
 * opening) as SQLITE_IOERR, "disk I/O error", not SQLITE_FULL.
 * @module
 */

import { statfsSync } from "node:fs";
import { dirname } from "node:path";

/** Below this many free bytes (for the process's user), a failed write is taken as a full disk. */
export const LOW_DISK_SPACE_BYTES = 256 * 1024;

/** True when the filesystem holding `path` has less than {@linkcode LOW_DISK_SPACE_BYTES} free. */
export function diskIsFull(path: string): boolean {
  try {
    const { bavail, bsize } = statfsSync(dirname(path));
    return Number(bavail) * Number(bsize) < LOW_DISK_SPACE_BYTES;
  } catch {
    return false; // no statfs here (or the folder is gone): say nothing we cannot tell
  }
}
