/**
 * Helpers for tests that run the CLI or the built binary as a child process: the runtimes of
 * `node_modules`, a clean environment, running a command to its end, and `dist/aether-tasks`
 * built on demand (reused while newer than every source file).
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root, with a trailing slash. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));
/** The Bun of `node_modules`. */
export const BUN: string = join(ROOT, "node_modules/.bin/bun");
/** The Deno of `node_modules`. */
export const DENO: string = join(ROOT, "node_modules/.bin/deno");
/** The host binary `npm run build` makes. */
export const BINARY: string = join(ROOT, "dist/aether-tasks");
/** The CLI from source, per runtime. */
export const CLI_FROM_SOURCE: Readonly<Record<"bun" | "deno", readonly string[]>> = {
  bun: [BUN, join(ROOT, "src/cli/main.ts")],
  deno: [DENO, "run", "-A", `--config=${join(ROOT, "deno.json")}`, join(ROOT, "src/cli/main.ts")],
};

/** The environment of a child: ours without AETHER_* settings, without colors. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("AETHER_")) env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** How a child process ended and what it printed. */
export interface Finished {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end. */
export function run(
  command: readonly string[],
  options: { cwd: string; env?: Record<string, string>; input?: string },
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd: options.cwd,
      env: options.env ?? childEnv(),
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    if (options.input !== undefined) child.stdin!.end(options.input);
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function newestMtime(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = 0;
  for (const entry of await readdir(path)) {
    newest = Math.max(newest, await newestMtime(join(path, entry)));
  }
  return newest;
}

let building: Promise<string> | undefined;

/** `dist/aether-tasks`, rebuilt (with Bun, under either runtime) unless newer than the sources. */
export function binary(): Promise<string> {
  building ??= (async () => {
    const built = await stat(BINARY).then((s) => s.mtimeMs, () => 0);
    const sources = Math.max(
      ...(await Promise.all(
        ["src", "scripts/build.ts", "package.json"].map((p) => newestMtime(join(ROOT, p))),
      )),
    );
    if (built <= sources) {
      const result = await run([BUN, "scripts/build.ts"], { cwd: ROOT });
      assert.equal(result.code, 0, `build failed:\n${result.stdout}${result.stderr}`);
    }
    return BINARY;
  })();
  return building;
}

/** A long-running child (a worker): stop it with a signal and get what it printed. */
export interface Running {
  /** Resolves once stderr matches `pattern`; rejects if the process ends first. */
  stderrMatches(pattern: RegExp): Promise<void>;
  /** Sends `signal` (default SIGTERM) and resolves once the process ended. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<Finished>;
}

/** Starts a command in the background. */
export function start(
  command: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Running {
  const child = spawn(command[0]!, command.slice(1), {
    cwd: options.cwd,
    env: options.env ?? childEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const watchers = new Set<() => void>();
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  child.stderr!.on("data", (chunk) => {
    stderr += chunk;
    for (const watch of watchers) watch();
  });
  const ended = new Promise<Finished>((resolve) => {
    child.on("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
      for (const watch of watchers) watch();
    });
  });
  let exited = false;
  void ended.then(() => (exited = true));
  return {
    stderrMatches(pattern) {
      return new Promise((resolve, reject) => {
        const watch = () => {
          if (pattern.test(stderr)) {
            watchers.delete(watch);
            resolve();
          } else if (exited || child.exitCode !== null || child.signalCode !== null) {
            watchers.delete(watch);
            reject(new Error(`The process ended before printing ${pattern}:\n${stderr}`));
          }
        };
        watchers.add(watch);
        watch();
      });
    },
    stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) {
        // By process id: Deno's child.kill sends only the first signal.
        process.kill(child.pid!, signal);
      }
      return ended;
    },
  };
}
