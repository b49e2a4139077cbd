/**
 * The PostgreSQL store: the shared conformance suite, then what only PostgreSQL has —
 * transactional enqueue, migrations raced by processes, the database clock, LISTEN/NOTIFY
 * across processes and reconnects, a server restart mid-drain, and connection errors.
 * Needs `AETHER_TEST_PG_URL` (scripts/test.sh starts a server); without it this file fails.
 */

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import process from "node:process";
import { afterEach, describe, it } from "node:test";
import { promisify } from "node:util";
import postgres from "postgres";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { SchemaVersionError, StoreConnectionError } from "../src/errors.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SCHEMA_VERSION } from "../src/store/postgres/schema.ts";
import { PostgresTaskStore } from "../src/store/postgres/store.ts";
import { maskPassword } from "../src/store/postgres/url.ts";
import type { StoreEvent } from "../src/store/store.ts";
import { TaskWorker } from "../src/worker.ts";
import { makeTask, nextEvent, tempDir } from "./_helpers.ts";
import { dropSchema, freshSchema, openPgStore, requirePgUrl } from "./_postgres.ts";
import { storeConformance } from "./store_conformance.ts";

const url = requirePgUrl();
const isBun = "Bun" in globalThis;
const run = promisify(execFile);
const serverScript = new URL("../scripts/pg_server.sh", import.meta.url).pathname;
const openFixture = new URL("./fixtures/pg_open.ts", import.meta.url).pathname;

/** Resolves with the first event the store's listeners hear that matches `predicate`. */
function nextStoreEvent(
  store: PostgresTaskStore,
  predicate: (event: StoreEvent) => boolean,
): Promise<StoreEvent> {
  return new Promise((resolve) => {
    const unlisten = store.listen((event) => {
      if (!predicate(event)) return;
      unlisten();
      resolve(event);
    });
  });
}

/** Runs `predicate` until it holds, re-checking after each short pause. */
async function until(predicate: () => Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((resolve) => setTimeout(resolve, 50));
}

if (url !== undefined) {
  // Contract v3 (unique keys, flow limits, schedules) is not implemented on PostgreSQL yet.
  storeConformance("postgres", () => openPgStore(url), { contractV3: false });

  describe("PostgresTaskStore", () => {
    const cleanups: (() => Promise<void>)[] = [];
    const open = async (options: Parameters<typeof openPgStore>[1] = {}) => {
      const opened = await openPgStore(url, options);
      cleanups.push(async () => {
        await opened.store.close();
        await opened.cleanup();
      });
      return opened;
    };
    /** A second store instance (another origin, as another process) on the same schema. */
    const openPeer = async (schema: string, options: Parameters<typeof openPgStore>[1] = {}) => {
      const store = await PostgresTaskStore.open(url, { clock: "caller", ...options, schema });
      cleanups.unshift(() => store.close());
      return store;
    };
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    it("an insert in a rolled-back transaction leaves no task; a committed one is claimable", async () => {
      const { store } = await open();
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      cleanups.push(() => sql.end({ timeout: 1 }));
      const lost = makeTask();
      await assert.rejects(
        sql.begin(async (tx) => {
          const [result] = await store.insert([lost], { tx });
          assert.deepEqual(result, { id: lost.id, inserted: true });
          throw new Error("the application rolls back");
        }),
        /rolls back/,
      );
      assert.equal(await store.get(lost.id), null);
      assert.equal((await store.stats()).total, 0, "the counters rolled back too");

      const kept = makeTask();
      const heard: StoreEvent[] = [];
      const unlisten = store.listen((event) => heard.push(event));
      await store.notifier.connected;
      const inserted = nextStoreEvent(store, (e) => e.type === "inserted");
      await sql.begin(async (tx) => {
        await store.insert([kept], { tx });
        assert.equal(await store.get(kept.id), null, "invisible before the commit");
      });
      assert.deepEqual(await inserted, { type: "inserted", queue: "default", runAt: kept.runAt });
      unlisten();
      const [claimed] = await store.claim({
        workerId: "w",
        queues: ["default"],
        limit: 1,
        now: kept.runAt,
        leaseMillis: 1000,
      });
      assert.equal(claimed?.id, kept.id);
    });

    it("enqueue in the application's transaction: rolled back, neither order nor task; committed, the task runs", async () => {
      const { store, schema } = await open({ clock: "database" });
      const sql = postgres(url, { max: 2, onnotice: () => {} });
      cleanups.push(() => sql.end({ timeout: 1 }));
      const orders = `"${schema}".app_orders`;
      await sql.unsafe(`CREATE TABLE ${orders} (id integer PRIMARY KEY)`);
      const registry = new TaskRegistry();
      registry.register("ship-order", ({ orderId }: { orderId: number }) => ({ shipped: orderId }));
      const dispatcher = new TaskDispatcher(store, { registry });
      let lostId: string | undefined;
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx.unsafe(`INSERT INTO ${orders} (id) VALUES (1)`);
          lostId = await dispatcher.enqueue("ship-order", { orderId: 1 }, { tx });
          throw new Error("payment declined");
        }),
        /payment declined/,
      );
      assert.equal(await dispatcher.getTask(lostId!), null);
      assert.equal((await sql.unsafe(`SELECT id FROM ${orders}`)).length, 0);

      const worker = new TaskWorker(store, { registry, pollInterval: 60_000 });
      worker.start();
      cleanups.unshift(() => worker.stop({ graceMillis: 0 }));
      const id = await sql.begin(async (tx) => {
        await tx.unsafe(`INSERT INTO ${orders} (id) VALUES (2)`);
        return await dispatcher.enqueue("ship-order", { orderId: 2 }, { tx });
      });
      // The worker hears of it through NOTIFY, sent at commit; it does not wait for a poll.
      const done = await dispatcher.waitFor(id, { timeout: 10_000 });
      assert.equal(done.status, "COMPLETED");
      assert.deepEqual(done.result, { shipped: 2 });
    });

    it("text with quotes, backslashes, braces and commas survives the array parameters", async () => {
      const { store } = await open();
      const odd = 'a "quoted" \\ back\\slash {brace}, comma, NULL, ü ✓';
      const task = makeTask({ name: odd, queue: odd, args: { odd, list: [odd, null] } });
      await store.insert([task]);
      assert.deepEqual(await store.get(task.id), task);
      const [claimed] = await store.claim({
        workerId: odd,
        queues: [odd],
        limit: 1,
        now: task.runAt,
        leaseMillis: 1000,
      });
      assert.equal(claimed?.id, task.id);
      const [done] = await store.finish([{
        kind: "completed",
        id: task.id,
        token: claimed!.attemptToken!,
        now: task.runAt,
        result: { odd },
      }]);
      assert.deepEqual(done?.result, { odd });
    });

    it("an insert with a tx that is not a postgres transaction is refused", async () => {
      const { store } = await open();
      await assert.rejects(store.insert([makeTask()], { tx: {} }), /tx must be a transaction/);
    });

    it("five processes opening an empty schema at once migrate it once, without error", {
      timeout: 30_000,
    }, async () => {
      const schema = freshSchema("race");
      cleanups.push(() => dropSchema(url, schema));
      const args = isBun ? [openFixture, url, schema] : ["run", "-A", openFixture, url, schema];
      const results = await Promise.all(
        Array.from(
          { length: 5 },
          () =>
            new Promise<{ code: number | null; output: string }>((resolve) => {
              const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
              let output = "";
              child.stdout!.on("data", (chunk) => (output += chunk));
              child.stderr!.on("data", (chunk) => (output += chunk));
              child.on("exit", (code) => resolve({ code, output }));
            }),
        ),
      );
      for (const { code, output } of results) assert.equal(code, 0, output);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql.unsafe(`SELECT version FROM "${schema}".migrations ORDER BY 1`);
        const versions = Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1);
        assert.deepEqual(rows.map((r) => r.version), versions);
      } finally {
        await sql.end({ timeout: 1 });
      }
    });

    it("a schema written by a newer version is refused with SchemaVersionError", async () => {
      const { store, schema } = await open();
      await store.migrate();
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`INSERT INTO "${schema}".migrations (version) VALUES ($1)`, [
          SCHEMA_VERSION + 1,
        ]);
      } finally {
        await sql.end({ timeout: 1 });
      }
      await assert.rejects(PostgresTaskStore.open(url, { schema }), (error: unknown) => {
        assert.ok(error instanceof SchemaVersionError);
        assert.equal(error.found, SCHEMA_VERSION + 1);
        return true;
      });
      await assert.rejects(store.migrate(), SchemaVersionError);
    });

    it("a worker whose clock runs 5 minutes fast neither steals a live lease nor runs a delayed task early", async () => {
      const { store } = await open({ clock: "database" });
      const realNow = Date.now();
      const delayed = makeTask({
        status: "SCHEDULED",
        createdAt: realNow,
        runAt: realNow + 60_000,
      });
      const running = makeTask({ createdAt: realNow, runAt: realNow });
      await store.insert([delayed, running]);
      const [held] = await store.claim({
        workerId: "honest",
        queues: ["default"],
        limit: 1,
        now: realNow,
        leaseMillis: 60_000,
      });
      assert.equal(held?.id, running.id);

      const fast = { now: () => Date.now() + 5 * 60_000 };
      const registry = new TaskRegistry();
      registry.register("test-task", () => "ran");
      const worker = new TaskWorker(store, { registry, clock: fast, pollInterval: 60_000 });
      assert.equal(await worker.rescueExpiredLeases(), 0, "the live lease is not rescued");
      // Nor is a worker on another host that beat just now taken for gone.
      await store.registerWorker({
        id: "honest",
        host: "another-host",
        pid: 4242,
        startedAt: realNow,
        lastBeatAt: realNow,
        queues: ["default"],
        concurrency: 1,
        meta: {},
      });
      assert.deepEqual(await worker.heartbeat.runOnce(), [], "no live worker is declared gone");
      assert.deepEqual(
        await store.claim({
          workerId: "fast",
          queues: ["default"],
          limit: 10,
          now: fast.now(),
          leaseMillis: 60_000,
        }),
        [],
        "the delayed task is not due by the database's clock",
      );
      assert.equal((await store.get(delayed.id))?.status, "SCHEDULED");
      const stillHeld = await store.get(running.id);
      assert.equal(stillHeld?.workerId, "honest");
      assert.equal(stillHeld?.attemptToken, held.attemptToken);
      // Renewal by the database clock keeps the claim's lease length.
      await store.renewLeases([{ id: held.id, token: held.attemptToken! }], fast.now() + 60_000);
      const renewed = (await store.get(running.id))!.leaseExpiresAt!;
      assert.ok(renewed < fast.now(), `lease end ${renewed} follows the database clock`);

      // A caller whose clock runs slow still gets what is due by the database's clock.
      const due = makeTask({ createdAt: realNow, runAt: realNow });
      await store.insert([due]);
      const claimed = await store.claim({
        workerId: "slow",
        queues: ["default"],
        limit: 10,
        now: realNow - 5 * 60_000,
        leaseMillis: 60_000,
      });
      assert.deepEqual(claimed.map((t) => t.id), [due.id]);
    });

    it("a cancel requested through another store instance reaches this one's listeners", async () => {
      const { store, schema } = await open();
      const peer = await openPeer(schema);
      const task = makeTask();
      await store.insert([task]);
      const [claimed] = await store.claim({
        workerId: "w",
        queues: ["default"],
        limit: 1,
        now: task.runAt,
        leaseMillis: 30_000,
      });
      const heard = nextStoreEvent(store, (e) => e.type === "cancelRequested");
      await store.notifier.connected;
      await peer.cancel(claimed!.id, task.runAt);
      assert.deepEqual(await heard, { type: "cancelRequested", id: task.id });
    });

    it("a cancel requested from another process aborts the running handler without waiting for a lease renewal", async () => {
      const { store, schema } = await open({ clock: "database" });
      const peer = await openPeer(schema, { clock: "database" });
      const registry = new TaskRegistry();
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      registry.register("wait-for-abort", (_args, ctx) =>
        new Promise((_resolve, reject) => {
          started();
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
        }));
      // Leases renew every 100 s here: only the NOTIFY can bring the cancel in time.
      const worker = new TaskWorker(store, {
        registry,
        leaseMillis: 300_000,
        pollInterval: 60_000,
      });
      worker.start();
      cleanups.unshift(() => worker.stop({ graceMillis: 0 }));
      const dispatcher = new TaskDispatcher(store, { registry });
      const id = await dispatcher.enqueue("wait-for-abort");
      await running;
      const cancelled = nextEvent(worker.signals.taskCancelled);
      await new TaskDispatcher(peer, { registry }).cancel(id);
      assert.equal((await cancelled).task.id, id);
      assert.equal((await dispatcher.getTask(id))?.status, "CANCELLED");
    });

    it("an insert through another store instance wakes this one's listeners once per queue", async () => {
      const { store, schema } = await open();
      const peer = await openPeer(schema);
      const events: StoreEvent[] = [];
      const unlisten = store.listen((event) => events.push(event));
      await store.notifier.connected;
      const heard = nextStoreEvent(store, (e) => e.type === "inserted" && e.queue === "mail");
      await peer.insert([
        makeTask({ runAt: 5 }),
        makeTask({ runAt: 3 }),
        makeTask({ runAt: 7, queue: "mail" }),
      ]);
      await heard;
      unlisten();
      assert.deepEqual(
        events.filter((e) => e.type === "inserted").sort((a, b) =>
          JSON.stringify(a) < JSON.stringify(b) ? -1 : 1
        ),
        [
          { type: "inserted", queue: "default", runAt: 3 },
          { type: "inserted", queue: "mail", runAt: 7 },
        ],
      );
    });

    it("after its connection is killed the notifier listens again and emits changed once", async () => {
      const { store, schema } = await open();
      const unlisten = store.listen(() => {});
      await store.notifier.connected;
      assert.ok(store.notifier.listening);
      const changed = nextStoreEvent(store, (e) => e.type === "changed");
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const killed = await sql.unsafe(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`,
          [`LISTEN "${schema}_events"`],
        );
        assert.equal(killed.length, 1);
      } finally {
        await sql.end({ timeout: 1 });
      }
      await changed;
      await store.notifier.connected;
      const peer = await openPeer(schema); // opened now: its own listener is not the one killed
      const inserted = nextStoreEvent(store, (e) => e.type === "inserted");
      await peer.insert([makeTask({ queue: "after-reconnect" })]);
      assert.equal((await inserted as { queue: string }).queue, "after-reconnect");
      unlisten();
    });

    it("stats come from counters that follow every kind of write", async () => {
      const { store, schema } = await open();
      const tasks = Array.from({ length: 300 }, (_, i) => makeTask({ queue: i % 3 ? "a" : "b" }));
      await store.insert(tasks);
      const claimed = await store.claim({
        workerId: "w",
        queues: ["a", "b"],
        limit: 50,
        now: tasks[0]!.runAt,
        leaseMillis: 1000,
      });
      await store.finish(
        claimed.slice(0, 20).map((t) => ({
          kind: "completed" as const,
          id: t.id,
          token: t.attemptToken!,
          now: t.runAt,
          result: null,
        })),
      );
      const stats = await store.stats();
      assert.equal(stats.total, 300);
      assert.equal(stats.byStatus.PROCESSING, 30);
      assert.equal(stats.byStatus.COMPLETED, 20);
      assert.equal(stats.byStatus.PENDING, 250);
      assert.equal((stats.queues.a?.PENDING ?? 0) + (stats.queues.b?.PENDING ?? 0), 250);
      assert.equal(await store.count({ status: "PENDING" }), 250);
      assert.equal(await store.count({ queue: "b" }), 100);
      assert.equal(await store.count({ name: "test-task", queue: "b" }), 100);

      // finishAndClaim updates the table twice in one statement: the counters follow both.
      await store.finishAndClaim(
        claimed.slice(20).map((t) => ({
          kind: "failed" as const,
          id: t.id,
          token: t.attemptToken!,
          now: t.runAt,
          error: { message: "x" },
        })),
        { workerId: "w", queues: ["a"], limit: 40, now: tasks[0]!.runAt, leaseMillis: 1000 },
      );
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const recount = await sql.unsafe<{ status: string; n: number }[]>(
          `SELECT status, count(*)::int AS n FROM "${schema}".tasks GROUP BY status`,
        );
        const after = await store.stats();
        for (const { status, n } of recount) {
          assert.equal(after.byStatus[status as keyof typeof after.byStatus], n, status);
        }
        assert.equal(after.byStatus.FAILED, 30);
        assert.equal(after.byStatus.PROCESSING, 40);
      } finally {
        await sql.end({ timeout: 1 });
      }
    });

    it("bad options are refused with their name and value", async () => {
      await assert.rejects(
        PostgresTaskStore.open(url, { clock: "wall" as never }),
        /clock .*"wall"/,
      );
      await assert.rejects(
        PostgresTaskStore.open(url, { schema: "Bad-Name" }),
        /schema .*Bad-Name/,
      );
      await assert.rejects(PostgresTaskStore.open(url, { maxConnections: 0 }), RangeError);
      await assert.rejects(
        PostgresTaskStore.open(url, { pool: 3 } as never),
        /pool is not a PostgreSQL store option/,
      );
    });
  });

  describe("PostgresTaskStore connection errors", () => {
    const oneLine = (error: unknown) => {
      assert.ok(error instanceof StoreConnectionError, String(error));
      assert.ok(!error.message.includes("\n"), error.message);
      assert.ok(!error.message.includes("s3cret"), error.message);
      return error.message;
    };
    const base = new URL(url);

    it("an unreachable host is a one-line error with the password masked", async () => {
      const target = `postgres://app:s3cret@127.0.0.1:1/app`;
      await assert.rejects(PostgresTaskStore.open(target), (error) => {
        assert.match(oneLine(error), /127\.0\.0\.1:1.*connection refused/);
        assert.match(oneLine(error), /app:\*\*\*@/);
        return true;
      });
    });

    it("a wrong password is a one-line error naming the refused login", async () => {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(
          `DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aether_password_test') THEN
              CREATE ROLE aether_password_test LOGIN PASSWORD 'right-secret';
            END IF;
          END $$`,
        );
      } finally {
        await sql.end({ timeout: 1 });
      }
      const target = `postgres://aether_password_test:s3cret@${base.host}/postgres`;
      await assert.rejects(PostgresTaskStore.open(target), (error) => {
        assert.match(oneLine(error), /login refused: password authentication failed/);
        return true;
      });
    });

    it("a database that does not exist is a one-line error naming it", async () => {
      const target = `postgres://postgres:s3cret@${base.host}/no_such_database`;
      await assert.rejects(PostgresTaskStore.open(target), (error) => {
        assert.match(oneLine(error), /database "no_such_database" does not exist/);
        return true;
      });
    });

    it("a URL that does not parse is a one-line error saying what was expected", async () => {
      for (const target of ["postgres://app:s3cret@host:port/db", "mysql://app:s3cret@h/db"]) {
        await assert.rejects(PostgresTaskStore.open(target), (error) => {
          assert.match(oneLine(error), /Invalid PostgreSQL URL .*expected postgres:\/\//);
          return true;
        });
      }
      assert.equal(maskPassword("postgres://u:p@ss@h/db"), "postgres://u:***@ss@h/db");
    });
  });

  describe("PostgresTaskStore across a server restart", () => {
    it("a worker draining tasks while PostgreSQL restarts completes every task", {
      timeout: 60_000,
    }, async () => {
      const dir = await tempDir("aether-pg-restart-");
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown) => void rejections.push(reason);
      process.on("unhandledRejection", onRejection);
      let store: PostgresTaskStore | undefined;
      let worker: TaskWorker | undefined;
      try {
        const { stdout } = await run("bash", [
          serverScript,
          "start",
          dir.path,
          "-c",
          "fsync=off",
        ]);
        const serverUrl = stdout.trim();
        store = await PostgresTaskStore.open(serverUrl, { connectTimeoutSeconds: 5 });
        const registry = new TaskRegistry();
        registry.register("step", () => null);
        const dispatcher = new TaskDispatcher(store, { registry });
        const total = 1500;
        for (let i = 0; i < total; i += 500) {
          await store.insert(
            Array.from({ length: 500 }, () => makeTask({ name: "step", createdAt: Date.now() })),
          );
        }
        assert.ok(dispatcher);
        let completed = 0;
        worker = new TaskWorker(store, {
          registry,
          concurrency: 8,
          pollInterval: 200,
          leaseMillis: 3000,
          rescueInterval: 500,
          onError: () => {}, // the worker retries; the test checks that every task completes
        });
        worker.signals.taskCompleted.connect(() => void completed++);
        worker.start();
        await until(() => Promise.resolve(completed >= 300));
        await run("bash", [serverScript, "restart", dir.path]);
        const s = store;
        await until(async () => {
          try {
            return (await s.stats()).byStatus.COMPLETED === total;
          } catch {
            return false; // still reconnecting
          }
        });
        const stats = await store.stats();
        assert.equal(stats.byStatus.COMPLETED, total);
        assert.equal(stats.total, total);
        assert.deepEqual(rejections, []);
      } finally {
        await worker?.stop({ graceMillis: 0 });
        await store?.close();
        process.off("unhandledRejection", onRejection);
        await run("bash", [serverScript, "stop", dir.path]).catch(() => {});
        await dir.remove();
      }
    });
  });
}
