/**
 * Migrations are one-way, so `migrate`, `worker` and `enqueue` copy an existing database to
 * `<db>.bak-v<N>` (VACUUM INTO) before upgrading it, and never overwrite a file. Also: the backup
 * and restore commands of docs/DEPLOYMENT.md (`sqlite3 .backup`, `VACUUM INTO`) on a database a
 * worker is writing to.
 */

import assert from "node:assert/strict";
import { copyFile, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { backupBeforeMigration } from "../src/cli/migration_backup.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { MIGRATIONS, readSchemaVersion, SCHEMA_VERSION } from "../src/store/sqlite/schema.ts";
import { tempDir } from "./_helpers.ts";
import { CLI_FROM_SOURCE, ROOT, run, start } from "./_process.ts";

const CLI = CLI_FROM_SOURCE["bun" in process.versions ? "bun" : "deno"];
const HANDLERS = join(ROOT, "tests/fixtures/cli/handlers");
const TEST_TIMEOUT = { timeout: 60_000 };

/** A database at schema version 1 holding `count` pending tasks, as an old release left it. */
async function oldDatabase(path: string, count: number): Promise<void> {
  const driver = await openSqliteDriver(path);
  try {
    driver.exec(MIGRATIONS[0]!);
    driver.exec("PRAGMA user_version = 1");
    for (let i = 0; i < count; i++) {
      driver.run(
        `INSERT INTO tasks (id, name, queue, args, status, priority, run_at, created_at,
           max_attempts, backoff_base_millis, backoff_multiplier, backoff_max_millis, backoff_jitter)
         VALUES (?, 'add', 'default', '{"a":1,"b":2}', 'PENDING', 1, 0, 0, 3, 1000, 2, 60000, 1)`,
        [`00000000-0000-7000-8000-00000000000${i}`],
      );
    }
  } finally {
    driver.close();
  }
}

/** The schema version and task count of a database file. */
async function inspect(path: string): Promise<{ version: number; tasks: number }> {
  const driver = await openSqliteDriver(path);
  try {
    const tasks = driver.get<{ n: number }>("SELECT count(*) AS n FROM tasks")!.n;
    return { version: readSchemaVersion(driver), tasks };
  } finally {
    driver.close();
  }
}

describe("a backup before each migration", () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await tempDir("aether-backup-");
  });
  after(() => dir.remove());

  it(
    "migrate copies an old database to DB.bak-vN first, and not again once upgraded",
    TEST_TIMEOUT,
    async () => {
      const db = join(dir.path, "migrate.db");
      await oldDatabase(db, 2);
      const first = await run([...CLI, "migrate", "--db", db, "--json"], { cwd: dir.path });
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(JSON.parse(first.stdout), {
        db,
        schemaVersion: SCHEMA_VERSION,
        backup: `${db}.bak-v1`,
      });
      assert.equal(first.stderr, `Backed up ${db} (schema 1) to ${db}.bak-v1\n`);
      assert.deepEqual(await inspect(`${db}.bak-v1`), { version: 1, tasks: 2 });
      assert.deepEqual(await inspect(db), { version: SCHEMA_VERSION, tasks: 2 });

      const again = await run([...CLI, "migrate", "--db", db, "--json"], { cwd: dir.path });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).backup, null);
      const backups = (await readdir(dir.path)).filter((f) => f.startsWith("migrate.db.bak"));
      assert.deepEqual(backups, ["migrate.db.bak-v1"]);
    },
  );

  it("takes none for a new database or a missing file", async () => {
    assert.equal(await backupBeforeMigration(join(dir.path, "missing.db")), null);
    const fresh = join(dir.path, "fresh.db");
    (await openSqliteDriver(fresh)).close();
    assert.equal(await backupBeforeMigration(fresh), null);
  });

  it("never overwrites a file: a taken name gets a time suffix", async () => {
    const db = join(dir.path, "taken.db");
    await oldDatabase(db, 1);
    await writeFile(`${db}.bak-v1`, "not ours to overwrite\n");
    const backup = await backupBeforeMigration(db, () => new Date("2026-12-01T17:30:05.123Z"));
    assert.deepEqual(backup, {
      path: `${db}.bak-v1-20261201T173005Z`,
      fromVersion: 1,
      toVersion: SCHEMA_VERSION,
    });
    assert.equal(await readFile(`${db}.bak-v1`, "utf8"), "not ours to overwrite\n");
    assert.deepEqual(await inspect(backup.path), { version: 1, tasks: 1 });
  });

  it(
    "worker start copies an old database before it migrates, and logs it",
    TEST_TIMEOUT,
    async () => {
      const db = join(dir.path, "worker.db");
      await oldDatabase(db, 3);
      const worker = start([
        ...CLI,
        "worker",
        "--db",
        db,
        "--handlers",
        HANDLERS,
        "--no-admin",
        "--log-format",
        "json",
      ], { cwd: dir.path });
      await worker.stderrMatches(/"event":"worker\.started"/);
      const { code, stderr } = await worker.stop();
      assert.equal(code, 0, stderr);
      const logged = stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((l) =>
        l.event === "db.backup"
      );
      assert.equal(logged?.path, `${db}.bak-v1`);
      assert.deepEqual(await inspect(`${db}.bak-v1`), { version: 1, tasks: 3 });
    },
  );
});

describe("backup and restore while a worker runs (docs/DEPLOYMENT.md)", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let hasSqlite3 = false;
  before(async () => {
    dir = await tempDir("aether-live-backup-");
    hasSqlite3 = (await run(["sh", "-c", "command -v sqlite3"], { cwd: dir.path })).code === 0;
  });
  after(() => dir.remove());

  it(
    "sqlite3 .backup and VACUUM INTO copy a live database that restores whole",
    TEST_TIMEOUT,
    async (t) => {
      if (!hasSqlite3) {
        t.skip("the sqlite3 command is not installed (apt-get install sqlite3)");
        return;
      }
      const db = join(dir.path, "tasks.db");
      const common = ["--db", db, "--handlers", HANDLERS];
      const lines = Array.from(
        { length: 300 },
        (_, i) => JSON.stringify({ name: "add", args: { a: i, b: 1 } }),
      );
      const seeded = await run([...CLI, "enqueue", "--file", "-", ...common], {
        cwd: dir.path,
        input: lines.join("\n") + "\n",
      });
      assert.equal(seeded.code, 0, seeded.stderr);
      const worker = start([...CLI, "worker", ...common, "--no-admin", "--log-format", "json"], {
        cwd: dir.path,
      });
      try {
        await worker.stderrMatches(/"event":"task\.completed"/);
        // The documented commands, while the worker completes tasks and more are enqueued.
        const more = run([...CLI, "enqueue", "--file", "-", ...common], {
          cwd: dir.path,
          input: lines.join("\n") + "\n",
        });
        const dot = await run(["sqlite3", db, ".backup 'backup-dot.db'"], { cwd: dir.path });
        assert.equal(dot.code, 0, dot.stderr);
        const vacuum = await run(["sqlite3", db, "VACUUM INTO 'backup-vacuum.db'"], {
          cwd: dir.path,
        });
        assert.equal(vacuum.code, 0, vacuum.stderr);
        assert.equal((await more).code, 0);
      } finally {
        const stopped = await worker.stop();
        assert.equal(stopped.code, 0, stopped.stderr);
      }
      for (const copy of ["backup-dot.db", "backup-vacuum.db"]) {
        const check = await run(["sqlite3", copy, "PRAGMA integrity_check"], { cwd: dir.path });
        assert.equal(check.stdout, "ok\n", `${copy}: ${check.stderr}`);
        const { version, tasks } = await inspect(join(dir.path, copy));
        assert.equal(version, SCHEMA_VERSION);
        assert.ok(tasks >= 300 && tasks <= 600, `${copy} holds ${tasks} tasks`);
      }

      // Restore (workers stopped): the copy replaces the file, the old -wal and -shm go.
      await rm(`${db}-wal`, { force: true });
      await rm(`${db}-shm`, { force: true });
      await copyFile(join(dir.path, "backup-vacuum.db"), db);
      const stats = await run([...CLI, "stats", "--db", db, "--json"], { cwd: dir.path });
      assert.equal(stats.code, 0, stats.stderr);
      const expected = (await inspect(join(dir.path, "backup-vacuum.db"))).tasks;
      assert.equal((await inspect(db)).tasks, expected);
    },
  );
});
