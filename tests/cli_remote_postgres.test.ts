/**
 * `--url` with a worker on the PostgreSQL store: the CLI needs no database URL (nor access to the
 * server) to enqueue, wait, get, list and count tasks through the worker's admin endpoint.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { tempDir } from "./_helpers.ts";
import { dropSchema, freshSchema, requirePgUrl } from "./_postgres.ts";
import { childEnv, CLI_FROM_SOURCE, ROOT, run } from "./_process.ts";

const pgUrl = requirePgUrl();
const RUNTIME = "Bun" in globalThis ? "bun" : "deno";
const CLI = CLI_FROM_SOURCE[RUNTIME];
const TOKEN = "remote-pg-test-token-0123456789";

describe("the CLI with --url against a worker on PostgreSQL", {
  skip: pgUrl === undefined,
  timeout: 120_000,
}, () => {
  const schema = freshSchema("remote");
  let dir: { path: string; remove: () => Promise<void> };
  let url: string;
  let worker: ReturnType<typeof spawn>;
  let exited: Promise<unknown>;
  const remote = (args: readonly string[]) =>
    run([...CLI, ...args, "--url", url], {
      cwd: dir.path,
      env: childEnv({ AETHER_ADMIN_TOKEN: TOKEN }),
    });

  before(async () => {
    dir = await tempDir("aether-remote-pg-");
    const db = new URL(pgUrl!);
    db.searchParams.set("schema", schema);
    worker = spawn(CLI[0]!, [
      ...CLI.slice(1),
      "worker",
      "--db",
      db.href,
      "--handlers",
      join(ROOT, "tests/fixtures/cli/handlers"),
      "--admin",
      "127.0.0.1:0",
      "--poll-interval",
      "50ms",
      "--log-format",
      "json",
    ], {
      cwd: dir.path,
      env: childEnv({ AETHER_ADMIN_TOKEN: TOKEN }),
      stdio: ["ignore", "ignore", "pipe"],
    });
    exited = new Promise((resolve) => worker.on("exit", resolve));
    url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: worker.stderr! }).on("line", (text) => {
        const line = JSON.parse(text) as { event: string; admin?: string };
        if (line.event === "worker.started") resolve(line.admin!);
      });
      worker.on("exit", (code) => reject(new Error(`the worker exited with ${code}`)));
    });
  });

  after(async () => {
    if (worker && worker.exitCode === null) process.kill(worker.pid!, "SIGTERM");
    await exited;
    await dir?.remove();
    if (pgUrl) await dropSchema(pgUrl, schema);
  });

  it("enqueues and waits, gets, lists and counts the tasks of the PostgreSQL store", async () => {
    const waited = await remote(["enqueue", "add", '{"a":20,"b":22}', "--wait", "--json"]);
    assert.equal(waited.code, 0, waited.stderr);
    const task = JSON.parse(waited.stdout) as { id: string; status: string; result: number };
    assert.equal(task.status, "COMPLETED");
    assert.equal(task.result, 42);
    const got = await remote(["get", task.id.slice(0, 18), "--json"]);
    assert.equal(JSON.parse(got.stdout).id, task.id);
    const listed = await remote(["list", "--status", "completed", "--json"]);
    assert.deepEqual(JSON.parse(listed.stdout).tasks.map((t: { id: string }) => t.id), [task.id]);
    const stats = await remote(["stats", "--json"]);
    const counts = JSON.parse(stats.stdout);
    assert.equal(counts.total, 1);
    assert.equal(counts.byStatus.COMPLETED, 1);
  });
});
