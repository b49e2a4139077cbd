/**
 * The CLI and the binary on PostgreSQL: `--db postgres://…` selects the store, the password never
 * shows, a bad URL is one line and exit 2; queue limits and schedules are read and written; three binaries share one database and run each task
 * once, and the tasks of one killed with `kill -9` come back.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import postgres from "postgres";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { PostgresTaskStore } from "../src/store/postgres/store.ts";
import { binary, childEnv, CLI_FROM_SOURCE, run, start } from "./_process.ts";
import { dropSchema, freshSchema, requirePgUrl } from "./_postgres.ts";
import { tempDir } from "./_helpers.ts";

const url = requirePgUrl();
const runtime = "Bun" in globalThis ? "bun" : "deno";
const cli = CLI_FROM_SOURCE[runtime];

const LEDGER_HANDLER = `
import { appendFileSync } from "node:fs";
import process from "node:process";
import { defineTask, v } from "aether-tasks";

export default defineTask({
  name: "ledger",
  args: v.object({ i: v.number() }),
  retryConfig: { maxAttempts: 5, baseDelayMillis: 10 },
  async run(_args, ctx) {
    appendFileSync(process.env.LEDGER_DIR + "/" + process.pid + ".log", ctx.taskId + " " + ctx.attempt + "\\n");
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.WORK_MS ?? 0)));
    return { pid: process.pid };
  },
});
`;

/** The URL of a fresh schema, with a password in it (the test server trusts local logins). */
function schemaUrl(schema: string): string {
  const u = new URL(url!);
  u.password = "s3cret-pw";
  u.searchParams.set("schema", schema);
  return u.toString();
}

if (url) {
  describe(`CLI on PostgreSQL (${runtime})`, () => {
    const schemas: string[] = [];
    after(async () => {
      for (const schema of schemas) await dropSchema(url, schema);
    });
    const fresh = () => {
      const schema = freshSchema("cli");
      schemas.push(schema);
      return schema;
    };

    it("a bad URL, host, password or database is one line and exit 2, the password masked", async () => {
      const dir = await tempDir();
      after(dir.remove);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aether_password_test') THEN
          CREATE ROLE aether_password_test LOGIN PASSWORD 'right-secret';
        END IF; END $$`);
      await sql.end({ timeout: 1 });
      const host = new URL(url).host;
      const cases: [string, RegExp][] = [
        ["postgres://app:s3cret-pw@host:port/db", /Invalid PostgreSQL URL/],
        ["postgres://app:s3cret-pw@127.0.0.1:1/app", /127\.0\.0\.1:1/],
        [
          `postgres://aether_password_test:s3cret-pw@${host}/postgres`,
          /password authentication failed/,
        ],
        [`postgres://postgres:s3cret-pw@${host}/no_such_db`, /no_such_db/],
        ["mysql://app:s3cret-pw@localhost/db", /SQLite file path or a postgres:\/\/ URL/],
      ];
      for (const [target, expected] of cases) {
        const result = await run([...cli, "stats", "--db", target], { cwd: dir.path });
        assert.equal(result.code, 2, `${target}: ${result.stderr}`);
        const lines = result.stderr.trim().split("\n");
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0]!, expected);
        assert.ok(!result.stderr.includes("s3cret-pw"), result.stderr);
      }
      assert.deepEqual(readdirSync(dir.path), [], "no file was made for a URL");
    });

    it("--print-config shows the URL with its password masked", async () => {
      const dir = await tempDir();
      after(dir.remove);
      const db = schemaUrl(fresh());
      const result = await run([...cli, "worker", "--print-config", "--json"], {
        cwd: dir.path,
        env: childEnv({ AETHER_DB: db }),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(!result.stdout.includes("s3cret-pw"), result.stdout);
      assert.match(JSON.parse(result.stdout).config.db, /:\*\*\*@/);
    });

    it("queues limit and schedules read and write the limits and schedules in PostgreSQL", async () => {
      const dir = await tempDir();
      after(dir.remove);
      const schema = fresh();
      const env = childEnv({ AETHER_DB: schemaUrl(schema) });
      // Paused, so the queue has a stored state and is listed without tasks.
      assert.equal(
        (await run([...cli, "queues", "pause", "mail"], { cwd: dir.path, env })).code,
        0,
      );
      const limited = await run(
        [...cli, "queues", "limit", "mail", "--rate-limit", "10/1s", "--max-running", "3"],
        { cwd: dir.path, env },
      );
      assert.equal(limited.code, 0, limited.stderr);
      assert.equal(limited.stdout, "Queue mail: 10/1s, max 3 running\n");
      const listed = await run([...cli, "queues", "list", "--json"], { cwd: dir.path, env });
      assert.equal(listed.code, 0, listed.stderr);
      const [mail] = JSON.parse(listed.stdout);
      assert.deepEqual([mail.name, mail.limits.maxRunning, mail.limits.rateLimit], [
        "mail",
        3,
        { limit: 10, perMillis: 1000 },
      ]);
      const store = await PostgresTaskStore.open(url, { schema });
      try {
        const registry = new TaskRegistry();
        registry.register("report", () => null);
        await new TaskDispatcher(store, { registry }).schedule("nightly", {
          task: "report",
          cron: "0 3 * * *",
          timezone: "Europe/Berlin",
        });
      } finally {
        await store.close();
      }
      const schedules = await run([...cli, "schedules", "--json"], { cwd: dir.path, env });
      assert.equal(schedules.code, 0, schedules.stderr);
      assert.match(schedules.stdout, /"nightly"/);
      assert.match(schedules.stdout, /0 3 \* \* \*/);
      assert.ok(!(schedules.stdout + schedules.stderr).includes("s3cret-pw"));
    });

    it("a worker and enqueue --wait from source run a task through PostgreSQL", async () => {
      const dir = await tempDir();
      after(dir.remove);
      const handlers = join(dir.path, "handlers");
      await mkdir(handlers);
      await writeFile(join(handlers, "ledger.ts"), LEDGER_HANDLER);
      const env = childEnv({ AETHER_DB: schemaUrl(fresh()), LEDGER_DIR: dir.path });
      const worker = start([...cli, "worker", "--handlers", handlers, "--no-admin"], {
        cwd: dir.path,
        env,
      });
      try {
        await worker.stderrMatches(/started/);
        const result = await run([...cli, "enqueue", "ledger", '{"i":1}', "--wait"], {
          cwd: dir.path,
          env,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /"pid"/);
        assert.ok(!(result.stdout + result.stderr).includes("s3cret-pw"));
      } finally {
        const end = await worker.stop();
        assert.ok(!end.stderr.includes("s3cret-pw"), end.stderr);
      }
    });

    it(
      "three binaries on one database run 30,000 tasks each once; one killed with kill -9 loses none",
      {
        // One runtime is enough: the binary is the same under both.
        skip: runtime !== "bun" && "the binary is exercised under Bun",
        timeout: 240_000,
      },
      async () => {
        const exe = await binary();
        const dir = await tempDir();
        after(dir.remove);
        const handlers = join(dir.path, "handlers");
        const ledgers = join(dir.path, "ledgers");
        await mkdir(handlers);
        await mkdir(ledgers);
        await writeFile(join(handlers, "ledger.ts"), LEDGER_HANDLER);
        const db = schemaUrl(fresh());
        const env = (workMs: number) =>
          childEnv({ AETHER_DB: db, LEDGER_DIR: ledgers, WORK_MS: String(workMs) });
        const lines = (count: number, from: number) =>
          Array.from(
            { length: count },
            (_, i) => JSON.stringify({ name: "ledger", args: { i: from + i } }),
          )
            .join("\n") + "\n";
        const readLedgers = () => {
          const runs = new Map<string, number>();
          const byNode = new Map<string, number>();
          for (const file of readdirSync(ledgers)) {
            const text = readFileSync(join(ledgers, file), "utf8").trim();
            const entries = text ? text.split("\n") : [];
            byNode.set(file, entries.length);
            for (const line of entries) {
              const id = line.split(" ")[0]!;
              runs.set(id, (runs.get(id) ?? 0) + 1);
            }
          }
          return { runs, byNode };
        };
        const stats = async () => {
          const result = await run([exe, "stats", "--json"], { cwd: dir.path, env: env(0) });
          assert.equal(result.code, 0, result.stderr);
          return JSON.parse(result.stdout) as { byStatus: Record<string, number> };
        };
        const nodes = [0, 1, 2].map(() =>
          start([exe, "worker", "--handlers", handlers, "--no-admin", "--concurrency", "16"], {
            cwd: dir.path,
            env: env(0),
          })
        );
        try {
          await Promise.all(nodes.map((n) => n.stderrMatches(/started/)));
          await writeFile(join(dir.path, "a.ndjson"), lines(30_000, 0));
          const enqueued = await run([exe, "enqueue", "--file", join(dir.path, "a.ndjson")], {
            cwd: dir.path,
            env: env(0),
          });
          assert.equal(enqueued.code, 0, enqueued.stderr);
          while ((await stats()).byStatus.COMPLETED! < 30_000) {
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          const { runs, byNode } = readLedgers();
          assert.equal(runs.size, 30_000);
          assert.deepEqual([...new Set(runs.values())], [1], "each task ran exactly once");
          assert.equal(byNode.size, 3, "all three nodes took part");
          for (const [node, n] of byNode) assert.ok(n > 0, `${node} ran ${n}`);
        } finally {
          await Promise.all(nodes.map((n) => n.stop()));
        }

        // Slower tasks, one node killed mid-run: nothing lost; only its tasks may run twice.
        for (const file of readdirSync(ledgers)) await writeFile(join(ledgers, file), "");
        const slow = [0, 1, 2].map(() =>
          start([exe, "worker", "--handlers", handlers, "--no-admin", "--concurrency", "16"], {
            cwd: dir.path,
            env: env(5),
          })
        );
        try {
          await Promise.all(slow.map((n) => n.stderrMatches(/started/)));
          await writeFile(join(dir.path, "b.ndjson"), lines(3_000, 30_000));
          const enqueued = await run([exe, "enqueue", "--file", join(dir.path, "b.ndjson")], {
            cwd: dir.path,
            env: env(0),
          });
          assert.equal(enqueued.code, 0, enqueued.stderr);
          while ((await stats()).byStatus.COMPLETED! < 30_000 + 500) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          await slow[0]!.stop("SIGKILL");
          while ((await stats()).byStatus.COMPLETED! < 33_000) {
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          const final = await stats();
          assert.equal(final.byStatus.COMPLETED, 33_000, "every task completed: none lost");
          const { runs } = readLedgers();
          assert.equal(runs.size, 3_000);
          const twice = [...runs.values()].filter((n) => n > 1).length;
          assert.ok(
            twice <= 16 + 256,
            `${twice} tasks ran twice: at most what the killed node held`,
          );
        } finally {
          await Promise.all(slow.slice(1).map((n) => n.stop()));
        }
      },
    );
  });
}
