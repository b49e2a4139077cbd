/**
 * The WAL stays bounded: a reader that holds a read transaction open while tasks drain lets the
 * WAL grow, and once it ends the WAL keeper truncates it.
 */

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { DEFAULT_WAL_LIMIT_BYTES, WalKeeper } from "../src/store/sqlite/wal_keeper.ts";
import { tempDir } from "./_helpers.ts";

const walSize = (path: string): number => {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
};

/** Enqueues `count` tasks and drains them (claim, complete) in batches of 100. */
async function drain(store: SqliteTaskStore, count: number): Promise<void> {
  const registry = new TaskRegistry();
  registry.register("noop", () => {});
  const dispatcher = new TaskDispatcher(store, { registry });
  for (let done = 0; done < count; done += 1000) {
    await dispatcher.enqueueMany(
      Array.from({ length: 1000 }, (_, i) => ({ name: "noop", args: { n: done + i } })),
    );
  }
  for (let now = 1;; now++) {
    const tasks = await store.claim({
      workerId: "w",
      queues: ["default"],
      limit: 100,
      now: Date.now(),
      leaseMillis: 60_000,
    });
    if (tasks.length === 0) break;
    await store.finish(
      tasks.map((task) => ({
        id: task.id,
        token: task.attemptToken!,
        now: Date.now(),
        kind: "completed" as const,
        result: { ok: now },
      })),
    );
  }
}

describe("WAL bound", () => {
  it("a WAL grown under a long reader is truncated by the keeper once the reader ends", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "tasks.db");
    const store = await SqliteTaskStore.open(path);
    const reader = await openSqliteDriver(path, { readOnly: true });
    try {
      // A second connection holds a read transaction open for the whole drain.
      reader.exec("BEGIN");
      reader.get("SELECT count(*) AS n FROM tasks");
      await drain(store, 12_000);
      const grown = walSize(path);
      assert.ok(grown > DEFAULT_WAL_LIMIT_BYTES, `the WAL grew to ${grown} bytes`);
      const keeper = store.walKeeper!;
      assert.deepEqual(keeper.runOnce(), { walBytes: grown, action: "busy" });
      assert.equal(walSize(path), grown, "a blocked checkpoint leaves the WAL as it was");

      reader.exec("COMMIT");
      // Our own reads leave no read transaction open behind them.
      await store.stats();
      await store.list({ limit: 10 });
      assert.deepEqual(keeper.runOnce(), { walBytes: grown, action: "truncated" });
      assert.equal(walSize(path), 0);
      assert.equal((await store.stats()).byStatus.COMPLETED, 12_000);
      assert.deepEqual(keeper.runOnce(), { walBytes: 0, action: "under-limit" });
    } finally {
      reader.close();
      await store.close();
      await dir.remove();
    }
  });

  it("the keeper does not checkpoint inside the application's transaction", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "tasks.db");
    const store = await SqliteTaskStore.open(path);
    const driver = await openSqliteDriver(path);
    try {
      const keeper = new WalKeeper(driver, { limitBytes: 0 });
      await drain(store, 100);
      driver.exec("BEGIN IMMEDIATE");
      assert.equal(keeper.runOnce().action, "busy");
      driver.exec("ROLLBACK");
      driver.exec("PRAGMA busy_timeout = 1234");
      assert.equal(keeper.runOnce().action, "truncated");
      assert.equal(
        driver.get<{ timeout: number }>("PRAGMA busy_timeout")?.timeout,
        1234,
        "restored",
      );
    } finally {
      driver.close();
      await store.close();
      await dir.remove();
    }
  });

  it("the keeper checks on its own timers once started (injected here)", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "tasks.db");
    const driver = await openSqliteDriver(path);
    const pending: (() => void)[] = [];
    const timers = {
      setTimeout: (callback: () => void) => pending.push(callback),
      clearTimeout: () => {},
    };
    try {
      driver.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
      const keeper = new WalKeeper(driver, { limitBytes: 0, intervalMillis: 1000, timers });
      keeper.start();
      assert.ok(walSize(path) > 0);
      pending.shift()!();
      assert.equal(walSize(path), 0, "a timed check truncated the WAL");
      await keeper.stop();
    } finally {
      driver.close();
      await dir.remove();
    }
  });

  it("keeper options are validated", async () => {
    const driver = await openSqliteDriver(":memory:");
    try {
      assert.throws(
        () => new WalKeeper(driver, { limitBytes: -1 }),
        /limitBytes must be an integer >= 0, got -1/,
      );
      assert.throws(
        () => new WalKeeper(driver, { intervalMillis: 0 }),
        /intervalMillis must be an integer >= 1, got 0/,
      );
    } finally {
      driver.close();
    }
  });
});
