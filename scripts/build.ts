/**
 * Builds the single `aether-tasks` executable for this platform with `bun build --compile`:
 * the CLI, SQLite (bun:sqlite), the pool's Worker entry, the admin endpoint and the
 * `"aether-tasks"` module handler files import. The result runs from any folder, with no
 * `node_modules`, no runtime installed and no network.
 *
 * Runs under Bun: `bun scripts/build.ts` (`bun run build`, `deno task build`).
 * Options: `--outfile PATH` (default `dist/aether-tasks`); `--target bun-linux-arm64` (or any
 * Bun target) cross-compiles; `--all` (`npm run build:all`) builds every
 * {@linkcode RELEASE_TARGETS} entry as `dist/aether-tasks-<platform>` and writes
 * `dist/SHA256SUMS` (`sha256sum -c SHA256SUMS` checks it); `--outdir DIR` puts them elsewhere.
 * Bun fetches the runtime of a foreign target from the npm registry the first time.
 * @module
 */

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
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

/**
 * The release binaries `--all` builds: Bun's `--target` and the file name's suffix. The musl one
 * runs on Alpine and other musl-based systems.
 */
export const RELEASE_TARGETS: readonly { target: string; suffix: string }[] = [
  { target: "bun-linux-x64", suffix: "linux-x64" },
  { target: "bun-linux-arm64", suffix: "linux-arm64" },
  { target: "bun-linux-x64-musl", suffix: "linux-x64-musl" },
];

/** The checksum file `--all` writes beside the release binaries. */
export const CHECKSUMS_FILE = "SHA256SUMS";

/** What {@linkcode buildBinary} made. */
export interface BuildResult {
  /** Absolute path of the executable. */
  outfile: string;
  bytes: number;
  millis: number;
  /** Bun's `--target`, when one was given. */
  target?: string;
}

/**
 * Compiles the executable to `outfile` (relative to the root or absolute). Writes a temporary
 * file first and renames it into place, so a reader never sees a half-written binary. Throws
 * with bun's output when the build fails or when not running under Bun.
 */
export async function buildBinary(
  outfile: string = DEFAULT_OUTFILE,
  options: { target?: string } = {},
): Promise<BuildResult> {
  const versions = process.versions as Record<string, string | undefined>;
  if (!versions.bun) {
    throw new Error("scripts/build.ts must run under Bun: node_modules/.bin/bun scripts/build.ts");
  }
  const target = resolve(ROOT, outfile);
  const partial = `${target}.${process.pid}.partial`;
  await mkdir(dirname(target), { recursive: true });
  const started = performance.now();
  // process.execPath is the bun executable running this script.
  const targetFlag = options.target === undefined ? [] : [`--target=${options.target}`];
  const args = ["build", "--compile", ...targetFlag, ...ENTRY_POINTS, "--outfile", partial];
  const { code, output } = await run(process.execPath, args);
  if (code !== 0) {
    await rm(partial, { force: true });
    throw new Error(`bun build --compile failed (exit ${code}):\n${output}`);
  }
  await rename(partial, target);
  const bytes = (await stat(target)).size;
  const millis = performance.now() - started;
  return options.target === undefined
    ? { outfile: target, bytes, millis }
    : { outfile: target, bytes, millis, target: options.target };
}

/** The SHA-256 of a file, in hex. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path).on("data", (chunk) => hash.update(chunk)).on("error", reject).on(
      "end",
      () => resolve(hash.digest("hex")),
    );
  });
}

/**
 * Builds every {@linkcode RELEASE_TARGETS} binary into `dir` (relative to the root or absolute)
 * as `aether-tasks-<suffix>`, then writes `dir/SHA256SUMS` in `sha256sum` format.
 */
export async function buildRelease(dir = "dist"): Promise<BuildResult[]> {
  const results: BuildResult[] = [];
  for (const { target, suffix } of RELEASE_TARGETS) {
    results.push(await buildBinary(join(dir, `aether-tasks-${suffix}`), { target }));
  }
  const lines = await Promise.all(
    results.map(async (r) => `${await sha256File(r.outfile)}  ${basename(r.outfile)}\n`),
  );
  await writeFile(join(resolve(ROOT, dir), CHECKSUMS_FILE), lines.join(""));
  return results;
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
    const { values } = parseArgs({
      options: {
        outfile: { type: "string" },
        target: { type: "string" },
        all: { type: "boolean" },
        outdir: { type: "string" },
      },
      strict: true,
    });
    if (values.all && (values.outfile !== undefined || values.target !== undefined)) {
      throw new Error(
        "--all names its own files; it takes no --outfile or --target (--outdir DIR)",
      );
    }
    if (!values.all && values.outdir !== undefined) throw new Error("--outdir goes with --all");
    const outdir = values.outdir ?? "dist";
    const results = values.all ? await buildRelease(outdir) : [
      await buildBinary(
        values.outfile,
        values.target === undefined ? {} : { target: values.target },
      ),
    ];
    for (const result of results) {
      const mb = (result.bytes / 1024 / 1024).toFixed(1);
      console.log(
        `Built ${relative(process.cwd(), result.outfile)}${
          result.target ? ` (${result.target})` : ""
        } (${mb} MB) in ${Math.round(result.millis)} ms`,
      );
    }
    if (values.all) console.log(`Wrote ${join(outdir, CHECKSUMS_FILE)}`);
  } catch (error) {
    console.error(`build: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
