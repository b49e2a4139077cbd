/**
 * `stats()` at scale (issue 8: "`stats()` must not scan the whole table on every call … keep it
 * fast at 10,000,000 rows"): fills a store with ROWS tasks (1% PENDING, 1% FAILED, the rest
 * COMPLETED, over 10 queues), then times `stats()` and `count({ status })` (median and p90 of 21
 * calls each), and `stats()` of an empty store of the same kind in turns with the full one's (on
 * a busy machine only calls made at the same time compare). Prints JSON, then a table.
 *
 *   bun scripts/bench_stats.ts --store sqlite --store postgres [--rows 10000000]
 *
 * SQLite is filled through `store.insert` (5,000 per call: the counters follow as in real use).
 * PostgreSQL is filled by `INSERT … SELECT generate_series` in 1,000,000-row statements inside
 * the store's own schema (its triggers keep the counters as for any insert; through the store
 * 10,000,000 rows would take many minutes here). The server: AETHER_BENCH_PG_URL, or a
 * throwaway one started with scripts/pg_server.sh (PostgreSQL's defaults, fsync on).
 */

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs, promisify } from "node:util";
import postgres from "postgres";
import { newTaskId } from "../src/id.ts";
import { DEFAULT_RETRY_CONFIG } from "../src/retry.ts";
import { PostgresTaskStore } from "../src/store/postgres/store.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import { newTaskRecord, type TaskRecord, type TaskStatus } from "../src/task.ts";

/** The default number of rows. */
export const DEFAULT_STATS_ROWS = 10_000_000;
const CALLS = 21;

const { values } = parseArgs({
  options: { store: { type: "string", multiple: true }, rows: { type: "string" } },
});
const rows = Number(values.rows ?? DEFAULT_STATS_ROWS);
if (!Number.isSafeInteger(rows) || rows < 0) {
  console.error(`--rows must be an integer >= 0, got ${JSON.stringify(values.rows)}`);
  process.exit(2);
}
const stores = values.store ?? ["sqlite", "postgres"];
for (const kind of stores) {
  if (kind !== "sqlite" && kind !== "postgres") {
    console.error(`--store must be sqlite or postgres, got ${JSON.stringify(kind)}`);
    process.exit(2);
  }
}

const statusOf = (i: number): TaskStatus =>
  i % 100 === 0 ? "PENDING" : i % 100 === 1 ? "FAILED" : "COMPLETED";

interface Timing {
  median: number;
  p90: number;
}

/** Median and p90 of `CALLS` timed calls of each function, called in turns, in ms. */
async function time(...calls: (() => Promise<unknown>)[]): Promise<Timing[]> {
  const ms: number[][] = calls.map(() => []);
  for (let i = 0; i < CALLS; i++) {
    for (const [c, call] of calls.entries()) {
      const start = performance.now();
      await call();
      ms[c]!.push(performance.now() - start);
    }
  }
  return ms.map((times) => {
    times.sort((a, b) => a - b);
    const at = (q: number) => Number(times[Math.floor(q * (times.length - 1))]!.toFixed(3));
    return { median: at(0.5), p90: at(0.9) };
  });
}

async function fillSqlite(store: TaskStore, count: number): Promise<void> {
  const now = Date.now();
  const task = (i: number): TaskRecord => {
    const status = statusOf(i);
    const finished = status !== "PENDING";
    return {
      ...newTaskRecord({
        id: newTaskId(now),
        name: "noop",
        queue: `q${i % 10}`,
        args: {},
        status,
        priority: "NORMAL",
        runAt: now,
        createdAt: now,
        retryConfig: { ...DEFAULT_RETRY_CONFIG },
        timeoutMillis: null,
      }),
      startedAt: finished ? now : null,
      completedAt: finished ? now : null,
      attempts: finished ? 1 : 0,
    };
  };
  for (let done = 0; done < count; done += 5000) {
    const n = Math.min(5000, count - done);
    await store.insert(Array.from({ length: n }, (_, k) => task(done + k)));
  }
}

async function fillPostgres(url: string, schema: string, count: number): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const now = Date.now();
  try {
    for (let from = 0; from < count; from += 1_000_000) {
      const to = Math.min(count, from + 1_000_000) - 1;
      await sql.unsafe(
        `INSERT INTO "${schema}".tasks (id, name, queue, args, status, priority, run_at,
          created_at, started_at, completed_at, attempts, max_attempts, backoff_base_millis,
          backoff_multiplier, backoff_max_millis, backoff_jitter)
        SELECT 'bench-' || g, 'noop', 'q' || (g % 10), '{}',
          CASE g % 100 WHEN 0 THEN 'PENDING' WHEN 1 THEN 'FAILED' ELSE 'COMPLETED' END,
          2, $3::bigint, $3::bigint,
          CASE WHEN g % 100 = 0 THEN NULL ELSE $3::bigint END,
          CASE WHEN g % 100 = 0 THEN NULL ELSE $3::bigint END,
          CASE WHEN g % 100 = 0 THEN 0 ELSE 1 END, 3, 1000, 2, 60000, true
        FROM generate_series($1::bigint, $2::bigint) g`,
        [from, to, now],
      );
    }
    await sql.unsafe(`VACUUM ANALYZE "${schema}".tasks`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** The PostgreSQL server: AETHER_BENCH_PG_URL, or a throwaway one. */
async function pgServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const given = process.env.AETHER_BENCH_PG_URL;
  if (given) return { url: given, stop: () => Promise.resolve() };
  const script = new URL("./pg_server.sh", import.meta.url).pathname;
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-stats-pg-"));
  const run = promisify(execFile);
  const { stdout } = await run("bash", [script, "start", dir]);
  return {
    url: stdout.trim(),
    stop: async () => {
      await run("bash", [script, "stop", dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface Result {
  store: string;
  rows: number;
  fillSeconds: number;
  emptyStats: Timing;
  stats: Timing;
  countPending: Timing;
  total: number;
}

const results: Result[] = [];
for (const kind of stores) {
  const dir = await mkdtemp(join(tmpdir(), "aether-bench-stats-"));
  const pg = kind === "postgres" ? await pgServer() : undefined;
  const schema = `bench_stats_${process.pid}`;
  const open = (name: string): Promise<TaskStore> =>
    pg
      ? PostgresTaskStore.open(pg.url, { schema: name })
      : SqliteTaskStore.open(join(dir, `${name}.db`));
  const store = await open(schema);
  const empty = await open(`${schema}_empty`);
  try {
    const start = performance.now();
    if (pg) await fillPostgres(pg.url, schema, rows);
    else await fillSqlite(store, rows);
    const fillSeconds = Number(((performance.now() - start) / 1000).toFixed(1));
    await store.stats(); // the first call may fold what the fill left
    const [stats, emptyStats] = await time(() => store.stats(), () => empty.stats());
    const [countPending] = await time(() => store.count({ status: "PENDING" }));
    const total = (await store.stats()).total;
    if (total !== rows) throw new Error(`stats() counted ${total} rows, expected ${rows}`);
    results.push({
      store: kind,
      rows,
      fillSeconds,
      emptyStats: emptyStats!,
      stats: stats!,
      countPending: countPending!,
      total,
    });
  } finally {
    await store.close();
    await empty.close();
    if (pg) {
      const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}_empty" CASCADE`);
      await sql.end({ timeout: 1 });
      await pg.stop();
    }
    await rm(dir, { recursive: true, force: true });
  }
}

const runtime = "Bun" in globalThis
  ? `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`
  : `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;
console.log(JSON.stringify({ runtime, results }, null, 2));
console.log(`\n${runtime}`);
console.log(
  "| store | rows | stats() median / p90 | the same, empty store | count(status) median |",
);
console.log("|---|---:|---:|---:|---:|");
for (const r of results) {
  console.log(
    `| ${r.store} | ${r.rows.toLocaleString("en-US")} | ${r.stats.median} / ${r.stats.p90} ms | ` +
      `${r.emptyStats.median} / ${r.emptyStats.p90} ms | ${r.countPending.median} ms |`,
  );
}
