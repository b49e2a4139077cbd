/**
 * `--url`: the CLI against a live worker process's admin endpoint (with a token) gives the
 * output and exit codes the database gives; an unreachable endpoint, a missing or wrong token and
 * `--url` with `--db` are one-line usage errors (exit 2).
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { tempDir } from "./_helpers.ts";
import { childEnv, CLI_FROM_SOURCE, type Finished, ROOT, run } from "./_process.ts";

const RUNTIME = "Bun" in globalThis ? "bun" : "deno";
const CLI = CLI_FROM_SOURCE[RUNTIME];
const HANDLERS = join(ROOT, "tests/fixtures/cli/handlers");
const TOKEN = "remote-test-token-0123456789";
const TEST_TIMEOUT = { timeout: 60_000 };

describe("the CLI with --url against a running worker", { timeout: 180_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let db: string;
  let url: string;
  let worker: ReturnType<typeof spawn>;
  let exited: Promise<unknown>;

  /** The CLI with `args`; `remote` adds `--url` (the token comes from the environment). */
  const cli = (args: readonly string[], env: Record<string, string> = {}) =>
    run([...CLI, ...args], { cwd: dir.path, env: childEnv(env) });
  const remote = (args: readonly string[]) =>
    cli([...args, "--url", url], { AETHER_ADMIN_TOKEN: TOKEN });
  const local = (args: readonly string[]) => cli([...args, "--db", db]);
  const json = (result: Finished) => {
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };
  /** A task as both modes print it, without the attempt token the API never shows. */
  const comparable = (task: Record<string, unknown>) => {
    const { attemptToken: _token, ...rest } = task;
    return rest;
  };

  before(async () => {
    dir = await tempDir("aether-remote-");
    db = join(dir.path, "tasks.db");
    worker = spawn(CLI[0]!, [
      ...CLI.slice(1),
      "worker",
      "--db",
      db,
      "--handlers",
      HANDLERS,
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
      const lines = createInterface({ input: worker.stderr! });
      lines.on("line", (text) => {
        const line = JSON.parse(text) as { event: string; admin?: string };
        if (line.event === "worker.started") resolve(line.admin!);
      });
      worker.on("exit", (code) => reject(new Error(`the worker exited with ${code}`)));
    });
  });

  after(async () => {
    if (worker.exitCode === null) process.kill(worker.pid!, "SIGTERM");
    await exited;
    await dir.remove();
  });

  it("enqueue --wait prints the result the worker returned", TEST_TIMEOUT, async () => {
    const result = await remote(["enqueue", "add", '{"a":2,"b":3}', "--wait"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "5\n");
    const failed = await remote(["enqueue", "always-fail", "--wait"]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /FAILED after 2 attempts: boom/);
  });

  it("get, list and stats print what the database holds", TEST_TIMEOUT, async () => {
    const { id, duplicate } = json(await remote(["enqueue", "add", '{"a":1,"b":1}', "--json"]));
    assert.equal(duplicate, false);
    assert.deepEqual(
      comparable(json(await remote(["get", id.slice(0, 20), "--json"]))),
      comparable(json(await local(["get", id, "--json"]))),
    );
    const listed = json(await remote(["list", "--name", "add", "--json"]));
    assert.deepEqual(
      listed.tasks.map((t: { id: string }) => t.id),
      json(await local(["list", "--name", "add", "--json"])).tasks.map((t: { id: string }) => t.id),
    );
    assert.ok(listed.tasks.some((t: { id: string }) => t.id === id));
    const counts = (stats: { total: unknown; queues: unknown }) => [stats.total, stats.queues];
    assert.deepEqual(
      counts(json(await remote(["stats", "--json"]))),
      counts(json(await local(["stats", "--json"]))),
    );
    const table = await cli(["stats", "--url", url], { AETHER_ADMIN_TOKEN: TOKEN });
    assert.match(table.stdout, /^QUEUE +PENDING/);
    const fromEnv = await cli(["stats"], { AETHER_URL: url, AETHER_ADMIN_TOKEN: TOKEN });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /^QUEUE +PENDING/);
  });

  it("stats --watch --json reads its rates through the endpoint", TEST_TIMEOUT, async () => {
    const watch = spawn(CLI[0]!, [
      ...CLI.slice(1),
      "stats",
      "--watch",
      "--json",
      "--interval",
      "100ms",
      "--url",
      url,
    ], {
      cwd: dir.path,
      env: childEnv({ AETHER_ADMIN_TOKEN: TOKEN }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const ended = new Promise<number | null>((resolve) => watch.on("exit", resolve));
    const lines: Record<string, unknown>[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: watch.stdout! }).on("line", (text) => {
        lines.push(JSON.parse(text));
        if (lines.length === 2) resolve();
      });
      void ended.then((code) => reject(new Error(`stats --watch exited with ${code}`)));
    });
    process.kill(watch.pid!, "SIGTERM");
    assert.equal(await ended, 0);
    assert.equal(lines[0]!.rates, null, "no rates on the first refresh");
    const rates = lines[1]!.rates as { completed: number; failed: number; overMillis: number };
    assert.equal(typeof rates.completed, "number");
    assert.equal(typeof rates.failed, "number");
    assert.ok(rates.overMillis > 0);
    assert.ok("queues" in lines[1]! && !("throughput" in lines[1]!));
  });

  it(
    "cancel and retry act on the task; what cannot be done exits 1 as locally",
    TEST_TIMEOUT,
    async () => {
      const { id } = json(
        await remote(["enqueue", "add", '{"a":1,"b":2}', "--delay", "1h", "--json"]),
      );
      const cancelled = await remote(["cancel", id.slice(0, 16)]);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.equal(cancelled.stdout, `Cancelled task ${id}\n`);
      const again = await remote(["cancel", id]);
      const againLocally = await local(["cancel", id]);
      assert.equal(again.code, 1);
      assert.equal(again.code, againLocally.code);
      assert.equal(again.stderr, againLocally.stderr);
      const retried = await remote(["retry", id]);
      assert.equal(retried.code, 0, retried.stderr);
      assert.equal(retried.stdout, `Task ${id} is PENDING again\n`);
      const all = json(await remote(["retry", "--all-failed", "--name", "always-fail", "--json"]));
      assert.ok(all.retried >= 1, `retried ${all.retried}`);
    },
  );

  it(
    "an id that names no task exits 1 with the message of the local mode",
    TEST_TIMEOUT,
    async () => {
      for (const id of ["0123abcd", "not-an-id"]) {
        const remotely = await remote(["get", id]);
        const locally = await local(["get", id]);
        assert.equal(remotely.code, 1);
        assert.equal(remotely.stderr, locally.stderr);
      }
    },
  );

  it("bad input the worker refuses exits 2 with its message", TEST_TIMEOUT, async () => {
    const unknown = await remote(["enqueue", "ad", "{}"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^aether-tasks: Unknown task "ad"; did you mean "add"\?/);
    const file = await remote(["enqueue", "--file", "tasks.ndjson"]);
    assert.equal(file.code, 2);
    assert.match(file.stderr, /--file .* does not take --url/);
  });

  it(
    "a missing or wrong token is a one-line error naming the token, exit 2",
    TEST_TIMEOUT,
    async () => {
      const missing = await cli(["stats", "--url", url]);
      assert.equal(missing.code, 2);
      assert.match(
        missing.stderr,
        /^aether-tasks: The admin endpoint at .* needs a token: pass --token or set AETHER_ADMIN_TOKEN/,
      );
      const wrong = await cli(["get", "0123", "--url", url, "--token", "wrong-token-wrong-token"]);
      assert.equal(wrong.code, 2);
      assert.match(
        wrong.stderr,
        /refused the token of --token or AETHER_ADMIN_TOKEN: The token is not valid\n$/,
      );
      assert.equal(wrong.stderr.trim().split("\n").length, 1);
    },
  );

  it(
    "an endpoint that cannot be reached, a bad URL and --url with --db exit 2",
    TEST_TIMEOUT,
    async () => {
      // A port nobody listens on: the worker's, after it is stopped, would be racy; port 1 is not ours.
      const refused = await cli(["list", "--url", "http://127.0.0.1:1"]);
      assert.equal(refused.code, 2);
      assert.match(
        refused.stderr,
        /^aether-tasks: Cannot reach the admin endpoint at http:\/\/127\.0\.0\.1:1 \(--url\): /,
      );
      assert.equal(refused.stderr.trim().split("\n").length, 1);
      const bad = await cli(["stats", "--url", "ftp://host"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--url must be an http:\/\/ or https:\/\/ URL, got a ftp:\/\/ URL/);
      const both = await cli(["get", "0123", "--url", url, "--db", db]);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /get: give --url .* or --db .*, not both/);
    },
  );
});
