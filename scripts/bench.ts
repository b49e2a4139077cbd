/**
 * The benchmark: enqueue (awaited, one at a time), bulk enqueue, drain of no-op tasks, pickup
 * latency at a steady rate, and claim cost with 200,000 finished rows — for the in-memory and
 * SQLite stores, producer and worker in one process. Prints JSON, then a table.
 *
 *   deno task bench        bun run bench        (add --quick for a short run)
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

const quick = process.argv.includes("--quick");
const N = {
  single: quick ? 2_000 : 20_000,
  bulk: quick ? 20_000 : 200_000,
  drain: quick ? 5_000 : 20_000,
  latencySeconds: quick ? 2 : 5,
  finishedRows: quick ? 20_000 : 200_000,
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
  const worker = new TaskWorker(store, { registry, concurrency: 8 });
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
  const worker = new TaskWorker(store, { registry, concurrency: 8 });
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

const rows: Row[] = [];
for (const kind of ["memory", "sqlite"]) {
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

const rounded = rows.map((r) => ({ ...r, value: r.unit === "ms" ? r.value : Math.round(r.value) }));
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
