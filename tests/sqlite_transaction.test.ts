import assert from "node:assert/strict";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { MIGRATIONS } from "../src/store/sqlite/schema.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { TaskWorker } from "../src/worker.ts";
import { makeTask, tempDir } from "./_helpers.ts";

describe("SqliteTaskStore transactions the application owns", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let store: SqliteTaskStore;
  let dispatcher: TaskDispatcher;
  let registry: TaskRegistry;

  beforeEach(async () => {
    dir = await tempDir("aether-tx-");
    store = await SqliteTaskStore.open(join(dir.path, "app.db"));
    registry = new TaskRegistry();
    registry.register("ship-order", ({ orderId }: { orderId: number }) => ({ shipped: orderId }));
    dispatcher = new TaskDispatcher(store, { registry });
    await store.transaction((tx) => {
      tx.run("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)");
    });
  });
  afterEach(async () => {
    await store.close();
    await dir.remove();
  });

  const orders = () =>
    store.transaction((tx) => tx.all<{ id: number }>("SELECT id FROM orders").map((r) => r.id));

  it("a committed transaction keeps the application's rows and the task, which then runs", async () => {
    const id = await store.transaction(async (tx) => {
      tx.run("INSERT INTO orders (id, total) VALUES (?, ?)", [1, 42]);
      return await dispatcher.enqueue("ship-order", { orderId: 1 }, { tx });
    });
    assert.deepEqual(await orders(), [1]);
    await using worker = new TaskWorker(store, { registry });
    worker.start();
    const done = await dispatcher.waitFor(id, { timeout: 10_000 });
    assert.equal(done.status, "COMPLETED");
    assert.deepEqual(done.result, { shipped: 1 });
  });

  it("a rolled-back transaction leaves neither the rows nor the task", async () => {
    let id: string | undefined;
    await assert.rejects(
      store.transaction(async (tx) => {
        tx.run("INSERT INTO orders (id, total) VALUES (?, ?)", [2, 7]);
        id = await dispatcher.enqueue("ship-order", { orderId: 2 }, { tx });
        throw new Error("payment declined");
      }),
      /payment declined/,
    );
    assert.ok(id);
    assert.equal(await store.get(id), null);
    assert.deepEqual(await orders(), []);
    assert.equal((await store.stats()).total, 0, "the counters rolled back too");
  });

  it("listeners hear of a task only once its transaction committed", async () => {
    const events: string[] = [];
    const unlisten = store.listen((event) => events.push(event.type));
    try {
      await store.transaction(async (tx) => {
        await dispatcher.enqueueMany([{ name: "ship-order", args: { orderId: 3 } }], { tx });
        assert.deepEqual(events, [], "nothing announced inside the transaction");
      });
      assert.deepEqual(events, ["inserted"]);
    } finally {
      unlisten();
    }
  });

  it("the store's other work waits while the transaction is open", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inside = store.transaction(async (tx) => {
      await dispatcher.enqueue("ship-order", { orderId: 4 }, { tx });
      await gate;
    });
    let claimed: number | undefined;
    const claiming = store.claim({
      workerId: "w",
      queues: ["default"],
      limit: 10,
      now: Date.now() + 1000,
      leaseMillis: 1000,
    }).then((tasks) => (claimed = tasks.length));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(claimed, undefined, "the claim waits for the transaction");
    release();
    await inside;
    assert.equal(await claiming, 1, "and then sees the committed task");
  });

  it("refuses a tx that is not this store's open transaction", async () => {
    let stale: unknown;
    await store.transaction((tx) => void (stale = tx));
    await assert.rejects(
      dispatcher.enqueue("ship-order", { orderId: 5 }, { tx: stale }),
      /tx must be the open transaction/,
    );
    await assert.rejects(
      dispatcher.enqueue("ship-order", { orderId: 5 }, { tx: { fake: true } }),
      TypeError,
    );
    assert.throws(() => (stale as { run: (sql: string) => void }).run("SELECT 1"), /has ended/);
    assert.equal((await store.stats()).total, 0);
  });
});

describe("SqliteTaskStore schema version 2", () => {
  it("migrating a version 1 file fills the counters from its rows", async () => {
    const dir = await tempDir("aether-v1-");
    const file = join(dir.path, "tasks.db");
    try {
      const driver = await openSqliteDriver(file);
      driver.exec(MIGRATIONS[0]!);
      driver.exec("PRAGMA user_version = 1");
      const tasks = [makeTask(), makeTask({ queue: "mail" }), makeTask({ status: "COMPLETED" })];
      for (const t of tasks) {
        driver.run(
          `INSERT INTO tasks (id, name, queue, args, status, priority, run_at, created_at,
            max_attempts, backoff_base_millis, backoff_multiplier, backoff_max_millis,
            backoff_jitter) VALUES (?, ?, ?, '{}', ?, 1, ?, ?, 3, 1000, 2, 60000, 1)`,
          [t.id, t.name, t.queue, t.status, t.runAt, t.createdAt],
        );
      }
      driver.close();
      const store = await SqliteTaskStore.open(file);
      const stats = await store.stats();
      assert.equal(stats.total, 3);
      assert.equal(stats.queues.default?.PENDING, 1);
      assert.equal(stats.queues.default?.COMPLETED, 1);
      assert.equal(stats.queues.mail?.PENDING, 1);
      await store.close();
    } finally {
      await dir.remove();
    }
  });
});
