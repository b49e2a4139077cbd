/**
 * The SQLite store never writes to a file that is not ours, opens read-only without writing,
 * and gives up on a lock after the lock timeout, naming who holds it.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  DatabaseLockedError,
  ForeignDatabaseError,
  MigrationNeededError,
  ReadOnlyDatabaseError,
} from "../src/errors.ts";
import type { SqliteDriver } from "../src/store/sqlite/driver.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { AETHER_TASKS_APPLICATION_ID } from "../src/store/sqlite/ownership.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../src/store/sqlite/schema.ts";
import { type SqliteStoreOptions, SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { makeTask, tempDir } from "./_helpers.ts";

/** The file's hash and the names of the files beside it: what "unchanged" means. */
async function snapshot(file: string): Promise<{ hash: string; files: string[] }> {
  const hash = createHash("sha256").update(await readFile(file)).digest("hex");
  const dir = join(file, "..");
  return { hash, files: (await readdir(dir)).sort() };
}

/** Runs `setup` on a raw connection to `file` (no ownership checks) and closes it. */
async function withRaw(file: string, setup: (driver: SqliteDriver) => void): Promise<void> {
  const driver = await openSqliteDriver(file);
  try {
    setup(driver);
  } finally {
    driver.close();
  }
}

/** A database of ours as aether-tasks built it before the mark: migration 1, application_id 0. */
function buildUnmarked(driver: SqliteDriver): void {
  driver.exec("PRAGMA journal_mode = WAL");
  driver.exec(MIGRATIONS[0]!);
  driver.exec("PRAGMA user_version = 1");
}

function pragma(driver: SqliteDriver, name: string): unknown {
  return Object.values(driver.get<Record<string, unknown>>(`PRAGMA ${name}`) ?? {})[0];
}

describe("SQLite store: files that are not ours", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  beforeEach(async () => {
    dir = await tempDir("aether-safety-");
    file = join(dir.path, "app.db");
  });
  afterEach(() => dir.remove());

  const foreign: { what: string; build: () => Promise<void> }[] = [
    {
      what: "another application's tables",
      build: () => withRaw(file, (db) => db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)")),
    },
    {
      what: "a tasks table of its own",
      build: () => withRaw(file, (db) => db.exec("CREATE TABLE tasks (id TEXT, done INTEGER)")),
    },
    {
      what: "another application's application_id",
      build: () => withRaw(file, (db) => db.exec("PRAGMA application_id = 1234")),
    },
    {
      what: "a WAL database of another application, at rest",
      build: () =>
        withRaw(file, (db) => {
          db.exec("PRAGMA journal_mode = WAL");
          db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)");
        }),
    },
    {
      what: "our schema with a table of another application beside it",
      build: () =>
        withRaw(file, (db) => {
          buildUnmarked(db);
          db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)");
        }),
    },
    {
      what: "our schema with a user_version that is not ours",
      build: () =>
        withRaw(file, (db) => {
          buildUnmarked(db);
          db.exec("PRAGMA user_version = 0");
        }),
    },
    {
      what: "a text file",
      build: () => writeFile(file, "certainly not SQLite\n".repeat(20)),
    },
  ];

  for (const { what, build } of foreign) {
    for (const readOnly of [false, true]) {
      it(`a file with ${what} is refused${readOnly ? " read-only" : ""} and left unchanged`, async () => {
        await build();
        const before = await snapshot(file);
        await assert.rejects(SqliteTaskStore.open(file, { readOnly }), (error: unknown) => {
          assert.ok(error instanceof ForeignDatabaseError, String(error));
          assert.ok(error.message.includes(file), error.message);
          assert.match(error.message, /not an aether-tasks database/);
          return true;
        });
        assert.deepEqual(await snapshot(file), before);
      });
    }
  }

  it("the message names another application's id and the tables it found", async () => {
    await withRaw(file, (db) => db.exec("PRAGMA application_id = 1234"));
    await assert.rejects(SqliteTaskStore.open(file), /application_id is 0x000004d2/);
    const other = join(dir.path, "other.db");
    await withRaw(other, (db) => db.exec("CREATE TABLE users (id INTEGER); CREATE TABLE t (x)"));
    await assert.rejects(SqliteTaskStore.open(other), /other tables \(t, users\)/);
  });
});

describe("SQLite store: files that are ours", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  beforeEach(async () => {
    dir = await tempDir("aether-safety-");
    file = join(dir.path, "tasks.db");
  });
  afterEach(() => dir.remove());

  it("a new database carries the aether-tasks application_id in its header", async () => {
    await (await SqliteTaskStore.open(file)).close();
    const header = await readFile(file);
    assert.equal(header.readInt32BE(68), AETHER_TASKS_APPLICATION_ID);
    assert.equal(AETHER_TASKS_APPLICATION_ID, 0x41455448);
  });

  it("an empty file becomes ours", async () => {
    await writeFile(file, "");
    await (await SqliteTaskStore.open(file)).close();
    await withRaw(file, (db) => {
      assert.equal(pragma(db, "application_id"), AETHER_TASKS_APPLICATION_ID);
      assert.equal(pragma(db, "user_version"), SCHEMA_VERSION);
    });
  });

  it("a database of ours from before the mark opens, keeps its tasks and is marked once", async () => {
    const task = makeTask();
    const old = await SqliteTaskStore.open(file);
    await old.insert([task]);
    await old.close();
    await withRaw(file, (db) => db.exec("PRAGMA application_id = 0"));
    await (await SqliteTaskStore.open(file)).close();
    await withRaw(file, (db) => {
      assert.equal(pragma(db, "application_id"), AETHER_TASKS_APPLICATION_ID);
      assert.equal(pragma(db, "user_version"), SCHEMA_VERSION);
    });
    const again = await SqliteTaskStore.open(file, { readOnly: true });
    assert.deepEqual(await again.get(task.id), task);
    await again.close();
  });

  it("a database of ours from before the mark opens read-only and stays unmarked", async () => {
    await withRaw(file, buildUnmarked);
    if (SCHEMA_VERSION === 1) {
      const store = await SqliteTaskStore.open(file, { readOnly: true });
      assert.equal((await store.stats()).total, 0);
      await store.close();
    } else {
      await assert.rejects(SqliteTaskStore.open(file, { readOnly: true }), MigrationNeededError);
    }
    await withRaw(file, (db) => assert.equal(pragma(db, "application_id"), 0));
  });
});

describe("SQLite store: read-only", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  const opened: SqliteTaskStore[] = [];
  const open = async (options: SqliteStoreOptions) => {
    const store = await SqliteTaskStore.open(file, options);
    opened.push(store);
    return store;
  };
  beforeEach(async () => {
    dir = await tempDir("aether-safety-");
    file = join(dir.path, "tasks.db");
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await dir.remove();
  });

  it("reads tasks and refuses writes and migrate with ReadOnlyDatabaseError", async () => {
    const task = makeTask();
    const writer = await open({});
    await writer.insert([task]);
    const reader = await open({ readOnly: true });
    assert.deepEqual(await reader.get(task.id), task);
    await assert.rejects(reader.insert([makeTask()]), (error: unknown) => {
      assert.ok(error instanceof ReadOnlyDatabaseError, String(error));
      assert.match(error.message, /cannot be written: it was opened read-only/);
      return true;
    });
    await assert.rejects(reader.migrate(), ReadOnlyDatabaseError);
    assert.deepEqual(await reader.get(task.id), task);
  });

  it("does not change the journal mode", async () => {
    await (await open({})).close();
    await withRaw(file, (db) => db.exec("PRAGMA journal_mode = DELETE"));
    const before = await snapshot(file);
    await (await open({ readOnly: true })).close();
    assert.deepEqual(await snapshot(file), before);
    await withRaw(file, (db) => assert.equal(pragma(db, "journal_mode"), "delete"));
  });

  it("does not migrate: an older schema asks for migrate, an empty file says it is empty", async () => {
    await withRaw(file, (db) => {
      for (const step of MIGRATIONS.slice(0, SCHEMA_VERSION - 1)) db.exec(step);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION - 1}`);
      db.exec(`PRAGMA application_id = ${AETHER_TASKS_APPLICATION_ID}`);
    });
    const before = await snapshot(file);
    await assert.rejects(open({ readOnly: true }), (error: unknown) => {
      assert.ok(error instanceof MigrationNeededError, String(error));
      assert.match(error.message, /migrate/);
      return true;
    });
    assert.deepEqual(await snapshot(file), before);
    const empty = join(dir.path, "empty.db");
    await writeFile(empty, "");
    await assert.rejects(SqliteTaskStore.open(empty, { readOnly: true }), /is empty/);
    assert.equal((await readFile(empty)).length, 0);
  });

  it("a missing file is not created", async () => {
    await assert.rejects(open({ readOnly: true }), (error: unknown) => {
      assert.ok(error instanceof Error && error.message.includes(file));
      return true;
    });
    await assert.rejects(readFile(file), /ENOENT/);
  });
});

describe("SQLite store: lock timeout", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  let holder: SqliteDriver | undefined;
  beforeEach(async () => {
    dir = await tempDir("aether-safety-");
    file = join(dir.path, "tasks.db");
    await (await SqliteTaskStore.open(file)).close();
  });
  afterEach(async () => {
    holder?.close();
    holder = undefined;
    await dir.remove();
  });

  /** Another connection that keeps every other one out (readers too) until it closes. */
  const holdExclusiveLock = async () => {
    holder = await openSqliteDriver(file);
    holder.exec("PRAGMA locking_mode = EXCLUSIVE");
    holder.exec("BEGIN EXCLUSIVE");
    holder.exec("PRAGMA user_version = 1");
  };

  for (const readOnly of [false, true]) {
    it(`opening${readOnly ? " read-only" : ""} gives up with DatabaseLockedError naming the holder`, async () => {
      await holdExclusiveLock();
      await assert.rejects(
        SqliteTaskStore.open(file, { readOnly, lockTimeoutMillis: 100, busyTimeoutMillis: 20 }),
        (error: unknown) => {
          assert.ok(error instanceof DatabaseLockedError, String(error));
          assert.match(error.message, /is locked by another connection; gave up after/);
          if (process.platform === "linux") {
            assert.match(error.message, /held by this process \(pid \d+\)/);
          }
          return true;
        },
      );
    });
  }

  it("a write on an open store gives up after the lock timeout, and works once it is free", async () => {
    const store = await SqliteTaskStore.open(file, {
      lockTimeoutMillis: 100,
      busyTimeoutMillis: 20,
    });
    try {
      holder = await openSqliteDriver(file);
      holder.exec("BEGIN IMMEDIATE");
      holder.exec("PRAGMA user_version = 1");
      await assert.rejects(store.insert([makeTask()]), DatabaseLockedError);
      holder.exec("ROLLBACK");
      const task = makeTask();
      await store.insert([task]);
      assert.deepEqual(await store.get(task.id), task);
    } finally {
      await store.close();
    }
  });

  it("bad lock timeouts and readOnly values are refused with their name and value", async () => {
    const bad = (options: Record<string, unknown>) =>
      SqliteTaskStore.open(file, options as SqliteStoreOptions);
    await assert.rejects(bad({ lockTimeoutMillis: -1 }), /lockTimeoutMillis .*-1/);
    await assert.rejects(bad({ lockTimeoutMillis: 2 ** 31 }), RangeError);
    await assert.rejects(bad({ lockTimeoutMillis: "5s" }), TypeError);
    await assert.rejects(bad({ readOnly: "yes" }), /readOnly must be a boolean, got yes/);
  });
});
