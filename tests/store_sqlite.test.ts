import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import process from "node:process";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { SchemaVersionError } from "../src/errors.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { SCHEMA_VERSION } from "../src/store/sqlite/schema.ts";
import { type SqliteStoreOptions, SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { StoreEvent } from "../src/store/store.ts";
import { makeTask, tempDir } from "./_helpers.ts";

/** Arguments that run `script` as a module with the current runtime. */
function runArgs(script: string): string[] {
  return "Bun" in globalThis ? ["-e", script] : ["eval", "--ext=ts", script];
}

/** Rows in the listeners table, read over a connection of its own. */
async function listenerCount(file: string): Promise<number> {
  const driver = await openSqliteDriver(file);
  try {
    return driver.get<{ n: number }>("SELECT count(*) AS n FROM listeners")?.n ?? 0;
  } finally {
    driver.close();
  }
}

/** Resolves once `check` holds, checking after each macrotask. */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 1));
}
import { storeConformance } from "./store_conformance.ts";

storeConformance("sqlite", async () => {
  const dir = await tempDir("aether-sqlite-");
  const store = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
  return { store, cleanup: dir.remove };
});

const T0 = 1_700_000_000_000;

describe("SqliteTaskStore", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  const opened: SqliteTaskStore[] = [];
  /** Opens a store on `file`; options are untyped so tests can pass bad ones. */
  const open = async (options: Record<string, unknown> = {}) => {
    const store = await SqliteTaskStore.open(file, options as SqliteStoreOptions);
    opened.push(store);
    return store;
  };
  /** The database's `PRAGMA user_version`, read over a connection of its own. */
  const userVersion = async (value?: number) => {
    const driver = await openSqliteDriver(file);
    try {
      if (value !== undefined) driver.exec(`PRAGMA user_version = ${value}`);
      return driver.get<{ user_version: number }>("PRAGMA user_version")?.user_version;
    } finally {
      driver.close();
    }
  };

  beforeEach(async () => {
    dir = await tempDir("aether-sqlite-");
    file = join(dir.path, "tasks.db");
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await dir.remove();
  });

  it("migrate is idempotent and leaves the data alone", async () => {
    const store = await open();
    const task = makeTask();
    await store.insert([task]);
    await store.migrate();
    await store.migrate();
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.equal(await userVersion(), SCHEMA_VERSION);
    assert.deepEqual(await store.get(task.id), task);
  });

  it("a database with a newer schema version is refused with SchemaVersionError", async () => {
    await (await open()).close();
    await userVersion(SCHEMA_VERSION + 1);
    await assert.rejects(open(), (error: unknown) => {
      assert.ok(error instanceof SchemaVersionError);
      assert.equal(error.found, SCHEMA_VERSION + 1);
      assert.equal(error.known, SCHEMA_VERSION);
      return true;
    });
  });

  it("data survives close and reopen", async () => {
    const first = await open();
    const waiting = makeTask({ args: { keep: ["me", 1, null] } });
    const done = makeTask();
    await first.insert([waiting, done]);
    const [claimed] = await first.claim({
      workerId: "w",
      queues: ["default"],
      limit: 1,
      now: T0,
      leaseMillis: 1000,
    });
    assert.ok(claimed);
    assert.equal(claimed.id, waiting.id);
    const [completed] = await first.finish([
      { kind: "completed", id: claimed.id, token: claimed.attemptToken!, now: T0, result: "ok" },
    ]);
    await first.close();
    await first.close();
    const second = await open();
    assert.deepEqual(await second.get(waiting.id), completed);
    assert.deepEqual(await second.get(done.id), done);
    assert.equal((await second.stats()).total, 2);
  });

  it("two stores on one file claiming at the same time never claim a task twice", async () => {
    const a = await open();
    const b = await open();
    const tasks = Array.from({ length: 500 }, () => makeTask());
    await a.insert(tasks);
    const claims = new Map<string, number>();
    const claimFrom = async (store: SqliteTaskStore, workerId: string) => {
      const claimed = await store.claim({
        workerId,
        queues: ["default"],
        limit: 7,
        now: T0,
        leaseMillis: 30_000,
      });
      for (const task of claimed) claims.set(task.id, (claims.get(task.id) ?? 0) + 1);
      return claimed.length;
    };
    for (;;) {
      const [fromA, fromB] = await Promise.all([claimFrom(a, "a"), claimFrom(b, "b")]);
      if (fromA === 0 && fromB === 0) break;
    }
    assert.equal(claims.size, tasks.length);
    assert.deepEqual([...new Set(claims.values())], [1]);
  });

  it("a write that finds the database locked waits and succeeds instead of failing", async () => {
    const store = await open({ busyTimeoutMillis: 0 });
    const holder = await openSqliteDriver(file);
    try {
      holder.exec("BEGIN IMMEDIATE");
      const task = makeTask();
      const inserting = store.insert([task]);
      setTimeout(() => holder.exec("COMMIT"), 30);
      await inserting;
      assert.deepEqual(await store.get(task.id), task);
    } finally {
      holder.close();
    }
  });

  it("a bulk insert of an uneven count keeps every task in order", async () => {
    const store = await open();
    const tasks = Array.from({ length: 77 }, (_, i) => makeTask({ args: { i } }));
    await store.insert(tasks);
    const page = await store.list({ limit: 100 });
    assert.deepEqual(page.tasks, [...tasks].reverse());
  });

  it("a cursor that no page returned, or a negative limit, is refused", async () => {
    const store = await open();
    await assert.rejects(store.list({ limit: 5, cursor: "abc" }), RangeError);
    await assert.rejects(store.list({ limit: -1 }), RangeError);
  });

  it("bad options are refused with their name and value", async () => {
    await assert.rejects(open({ durability: "fast" }), /durability .*"fast"/);
    await assert.rejects(open({ busyTimeoutMillis: -1 }), RangeError);
    await assert.rejects(open({ busyTimeoutMillis: "5" }), /busyTimeoutMillis .*5/);
    await assert.rejects(open({ busyTimout: 5 }), /busyTimout is not a SQLite store option/);
    await (await open({ durability: "full", busyTimeoutMillis: 100 })).close();
  });

  it("a file that cannot be opened fails with an error naming the path", async () => {
    const missing = join(dir.path, "no-such-folder", "tasks.db");
    await assert.rejects(SqliteTaskStore.open(missing), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.ok(error.message.includes(missing), error.message);
      return true;
    });
  });

  it("a file that is not a database fails with an error naming the path", async () => {
    await writeFile(file, "not a database, just text ".repeat(200));
    await assert.rejects(open(), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.ok(error.message.includes(file), error.message);
      return true;
    });
  });

  it("a closed store refuses further calls", async () => {
    const store = await open();
    await store.close();
    await assert.rejects(store.get("x"), /closed/);
    await assert.rejects(store.insert([makeTask()]), /closed/);
  });
});

describe("SqliteTaskStore change watch", () => {
  it("a task inserted by another process arrives as an inserted event, without polling", async () => {
    const dir = await tempDir("aether-wake-");
    const file = join(dir.path, "tasks.db");
    const watcher = await SqliteTaskStore.open(file, { watchIntervalMillis: 0 });
    try {
      const inserted = new Promise<StoreEvent>((resolve) => {
        const unlisten = watcher.listen((event) => {
          if (event.type !== "inserted") return;
          unlisten();
          resolve(event);
        });
      });
      // The listener's port is recorded once the listen above has bound it.
      await until(async () => (await listenerCount(file)) === 1);
      const script = [
        `import { SqliteTaskStore } from ${
          JSON.stringify(new URL("../src/store/sqlite/store.ts", import.meta.url).href)
        };`,
        `import { makeTask } from ${
          JSON.stringify(new URL("./_helpers.ts", import.meta.url).href)
        };`,
        `const store = await SqliteTaskStore.open(${JSON.stringify(file)});`,
        `await store.insert([makeTask({ queue: "from-elsewhere" })]);`,
        `await new Promise((resolve) => setTimeout(resolve, 50));`,
        `await store.close();`,
      ].join("\n");
      const child = spawn(process.execPath, runArgs(script), { stdio: "inherit" });
      const event = await inserted;
      assert.deepEqual(event, {
        type: "inserted",
        queue: "from-elsewhere",
        runAt: 1_700_000_000_000,
      });
      await new Promise((resolve) => child.on("exit", resolve));
    } finally {
      await watcher.close();
      await dir.remove();
    }
    assert.equal(await listenerCount(file).catch(() => 0), 0, "the row left with its store");
  });

  it("a commit by another connection wakes listeners with a changed event", async () => {
    const dir = await tempDir("aether-watch-");
    const file = join(dir.path, "tasks.db");
    const watcher = await SqliteTaskStore.open(file, { watchIntervalMillis: 1 });
    const writer = await SqliteTaskStore.open(file);
    try {
      const ownEvents: string[] = [];
      const changed = new Promise<void>((resolve) => {
        const unlisten = watcher.listen((event) => {
          ownEvents.push(event.type);
          if (event.type === "changed") {
            unlisten();
            resolve();
          }
        });
      });
      await writer.insert([makeTask()]);
      await changed;
      assert.ok(ownEvents.includes("changed"), ownEvents.join());
    } finally {
      await watcher.close();
      await writer.close();
      await dir.remove();
    }
  });
});
