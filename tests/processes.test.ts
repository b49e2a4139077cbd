/**
 * Real processes on one SQLite file: a worker killed with SIGKILL mid-task loses nothing, and
 * two workers sharing a file run each task exactly once.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { tempDir } from "./_helpers.ts";

const fixture = new URL("./fixtures/worker_process.ts", import.meta.url).pathname;
const isBun = "Bun" in globalThis;

interface Worker {
  child: ChildProcess;
  /** Resolves when `count` lines starting with `prefix` have been printed. */
  lines(prefix: string, count: number): Promise<string[]>;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

function startWorker(env: Record<string, string>): Worker {
  const args = isBun ? [fixture] : ["run", "-A", fixture];
  const child = spawn(process.execPath, args, {
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
        w.resolve(matching);
      }
    }
  };
  createInterface({ input: child.stdout! }).on("line", (line) => {
    seen.push(line);
    check();
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal }))
  );
  return {
    child,
    exited,
    lines: (prefix, count) =>
      new Promise((resolve, reject) => {
        waiters.push({ prefix, count, resolve });
        exited.then(({ code, signal }) =>
          reject(new Error(`worker exited (${code ?? signal}) before ${count} "${prefix}" lines`))
        );
        check();
      }),
  };
}

/**
 * Exit code 0. Deno's node:child_process reports a child that handled SIGTERM and exited 0 as
 * killed by SIGTERM, so there the "stopped" line (printed right before exit(0)) is the evidence.
 */
function assertCleanExit(exit: { code: number | null; signal: string | null }): void {
  if (isBun) assert.equal(exit.code, 0);
  else assert.ok(exit.code === 0 || exit.signal === "SIGTERM", JSON.stringify(exit));
}

describe("worker processes on one SQLite file", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let db: string;
  let runLog: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await tempDir();
    db = join(dir.path, "tasks.db");
    runLog = join(dir.path, "runs.log");
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && !child.killed) child.kill("SIGKILL");
    }
    await dir.remove();
  });

  async function enqueue(count: number): Promise<string[]> {
    const registry = new TaskRegistry();
    registry.register("work", () => {});
    const store = await SqliteTaskStore.open(db);
    await store.migrate();
    const ids = await new TaskDispatcher(store, { registry }).enqueueMany(
      Array.from({ length: count }, (_, i) => ({ name: "work", args: { i } })),
    );
    await store.close();
    return ids;
  }

  function runs(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const line of readFileSync(runLog, "utf8").trim().split("\n")) {
      const id = line.split(" ")[0]!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  it("a worker killed with SIGKILL mid-task loses nothing; its attempts are counted", async () => {
    const ids = await enqueue(40);
    const env = {
      AETHER_DB: db,
      RUN_LOG: runLog,
      LEASE_MS: "1000",
      WORK_MS: "200",
      CONCURRENCY: "4",
    };
    const first = startWorker(env);
    children.push(first.child);
    const started = await first.lines("started", 4);
    first.child.kill("SIGKILL");
    assert.equal((await first.exited).signal, "SIGKILL");
    const killedIds = started.map((l) => l.split(" ")[1]!);

    const second = startWorker({ ...env, WORK_MS: "1" });
    children.push(second.child);
    const store = await SqliteTaskStore.open(db);
    const doneBefore = (await store.stats()).byStatus.COMPLETED;
    await second.lines("completed", ids.length - doneBefore);
    second.child.kill("SIGTERM");
    await second.lines("stopped", 1);
    assertCleanExit(await second.exited);

    const stats = await store.stats();
    assert.equal(stats.byStatus.COMPLETED, ids.length, "every task completed");
    assert.equal(stats.total, ids.length);
    for (const id of killedIds) {
      const task = await store.get(id);
      assert.equal(task?.attempts, 2, "the killed attempt counts");
      // The registry finds the dead process at once; the lease would have found it later.
      assert.match(
        task?.lastError?.message ?? "",
        /is gone \(process \d+ .*no longer exists|Lease expired/,
      );
    }
    await store.close();
  });

  it("a task enqueued by another process starts long before the poll interval", async () => {
    await enqueue(0);
    const worker = startWorker({
      AETHER_DB: db,
      RUN_LOG: runLog,
      POLL_MS: "3600000",
      WORK_MS: "1",
    });
    children.push(worker.child);
    await worker.lines("ready", 1);
    const [id] = await enqueue(1);
    const [line] = await worker.lines("completed", 1);
    assert.equal(line, `completed ${id}`);
    worker.child.kill("SIGTERM");
    await worker.lines("stopped", 1);
  });

  it("two workers on one file run each of N tasks exactly once", async () => {
    const ids = await enqueue(600);
    const env = {
      AETHER_DB: db,
      RUN_LOG: runLog,
      LEASE_MS: "30000",
      WORK_MS: "5",
      CONCURRENCY: "4",
    };
    const a = startWorker(env);
    const b = startWorker(env);
    children.push(a.child, b.child);
    const store = await SqliteTaskStore.open(db);
    // Each worker reports its own completions; together they must reach N.
    let total = 0;
    await new Promise<void>((resolve) => {
      for (const w of [a, b]) {
        createInterface({ input: w.child.stdout! }).on("line", (line) => {
          if (line.startsWith("completed") && ++total === ids.length) resolve();
        });
      }
    });
    a.child.kill("SIGTERM");
    b.child.kill("SIGTERM");
    await Promise.all([a.lines("stopped", 1), b.lines("stopped", 1)]);
    assertCleanExit(await a.exited);
    assertCleanExit(await b.exited);
    const counts = runs();
    assert.equal(counts.size, ids.length);
    assert.ok([...counts.values()].every((n) => n === 1), "no task ran twice");
    const stats = await store.stats();
    assert.equal(stats.byStatus.COMPLETED, ids.length);
    const byPid = new Set(
      readFileSync(runLog, "utf8").trim().split("\n").map((l) => l.split(" ")[2]),
    );
    assert.equal(byPid.size, 2, "both workers took part");
    await store.close();
  });
});
