/**
 * How fast the `aether-tasks` binary starts: the time from spawning `aether-tasks worker` to its
 * first task completed (a task enqueued before the start, so no poll interval is involved), to
 * its "started" log line, and of `aether-tasks --version` from spawn to exit; plus the binary's
 * size. Each run uses a fresh temporary folder holding only the binary and one handler.
 *
 * Run: `bun scripts/bench_startup.ts [--runs 7]` (builds `dist/aether-tasks` first if it is
 * missing). Prints a table on stderr and JSON on stdout.
 * @module
 */

import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The binary measured. */
export const BINARY_PATH: string = join(ROOT, "dist/aether-tasks");
/** Runs per measurement by default. */
export const DEFAULT_RUNS = 7;

const HANDLER = `import { defineTask } from "aether-tasks";
export default defineTask({ name: "noop", run: () => "ok" });
`;

/** Milliseconds of one measurement over the runs. */
export interface Timing {
  median: number;
  min: number;
  max: number;
}

/** What {@linkcode benchStartup} measured. */
export interface StartupBench {
  binaryBytes: number;
  runs: number;
  /** `aether-tasks --version`, spawn to exit. */
  version: Timing;
  /** `aether-tasks worker`, spawn to its "worker.started" log line (pool and handlers loaded). */
  workerStarted: Timing;
  /** `aether-tasks worker`, spawn to the completion of a task that was waiting for it. */
  firstTaskCompleted: Timing;
}

/**
 * Measures the startup of the built binary (`binary`, default `dist/aether-tasks`; it must
 * exist). Each run: a fresh folder with a copy of the binary and a `handlers/noop.ts`, one task
 * enqueued with the CLI, then the worker started and timed until the task completed.
 */
export async function benchStartup(
  options: { runs?: number; binary?: string } = {},
): Promise<StartupBench> {
  const runs = options.runs ?? DEFAULT_RUNS;
  const binary = options.binary ?? BINARY_PATH;
  const binaryBytes = (await stat(binary)).size;
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-startup-"));
  try {
    const exe = join(dir, "aether-tasks");
    await copyFile(binary, exe);
    await chmod(exe, 0o755);
    await mkdir(join(dir, "handlers"));
    await writeFile(join(dir, "handlers/noop.ts"), HANDLER);
    // One untimed run warms the page cache, as on a machine that has run the binary before.
    await runOnce(exe, dir, "warmup");
    const version: number[] = [];
    const started: number[] = [];
    const completed: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const code = await exitCode(spawn(exe, ["--version"], { cwd: dir, stdio: "ignore" }));
      if (code !== 0) throw new Error(`aether-tasks --version exited with ${code}`);
      version.push(performance.now() - t0);
      const run = await runOnce(exe, dir, `run-${i}`);
      started.push(run.started);
      completed.push(run.completed);
    }
    return {
      binaryBytes,
      runs,
      version: timing(version),
      workerStarted: timing(started),
      firstTaskCompleted: timing(completed),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runOnce(
  exe: string,
  dir: string,
  name: string,
): Promise<{ started: number; completed: number }> {
  const db = join(dir, `${name}.db`);
  const enqueue = spawn(exe, ["enqueue", "noop", "--db", db], { cwd: dir, stdio: "ignore" });
  if ((await exitCode(enqueue)) !== 0) throw new Error("aether-tasks enqueue failed");
  const t0 = performance.now();
  const worker = spawn(exe, ["worker", "--db", db, "--no-admin", "--log-format", "json"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = exitCode(worker);
  let started = NaN;
  let completed = NaN;
  try {
    for await (const line of createInterface({ input: worker.stderr! })) {
      const event = (JSON.parse(line) as { event: string }).event;
      if (event === "worker.started") started = performance.now() - t0;
      if (event === "task.completed") {
        completed = performance.now() - t0;
        break;
      }
    }
  } finally {
    process.kill(worker.pid!, "SIGTERM");
  }
  if ((await exited) !== 0) throw new Error("aether-tasks worker did not exit cleanly");
  if (Number.isNaN(completed)) throw new Error("The worker exited before completing the task");
  return { started, completed };
}

function exitCode(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => resolve(code));
  });
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    median: round(sorted[Math.floor(sorted.length / 2)]!),
    min: round(sorted[0]!),
    max: round(sorted.at(-1)!),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { runs: { type: "string" } }, strict: true });
  const runs = values.runs === undefined ? DEFAULT_RUNS : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`--runs must be a positive integer, got ${JSON.stringify(values.runs)}`);
    process.exit(2);
  }
  if (!(await stat(BINARY_PATH).then(() => true, () => false))) {
    const { buildBinary } = await import("./build.ts");
    await buildBinary();
  }
  const result = await benchStartup({ runs });
  const row = (label: string, t: Timing) =>
    `${label.padEnd(34)} ${t.median.toFixed(1).padStart(8)} ${t.min.toFixed(1).padStart(8)} ${
      t.max.toFixed(1).padStart(8)
    }`;
  console.error(
    [
      `aether-tasks binary: ${
        (result.binaryBytes / 1024 / 1024).toFixed(1)
      } MB, ${result.runs} runs`,
      `${"ms".padEnd(34)} ${"median".padStart(8)} ${"min".padStart(8)} ${"max".padStart(8)}`,
      row("--version (spawn to exit)", result.version),
      row("worker: spawn to started", result.workerStarted),
      row("worker: spawn to first task done", result.firstTaskCompleted),
    ].join("\n"),
  );
  console.log(JSON.stringify(result));
}
