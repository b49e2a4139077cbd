/**
 * The Web Worker pool benchmark, on SQLite:
 * - drain of no-op tasks through a pool of 2 Workers, beside the same drain run in process;
 * - pickup latency (enqueue to handler start, inside the Worker) at a steady 200 tasks/s;
 * - a long drain with a Worker recycled every 1,000 tasks, and the process RSS around it.
 * Prints JSON, then a table; `--svg PATH` also draws the figures as a chart there (beside the
 * other runtime's, if the file holds them).
 *
 *   bun scripts/bench_pool.ts        deno run -A scripts/bench_pool.ts        (--quick: shorter)
 *   bun run bench:pool --svg docs/bench_pool.svg && deno task bench:pool --svg docs/bench_pool.svg
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { InProcessExecutor, type TaskExecutor } from "../src/executor.ts";
import { WorkerPool } from "../src/pool/pool.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import { TaskWorker } from "../src/worker.ts";
import { type Measurement, svgPathArgument, writeBenchChart } from "./_bench_chart.ts";

const HANDLERS = fileURLToPath(new URL("./bench_handlers", import.meta.url));

/** Sizes of the runs; {@linkcode QUICK_SIZES} for a smoke run. */
export interface BenchPoolSizes {
  drain: number;
  latencySeconds: number;
  recycleTasks: number;
  recycleAfter: number;
  /** Tasks in flight at once (the worker's `concurrency`). */
  concurrency: number;
  poolSize: number;
}

/** The sizes the issue asks for. */
export const FULL_SIZES: BenchPoolSizes = {
  drain: 20_000,
  latencySeconds: 5,
  recycleTasks: 100_000,
  recycleAfter: 1_000,
  concurrency: 128,
  poolSize: 2,
};

/** Small sizes for a quick check that the benchmark runs. */
export const QUICK_SIZES: BenchPoolSizes = {
  drain: 2_000,
  latencySeconds: 1,
  recycleTasks: 5_000,
  recycleAfter: 1_000,
  concurrency: 128,
  poolSize: 2,
};

/** Enqueue-to-start latency percentiles, in ms. */
export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** What {@linkcode benchPool} measured; each pair is through the pool and in process. */
export interface BenchPoolFigures {
  runtime: string;
  sizes: BenchPoolSizes;
  /** Tasks/s draining `drain` no-op tasks. */
  drain: { pool: number; inProcess: number };
  /** Enqueue-to-start latency at 200 tasks/s (for the pool: start inside the Worker). */
  pickup: { pool: Latency; inProcess: Latency };
  /** The long drain through the pool with recycling. */
  recycle: { tasksPerSecond: number; recycles: number; rssBeforeMB: number; rssAfterMB: number };
}

const runtime = process.versions.bun
  ? `bun ${process.versions.bun}`
  : `deno ${process.versions.deno}`;
const rssMB = () => Math.round(process.memoryUsage().rss / 1_048_576);
const now = () => performance.timeOrigin + performance.now();

async function withSqlite<T>(fn: (store: TaskStore) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-pool-"));
  const store = await SqliteTaskStore.open(join(dir, "bench.db"));
  await store.migrate();
  try {
    return await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function registryOf(pool: WorkerPool): TaskRegistry {
  const registry = new TaskRegistry();
  for (const definition of pool.definitions) registry.add(definition);
  return registry;
}

async function enqueueProbes(
  store: TaskStore,
  registry: TaskRegistry,
  count: number,
): Promise<void> {
  const dispatcher = new TaskDispatcher(store, { registry });
  for (let done = 0; done < count; done += 1000) {
    const n = Math.min(1000, count - done);
    await dispatcher.enqueueMany(Array.from({ length: n }, () => ({ name: "probe", args: {} })));
  }
}

/** Enqueues `count` tasks, then times a worker over `executor` draining them; tasks/s. */
async function drain(
  store: TaskStore,
  registry: TaskRegistry,
  executor: TaskExecutor,
  count: number,
  concurrency: number,
): Promise<number> {
  await enqueueProbes(store, registry, count);
  const worker = new TaskWorker(store, { executor, concurrency });
  let completed = 0;
  const finished = new Promise<void>((resolve) =>
    worker.signals.taskCompleted.connect(() => void (++completed === count && resolve()))
  );
  const start = performance.now();
  worker.start();
  await finished;
  const rate = count / ((performance.now() - start) / 1000);
  await worker.stop();
  return Math.round(rate);
}

/** Enqueues at a steady 200 tasks/s; enqueue-to-start latency of the probe handler, in ms. */
async function pickup(
  store: TaskStore,
  registry: TaskRegistry,
  executor: TaskExecutor,
  sizes: BenchPoolSizes,
): Promise<Latency> {
  const dispatcher = new TaskDispatcher(store, { registry });
  const worker = new TaskWorker(store, { executor, concurrency: sizes.concurrency });
  // By args index, set before the enqueue: a worker may start the task before `enqueue` resolves.
  const enqueuedAt: number[] = [];
  const latencies: number[] = [];
  const total = 200 * sizes.latencySeconds;
  const done = new Promise<void>((resolve) =>
    worker.signals.taskCompleted.connect(({ task }) => {
      latencies.push((task.result as number) - enqueuedAt[(task.args as { i: number }).i]!);
      if (latencies.length === total) resolve();
    })
  );
  worker.start();
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + i * 5 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    enqueuedAt[i] = now();
    await dispatcher.enqueue("probe", { i });
  }
  await done;
  await worker.stop();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(3));
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) };
}

/** Runs `fn` with a started pool over the bench handlers and a SQLite store; closes both. */
async function withPool<T>(
  options: { size: number; recycleAfter?: number },
  fn: (store: TaskStore, registry: TaskRegistry, pool: WorkerPool) => Promise<T>,
): Promise<T> {
  return await withSqlite(async (store) => {
    await using pool = await WorkerPool.start({ handlersDir: HANDLERS, ...options });
    return await fn(store, registryOf(pool), pool);
  });
}

/** Runs `fn` with an in-process executor of the same probe handler and a SQLite store. */
async function withInProcess<T>(
  fn: (store: TaskStore, registry: TaskRegistry, executor: TaskExecutor) => Promise<T>,
): Promise<T> {
  const registry = new TaskRegistry();
  registry.register("probe", () => now());
  return await withSqlite((store) => fn(store, registry, new InProcessExecutor(registry)));
}

/** Runs the pool benchmark and returns its figures. A short warm-up run comes first. */
export async function benchPool(sizes: BenchPoolSizes = FULL_SIZES): Promise<BenchPoolFigures> {
  const { poolSize: size, concurrency } = sizes;
  const warmUp = Math.min(2_000, sizes.drain);
  await withPool(
    { size },
    (store, registry, pool) => drain(store, registry, pool, warmUp, concurrency),
  );
  await withInProcess((store, registry, executor) =>
    drain(store, registry, executor, warmUp, concurrency)
  );

  const drainPool = await withPool(
    { size },
    (store, registry, pool) => drain(store, registry, pool, sizes.drain, concurrency),
  );
  const drainInProcess = await withInProcess((store, registry, executor) =>
    drain(store, registry, executor, sizes.drain, concurrency)
  );
  const pickupPool = await withPool(
    { size },
    (store, registry, pool) => pickup(store, registry, pool, sizes),
  );
  const pickupInProcess = await withInProcess((store, registry, executor) =>
    pickup(store, registry, executor, sizes)
  );
  const recycle = await withPool(
    { size, recycleAfter: sizes.recycleAfter },
    async (store, registry, pool) => {
      const rssBeforeMB = rssMB();
      const tasksPerSecond = await drain(store, registry, pool, sizes.recycleTasks, concurrency);
      return { tasksPerSecond, recycles: pool.stats().recycles, rssBeforeMB, rssAfterMB: rssMB() };
    },
  );
  return {
    runtime,
    sizes,
    drain: { pool: drainPool, inProcess: drainInProcess },
    pickup: { pool: pickupPool, inProcess: pickupInProcess },
    recycle,
  };
}

/** The figures as chart measurements: drain rates, latency percentiles, the recycling drain. */
export function poolMeasurements(f: BenchPoolFigures): Measurement[] {
  const drain = `drain ${f.sizes.drain.toLocaleString("en-US")} no-op tasks`;
  const pickup = "pickup latency at 200 tasks/s";
  const percentiles = (label: string, l: Latency) =>
    (["p50", "p95", "p99"] as const).map((p) => ({
      panel: pickup,
      unit: "ms",
      label: `${label} ${p}`,
      value: l[p],
    }));
  return [
    { panel: drain, unit: "tasks/s", label: `pool of ${f.sizes.poolSize}`, value: f.drain.pool },
    { panel: drain, unit: "tasks/s", label: "in process", value: f.drain.inProcess },
    ...percentiles("pool", f.pickup.pool),
    ...percentiles("in process", f.pickup.inProcess),
    {
      panel: `drain ${f.sizes.recycleTasks.toLocaleString("en-US")}, Workers recycled every ${
        f.sizes.recycleAfter.toLocaleString("en-US")
      }`,
      unit: "tasks/s",
      label: "pool",
      value: f.recycle.tasksPerSecond,
    },
  ];
}

if (import.meta.main) {
  const sizes = process.argv.includes("--quick") ? QUICK_SIZES : FULL_SIZES;
  const svgPath = svgPathArgument(process.argv);
  const f = await benchPool(sizes);
  console.log(JSON.stringify(f, null, 2));
  const ms = (l: Latency) => `${l.p50} / ${l.p95} / ${l.p99} ms`;
  const rows: [string, string, string][] = [
    [
      `drain ${sizes.drain} no-op tasks, pool of ${sizes.poolSize}`,
      `${f.drain.pool} tasks/s`,
      ">= 20000",
    ],
    [`drain ${sizes.drain} no-op tasks, in process`, `${f.drain.inProcess} tasks/s`, ""],
    ["pickup p50 / p95 / p99 at 200 tasks/s, pool", ms(f.pickup.pool), "p99 <= 5"],
    ["pickup p50 / p95 / p99 at 200 tasks/s, in process", ms(f.pickup.inProcess), ""],
    [
      `drain ${sizes.recycleTasks}, pool recycling every ${sizes.recycleAfter}`,
      `${f.recycle.tasksPerSecond} tasks/s, ${f.recycle.recycles} recycles`,
      "",
    ],
    [
      "process RSS before / after that drain",
      `${f.recycle.rssBeforeMB} / ${f.recycle.rssAfterMB} MB`,
      "",
    ],
  ];
  console.log(
    `\n${runtime}, SQLite store, concurrency ${sizes.concurrency}\n| metric | value | target |\n|---|---:|---|`,
  );
  for (const [metric, value, target] of rows) console.log(`| ${metric} | ${value} | ${target} |`);
  if (svgPath !== null) {
    const title = `aether-tasks pool benchmark (SQLite, concurrency ${sizes.concurrency})`;
    await writeBenchChart(svgPath, title, { runtime, measurements: poolMeasurements(f) });
    console.log(`\nChart written to ${svgPath}`);
  }
  process.exit(0);
}
