/**
 * Crash recovery: the lease rescuer drains every expired lease in one pass; the worker registry
 * brings back the tasks of a worker that is gone — at once when its process on this host died
 * (a real process killed with SIGKILL), after the heartbeat timeout when it went silent — and
 * outcomes of the lost attempts stay fenced. On the in-memory and SQLite stores.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, it } from "node:test";
import { WorkerHeartbeat } from "../src/heartbeat.ts";
import { currentProcessIdentity, type ProcessIdentity, provablyGone } from "../src/liveness.ts";
import { TaskRegistry } from "../src/registry.ts";
import { LeaseRescuer, RESCUE_BATCH } from "../src/rescuer.ts";
import { TaskSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore, WorkerInfo } from "../src/store/store.ts";
import { TaskWorker } from "../src/worker.ts";
import { FakeClock, makeTask, nextEvent, tempDir } from "./_helpers.ts";

const T0 = 1_700_000_000_000;

const BACKENDS: [string, () => Promise<{ store: TaskStore; cleanup?: () => Promise<void> }>][] = [
  ["memory", () => Promise.resolve({ store: new InMemoryTaskStore() })],
  ["sqlite", async () => {
    const dir = await tempDir("aether-recovery-");
    const store = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
    return { store, cleanup: dir.remove };
  }],
];

/** A registry row for a worker on another host. */
function remoteWorker(id: string, lastBeatAt: number): WorkerInfo {
  return {
    id,
    host: "another-host.example",
    pid: 4242,
    startedAt: lastBeatAt,
    lastBeatAt,
    queues: ["default"],
    concurrency: 4,
    meta: { process: { bootId: "other-boot", pidNamespace: "pid:[1]", startTicks: 7 } },
  };
}

for (const [backend, open] of BACKENDS) {
  describe(`crash recovery on ${backend}`, () => {
    let store: TaskStore;
    let cleanup: (() => Promise<void>) | undefined;
    let clock: FakeClock;
    let signals: TaskSignals;
    const stops: (() => Promise<void>)[] = [];

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
      clock = new FakeClock(T0);
      signals = new TaskSignals();
    });
    afterEach(async () => {
      for (const stop of stops.splice(0)) await stop();
      await store.close();
      await cleanup?.();
    });

    const claimAll = (workerId: string, count: number, leaseMillis = 30_000) =>
      store.claim({ workerId, queues: ["default"], limit: count, now: clock.now(), leaseMillis });

    /**
     * A heartbeat of this process, or of another process that cannot be proven gone (in another
     * PID namespace): only its silence counts.
     */
    const heartbeat = (workerId = "live", otherProcess = false) => {
      const h = new WorkerHeartbeat(store, {
        workerId,
        ...(otherProcess
          ? { identity: { ...currentProcessIdentity(), pid: 77, pidNamespace: "pid:[elsewhere]" } }
          : {}),
        queues: ["default"],
        concurrency: 4,
        signals,
        clock,
        random: () => 0.5,
      });
      stops.push(() => h.stop());
      return h;
    };

    it("one rescuer pass brings back all 400 expired leases, in bounded batches", async () => {
      await store.insert(Array.from({ length: 400 }, (_, i) => makeTask({ args: { i } })));
      assert.equal((await claimAll("crashed", 400, 1000)).length, 400);
      const batches: number[] = [];
      const find = store.findExpiredLeases.bind(store);
      store.findExpiredLeases = async (now, limit) => {
        const found = await find(now, limit);
        batches.push(found.length);
        return found;
      };
      const rescuer = new LeaseRescuer(store, {
        clock,
        random: () => 0.5,
        interval: 60_000,
        signals,
        onError: (e) => assert.fail(String(e)),
      });
      clock.advance(1001);
      assert.equal(await rescuer.runOnce(), 400);
      assert.deepEqual(batches, [RESCUE_BATCH, RESCUE_BATCH, RESCUE_BATCH, RESCUE_BATCH, 0]);
      assert.equal((await store.stats()).byStatus.RETRYING, 400);
      assert.equal(await rescuer.runOnce(), 0);
    });

    it("a worker registers at its first beat and leaves the registry on stop", async () => {
      const h = heartbeat("w1");
      assert.deepEqual(await h.runOnce(), []);
      const [row] = await store.listWorkers();
      const me = currentProcessIdentity();
      assert.equal(row?.id, "w1");
      assert.equal(row?.host, me.host);
      assert.equal(row?.pid, process.pid);
      assert.equal(row?.lastBeatAt, T0);
      assert.deepEqual((row?.meta as Record<string, unknown>).process, {
        bootId: me.bootId,
        pidNamespace: me.pidNamespace,
        startTicks: me.startTicks,
      });
      clock.advance(2000);
      await h.runOnce();
      assert.equal((await store.listWorkers())[0]?.lastBeatAt, T0 + 2000);
      await h.stop();
      await h.stop();
      assert.deepEqual(await store.listWorkers(), []);
    });

    it("a silent worker on another host has its tasks back after the heartbeat timeout, not before", async () => {
      const tasks = Array.from({ length: 3 }, () => makeTask());
      await store.insert([...tasks, makeTask()]);
      await store.registerWorker(remoteWorker("remote", T0));
      const held = await claimAll("remote", 3);
      const h = heartbeat();
      clock.advance(10_000);
      assert.deepEqual(await h.runOnce(), [], "silent for exactly the timeout: not yet gone");
      assert.equal((await store.stats()).byStatus.PROCESSING, 3);
      clock.advance(1);
      const retrying = nextEvent(signals.taskRetrying);
      const [gone] = await h.runOnce();
      assert.equal(gone?.worker.id, "remote");
      assert.equal(gone?.rescued, 3);
      assert.match(gone?.reason ?? "", /no heartbeat for 10s/);
      assert.equal((await retrying).error.name, "WorkerGone");
      for (const task of held) {
        const now = await store.get(task.id);
        assert.equal(now?.status, "RETRYING");
        assert.equal(now?.runAt, task.runAt, "due again at once, in its place in line");
        assert.equal(now?.attempts, 1, "the lost attempt counts");
        assert.match(now?.lastError?.message ?? "", /Worker remote is gone/);
      }
      assert.deepEqual((await store.listWorkers()).map((w) => w.id), ["live"]);
      // The silent worker wakes up and reports: its outcomes are rejected.
      const late = await store.finish(held.map((task) => ({
        kind: "completed" as const,
        id: task.id,
        token: task.attemptToken!,
        now: clock.now(),
        result: "late",
      })));
      assert.deepEqual(late, [null, null, null]);
      // Another worker runs them again.
      const again = await claimAll("live", 10);
      assert.equal(again.length, 4);
    });

    it("a worker that took another for gone registers again at its next beat", async () => {
      // Two processes of this host, both alive: `a` only went silent.
      const a = heartbeat("a", true);
      const b = heartbeat("b");
      await a.runOnce();
      await b.runOnce();
      clock.advance(10_001);
      const [gone] = await b.runOnce();
      assert.equal(gone?.worker.id, "a");
      assert.deepEqual((await store.listWorkers()).map((w) => w.id), ["b"]);
      await a.runOnce();
      assert.deepEqual((await store.listWorkers()).map((w) => w.id).sort(), ["a", "b"]);
    });

    it("a task on its last attempt whose worker is gone ends FAILED; a cancel requested ends CANCELLED", async () => {
      const last = makeTask({ maxAttempts: 1 });
      const cancelled = makeTask();
      await store.insert([last, cancelled]);
      await store.registerWorker(remoteWorker("remote", T0));
      await claimAll("remote", 2);
      await store.cancel(cancelled.id, clock.now());
      clock.advance(20_000);
      const [gone] = await heartbeat().runOnce();
      assert.equal(gone?.rescued, 2);
      assert.equal((await store.get(last.id))?.status, "FAILED");
      assert.equal((await store.get(cancelled.id))?.status, "CANCELLED");
    });

    it("a live worker of another process, beating, is never taken for gone", async () => {
      const a = heartbeat("a", true);
      const b = heartbeat("b");
      await store.insert([makeTask()]);
      await a.runOnce();
      await claimAll("a", 1);
      for (let i = 0; i < 5; i++) {
        clock.advance(2000);
        await a.runOnce();
        assert.deepEqual(await b.runOnce(), []);
      }
      assert.equal((await store.stats()).byStatus.PROCESSING, 1);
    });

    it("a worker of this same process is never taken for gone, even when its beats look old", async () => {
      const a = heartbeat("a");
      const b = heartbeat("b");
      await a.runOnce();
      clock.advance(60_000);
      assert.deepEqual(await b.runOnce(), []);
      assert.deepEqual((await store.listWorkers()).map((w) => w.id).sort(), ["a", "b"]);
    });

    it("a worker runs a gone worker's tasks at once, without waiting for its poll interval", async () => {
      const task = makeTask({ name: "work" });
      await store.insert([task]);
      await store.registerWorker(remoteWorker("remote", T0));
      await claimAll("remote", 1);
      clock.advance(20_000); // past the heartbeat timeout, not the lease
      const registry = new TaskRegistry();
      registry.register("work", () => "again");
      const worker = new TaskWorker(store, { registry, clock, pollInterval: 3_600_000 });
      stops.push(() => worker.stop({ graceMillis: 0 }));
      const completed = nextEvent(worker.signals.taskCompleted);
      worker.start();
      const { task: done } = await completed;
      assert.equal(done.id, task.id);
      assert.equal(done.attempts, 2);
    });

    it("a stopped worker resigns its leadership and leaves the registry", async () => {
      const registry = new TaskRegistry();
      const worker = new TaskWorker(store, { registry, clock, pollInterval: 60_000 });
      stops.push(() => worker.stop({ graceMillis: 0 }));
      const gained = nextEvent(worker.leader.gained);
      worker.start();
      await gained;
      await worker.heartbeat.runOnce();
      assert.deepEqual((await store.listWorkers()).map((w) => w.id), [worker.workerId]);
      const lead = {
        name: "maintenance",
        holder: "successor",
        now: clock.now(),
        ttlMillis: 10_000,
      };
      assert.equal((await store.lead(lead)).holder, worker.workerId);
      await worker.stop({ graceMillis: 0 });
      assert.equal(worker.leader.isLeader, false);
      assert.deepEqual(await store.listWorkers(), []);
      assert.equal((await store.lead(lead)).holder, "successor", "taken at once after the resign");
    });
  });
}

describe("WorkerHeartbeat options", () => {
  it("bad options are refused with their name and value", () => {
    const store = new InMemoryTaskStore();
    const base = { workerId: "w", queues: ["default"], concurrency: 4, signals: new TaskSignals() };
    assert.throws(
      () => new WorkerHeartbeat(store, { ...base, workerId: "" }),
      /workerId .*non-empty/,
    );
    assert.throws(() => new WorkerHeartbeat(store, { ...base, concurrency: 0 }), /concurrency .*0/);
    assert.throws(() => new WorkerHeartbeat(store, { ...base, interval: 0 }), /interval .*0/);
    assert.throws(
      () => new WorkerHeartbeat(store, { ...base, interval: 2000, timeout: 2000 }),
      /timeout must be longer than interval \(2000 ms\), got 2000/,
    );
  });
});

describe("provablyGone", () => {
  const self: ProcessIdentity = {
    host: "h",
    pid: 10,
    bootId: "boot",
    pidNamespace: "pid:[1]",
    startTicks: 500,
  };
  const other: ProcessIdentity = { ...self, pid: 20, startTicks: 100 };
  const stat = (pid: number, state: string, startTicks: number) =>
    `${pid} (a (strange) name) ${state} 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${startTicks} 0 0`;
  const table = (line: string | null, exists: boolean | null = false) => ({
    stat: () => line,
    exists: () => exists,
  });

  it("a PID that names no process is gone; one hidden from /proc that answers is not proven", () => {
    assert.match(provablyGone(other, self, table(null)) ?? "", /process 20 on h no longer exists/);
    assert.equal(provablyGone(other, self, table(null, true)), null);
    assert.equal(provablyGone(other, self, table(null, null)), null);
  });
  it("a PID reused by a process started at another time is gone; the same start time is alive", () => {
    assert.match(provablyGone(other, self, table(stat(20, "S", 999))) ?? "", /PID was reused/);
    assert.equal(provablyGone(other, self, table(stat(20, "S", 100))), null);
  });
  it("a zombie is gone", () => {
    assert.match(provablyGone(other, self, table(stat(20, "Z", 100))) ?? "", /has exited/);
  });
  it("another host, boot or PID namespace, or a registration without a start time proves nothing", () => {
    const dead = table(null);
    assert.equal(provablyGone({ ...other, host: "x" }, self, dead), null);
    assert.equal(provablyGone({ ...other, bootId: "other" }, self, dead), null);
    assert.equal(provablyGone({ ...other, bootId: null }, self, dead), null);
    assert.equal(provablyGone({ ...other, pidNamespace: "pid:[2]" }, self, dead), null);
    assert.equal(provablyGone({ ...other, startTicks: null }, self, dead), null);
  });
  it("this very process is alive", () => {
    const me = currentProcessIdentity();
    assert.equal(provablyGone(me, me), null);
    assert.ok(me.startTicks === null || me.startTicks > 0);
  });
});

describe("a worker process killed with SIGKILL", () => {
  it("has its tasks back at the next beat of a worker on the same host, without waiting", {
    timeout: 60_000,
  }, async () => {
    const dir = await tempDir("aether-killed-");
    const db = join(dir.path, "tasks.db");
    const store = await SqliteTaskStore.open(db);
    await store.migrate();
    await store.insert(Array.from({ length: 4 }, () => makeTask({ name: "work" })));
    const fixture = new URL("./fixtures/worker_process.ts", import.meta.url).pathname;
    const child = spawn(
      process.execPath,
      "Bun" in globalThis ? [fixture] : ["run", "-A", fixture],
      {
        env: {
          ...process.env,
          AETHER_DB: db,
          RUN_LOG: join(dir.path, "runs.log"),
          // Nothing but the registry can bring these tasks back during the test.
          LEASE_MS: "3600000",
          WORK_MS: "3600000",
          CONCURRENCY: "4",
        },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    try {
      const started: string[] = [];
      let ready = false;
      await new Promise<void>((resolve, reject) => {
        child.on("exit", () => reject(new Error("the worker exited early")));
        createInterface({ input: child.stdout! }).on("line", (line) => {
          if (line === "ready") ready = true;
          if (line.startsWith("started")) started.push(line.split(" ")[1]!);
          if (ready && started.length === 4) resolve();
        });
      });
      const [registered] = await store.listWorkers();
      assert.equal(registered?.pid, child.pid);
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGKILL");
      await exited;

      const signals = new TaskSignals();
      const h = new WorkerHeartbeat(store, {
        workerId: "replacement",
        queues: ["default"],
        concurrency: 4,
        signals,
      });
      const [gone] = await h.runOnce();
      await h.stop();
      assert.equal(gone?.worker.pid, child.pid);
      assert.match(
        gone?.reason ?? "",
        new RegExp(`process ${child.pid} .*(no longer exists|has exited)`),
      );
      assert.equal(gone?.rescued, 4);
      for (const id of started) {
        const task = await store.get(id);
        assert.equal(task?.status, "RETRYING");
        assert.ok(task!.runAt <= Date.now(), "due at once");
        assert.match(task?.lastError?.message ?? "", /is gone/);
      }
      assert.deepEqual(await store.listWorkers(), []);
    } finally {
      child.kill("SIGKILL");
      await store.close();
      await dir.remove();
    }
  });
});
