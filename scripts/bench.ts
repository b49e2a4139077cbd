/**
 * The benchmark: enqueue (awaited, one at a time), bulk enqueue, drain of no-op tasks, pickup
 * latency at a steady rate, and claim cost with 200,000 finished rows — for the in-memory and
 * SQLite stores, producer and worker in one process; then flow control: a drain over 10
 * rate-limited queues with 100 pause/resume toggles against the same drain without limits, and
 * the CPU an idle worker uses with 1,000 schedules. Prints JSON, then a table.
 *
 *   deno task bench        bun run bench        (add --quick for a short run, --flow for only
 *                                                the flow-control part)
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { newTaskId } from "../src/id.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { DEFAULT_RETRY_CONFIG } from "../src/retry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import { newTaskRecord, type TaskRecord } from "../src/task.ts";
import { TaskWorker } from "../src/worker.ts";
import { TaskSignals } from "../src/signals.ts";
import { Scheduler } from "../src/scheduler.ts";

const quick = process.argv.includes("--quick");
const flowOnly = process.argv.includes("--flow");
const N = {
  single: quick ? 2_000 : 20_000,
  bulk: quick ? 20_000 : 200_000,
  drain: quick ? 5_000 : 20_000,
  latencySeconds: quick ? 2 : 5,
  finishedRows: quick ? 20_000 : 200_000,
  idleSeconds: quick ? 3 : 10,
};

interface Row {
  store: string;
  metric: string;
  value: number;
  unit: string;
  target?: string;
}

const runtime = "Bun" in globalThis
  ? `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`
  : `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;

async function withStore<T>(kind: string, fn: (store: TaskStore) => Promise<T>): Promise<T> {
  if (kind === "memory") {
    const store = new InMemoryTaskStore();
    return await fn(store);
  }
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-"));
  const store = await SqliteTaskStore.open(join(dir, "bench.db"));
  await store.migrate();
  try {
    return await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function registryWith(onRun?: (id: string) => void): TaskRegistry {
  const registry = new TaskRegistry();
  registry.register("noop", (_args, ctx) => void onRun?.(ctx.taskId));
  return registry;
}

async function enqueueSingle(store: TaskStore): Promise<number> {
  const dispatcher = new TaskDispatcher(store, { registry: registryWith() });
  const start = performance.now();
  for (let i = 0; i < N.single; i++) await dispatcher.enqueue("noop", { i });
  return N.single / ((performance.now() - start) / 1000);
}

async function enqueueBulk(store: TaskStore): Promise<number> {
  const dispatcher = new TaskDispatcher(store, { registry: registryWith() });
  const batch = Array.from({ length: 1000 }, (_, i) => ({ name: "noop", args: { i } }));
  const start = performance.now();
  for (let done = 0; done < N.bulk; done += batch.length) await dispatcher.enqueueMany(batch);
  return N.bulk / ((performance.now() - start) / 1000);
}

/** Enqueues `count` tasks, then times a worker (concurrency 8) draining them. */
async function drain(store: TaskStore, count: number): Promise<number> {
  const registry = registryWith();
  const dispatcher = new TaskDispatcher(store, { registry });
  const batch = Array.from({ length: 1000 }, () => ({ name: "noop", args: {} }));
  for (let done = 0; done < count; done += batch.length) await dispatcher.enqueueMany(batch);
  const worker = new TaskWorker(store, { registry, concurrency: 8, signals: new TaskSignals() });
  let completed = 0;
  const start = performance.now();
  const finished = new Promise<void>((resolve) =>
    worker.signals.taskCompleted.connect(() => void (++completed === count && resolve()))
  );
  worker.start();
  await finished;
  const rate = count / ((performance.now() - start) / 1000);
  await worker.stop();
  return rate;
}

/** Enqueues at a steady 200 tasks/s and measures enqueue-to-handler-start latency. */
async function pickupLatency(store: TaskStore): Promise<{ p50: number; p95: number; p99: number }> {
  // Keyed by the args' index, known before enqueue returns: the task may start before that.
  const enqueuedAt: number[] = [];
  const latencies: number[] = [];
  const registry = new TaskRegistry();
  registry.register("noop", ({ i }: { i: number }) => {
    latencies.push(performance.now() - enqueuedAt[i]!);
  });
  const dispatcher = new TaskDispatcher(store, { registry });
  const worker = new TaskWorker(store, { registry, concurrency: 8, signals: new TaskSignals() });
  worker.start();
  const total = 200 * N.latencySeconds;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * 5;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    enqueuedAt[i] = performance.now();
    await dispatcher.enqueue("noop", { i });
  }
  while (latencies.length < total) await new Promise((resolve) => setTimeout(resolve, 10));
  await worker.stop();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(3));
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Drain rate with `finished` COMPLETED rows already in the table. */
async function drainWithFinished(store: TaskStore, finished: number): Promise<number> {
  const now = Date.now();
  const finishedTask = (): TaskRecord => ({
    ...newTaskRecord({
      id: newTaskId(now),
      name: "noop",
      queue: "default",
      args: {},
      status: "COMPLETED",
      priority: "NORMAL",
      runAt: now,
      createdAt: now,
      retryConfig: { ...DEFAULT_RETRY_CONFIG },
      timeoutMillis: null,
    }),
    startedAt: now,
    completedAt: now,
    attempts: 1,
  });
  for (let done = 0; done < finished; done += 5000) {
    await store.insert(Array.from({ length: 5000 }, finishedTask));
  }
  return drain(store, N.drain);
}

const QUEUES = Array.from({ length: 10 }, (_, i) => `q${i}`);

/**
 * Drains `count` tasks spread over 10 queues. With `limited`, each queue has a rate limit and a
 * maxRunning (high enough never to hold a task back, so what is measured is their cost), and
 * a pause/resume of another queue is written every `count / 100` completions (100 toggles).
 */
async function drainQueues(store: TaskStore, count: number, limited: boolean): Promise<number> {
  const registry = registryWith();
  const dispatcher = new TaskDispatcher(store, { registry });
  const batch = Array.from({ length: 1000 }, (_, i) => ({
    name: "noop",
    args: {},
    options: { queue: QUEUES[i % QUEUES.length]! },
  }));
  for (let done = 0; done < count; done += batch.length) await dispatcher.enqueueMany(batch);
  if (limited) {
    for (const queue of QUEUES) {
      await dispatcher.setQueueLimits(queue, {
        rateLimit: { limit: 1_000_000, per: "1s" },
        maxRunning: 1_000_000,
      });
    }
  }
  const signals = new TaskSignals();
  const worker = new TaskWorker(store, { registry, concurrency: 8, queues: QUEUES, signals });
  let completed = 0;
  let toggles = 0;
  let toggling = Promise.resolve();
  const every = Math.max(1, Math.floor(count / 100));
  const start = performance.now();
  const finished = new Promise<void>((resolve) =>
    signals.taskCompleted.connect(() => {
      if (++completed === count) resolve();
      if (limited && completed % every === 0 && toggles < 100) {
        const paused = toggles++ % 2 === 0;
        toggling = toggling.then(async () => {
          await (paused ? dispatcher.pauseQueue("toggled") : dispatcher.resumeQueue("toggled"));
        });
      }
    })
  );
  worker.start();
  await finished;
  const rate = count / ((performance.now() - start) / 1000);
  await toggling;
  await worker.stop();
  return rate;
}

/**
 * The CPU share of one core a started worker (or, with `schedulerOnly`, a bare `Scheduler`)
 * uses, idle, with `schedules` in the store.
 */
async function idleWithSchedules(
  store: TaskStore,
  schedules: number,
  schedulerOnly = false,
): Promise<number> {
  const registry = registryWith();
  const dispatcher = new TaskDispatcher(store, { registry });
  for (let i = 0; i < schedules; i++) {
    // Minutes and hours spread over the day; none fires during the measurement (minute 59 is
    // never used, and the run is short) unless the clock happens to cross one.
    await dispatcher.schedule(`s${i}`, {
      task: "noop",
      cron: `${i % 59} ${i % 24} * * *`,
      timezone: i % 2 ? "Europe/Berlin" : "America/New_York",
    });
  }
  const worker = schedulerOnly
    ? new Scheduler(store, { registry })
    : new TaskWorker(store, { registry, signals: new TaskSignals() });
  worker.start();
  // Let start-up (writing schedules, the first scheduler pass over 1,000 zoned expressions)
  // finish before measuring.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const before = process.cpuUsage();
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, N.idleSeconds * 1000));
  const used = process.cpuUsage(before);
  const wall = performance.now() - start;
  await worker.stop();
  return ((used.user + used.system) / 1000 / wall) * 100;
}

const rows: Row[] = [];
for (const kind of flowOnly ? [] : ["memory", "sqlite"]) {
  const isSqlite = kind === "sqlite";
  rows.push({
    store: kind,
    metric: "enqueue, one at a time (awaited)",
    value: await withStore(kind, enqueueSingle),
    unit: "tasks/s",
    ...(isSqlite ? { target: ">= 15000" } : {}),
  });
  rows.push({
    store: kind,
    metric: "enqueue, bulk (1000 per call)",
    value: await withStore(kind, enqueueBulk),
    unit: "tasks/s",
    ...(isSqlite ? { target: ">= 300000" } : {}),
  });
  rows.push({
    store: kind,
    metric: `drain ${N.drain} no-op tasks, concurrency 8`,
    value: await withStore(kind, (s) => drain(s, N.drain)),
    unit: "tasks/s",
    ...(isSqlite ? { target: ">= 20000" } : {}),
  });
  const latency = await withStore(kind, pickupLatency);
  rows.push({
    store: kind,
    metric: "pickup latency p50 at 200 tasks/s",
    value: latency.p50,
    unit: "ms",
  });
  rows.push({
    store: kind,
    metric: "pickup latency p95 at 200 tasks/s",
    value: latency.p95,
    unit: "ms",
  });
  rows.push({
    store: kind,
    metric: "pickup latency p99 at 200 tasks/s",
    value: latency.p99,
    unit: "ms",
    ...(isSqlite ? { target: "<= 5" } : {}),
  });
  if (isSqlite) {
    rows.push({
      store: kind,
      metric: `drain ${N.drain} with ${N.finishedRows} finished rows`,
      value: await withStore(kind, (s) => drainWithFinished(s, N.finishedRows)),
      unit: "tasks/s",
      target: "flat vs. empty",
    });
  }
}

for (const kind of ["memory", "sqlite"]) {
  // Alternating runs, best of three each: the ratio is what matters, and a busy machine makes
  // single runs swing.
  let plain = 0, limited = 0;
  for (let run = 0; run < (quick ? 1 : 3); run++) {
    plain = Math.max(plain, await withStore(kind, (s) => drainQueues(s, N.drain, false)));
    limited = Math.max(limited, await withStore(kind, (s) => drainQueues(s, N.drain, true)));
  }
  rows.push({
    store: kind,
    metric: `drain ${N.drain} over 10 queues`,
    value: plain,
    unit: "tasks/s",
  });
  rows.push({
    store: kind,
    metric: `same, 10 rate-limited queues, 100 pause/resume toggles`,
    value: limited,
    unit: "tasks/s",
  });
  rows.push({
    store: kind,
    metric: "limited drain / plain drain",
    value: Number((limited / plain).toFixed(3)),
    unit: "ratio",
    target: ">= 0.8",
  });
}
rows.push({
  store: "sqlite",
  metric: `idle worker, no schedules, over ${N.idleSeconds} s`,
  value: Number((await withStore("sqlite", (s) => idleWithSchedules(s, 0))).toFixed(2)),
  unit: "% of a core",
});
rows.push({
  store: "sqlite",
  metric: `the scheduler alone, 1,000 schedules, over ${N.idleSeconds} s`,
  value: Number((await withStore("sqlite", (s) => idleWithSchedules(s, 1000, true))).toFixed(2)),
  unit: "% of a core",
});
rows.push({
  store: "sqlite",
  metric: `idle worker with 1,000 schedules, over ${N.idleSeconds} s`,
  value: Number((await withStore("sqlite", (s) => idleWithSchedules(s, 1000))).toFixed(2)),
  unit: "% of a core",
  target: "< 2",
});

const rounded = rows.map((r) => ({
  ...r,
  value: r.unit === "tasks/s" ? Math.round(r.value) : r.value,
}));
console.log(JSON.stringify({ runtime, quick: Boolean(quick), results: rounded }, null, 2));
console.log(`\n${runtime}`);
console.log("| store | metric | value | target |\n|---|---|---:|---|");
for (const r of rounded) {
  console.log(
    `| ${r.store} | ${r.metric} | ${r.value.toLocaleString("en-US")} ${r.unit} | ${
      r.target ?? ""
    } |`,
  );
}
