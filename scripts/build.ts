/**
 * Builds the single `aether-tasks` executable for this platform with `bun build --compile`:
 * the CLI, SQLite (bun:sqlite), the pool's Worker entry, the admin endpoint and the
 * `"aether-tasks"` module handler files import. The result runs from any folder, with no
 * `node_modules`, no runtime installed and no network.
 *
 * Runs under Bun: `bun scripts/build.ts` (`bun run build`, `deno task build`).
 * Options: `--outfile PATH` (default `dist/aether-tasks`).
 * @module
 */

import { spawn } from "node:child_process";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { POOL_ENTRY_POINTS } from "../src/pool/pool.ts";

/** The repository root. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Where the executable goes by default, relative to the root. */
export const DEFAULT_OUTFILE = "dist/aether-tasks";

/**
 * The entry points, relative to the root: the CLI, and the pool's Worker entry, which must be an
 * entry point of its own for the pool's `new Worker(...)` to find it inside the binary.
 */
export const ENTRY_POINTS: readonly string[] = ["src/cli/main.ts", ...POOL_ENTRY_POINTS];

/** What {@linkcode buildBinary} made. */
export interface BuildResult {
  /** Absolute path of the executable. */
  outfile: string;
  bytes: number;
  millis: number;
}

/**
 * Compiles the executable to `outfile` (relative to the root or absolute). Writes a temporary
 * file first and renames it into place, so a reader never sees a half-written binary. Throws
 * with bun's output when the build fails or when not running under Bun.
 */
export async function buildBinary(outfile: string = DEFAULT_OUTFILE): Promise<BuildResult> {
  const versions = process.versions as Record<string, string | undefined>;
  if (!versions.bun) {
    throw new Error("scripts/build.ts must run under Bun: node_modules/.bin/bun scripts/build.ts");
  }
  const target = resolve(ROOT, outfile);
  const partial = `${target}.${process.pid}.partial`;
  await mkdir(dirname(target), { recursive: true });
  const started = performance.now();
  // process.execPath is the bun executable running this script.
  const args = ["build", "--compile", ...ENTRY_POINTS, "--outfile", partial];
  const { code, output } = await run(process.execPath, args);
  if (code !== 0) {
    await rm(partial, { force: true });
    throw new Error(`bun build --compile failed (exit ${code}):\n${output}`);
  }
  await rename(partial, target);
  return { outfile: target, bytes: (await stat(target)).size, millis: performance.now() - started };
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({ options: { outfile: { type: "string" } }, strict: true });
    const result = await buildBinary(values.outfile);
    const mb = (result.bytes / 1024 / 1024).toFixed(1);
    console.log(
      `Built ${relative(process.cwd(), result.outfile)} (${mb} MB) in ${
        Math.round(result.millis)
      } ms`,
    );
  } catch (error) {
    console.error(`build: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
