/**
 * Measures the WAL bound: a worker (in process, concurrency 16, a no-op handler) drains
 * `--tasks` tasks while a second connection holds a read transaction open the whole time; then
 * the reader ends. Reports the largest `-wal` size seen during the drain, its size when the
 * reader ended, and how long after that it took to fall under 16 MB (the WAL keeper checks
 * every 5 s and truncates it above its 8 MiB limit). Target: under 16 MB within 60 s of the
 * reader ending.
 *
 *   bun scripts/wal_bound.ts [--tasks 50000] [--concurrency 16]
 *   ./node_modules/deno/deno run -A scripts/wal_bound.ts
 *
 * Prints JSON on stdout, then a table.
 * @module
 */

import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { DEFAULT_WAL_LIMIT_BYTES } from "../src/store/sqlite/wal_keeper.ts";
import { TaskWorker } from "../src/worker.ts";

const { values } = parseArgs({
  options: {
    tasks: { type: "string", default: "50000" },
    concurrency: { type: "string", default: "16" },
  },
});
const tasks = Number(values.tasks);
const concurrency = Number(values.concurrency);
const MIB = 1024 * 1024;
const TARGET_MILLIS = 60_000;
/** The promise: under 16 MB (not MiB). */
const TARGET_BYTES = 16_000_000;

const walSize = (path: string): number => {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
};
const pause = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

const dir = await mkdtemp(join(tmpdir(), "aether-wal-"));
const path = join(dir, "tasks.db");
const store = await SqliteTaskStore.open(path);
const registry = new TaskRegistry();
registry.register("noop", () => {});
const dispatcher = new TaskDispatcher(store, { registry });
for (let done = 0; done < tasks; done += 1000) {
  const n = Math.min(1000, tasks - done);
  await dispatcher.enqueueMany(
    Array.from({ length: n }, (_, i) => ({ name: "noop", args: { i: done + i } })),
  );
}

const reader = await openSqliteDriver(path, { readOnly: true });
reader.exec("BEGIN");
reader.get("SELECT count(*) AS n FROM tasks");

const worker = new TaskWorker(store, { registry, concurrency });
const drainStarted = performance.now();
worker.start();
let peakBytes = 0;
for (;;) {
  peakBytes = Math.max(peakBytes, walSize(path));
  if ((await store.stats()).byStatus.COMPLETED >= tasks) break;
  await pause(100);
}
const drainMillis = performance.now() - drainStarted;
peakBytes = Math.max(peakBytes, walSize(path));
const atReaderEndBytes = walSize(path);

reader.exec("COMMIT");
reader.close();
const released = performance.now();
let boundedAfterMillis: number | null = null;
while (performance.now() - released < 2 * TARGET_MILLIS) {
  if (walSize(path) < TARGET_BYTES) {
    boundedAfterMillis = performance.now() - released;
    break;
  }
  await pause(100);
}
const finalBytes = walSize(path);
await worker.stop();
await store.close();
await rm(dir, { recursive: true, force: true });

const result = {
  runtime: "Bun" in globalThis ? "bun" : "deno",
  tasks,
  concurrency,
  drainMillis: Math.round(drainMillis),
  peakWalMiB: +(peakBytes / MIB).toFixed(1),
  walAtReaderEndMiB: +(atReaderEndBytes / MIB).toFixed(1),
  boundedAfterMillis: boundedAfterMillis === null ? null : Math.round(boundedAfterMillis),
  finalWalMiB: +(finalBytes / MIB).toFixed(1),
  limitMiB: DEFAULT_WAL_LIMIT_BYTES / MIB,
  targetMet: boundedAfterMillis !== null && boundedAfterMillis <= TARGET_MILLIS,
};
console.log(JSON.stringify(result));
console.log(`
| runtime | tasks | drain | peak WAL (reader open) | WAL at reader end | under 16 MB after | WAL after |
| ------- | ----- | ----- | ---------------------- | ----------------- | ------------------- | --------- |
| ${result.runtime} | ${tasks} | ${
  (drainMillis / 1000).toFixed(1)
} s | ${result.peakWalMiB} MiB | ${result.walAtReaderEndMiB} MiB | ${
  boundedAfterMillis === null ? "not within 120 s" : `${(boundedAfterMillis / 1000).toFixed(1)} s`
} | ${result.finalWalMiB} MiB |`);
if (!result.targetMet) process.exitCode = 1;
