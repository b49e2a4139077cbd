/**
 * Whether a registered worker process is provably gone, without waiting for a timeout: it ran
 * on this host in this boot and PID namespace (same host name, boot id and namespace), and its
 * PID now names no process (`/proc/<pid>/stat` is missing and `process.kill(pid, 0)` says
 * ESRCH), a zombie, or a process that started at another time (the PID was reused).
 *
 * A worker registers the identity {@linkcode currentProcessIdentity} returns; another worker on
 * the same host compares it with `/proc/<pid>/stat`. Anything unsure is "not proven" and the
 * heartbeat timeout decides instead: another host, another boot (two machines may share a host
 * name), another container, no `/proc` (not Linux), a process hidden from us (`hidepid`).
 * @module
 */

import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import process from "node:process";

/** What identifies a process beyond its PID, recorded when a worker registers. */
export interface ProcessIdentity {
  host: string;
  pid: number;
  /** `/proc/sys/kernel/random/boot_id`: changes at each boot. Null where unknown. */
  bootId: string | null;
  /** The PID namespace (`/proc/self/ns/pid`), so containers that share a host name differ. */
  pidNamespace: string | null;
  /** Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot. */
  startTicks: number | null;
}

/** How {@linkcode provablyGone} looks at processes; tests replace it. */
export interface ProcessTable {
  /** The text of `/proc/<pid>/stat`, or null when it cannot be read. */
  stat(pid: number): string | null;
  /** Whether some process has this PID (`process.kill(pid, 0)`), or null when unsure. */
  exists(pid: number): boolean | null;
}

/** The real process table of this host. */
export const localProcessTable: ProcessTable = {
  stat: (pid) => readOrNull(`/proc/${pid}/stat`),
  exists(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return code === "ESRCH" ? false : code === "EPERM" ? true : null;
    }
  },
};

/** This process's identity. */
export function currentProcessIdentity(table: ProcessTable = localProcessTable): ProcessIdentity {
  let pidNamespace: string | null = null;
  try {
    pidNamespace = readlinkSync("/proc/self/ns/pid");
  } catch {
    // Not Linux, or no access: leave it unknown.
  }
  const stat = table.stat(process.pid);
  return {
    host: hostname(),
    pid: process.pid,
    bootId: readOrNull("/proc/sys/kernel/random/boot_id")?.trim() || null,
    pidNamespace,
    startTicks: stat === null ? null : startTicksOf(stat),
  };
}

/**
 * Why the process `other` identifies is provably gone, seen from `self`; null when that cannot
 * be proven (another host, boot or namespace, it still runs, or the facts are missing).
 */
export function provablyGone(
  other: ProcessIdentity,
  self: ProcessIdentity,
  table: ProcessTable = localProcessTable,
): string | null {
  const sameHost = other.host === self.host && other.bootId !== null &&
    other.bootId === self.bootId && other.pidNamespace === self.pidNamespace;
  if (!sameHost || other.startTicks === null) return null;
  const stat = table.stat(other.pid);
  if (stat === null) {
    // No /proc entry: gone, unless /proc hides it from us and the PID still answers.
    return table.exists(other.pid) === false
      ? `process ${other.pid} on ${other.host} no longer exists`
      : null;
  }
  const state = stateOf(stat);
  if (state === "Z" || state === "X") return `process ${other.pid} on ${other.host} has exited`;
  return startTicksOf(stat) !== other.startTicks
    ? `process ${other.pid} on ${other.host} no longer exists (its PID was reused)`
    : null;
}

/** The fields of a `stat` line after the command name, which may hold spaces and parentheses. */
function fieldsAfterName(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ");
}

/** Field 3 of `/proc/<pid>/stat`: R, S, D, Z (zombie), X (dead)… */
function stateOf(stat: string): string | undefined {
  return fieldsAfterName(stat)[0];
}

/** Field 22 of `/proc/<pid>/stat`, or null when the line is not one. */
function startTicksOf(stat: string): number | null {
  const value = Number(fieldsAfterName(stat)[19]);
  return Number.isSafeInteger(value) ? value : null;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
