/**
 * aether-tasks beside plainjob (an embedded SQLite job queue for Bun), in one process run, on
 * the same workload: 20,000 no-op tasks enqueued one at a time (each awaited where the API is
 * asynchronous), the same in bulk (1,000 per call), and a drain of 20,000 with concurrency 8
 * (plainjob processes one job at a time per worker, so it gets 8 workers). Both use WAL and
 * `synchronous=NORMAL` on a fresh file per run. Prints JSON, then a table with the ratio.
 *
 *   bun run bench:compare        (--runs N: median of N runs, default 5; --quick: 1 run, 5,000 tasks)
 *
 * plainjob needs `bun:sqlite` (or better-sqlite3, not installed here), so this runs on Bun only;
 * `deno task bench:compare` says so and exits with status 1.
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { TaskWorker } from "../src/worker.ts";

if (!("Bun" in globalThis)) {
  console.error(
    "bench:compare runs on Bun only: plainjob needs bun:sqlite (or better-sqlite3, which is " +
      "not installed). Run `bun run bench:compare`.",
  );
  process.exit(1);
}

/** Tasks per measurement. */
export const COMPARE_TASKS = 20_000;
/** Tasks per bulk call. */
export const BULK_SIZE = 1_000;
/** Tasks (aether-tasks) or workers (plainjob) in flight at once. */
export const CONCURRENCY = 8;

const quick = process.argv.includes("--quick");
const runsAt = process.argv.indexOf("--runs");
const runs = quick ? 1 : runsAt > 0 ? Number(process.argv[runsAt + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be an integer >= 1, got ${process.argv[runsAt + 1]}`);
  process.exit(2);
}
const TASKS = quick ? 5_000 : COMPARE_TASKS;

// plainjob's API as used here (loaded by name, so a Deno type check need not resolve it).
interface PlainQueue {
  add(type: string, data: unknown): { id: number };
  addMany(type: string, data: unknown[]): { ids: number[] };
  close(): void;
}
interface PlainWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
}
interface Plainjob {
  bun(database: unknown): unknown;
  defineQueue(options: { connection: unknown; logger: unknown }): PlainQueue;
  defineWorker(
    type: string,
    processor: () => void,
    options: { queue: PlainQueue; logger: unknown; onCompleted: () => void; pollIntervall: number },
  ): PlainWorker;
}
const plainjobName = "plainjob";
const bunSqliteName = "bun:sqlite";
const plainjob = await import(plainjobName) as Plainjob;
const { Database } = await import(bunSqliteName) as {
  Database: new (path: string, options: { strict: boolean; create: boolean }) => unknown;
};
const silent = { error() {}, warn() {}, info() {}, debug() {} };

type Metric = "single" | "bulk" | "drain";

async function inTempDir<T>(fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-compare-"));
  try {
    return await fn(join(dir, "bench.db"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rate = (count: number, start: number) => count / ((performance.now() - start) / 1000);

/** One aether-tasks measurement, in tasks/s. */
function aether(metric: Metric): Promise<number> {
  return inTempDir(async (file) => {
    const store = await SqliteTaskStore.open(file);
    try {
      const registry = new TaskRegistry();
      registry.register("noop", () => {});
      const dispatcher = new TaskDispatcher(store, { registry });
      const batch = Array.from({ length: BULK_SIZE }, (_, i) => ({ name: "noop", args: { i } }));
      if (metric === "single") {
        const start = performance.now();
        for (let i = 0; i < TASKS; i++) await dispatcher.enqueue("noop", { i });
        return rate(TASKS, start);
      }
      if (metric === "bulk") {
        const start = performance.now();
        for (let done = 0; done < TASKS; done += BULK_SIZE) await dispatcher.enqueueMany(batch);
        return rate(TASKS, start);
      }
      for (let done = 0; done < TASKS; done += BULK_SIZE) await dispatcher.enqueueMany(batch);
      const signals = new TaskSignals();
      const worker = new TaskWorker(store, {
        registry,
        concurrency: CONCURRENCY,
        signals,
        scheduler: false,
      });
      let completed = 0;
      const finished = new Promise<void>((resolve) =>
        signals.taskCompleted.connect(() => void (++completed === TASKS && resolve()))
      );
      const start = performance.now();
      worker.start();
      await finished;
      const measured = rate(TASKS, start);
      await worker.stop();
      return measured;
    } finally {
      await store.close();
    }
  });
}

/** One plainjob measurement, in tasks/s. */
function plain(metric: Metric): Promise<number> {
  return inTempDir(async (file) => {
    const connection = plainjob.bun(new Database(file, { strict: true, create: true }));
    const queue = plainjob.defineQueue({ connection, logger: silent });
    try {
      const batch = Array.from({ length: BULK_SIZE }, (_, i) => ({ i }));
      if (metric === "single") {
        const start = performance.now();
        for (let i = 0; i < TASKS; i++) queue.add("noop", { i });
        return rate(TASKS, start);
      }
      if (metric === "bulk") {
        const start = performance.now();
        for (let done = 0; done < TASKS; done += BULK_SIZE) queue.addMany("noop", batch);
        return rate(TASKS, start);
      }
      for (let done = 0; done < TASKS; done += BULK_SIZE) queue.addMany("noop", batch);
      let completed = 0;
      let resolve!: () => void;
      const finished = new Promise<void>((r) => (resolve = r));
      const workers = Array.from(
        { length: CONCURRENCY },
        () =>
          plainjob.defineWorker("noop", () => {}, {
            queue,
            logger: silent,
            pollIntervall: 1000,
            onCompleted: () => void (++completed === TASKS && resolve()),
          }),
      );
      const start = performance.now();
      for (const worker of workers) void worker.start();
      await finished;
      const measured = rate(TASKS, start);
      await Promise.all(workers.map((worker) => worker.stop()));
      return measured;
    } finally {
      queue.close();
    }
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const LABELS: Record<Metric, string> = {
  single: `enqueue ${TASKS} one at a time`,
  bulk: `enqueue ${TASKS} in bulk (${BULK_SIZE} per call)`,
  drain: `drain ${TASKS} no-op tasks, concurrency ${CONCURRENCY}`,
};
const results = [];
for (const metric of ["single", "bulk", "drain"] as const) {
  const ours: number[] = [];
  const theirs: number[] = [];
  // Alternating, so a change in the machine's load hits both alike.
  for (let run = 0; run < runs; run++) {
    ours.push(await aether(metric));
    theirs.push(await plain(metric));
  }
  const aetherRate = Math.round(median(ours));
  const plainRate = Math.round(median(theirs));
  results.push({
    metric: LABELS[metric],
    aetherTasks: aetherRate,
    plainjob: plainRate,
    ratio: Number((aetherRate / plainRate).toFixed(2)),
  });
}

const runtime = `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`;
console.log(JSON.stringify({ runtime, runs, tasks: TASKS, unit: "tasks/s", results }, null, 2));
console.log(`\n${runtime}, median of ${runs} run(s), tasks/s`);
console.log(
  "| workload | aether-tasks | plainjob | aether-tasks / plainjob |\n|---|---:|---:|---:|",
);
for (const r of results) {
  console.log(
    `| ${r.metric} | ${r.aetherTasks.toLocaleString("en-US")} | ${
      r.plainjob.toLocaleString("en-US")
    } | ${r.ratio} |`,
  );
}
