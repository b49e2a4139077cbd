/**
 * Real full disks for tests: a small tmpfs (mounted as root, unmounted by the caller) and a
 * filler that writes until the disk is full.
 * @module
 */

import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Mounts a tmpfs of `size` (with extra mount `options`, e.g. `uid=…`) at a new folder named
 * after `prefix`; undefined when this process may not mount one.
 */
export function mountTmpfs(prefix: string, size: string, options = ""): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const all = options ? `size=${size},${options}` : `size=${size}`;
    execFileSync("mount", ["-t", "tmpfs", "-o", all, "tmpfs", dir], { stdio: "ignore" });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/** Writes zeros to `path` until the disk is full. */
export function fillDisk(path: string): void {
  const fd = openSync(path, "w");
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}
