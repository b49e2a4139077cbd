/**
 * What tracing costs: awaited single enqueues and a drain of no-op tasks (concurrency 8), on
 * the in-memory and SQLite stores, with tracing off (no tracer provider registered: the default
 * for an application that has none) and on (a `BasicTracerProvider` whose processor drops every
 * span, so the figure is our spans' cost, not an exporter's). Modes alternate, `--runs` times
 * (default 5); the medians are printed as JSON, then a table.
 *
 *   bun scripts/bench_tracing.ts [--runs 5] [--quick]     deno run -A scripts/bench_tracing.ts
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { context, trace } from "@opentelemetry/api";
import { BasicTracerProvider, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import type { TaskStore } from "../src/store/store.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { TaskSignals } from "../src/signals.ts";
import { AsyncLocalContextManager } from "../src/tracing/context_manager.ts";
import { TaskWorker } from "../src/worker.ts";

const quick = process.argv.includes("--quick");
const runsAt = process.argv.indexOf("--runs");
const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer, got ${process.argv[runsAt + 1]}`);
  process.exit(2);
}
const SINGLE = quick ? 2_000 : 10_000;
const DRAIN = quick ? 5_000 : 20_000;

/** Ends spans into nothing. */
const dropAll: SpanProcessor = {
  onStart: () => {},
  onEnd: () => {},
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const provider = new BasicTracerProvider({ spanProcessors: [dropAll] });
context.setGlobalContextManager(new AsyncLocalContextManager());

async function withStore<T>(kind: string, fn: (store: TaskStore) => Promise<T>): Promise<T> {
  if (kind === "memory") return await fn(new InMemoryTaskStore());
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-tracing-"));
  const store = await SqliteTaskStore.open(join(dir, "bench.db"));
  await store.migrate();
  try {
    return await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function registry(): TaskRegistry {
  const r = new TaskRegistry();
  r.register("noop", () => {});
  return r;
}

async function enqueueSingle(store: TaskStore): Promise<number> {
  const dispatcher = new TaskDispatcher(store, { registry: registry() });
  const start = performance.now();
  for (let i = 0; i < SINGLE; i++) await dispatcher.enqueue("noop", { i });
  return SINGLE / ((performance.now() - start) / 1000);
}

async function drain(store: TaskStore): Promise<number> {
  const r = registry();
  const dispatcher = new TaskDispatcher(store, { registry: r });
  const batch = Array.from({ length: 1000 }, () => ({ name: "noop", args: {} }));
  for (let done = 0; done < DRAIN; done += batch.length) await dispatcher.enqueueMany(batch);
  const worker = new TaskWorker(store, {
    registry: r,
    concurrency: 8,
    signals: new TaskSignals(),
    scheduler: false,
  });
  let completed = 0;
  const finished = new Promise<void>((resolve) =>
    worker.signals.taskCompleted.connect(() => void (++completed === DRAIN && resolve()))
  );
  const start = performance.now();
  worker.start();
  await finished;
  const rate = DRAIN / ((performance.now() - start) / 1000);
  await worker.stop();
  return rate;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

const samples = new Map<string, number[]>();
const add = (key: string, value: number) => samples.set(key, [...(samples.get(key) ?? []), value]);
for (let run = 0; run < runs; run++) {
  for (const mode of ["off", "on"] as const) {
    if (mode === "on") trace.setGlobalTracerProvider(provider);
    else trace.disable();
    for (const kind of ["memory", "sqlite"]) {
      add(`${kind}|enqueue, one at a time (awaited)|${mode}`, await withStore(kind, enqueueSingle));
      add(
        `${kind}|drain ${DRAIN} no-op tasks, concurrency 8|${mode}`,
        await withStore(kind, drain),
      );
    }
  }
}
trace.disable();

const results = [...samples].map(([key, values]) => {
  const [store, metric, tracing] = key.split("|") as [string, string, string];
  return { store, metric, tracing, value: Math.round(median(values)), unit: "tasks/s", values };
});
const runtime = process.versions.bun
  ? `bun ${process.versions.bun}`
  : `deno ${process.versions.deno}`;
console.log(JSON.stringify({ runtime, runs, results }, null, 2));
console.log(`\n${runtime}, median of ${runs} runs`);
console.log("| store | metric | tracing off | tracing on | on / off |\n|---|---|---:|---:|---:|");
for (const result of results.filter((r) => r.tracing === "off")) {
  const on = results.find((r) =>
    r.tracing === "on" && r.store === result.store && r.metric === result.metric
  )!;
  const ratio = (on.value / result.value).toFixed(2);
  console.log(
    `| ${result.store} | ${result.metric} | ${result.value.toLocaleString("en")} | ${
      on.value.toLocaleString("en")
    } | ${ratio} |`,
  );
}
