/**
 * Flow control across real processes on one SQLite file: unique keys, cron slots, rate limits
 * and pause hold for every process together, not per process.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { tempDir } from "./_helpers.ts";

const isBun = "Bun" in globalThis;
const flowFixture = new URL("./fixtures/flow_process.ts", import.meta.url).pathname;
const workerFixture = new URL("./fixtures/worker_process.ts", import.meta.url).pathname;

interface Child {
  child: ChildProcess;
  /** Resolves with the first `count` lines starting with `prefix`. */
  lines(prefix: string, count: number): Promise<string[]>;
  exited: Promise<number | null>;
}

function start(fixture: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, isBun ? [fixture] : ["run", "-A", fixture], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const seen: string[] = [];
  const waiters: { prefix: string; count: number; resolve: (lines: string[]) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const matching = seen.filter((l) => l.startsWith(w.prefix));
      if (matching.length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(matching.slice(0, w.count));
      }
    }
  };
  createInterface({ input: child.stdout! }).on("line", (line) => {
    seen.push(line);
    check();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    exited,
    lines: (prefix, count) =>
      new Promise((resolve, reject) => {
        waiters.push({ prefix, count, resolve });
        exited.then((code) => reject(new Error(`exited (${code}) before ${count} "${prefix}"`)));
        check();
      }),
  };
}

describe("flow control across processes on one SQLite file", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let db: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await tempDir();
    db = join(dir.path, "tasks.db");
    // Created (and migrated) once, so the processes race on the tasks, not on the schema.
    await (await SqliteTaskStore.open(db)).close();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && !child.killed) child.kill("SIGKILL");
    }
    await dir.remove();
  });

  const run = (env: Record<string, string>) => {
    const c = start(flowFixture, { AETHER_DB: db, ...env });
    children.push(c.child);
    return c;
  };

  it("two processes enqueueing the same unique key 1,000 times each store one task", async () => {
    const env = { MODE: "unique", COUNT: "1000", START_AT: String(Date.now() + 1500) };
    const outputs = await Promise.all([run(env), run(env)].map((c) => c.lines("inserted", 1)));
    const inserted = outputs.map(([line]) => Number(line!.split(" ")[1]));
    assert.equal(inserted[0]! + inserted[1]!, 1);
    const store = await SqliteTaskStore.open(db);
    assert.equal(await store.count({}), 1);
    await store.close();
  });

  it("two schedulers racing over the same 60 minutes fire each slot once", async () => {
    const from = Date.UTC(2026, 0, 1);
    const store = await SqliteTaskStore.open(db);
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
      START_AT: String(Date.now() + 1500),
    };
    const outputs = await Promise.all(
      [run(env), run(env), run(env)].map((c) => c.lines("fired", 1)),
    );
    const fired = outputs.map(([line]) => Number(line!.split(" ")[1]));
    assert.equal(fired.reduce((a, b) => a + b, 0), 60);
    const tasks = (await store.list({ limit: 1000 })).tasks;
    const slots = new Set(tasks.map((t) => t.scheduledFor));
    assert.equal(tasks.length, 60);
    assert.equal(slots.size, 60);
    await store.close();
  });

  it(
    "three workers with a 20/s rate limit never start more than 20 in any second and sustain >= 90% of it",
    {
      timeout: 60_000,
    },
    async () => {
      const count = 200; // 10 s of backlog at 20/s
      const store = await SqliteTaskStore.open(db);
      const registry = new TaskRegistry();
      registry.register("work", () => {});
      await new TaskDispatcher(store, { registry }).enqueueMany(
        Array.from({ length: count }, (_, i) => ({ name: "work", args: { i } })),
      );
      const env = {
        AETHER_DB: db,
        RUN_LOG: join(dir.path, "runs.log"),
        WORK_MS: "1",
        CONCURRENCY: "20",
        POLL_MS: "1000",
        RATE_LIMIT: "20/1s",
      };
      const workers = [0, 1, 2].map(() => start(workerFixture, env));
      children.push(...workers.map((w) => w.child));
      let done = 0;
      await new Promise<void>((resolve) => {
        for (const w of workers) {
          createInterface({ input: w.child.stdout! }).on("line", (line) => {
            if (line.startsWith("completed") && ++done === count) resolve();
          });
        }
      });
      for (const w of workers) w.child.kill("SIGTERM");
      await Promise.all(workers.map((w) => w.lines("stopped", 1)));
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
      await store.close();
    },
  );

  it("a paused queue is not claimed by any process; resumed, they run its tasks", async () => {
    const store = await SqliteTaskStore.open(db);
    const registry = new TaskRegistry();
    registry.register("work", () => {});
    const dispatcher = new TaskDispatcher(store, { registry });
    await dispatcher.pauseQueue("default");
    const env = {
      AETHER_DB: db,
      RUN_LOG: join(dir.path, "runs.log"),
      WORK_MS: "1",
      QUEUES: "default,other",
      POLL_MS: "3600000",
    };
    const workers = [start(workerFixture, env), start(workerFixture, env)];
    children.push(...workers.map((w) => w.child));
    await Promise.all(workers.map((w) => w.lines("ready", 1)));
    const held = await dispatcher.enqueueMany(
      Array.from({ length: 5 }, () => ({ name: "work" })),
    );
    // A task of another queue, enqueued after: once it completed, both had their chance.
    const probe = await dispatcher.enqueue("work", {}, { queue: "other" });
    const done = new Promise<void>((resolve) => {
      for (const w of workers) {
        createInterface({ input: w.child.stdout! }).on("line", (line) => {
          if (line === `completed ${probe}`) resolve();
        });
      }
    });
    await done;
    for (const id of held) assert.equal((await store.get(id))?.status, "PENDING");
    let completed = 0;
    const all = new Promise<void>((resolve) => {
      for (const w of workers) {
        createInterface({ input: w.child.stdout! }).on("line", (line) => {
          if (line.startsWith("completed") && held.includes(line.split(" ")[1]!)) {
            if (++completed === held.length) resolve();
          }
        });
      }
    });
    await dispatcher.resumeQueue("default");
    await all;
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.lines("stopped", 1)));
    await store.close();
  });
});
