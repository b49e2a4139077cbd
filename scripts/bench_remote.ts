/**
 * The HTTP worker protocol with the Python client: a worker process with the admin endpoint
 * (this one: a SQLite store in a temporary folder, a TaskWorker for heartbeats and rescues, the
 * AdminServer on 127.0.0.1) and a Python worker (`tests/fixtures/python_worker.py`, concurrency
 * 32, batched fetch and complete, a no-op handler) in its own process. Reports, as JSON and
 * then a table:
 * - throughput: `--tasks` enqueued up front, drained by a fresh Python worker, from the first
 *   start to the last completion (store times); the median of `--runs` runs;
 * - pickup latency: with the Python worker idle in its long poll, one task at a time enqueued
 *   and awaited; `startedAt - createdAt` percentiles over `--samples` tasks.
 *
 *   node_modules/.bin/bun scripts/bench_remote.ts [--tasks 10000] [--runs 3] [--concurrency 32] [--samples 100]
 *   node_modules/.bin/deno run -A scripts/bench_remote.ts [same options]
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { AdminServer } from "../src/admin/server.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskRecord } from "../src/task.ts";
import { TaskWorker } from "../src/worker.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TOKEN = "bench-remote-token-0123456789";
const TASK = "bench.noop";
const QUEUE = "bench";

/** What {@linkcode benchRemote} measured. */
export interface BenchRemoteResult {
  runtime: string;
  python: string;
  tasks: number;
  concurrency: number;
  /** Tasks per second of each run, and their median. */
  runs: number[];
  tasksPerSecond: number;
  /**
   * CPU time per task (user + system, µs) of the serving process and of the Python worker, median
   * over the runs: less sensitive to other load on the machine than tasks/s.
   */
  serverCpuMicrosPerTask: number;
  pythonCpuMicrosPerTask: number;
  pickupSamples: number;
  pickupP50Millis: number;
  pickupP95Millis: number;
  pickupP99Millis: number;
}

/** Runs the benchmark; see the module doc. */
export async function benchRemote(options: {
  tasks: number;
  runs: number;
  concurrency: number;
  samples: number;
}): Promise<BenchRemoteResult> {
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-remote-"));
  const store = await SqliteTaskStore.open(join(dir, "tasks.db"));
  await store.migrate();
  const registry = new TaskRegistry();
  registry.register(TASK, () => null, { queue: QUEUE });
  const dispatcher = new TaskDispatcher(store, { registry });
  // The local worker serves another queue: it beats, rescues and judges remote workers.
  const worker = new TaskWorker(store, { registry, queues: ["default"], concurrency: 1 });
  const server = new AdminServer({
    store,
    dispatcher,
    token: TOKEN,
    port: 0,
    remote: { registry },
  });
  worker.start();
  await server.start();
  const url = server.url!;
  try {
    const runs: number[] = [];
    const serverCpu: number[] = [];
    const pythonCpu: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      const ids = await enqueueMany(dispatcher, options.tasks);
      const cpuBefore = process.cpuUsage();
      const python = startPython(url, options.concurrency);
      await untilCompleted(dispatcher, ids.at(-1)!, 120_000);
      const cpu = process.cpuUsage(cpuBefore);
      serverCpu.push(Math.round((cpu.user + cpu.system) / ids.length));
      pythonCpu.push(Math.round(await stopPython(python) * 1e6 / ids.length));
      const tasks = await readTasks(store, ids);
      const first = Math.min(...tasks.map((t) => t.startedAt!));
      const last = Math.max(...tasks.map((t) => t.completedAt!));
      const done = tasks.filter((t) => t.status === "COMPLETED").length;
      if (done !== ids.length) throw new Error(`Only ${done} of ${ids.length} tasks completed`);
      runs.push(Math.round(ids.length / ((last - first) / 1000)));
      console.error(`run ${run + 1}: ${runs.at(-1)} tasks/s`);
    }
    const python = startPython(url, options.concurrency);
    const pickups: number[] = [];
    // The first task also waits for the worker to register: not counted.
    await untilCompleted(dispatcher, await dispatcher.enqueue(TASK, {}), 60_000);
    for (let i = 0; i < options.samples; i++) {
      const id = await dispatcher.enqueue(TASK, {});
      const task = await untilCompleted(dispatcher, id, 60_000);
      pickups.push(task.startedAt! - task.createdAt);
    }
    await stopPython(python);
    pickups.sort((a, b) => a - b);
    const pct = (p: number) =>
      pickups[Math.min(pickups.length - 1, Math.floor(p * pickups.length))]!;
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    return {
      runtime: "Bun" in globalThis
        ? `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`
        : `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`,
      python: await pythonVersion(),
      tasks: options.tasks,
      concurrency: options.concurrency,
      runs,
      tasksPerSecond: median(runs),
      serverCpuMicrosPerTask: median(serverCpu),
      pythonCpuMicrosPerTask: median(pythonCpu),
      pickupSamples: pickups.length,
      pickupP50Millis: pct(0.5),
      pickupP95Millis: pct(0.95),
      pickupP99Millis: pct(0.99),
    };
  } finally {
    await server.stop();
    await worker.stop({ graceMillis: 0 });
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function enqueueMany(dispatcher: TaskDispatcher, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1000) {
    const batch = Array.from(
      { length: Math.min(1000, count - i) },
      () => ({ name: TASK, args: {} }),
    );
    ids.push(...await dispatcher.enqueueMany(batch));
  }
  return ids;
}

async function untilCompleted(dispatcher: TaskDispatcher, id: string, timeout: number) {
  const task = await dispatcher.waitFor(id, { timeout });
  if (task.status !== "COMPLETED") throw new Error(`Task ${id} ended ${task.status}`);
  return task;
}

async function readTasks(store: SqliteTaskStore, ids: readonly string[]): Promise<TaskRecord[]> {
  const tasks: TaskRecord[] = [];
  for (const id of ids) tasks.push((await store.get(id))!);
  return tasks;
}

/** The Python worker, with the CPU seconds it reports when it exits. */
interface PythonWorker {
  child: ChildProcess;
  cpuSeconds: Promise<number>;
}

function startPython(url: string, concurrency: number): PythonWorker {
  const child = spawn("python3", [
    join(ROOT, "tests/fixtures/python_worker.py"),
    url,
    TOKEN,
    String(concurrency),
  ], {
    env: { ...process.env, PYTHONPATH: join(ROOT, "clients/python") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (chunk) => (err += chunk));
  const cpuSeconds = new Promise<number>((resolve) => {
    child.once("exit", (code) => {
      const cpu = /cpu ([\d.]+) s/.exec(err);
      if (!cpu) console.error(`The Python worker exited with ${code}:\n${err}`);
      resolve(cpu ? Number(cpu[1]) : NaN);
    });
  });
  return { child, cpuSeconds };
}

/** Stops the worker with SIGTERM; resolves with its CPU seconds. */
function stopPython(python: PythonWorker): Promise<number> {
  if (python.child.exitCode === null) python.child.kill("SIGTERM");
  return python.cpuSeconds;
}

function pythonVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("python3", ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout!.on("data", (chunk) => (out += chunk));
    child.on("exit", () => resolve(out.trim()));
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "10000" },
      runs: { type: "string", default: "3" },
      concurrency: { type: "string", default: "32" },
      samples: { type: "string", default: "100" },
    },
  });
  const result = await benchRemote({
    tasks: Number(values.tasks),
    runs: Number(values.runs),
    concurrency: Number(values.concurrency),
    samples: Number(values.samples),
  });
  console.log(JSON.stringify(result));
  console.log(
    `\n${result.runtime}, ${result.python}, concurrency ${result.concurrency}, ${result.tasks} tasks per run\n` +
      `throughput  ${result.tasksPerSecond} tasks/s (median of ${result.runs.join(", ")})\n` +
      `cpu/task    server ${result.serverCpuMicrosPerTask} µs, python ${result.pythonCpuMicrosPerTask} µs\n` +
      `pickup      p50 ${result.pickupP50Millis} ms, p95 ${result.pickupP95Millis} ms, ` +
      `p99 ${result.pickupP99Millis} ms (${result.pickupSamples} tasks)`,
  );
  process.exit(0);
}
