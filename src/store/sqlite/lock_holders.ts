/**
 * Which processes hold a lock on a SQLite database, for the message of a lock timeout. Best
 * effort and Linux only (`/proc/locks`, `/proc/<pid>/fd`); elsewhere, or when `/proc` cannot be
 * read, it knows nothing and says nothing.
 * @module
 */

import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import process from "node:process";

/**
 * The processes holding a POSIX lock on the database file or its `-shm` (that is how SQLite
 * locks), as `pid 123 (sqlite3)`, or `this process (pid 123)` for another connection of ours.
 * When no lock is listed, the other processes that have the file open, as
 * `pid 123 (sqlite3) has it open`. Empty when nothing is known.
 *
 * @example
 * ```ts
 * describeLockHolders("data/tasks.db"); // ["pid 4242 (sqlite3)"]
 * ```
 */
export function describeLockHolders(path: string): string[] {
  if (path === "" || path === ":memory:" || process.platform !== "linux") return [];
  try {
    const holders = lockingPids(path);
    if (holders.length > 0) {
      return holders.map((pid) =>
        pid === process.pid ? `this process (pid ${pid})` : `pid ${pid} (${commandOf(pid)})`
      );
    }
    return openingPids(path).map((pid) => `pid ${pid} (${commandOf(pid)}) has it open`);
  } catch {
    return [];
  }
}

/** Pids with an entry in `/proc/locks` on the database file or its `-shm`, ascending. */
function lockingPids(path: string): number[] {
  const files = new Set<string>();
  for (const file of [path, `${path}-shm`]) {
    try {
      const { dev, ino } = statSync(file);
      files.add(`${deviceText(dev)}:${ino}`);
    } catch {
      // No -shm: the database is not in WAL mode, or not open.
    }
  }
  const pids = new Set<number>();
  // "1: POSIX  ADVISORY  WRITE 7109 fe:00:2146465 1073741826 1073742335"; a waiter's line has
  // "->" after the number.
  for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === "->" || fields.length < 6) continue;
    if (files.has(fields[5]!)) pids.add(Number(fields[4]));
  }
  return [...pids].filter(Number.isSafeInteger).sort((a, b) => a - b);
}

/** Pids other than ours with the database, its `-wal` or its `-shm` open, ascending. */
function openingPids(path: string): number[] {
  const targets = new Set<string>();
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      targets.add(realpathSync(file));
    } catch {
      // Not there.
    }
  }
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!/^\d+$/.test(entry) || pid === process.pid) continue;
    try {
      const fds = readdirSync(`/proc/${pid}/fd`);
      if (fds.some((fd) => targets.has(safeReadlink(`/proc/${pid}/fd/${fd}`)))) pids.push(pid);
    } catch {
      // Gone, or not ours to look at.
    }
  }
  return pids.sort((a, b) => a - b);
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
}

/** The command name of a process, or `unknown`. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() || "unknown";
  } catch {
    return "unknown";
  }
}

/** A `st_dev` as `/proc/locks` prints it: major and minor in hex, `fe:00`. */
function deviceText(dev: number): string {
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
}
