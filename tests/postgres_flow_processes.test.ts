/**
 * Flow control across real processes sharing one PostgreSQL schema: unique keys, cron slots
 * and rate limits hold for every process together, not per process (the PostgreSQL twin of
 * `flow_processes.test.ts`). Needs `AETHER_TEST_PG_URL`.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { PostgresTaskStore } from "../src/store/postgres/store.ts";
import { tempDir } from "./_helpers.ts";
import { dropSchema, freshSchema, requirePgUrl } from "./_postgres.ts";

const url = requirePgUrl();
const isBun = "Bun" in globalThis;
const flowFixture = new URL("./fixtures/flow_process.ts", import.meta.url).pathname;
const workerFixture = new URL("./fixtures/worker_process.ts", import.meta.url).pathname;

/** A fixture process and the lines it printed. */
interface Child {
  child: ChildProcess;
  /** Resolves with the first `count` lines starting with `prefix`. */
  lines(prefix: string, count: number): Promise<string[]>;
  /** Calls `listener` with every line, those printed so far included. */
  onLine(listener: (line: string) => void): void;
}

function start(fixture: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, isBun ? [fixture] : ["run", "-A", fixture], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const seen: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    seen.push(line);
    for (const listener of [...listeners]) listener(line);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const onLine = (listener: (line: string) => void) => {
    for (const line of seen) listener(line);
    listeners.push(listener);
  };
  return {
    child,
    onLine,
    lines: (prefix, count) =>
      new Promise((resolve, reject) => {
        const matching: string[] = [];
        onLine((line) => {
          if (line.startsWith(prefix) && matching.push(line) === count) resolve(matching);
        });
        exited.then((code) => reject(new Error(`exited (${code}) before ${count} "${prefix}"`)));
      }),
  };
}

if (url !== undefined) {
  describe("flow control across processes on one PostgreSQL schema", () => {
    let schema: string;
    let target: string;
    let store: PostgresTaskStore;
    const children: ChildProcess[] = [];

    beforeEach(async () => {
      schema = freshSchema("flow");
      target = `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`;
      // Created (and migrated) once, so the processes race on the tasks, not on the schema.
      // The caller's clock: the cron test's schedule is created at its fake time.
      store = await PostgresTaskStore.open(target, { clock: "caller" });
    });
    afterEach(async () => {
      for (const child of children.splice(0)) {
        if (child.exitCode === null && !child.killed) child.kill("SIGKILL");
      }
      await store.close();
      await dropSchema(url, schema);
    });

    const run = (fixture: string, env: Record<string, string>) => {
      const c = start(fixture, { AETHER_DB: target, ...env });
      children.push(c.child);
      return c;
    };

    it("two processes enqueueing the same unique key 1,000 times each store one task", {
      timeout: 60_000,
    }, async () => {
      const env = { MODE: "unique", COUNT: "1000", START_AT: String(Date.now() + 2000) };
      const outputs = await Promise.all(
        [run(flowFixture, env), run(flowFixture, env)].map((c) => c.lines("inserted", 1)),
      );
      const inserted = outputs.map(([line]) => Number(line!.split(" ")[1]));
      assert.equal(inserted[0]! + inserted[1]!, 1);
      assert.equal(await store.count({}), 1);
      assert.equal((await store.stats()).total, 1);
    });

    it("three schedulers racing over the same 60 minutes fire each slot once", {
      timeout: 60_000,
    }, async () => {
      const from = Date.UTC(2026, 0, 1);
      const registry = new TaskRegistry();
      registry.register("work", () => {});
      const clock = { now: () => from };
      await new TaskDispatcher(store, { registry, clock }).schedule("minutely", {
        task: "work",
        cron: "* * * * *",
      });
      const env = {
        MODE: "cron",
        FROM: String(from),
        STEPS: "60",
        START_AT: String(Date.now() + 2000),
      };
      const outputs = await Promise.all(
        [run(flowFixture, env), run(flowFixture, env), run(flowFixture, env)].map((c) =>
          c.lines("fired", 1)
        ),
      );
      const fired = outputs.map(([line]) => Number(line!.split(" ")[1]));
      assert.equal(fired.reduce((a, b) => a + b, 0), 60);
      const tasks = (await store.list({ limit: 1000 })).tasks;
      assert.equal(tasks.length, 60);
      assert.equal(new Set(tasks.map((t) => t.scheduledFor)).size, 60);
      assert.deepEqual(
        (await store.listSlots("minutely", 100)).map((s) => s.slotAt).sort((a, b) => a - b),
        Array.from({ length: 60 }, (_, i) => from + (i + 1) * 60_000),
      );
    });

    it(
      "three workers with a 20/s rate limit never start more than 20 in any second and sustain >= 90% of it",
      { timeout: 60_000 },
      async () => {
        const count = 200; // 10 s of backlog at 20/s
        const dir = await tempDir("aether-pg-flow-");
        try {
          const registry = new TaskRegistry();
          registry.register("work", () => {});
          await new TaskDispatcher(store, { registry }).enqueueMany(
            Array.from({ length: count }, (_, i) => ({ name: "work", args: { i } })),
          );
          const env = {
            RUN_LOG: join(dir.path, "runs.log"),
            WORK_MS: "1",
            CONCURRENCY: "20",
            POLL_MS: "1000",
            RATE_LIMIT: "20/1s",
          };
          const workers = [0, 1, 2].map(() => run(workerFixture, env));
          let done = 0;
          await new Promise<void>((resolve) => {
            for (const w of workers) {
              w.onLine((line) => {
                if (line.startsWith("completed") && ++done === count) resolve();
              });
            }
          });
          for (const w of workers) w.child.kill("SIGTERM");
          await Promise.all(workers.map((w) => w.lines("stopped", 1)));
          // The store's start times (the database's clock): the limit holds over these.
          const starts = (await store.list({ limit: 1000, status: "COMPLETED" })).tasks
            .map((t) => t.startedAt!)
            .sort((a, b) => a - b);
          assert.equal(starts.length, count);
          let most = 0;
          for (let i = 0, j = 0; i < starts.length; i++) {
            while (starts[j]! <= starts[i]! - 1000) j++;
            most = Math.max(most, i - j + 1);
          }
          assert.ok(most <= 20, `at most 20 starts in any 1 s window, saw ${most}`);
          // 20 start at once, then 20 per second: the last batch starts 9 s after the first.
          const perSecond = (count - 20) / ((starts.at(-1)! - starts[0]!) / 1000);
          assert.ok(perSecond >= 18, `sustained ${perSecond.toFixed(1)}/s, wanted >= 18/s`);
        } finally {
          await dir.remove();
        }
      },
    );
  });
}
