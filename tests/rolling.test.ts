/**
 * A rolling deploy: two worker processes with different handler sets (tests/fixtures/rolling/old
 * and new) on one SQLite file (and one PostgreSQL schema when `AETHER_TEST_PG_URL` names a
 * server), a producer with no handler code, and a cancel from another process. Each worker runs only the names it defines, none burns an attempt, and a name nobody
 * defines stays waiting and shows in `stats` as unrunnable.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { PostgresTaskStore } from "../src/store/postgres/store.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import { taskTypesOf } from "../src/task_types.ts";
import { tempDir } from "./_helpers.ts";
import { dropSchema, freshSchema, pgUrl } from "./_postgres.ts";
import { childEnv, CLI_FROM_SOURCE, ROOT, run, type Running, start } from "./_process.ts";

const CLI = CLI_FROM_SOURCE["Bun" in globalThis ? "bun" : "deno"];
const FIXTURES = join(ROOT, "tests/fixtures/rolling");
/** Child processes on a loaded machine: generous, never a measure of speed. */
const SLOW = { timeout: 120_000 };

/** How often {@linkcode until} re-checks when no event came (PostgreSQL's registry sends none). */
const RECHECK_MILLIS = 100;

/**
 * Resolves once `check` holds, re-checking whenever another process commits to the store (or,
 * where a write sends no event, such as a PostgreSQL heartbeat, every {@linkcode RECHECK_MILLIS}).
 */
async function until(store: TaskStore, check: () => Promise<boolean>): Promise<void> {
  let wake = () => {};
  const unlisten = store.listen(() => wake());
  try {
    while (!(await check())) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, RECHECK_MILLIS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    unlisten();
  }
}

rollingDeploy("SQLite file");
if (pgUrl) rollingDeploy("PostgreSQL schema");

function rollingDeploy(backend: "SQLite file" | "PostgreSQL schema"): void {
  describe(`rolling deploy: two handler sets on one ${backend}`, { timeout: 120_000 }, () => {
    let dir: { path: string; remove: () => Promise<void> };
    let db: string;
    let schema: string | undefined;
    let store: TaskStore;
    let dispatcher: TaskDispatcher;
    const workers: Running[] = [];
    /** The CLI in a folder with no handlers: a producer without the code. */
    const cli = (...args: string[]) => run([...CLI, ...args, "--db", db], { cwd: dir.path });

    before(async () => {
      dir = await tempDir("aether-rolling-");
      if (backend === "SQLite file") {
        db = join(dir.path, "tasks.db");
        store = await SqliteTaskStore.open(db);
      } else {
        schema = freshSchema("rolling");
        const url = new URL(pgUrl!);
        url.searchParams.set("schema", schema);
        db = url.toString();
        store = await PostgresTaskStore.open(pgUrl!, { schema });
      }
      await store.migrate();
      dispatcher = new TaskDispatcher(store);
    });

    after(async () => {
      // Left running only when a test failed first: no grace then.
      await Promise.all(workers.map((worker) => worker.stop("SIGKILL")));
      await store?.close();
      if (schema) await dropSchema(pgUrl!, schema);
      await dir?.remove();
    });

    it(
      "two workers with different handler sets start and publish their task types, defaults and args schema",
      SLOW,
      async () => {
        // The workers start here, not in a hook: a test's timeout covers a slow start under load.
        for (const set of ["old", "new"]) {
          const worker = start([
            ...CLI,
            "worker",
            "--handlers",
            join(FIXTURES, set),
            "--db",
            db,
            "--workers",
            "1",
            "--no-admin",
            // Leases far longer than the test: a cancel must not wait for a renewal to arrive.
            "--lease",
            "10m",
          ], { cwd: dir.path, env: childEnv() });
          workers.push(worker);
          await worker.stderrMatches(/worker \S+ started/);
        }
        // Both registered, with the task types they publish.
        await until(store, async () => {
          const rows = await store.listWorkers();
          return rows.length === 2 && rows.every((w) => (taskTypesOf(w)?.length ?? 0) > 0);
        });
        const published = new Map(
          (await store.listWorkers()).map((w) => [
            taskTypesOf(w)!.map((t) => t.name).join(","),
            taskTypesOf(w)!,
          ]),
        );
        assert.deepEqual([...published.keys()].sort(), ["email,shared", "hold,resize,shared"]);
        const resize = published.get("hold,resize,shared")!.find((t) => t.name === "resize")!;
        assert.equal(resize.queue, "images");
        assert.equal(resize.priority, "HIGH");
        assert.equal(resize.maxAttempts, 7);
        assert.deepEqual(
          (resize.argsSchema as { required?: unknown }).required,
          ["width"],
          "the args schema is published as JSON Schema",
        );
      },
    );

    it("each worker runs only the names it defines; none burns an attempt", SLOW, async () => {
      const emails: string[] = [];
      const resizes: string[] = [];
      for (let i = 0; i < 5; i++) {
        const email = await cli(
          "enqueue",
          "email",
          JSON.stringify({ to: `u${i}` }),
          "--unregistered",
          "--json",
        );
        assert.equal(email.code, 0, email.stderr);
        assert.equal(JSON.parse(email.stdout).warning, undefined, "a live worker defines email");
        emails.push(JSON.parse(email.stdout).id);
        const resize = await cli(
          "enqueue",
          "resize",
          `{"width": ${i + 1}}`,
          "--unregistered",
          "--json",
        );
        assert.equal(resize.code, 0, resize.stderr);
        resizes.push(JSON.parse(resize.stdout).id);
      }
      for (const id of emails) {
        const task = await dispatcher.waitFor(id, { timeout: 60_000 });
        assert.equal(task.status, "COMPLETED");
        assert.equal(task.queue, "mail", "the published queue of email");
        assert.equal((task.result as { by: string }).by, "old");
        assert.equal(task.attempts, 1);
      }
      for (const id of resizes) {
        const task = await dispatcher.waitFor(id, { timeout: 60_000 });
        assert.equal(task.status, "COMPLETED");
        assert.equal(task.queue, "images");
        assert.equal(task.priority, "HIGH");
        assert.equal(task.maxAttempts, 7);
        assert.equal((task.result as { by: string }).by, "new");
        assert.equal(task.attempts, 1);
      }
    });

    it(
      "a name nobody defines is accepted with a warning, stays waiting unspent and shows as unrunnable",
      SLOW,
      async () => {
        const ghost = await cli("enqueue", "ghost", `{"n": 1}`, "--unregistered", "--json");
        assert.equal(ghost.code, 0, ghost.stderr);
        const { id, warning } = JSON.parse(ghost.stdout);
        assert.match(warning, /No live worker defines task "ghost"/);
        assert.match(ghost.stderr, /warning: No live worker defines task "ghost"/);
        // A task both define, enqueued after it, runs: so both workers have claimed past the ghost.
        const shared = await cli("enqueue", "shared", "--unregistered", "--json");
        assert.equal(
          (await dispatcher.waitFor(JSON.parse(shared.stdout).id, { timeout: 60_000 })).status,
          "COMPLETED",
        );
        const task = await dispatcher.getTask(id);
        assert.equal(task?.status, "PENDING");
        assert.equal(task?.attempts, 0);

        const json = await cli("stats", "--json");
        assert.equal(json.code, 0, json.stderr);
        assert.deepEqual(JSON.parse(json.stdout).unrunnable, [{ name: "ghost", waiting: 1 }]);
        const human = await cli("stats");
        assert.match(human.stdout, /no live worker defines them:\n\s+ghost\s+1\n/);
      },
    );

    it(
      "args that fail the published JSON Schema are refused at enqueue, nothing written",
      SLOW,
      async () => {
        const before = await store.count({ name: "resize" });
        const bad = await cli("enqueue", "resize", `{"width": "wide"}`, "--unregistered");
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /args\.width/);
        assert.equal(await store.count({ name: "resize" }), before);
      },
    );

    it("without --unregistered an unknown name is refused with the usual error", SLOW, async () => {
      const refused = await run([
        ...CLI,
        "enqueue",
        "ghost",
        "--db",
        db,
        "--handlers",
        join(FIXTURES, "old"),
      ], {
        cwd: dir.path,
      });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Unknown task "ghost"/);
    });

    it(
      "a cancel from another process reaches the running handler in the worker",
      SLOW,
      async () => {
        const ids: string[] = [];
        for (let i = 0; i < 2; i++) {
          const held = await cli("enqueue", "hold", "--unregistered", "--json");
          ids.push(JSON.parse(held.stdout).id);
        }
        const [byCli, byLibrary] = ids as [string, string];
        await until(store, async () => {
          const tasks = await Promise.all(ids.map((id) => store.get(id)));
          return tasks.every((task) => task?.startedAt != null);
        });
        // The CLI: a process that writes the flag and exits.
        const cancelled = await cli("cancel", byCli);
        assert.equal(cancelled.code, 0, cancelled.stderr);
        assert.equal((await dispatcher.waitFor(byCli, { timeout: 60_000 })).status, "CANCELLED");
        // This process (not the worker's) through the library, timed for the report, not asserted.
        const requestedAt = Date.now();
        await dispatcher.cancel(byLibrary);
        const task = await dispatcher.waitFor(byLibrary, { timeout: 60_000 });
        assert.equal(task.status, "CANCELLED");
        console.log(
          `cross-process cancel: the task ended CANCELLED ${
            task.completedAt! - requestedAt
          } ms after the cancel`,
        );
      },
    );

    it("both workers stop on SIGTERM and exit 0, leaving the registry", SLOW, async () => {
      const ended = await Promise.all(workers.map((worker) => worker.stop()));
      for (const { code, stderr } of ended) assert.equal(code, 0, stderr);
      assert.deepEqual(await store.listWorkers(), []);
    });
  });
}
