/**
 * What a worker costs while nothing happens, and how fast it hears of work from another process:
 * - the CPU share of one core an idle worker uses (SQLite store), with no schedules and with
 *   1,000 cron schedules (none due during the run), read with `process.cpuUsage()` over
 *   `--seconds` (default 30) after a 3 s settle;
 * - pickup latency across processes: a second process (this script with `--producer`) enqueues
 *   at a steady 200 tasks/s into the same file, and the worker records enqueue-to-start times
 *   (both read `performance.timeOrigin + performance.now()`, one clock for both processes).
 * Prints JSON, then a table.
 *
 *   bun scripts/bench_idle.ts        deno run -A scripts/bench_idle.ts        (--quick: shorter)
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { TaskWorker } from "../src/worker.ts";

/** Idle seconds measured per case by default. */
export const DEFAULT_IDLE_SECONDS = 30;
/** The producer's steady rate for the cross-process pickup, in tasks per second. */
export const PICKUP_RATE = 200;

const quick = process.argv.includes("--quick");
const secondsArg = process.argv.indexOf("--seconds");
const idleSeconds = secondsArg > 0
  ? Number(process.argv[secondsArg + 1])
  : quick
  ? 5
  : DEFAULT_IDLE_SECONDS;
if (!Number.isFinite(idleSeconds) || idleSeconds <= 0) {
  console.error(`--seconds must be a number > 0, got ${process.argv[secondsArg + 1]}`);
  process.exit(2);
}

/** Wall-clock ms that two processes on this host agree on, with sub-ms resolution. */
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The producer side: `--producer FILE COUNT` enqueues COUNT tasks at PICKUP_RATE, then exits. */
async function produce(file: string, count: number): Promise<void> {
  const store = await SqliteTaskStore.open(file);
  const registry = new TaskRegistry();
  registry.register("stamp", () => {});
  const dispatcher = new TaskDispatcher(store, { registry });
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + i * (1000 / PICKUP_RATE) - performance.now();
    if (wait > 0) await sleep(wait);
    await dispatcher.enqueue("stamp", { sentAt: wallNow() });
  }
  await store.close();
}

const producerAt = process.argv.indexOf("--producer");
if (producerAt > 0) {
  await produce(process.argv[producerAt + 1]!, Number(process.argv[producerAt + 2]));
  process.exit(0);
}

async function withFile<T>(fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-idle-"));
  try {
    return await fn(join(dir, "tasks.db"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The CPU share of one core a started worker uses, idle, with `schedules` in the store. */
function idleWorker(schedules: number): Promise<number> {
  return withFile(async (file) => {
    const store = await SqliteTaskStore.open(file);
    const registry = new TaskRegistry();
    registry.register("noop", () => {});
    const dispatcher = new TaskDispatcher(store, { registry });
    for (let i = 0; i < schedules; i++) {
      // Minutes and hours spread over the day; none fires during a short run unless the clock
      // happens to cross one.
      await dispatcher.schedule(`s${i}`, {
        task: "noop",
        cron: `${i % 59} ${i % 24} * * *`,
        timezone: i % 2 ? "Europe/Berlin" : "America/New_York",
      });
    }
    const worker = new TaskWorker(store, { registry, signals: new TaskSignals() });
    worker.start();
    await sleep(3000); // start-up: schedules written, the first scheduler pass
    const before = process.cpuUsage();
    const start = performance.now();
    await sleep(idleSeconds * 1000);
    const used = process.cpuUsage(before);
    const wall = performance.now() - start;
    await worker.stop();
    await store.close();
    return Number((((used.user + used.system) / 1000 / wall) * 100).toFixed(2));
  });
}

/** Enqueue (in another process) to handler start (here) at PICKUP_RATE: percentiles in ms. */
function crossProcessPickup(seconds: number): Promise<{ p50: number; p95: number; p99: number }> {
  return withFile(async (file) => {
    const store = await SqliteTaskStore.open(file);
    await store.migrate();
    const latencies: number[] = [];
    const registry = new TaskRegistry();
    registry.register("stamp", ({ sentAt }: { sentAt: number }) => {
      latencies.push(wallNow() - sentAt);
    });
    const worker = new TaskWorker(store, {
      registry,
      concurrency: 8,
      signals: new TaskSignals(),
      scheduler: false,
    });
    worker.start();
    await sleep(500); // the wake-up socket is bound and its port recorded
    const count = PICKUP_RATE * seconds;
    const self = fileURLToPath(import.meta.url);
    const args = "Bun" in globalThis
      ? [self, "--producer", file, String(count)]
      : ["run", "-A", self, "--producer", file, String(count)];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const code = await exited;
    if (code !== 0) throw new Error(`The producer process exited with ${code}`);
    while (latencies.length < count) await sleep(10);
    await worker.stop();
    await store.close();
    latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      Number(
        latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(3),
      );
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
  });
}

const runtime = "Bun" in globalThis
  ? `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`
  : `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;
const pickup = await crossProcessPickup(quick ? 2 : 5);
const results = [
  {
    metric: `idle worker, no schedules, over ${idleSeconds} s`,
    value: await idleWorker(0),
    unit: "% of a core",
    target: "< 1",
  },
  {
    metric: `idle worker, 1,000 schedules, over ${idleSeconds} s`,
    value: await idleWorker(1000),
    unit: "% of a core",
    target: "< 2",
  },
  { metric: "pickup p50 from another process at 200 tasks/s", value: pickup.p50, unit: "ms" },
  { metric: "pickup p95 from another process at 200 tasks/s", value: pickup.p95, unit: "ms" },
  {
    metric: "pickup p99 from another process at 200 tasks/s",
    value: pickup.p99,
    unit: "ms",
    target: "<= 3",
  },
];
console.log(JSON.stringify({ runtime, quick, results }, null, 2));
console.log(`\n${runtime}`);
console.log("| metric | value | target |\n|---|---:|---|");
for (const r of results) console.log(`| ${r.metric} | ${r.value} ${r.unit} | ${r.target ?? ""} |`);
