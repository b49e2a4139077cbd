/**
 * The admin endpoint under load: `POST /api/tasks` over keep-alive connections from a bounded
 * local load generator (concurrent fetch loops in a Web Worker, so client and server each have a
 * thread, against a real server on 127.0.0.1), into a
 * SQLite store in a temporary folder (or the in-memory store). Reports requests per second and
 * latency percentiles as JSON, then a table. Target: >= 5,000 enqueues/s with p99 <= 10 ms.
 *
 *   node_modules/.bin/bun scripts/bench_http.ts [--requests 20000] [--concurrency 64] [--store memory] [--rate 5000]
 *   node_modules/.bin/deno run -A scripts/bench_http.ts [same options]
 *
 * Without `--rate` it runs twice: as fast as the connections go (closed loop: the throughput
 * limit, where latency is mostly queueing), then paced at 5,000 requests/s (open loop: the
 * latency at the target rate).
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { AdminServer } from "../src/admin/server.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import type { LoadRequest, LoadResult } from "./_http_load.ts";

/** Options of {@linkcode benchHttp}. */
export interface BenchHttpOptions {
  /** Measured requests. Default 20000. */
  requests?: number;
  /** Concurrent request loops (each keeps one request in flight). Default 64. */
  concurrency?: number;
  /** Default `"sqlite"`. */
  store?: "sqlite" | "memory";
  /** Requests sent first and not measured (JIT, connection set-up). Default 2000. */
  warmup?: number;
  /**
   * Requests per second to send at (open loop: latency counts from each request's planned
   * moment). Default 0: as fast as `concurrency` loops go (closed loop, the throughput limit).
   */
  rate?: number;
}

/** What {@linkcode benchHttp} measured. */
export interface BenchHttpResult {
  runtime: string;
  store: string;
  requests: number;
  concurrency: number;
  /** The open-loop rate asked for, or 0 for a closed loop. */
  rate: number;
  seconds: number;
  requestsPerSecond: number;
  p50Millis: number;
  p99Millis: number;
  maxMillis: number;
  /** Open loop: the 99th percentile of how late the client sent a request (client lag). */
  p99SendLagMillis: number;
  /** Responses other than 201, or failed fetches. */
  errors: number;
}

const TOKEN = "bench-token-0123456789abcdef";

const runtimeName = "Bun" in globalThis
  ? `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`
  : `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;

/**
 * Starts an admin server on 127.0.0.1 (a free port), sends `warmup` then `requests` enqueues
 * from `concurrency` loops, and stops everything.
 *
 * @example
 * ```ts
 * const result = await benchHttp({ requests: 5_000 });
 * console.log(result.requestsPerSecond, result.p99Millis);
 * ```
 */
export async function benchHttp(options: BenchHttpOptions = {}): Promise<BenchHttpResult> {
  const { requests = 20_000, concurrency = 64, store: kind = "sqlite", warmup = 2_000, rate = 0 } =
    options;
  for (const [name, value] of Object.entries({ requests, concurrency, warmup, rate })) {
    const least = name === "warmup" || name === "rate" ? 0 : 1;
    if (!Number.isInteger(value) || value < least) {
      throw new RangeError(`${name} must be an integer >= ${least}, got ${String(value)}`);
    }
  }
  const dir = kind === "sqlite" ? await mkdtemp(join(tmpdir(), "aether-bench-http-")) : null;
  const store: TaskStore = dir
    ? await SqliteTaskStore.open(join(dir, "tasks.db"))
    : new InMemoryTaskStore();
  await store.migrate();
  const registry = new TaskRegistry();
  registry.register("noop", () => null);
  const dispatcher = new TaskDispatcher(store, { registry });
  const server = new AdminServer({ store, dispatcher, token: TOKEN, port: 0 });
  await server.start();
  const load = new Worker(new URL("./_http_load.ts", import.meta.url).href, { type: "module" });
  try {
    const done = new Promise<LoadResult>((resolve, reject) => {
      load.onmessage = (event: MessageEvent<LoadResult>) => resolve(event.data);
      load.onerror = (event) => reject(new Error(`The load generator failed: ${event.message}`));
    });
    const request: LoadRequest = {
      url: `${server.url}/api/tasks`,
      token: TOKEN,
      warmup,
      requests,
      concurrency,
      rate,
    };
    load.postMessage(request);
    const { seconds, latencies, lateness, errors } = await done;
    const at = (sorted: Float64Array, q: number) =>
      round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return {
      runtime: runtimeName,
      store: kind,
      requests,
      concurrency,
      rate,
      seconds: round(seconds),
      requestsPerSecond: Math.round(requests / seconds),
      p50Millis: at(latencies, 0.5),
      p99Millis: at(latencies, 0.99),
      maxMillis: round(latencies[latencies.length - 1]!),
      p99SendLagMillis: at(lateness, 0.99),
      errors,
    };
  } finally {
    load.terminate();
    await server.stop();
    await store.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      requests: { type: "string" },
      concurrency: { type: "string" },
      store: { type: "string" },
      rate: { type: "string" },
    },
  });
  const store = values.store ?? "sqlite";
  if (store !== "sqlite" && store !== "memory") {
    throw new RangeError(`--store must be sqlite or memory, got ${store}`);
  }
  // By default: the throughput limit (closed loop), then the latency at the target rate.
  const rates = values.rate === undefined ? [0, 5_000] : [Number(values.rate)];
  const results: BenchHttpResult[] = [];
  for (const rate of rates) {
    results.push(
      await benchHttp({
        ...(values.requests ? { requests: Number(values.requests) } : {}),
        ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
        store,
        rate,
      }),
    );
  }
  console.log(JSON.stringify(results));
  const first = results[0]!;
  console.log(
    `\nHTTP enqueue: ${first.runtime}, ${first.store} store, ${first.concurrency} connections, ` +
      `${first.requests} requests (target: >= 5000 requests/s with p99 <= 10 ms)`,
  );
  console.log(
    "  load              requests/s   p50 ms   p99 ms   max ms   errors   p99 send lag ms",
  );
  for (const r of results) {
    const load = r.rate ? `${r.rate}/s (open)` : "max (closed)";
    console.log(
      `  ${load.padEnd(16)}  ${String(r.requestsPerSecond).padStart(10)}` +
        `  ${r.p50Millis.toFixed(2).padStart(7)}  ${r.p99Millis.toFixed(2).padStart(7)}` +
        `  ${r.maxMillis.toFixed(2).padStart(7)}  ${String(r.errors).padStart(7)}` +
        `   ${r.rate ? r.p99SendLagMillis.toFixed(2) : "-"}`,
    );
  }
}
