/**
 * The CLI from source, under Bun and Deno, on databases it must not or cannot write: another
 * application's file (refused, exit 2, unchanged), a read-only file or folder (the read commands
 * work, a worker refuses to start), an older schema (read commands ask for migrate) and a
 * database another process holds locked (the wait is bounded and the holder named).
 *
 * Running as root, the commands that must meet a read-only file run as `nobody` (setpriv):
 * root writes any file whatever its mode.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdtempSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { SqliteDriver } from "../src/store/sqlite/driver.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { AETHER_TASKS_APPLICATION_ID } from "../src/store/sqlite/ownership.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../src/store/sqlite/schema.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { makeTask } from "./_helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HANDLERS = join(ROOT, "tests/fixtures/cli/handlers");
/** The CLI of the runtime `name`, from the checkout at `root`. */
function cliCommand(name: string, root: string): string[] {
  const main = join(root, "src/cli/main.ts");
  return name === "bun"
    ? [join(root, "node_modules/.bin/bun"), main]
    : [join(root, "node_modules/deno/deno"), "run", "-A", main];
}
const RUNTIMES = [{ name: "bun" }, { name: "deno" }];
/** Per test, for Bun (whose default is 5 s): each starts a runtime a few times. */
const TEST_TIMEOUT = { timeout: 60_000 };
const IS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;
const CAN_DROP_ROOT = IS_ROOT && spawnSync("setpriv", ["--version"]).status === 0;
/** Read-only cases need a user that cannot write the file: not root, or root that can drop. */
const readOnlySkip = IS_ROOT && !CAN_DROP_ROOT ? "running as root without setpriv" : false;

/**
 * A checkout `nobody` can reach: this one, or, when a folder above it is private (a clone in a
 * `mktemp -d` folder), a mirror of what the CLI needs, hard-linked (copied where links fail) into
 * a world-readable temporary folder. Nothing outside our own folders is changed.
 */
function checkoutForNobody(): { root: string; remove: () => Promise<void> } {
  const none = { root: ROOT, remove: () => Promise.resolve() };
  if (!CAN_DROP_ROOT) return none;
  const probe = spawnSync("setpriv", [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    "--clear-groups",
    "test",
    "-x",
    join(ROOT, "node_modules/.bin/bun"),
  ]);
  if (probe.status === 0) return none;
  const mirror = mkdtempSync(join(tmpdir(), "aether-nobody-"));
  chmodSync(mirror, 0o755);
  for (const entry of ["src", "node_modules", "deno.json", "package.json", "tests"]) {
    const linked = spawnSync("cp", ["-al", join(ROOT, entry), mirror]).status === 0;
    if (!linked) spawnSync("cp", ["-a", join(ROOT, entry), mirror]);
  }
  return { root: mirror, remove: () => rm(mirror, { recursive: true, force: true }) };
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child: ours without AETHER_* settings, without colors. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("AETHER_")) env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** A file's hash and the names beside it: what "unchanged" means. */
async function snapshot(file: string): Promise<{ hash: string; files: string[] }> {
  const hash = createHash("sha256").update(await readFile(file)).digest("hex");
  return { hash, files: (await readdir(join(file, ".."))).sort() };
}

async function withRaw(file: string, setup: (driver: SqliteDriver) => void): Promise<void> {
  const driver = await openSqliteDriver(file);
  try {
    setup(driver);
  } finally {
    driver.close();
  }
}

/** A store of ours at `file` holding one task; the task's id. */
async function databaseWithOneTask(file: string): Promise<string> {
  const store = await SqliteTaskStore.open(file);
  const task = makeTask({ name: "add", args: { a: 1, b: 2 } });
  await store.insert([task]);
  await store.close();
  return task.id;
}

for (const runtime of RUNTIMES) {
  describe(`the CLI under ${runtime.name} on databases it must not or cannot write`, () => {
    let dir: string;
    /** A home (and Deno cache) the unprivileged user can write. */
    let home: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "aether-cli-safety-"));
      home = join(dir, "home");
      await mkdir(home);
      // Readable by the unprivileged user; its home writable.
      await chmod(dir, 0o755);
      if (CAN_DROP_ROOT) spawnSync("chown", [String(NOBODY), home]);
    });
    after(() => rm(dir, { recursive: true, force: true }));
    const nobodys = checkoutForNobody();
    after(nobodys.remove);

    /** Runs the CLI; `unprivileged` runs it as `nobody` when we are root. */
    const cli = (
      args: readonly string[],
      options: { env?: Record<string, string>; unprivileged?: boolean } = {},
    ): Promise<Finished> => {
      const drop = options.unprivileged && CAN_DROP_ROOT
        ? [
          "setpriv",
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          "--clear-groups",
          "env",
          `HOME=${home}`,
          `DENO_DIR=${join(home, "deno")}`,
        ]
        : [];
      const root = drop.length ? nobodys.root : ROOT;
      // Paths into the checkout (a handlers folder) point into the mirror nobody can reach.
      const mapped = args.map((arg) => root === ROOT ? arg : arg.replace(ROOT, `${root}/`));
      const command = [...drop, ...cliCommand(runtime.name, root), ...mapped];
      return new Promise((resolve, reject) => {
        const child = spawn(command[0]!, command.slice(1), {
          cwd: root,
          env: childEnv(options.env ?? {}),
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (chunk) => (stdout += chunk));
        child.stderr!.on("data", (chunk) => (stderr += chunk));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
      });
    };

    /** Asserts exit `code` with one line on stderr matching `message`. */
    const assertRefused = (result: Finished, code: number, message: RegExp) => {
      assert.equal(result.code, code, result.stderr);
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `one line: ${result.stderr}`);
      assert.match(lines[0]!, /^aether-tasks: /);
      assert.match(lines[0]!, message);
    };

    it(
      "every command refuses another application's database with exit 2 and leaves it unchanged",
      TEST_TIMEOUT,
      async () => {
        const file = join(dir, "foreign", "app.db");
        await mkdir(join(dir, "foreign"));
        await withRaw(file, (db) => db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)"));
        const before = await snapshot(file);
        const commands = [
          ["stats", "--db", file],
          ["list", "--db", file],
          ["get", "--db", file, "some-id"],
          ["migrate", "--db", file],
          ["enqueue", "--db", file, "--handlers", HANDLERS, "add", '{"a":1,"b":2}'],
          ["worker", "--db", file, "--handlers", HANDLERS, "--no-admin"],
        ];
        for (const args of commands) {
          const result = await cli(args);
          assertRefused(
            result,
            2,
            /not an aether-tasks database \(it holds other tables \(users\)/,
          );
          assert.deepEqual(await snapshot(file), before, args.join(" "));
        }
      },
    );

    it("stats, list and get work on a read-only file; a worker refuses it with exit 2", {
      ...TEST_TIMEOUT,
      skip: readOnlySkip,
    }, async () => {
      const folder = join(dir, "read-only-file");
      await mkdir(folder);
      await chmod(folder, 0o777);
      const file = join(folder, "tasks.db");
      const id = await databaseWithOneTask(file);
      await chmod(file, 0o444);
      const { hash } = await snapshot(file);
      const stats = await cli(["stats", "--db", file, "--json"], { unprivileged: true });
      assert.equal(stats.code, 0, stats.stderr);
      assert.equal(JSON.parse(stats.stdout).total, 1);
      const list = await cli(["list", "--db", file], { unprivileged: true });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, new RegExp(id));
      const get = await cli(["get", "--db", file, id, "--json"], { unprivileged: true });
      assert.equal(get.code, 0, get.stderr);
      assert.equal(JSON.parse(get.stdout).id, id);
      const worker = await cli(["worker", "--db", file, "--handlers", HANDLERS, "--no-admin"], {
        unprivileged: true,
      });
      assertRefused(worker, 2, /cannot be written: the file is read-only/);
      assert.equal((await snapshot(file)).hash, hash);
    });

    it("stats, list and get work in a read-only folder; a worker refuses it with exit 2", {
      ...TEST_TIMEOUT,
      skip: readOnlySkip,
    }, async () => {
      const folder = join(dir, "read-only-folder");
      await mkdir(folder);
      const file = join(folder, "tasks.db");
      const id = await databaseWithOneTask(file);
      // Writable for its owner only: as root that is not us; as another user, chmod the folder.
      await chmod(file, IS_ROOT ? 0o666 : 0o644);
      await chmod(folder, 0o555);
      try {
        const before = await snapshot(file);
        const stats = await cli(["stats", "--db", file, "--json"], { unprivileged: true });
        assert.equal(stats.code, 0, stats.stderr);
        assert.equal(JSON.parse(stats.stdout).total, 1);
        const get = await cli(["get", "--db", file, id, "--json"], { unprivileged: true });
        assert.equal(get.code, 0, get.stderr);
        const list = await cli(["list", "--db", file], { unprivileged: true });
        assert.equal(list.code, 0, list.stderr);
        const worker = await cli(["worker", "--db", file, "--handlers", HANDLERS, "--no-admin"], {
          unprivileged: true,
        });
        assertRefused(worker, 2, /cannot be written: .*read-only/);
        assert.deepEqual(await snapshot(file), before);
      } finally {
        await chmod(folder, 0o755);
      }
    });

    it(
      "read commands on an older schema ask for migrate and change nothing",
      TEST_TIMEOUT,
      async () => {
        const folder = join(dir, "older");
        await mkdir(folder);
        const file = join(folder, "tasks.db");
        await withRaw(file, (db) => {
          for (const step of MIGRATIONS.slice(0, SCHEMA_VERSION - 1)) db.exec(step);
          db.exec(`PRAGMA user_version = ${SCHEMA_VERSION - 1}`);
          db.exec(`PRAGMA application_id = ${AETHER_TASKS_APPLICATION_ID}`);
        });
        const before = await snapshot(file);
        for (const args of [["stats"], ["list"], ["get", "some-id"]]) {
          assertRefused(await cli([...args, "--db", file]), 2, /migrate/);
        }
        assert.deepEqual(await snapshot(file), before);
        assert.equal((await cli(["migrate", "--db", file])).code, 0);
        assert.equal((await cli(["stats", "--db", file])).code, 0);
      },
    );

    it(
      "a database locked by another process fails after --lock-timeout, naming the holder",
      TEST_TIMEOUT,
      async () => {
        const folder = join(dir, "locked");
        await mkdir(folder);
        const file = join(folder, "tasks.db");
        await databaseWithOneTask(file);
        const holder = await openSqliteDriver(file);
        try {
          // Exclusive locking mode: in WAL mode only that keeps readers out too.
          holder.exec("PRAGMA locking_mode = EXCLUSIVE");
          holder.exec("BEGIN EXCLUSIVE");
          holder.exec("PRAGMA user_version = 1");
          const held = process.platform === "linux"
            ? new RegExp(`held by pid ${process.pid} `)
            : /./;
          const stats = await cli(["stats", "--db", file, "--lock-timeout", "200ms"]);
          assertRefused(stats, 1, /is locked by another connection; gave up after 0\.\ds/);
          assert.match(stats.stderr, held);
          const list = await cli(["list", "--db", file], { env: { AETHER_LOCK_TIMEOUT: "200ms" } });
          assertRefused(list, 1, /is locked by another connection/);
          const worker = await cli([
            "worker",
            "--db",
            file,
            "--handlers",
            HANDLERS,
            "--no-admin",
            "--lock-timeout",
            "200ms",
          ]);
          assertRefused(worker, 1, /is locked by another connection/);
        } finally {
          holder.close();
        }
        assert.equal((await cli(["stats", "--db", file])).code, 0);
      },
    );

    it("a lock timeout that is not a duration is a usage error", TEST_TIMEOUT, async () => {
      const result = await cli(["stats", "--db", join(dir, "x.db"), "--lock-timeout", "soon"]);
      assertRefused(result, 2, /--lock-timeout/);
    });
  });
}
