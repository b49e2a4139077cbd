/**
 * The recovery settings and the worker registry as users reach them: `worker --lease`,
 * `--heartbeat-interval`, `--heartbeat-timeout` (and their AETHER_* variables) resolved and shown
 * by `--print-config`; `aether-tasks workers` from source; `GET /api/workers`.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { describe, it } from "node:test";
import { createAdminHandler } from "../src/admin/handler.ts";
import { UsageError } from "../src/cli/exit.ts";
import { resolveWorkerConfig, workerConfigRows } from "../src/cli/worker_config.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { WorkerInfo } from "../src/store/store.ts";
import { tempDir } from "./_helpers.ts";

const WORKER: WorkerInfo = {
  id: "worker-1234abcd",
  host: "box-1",
  pid: 4242,
  startedAt: 1_700_000_000_000,
  lastBeatAt: 1_700_000_002_000,
  queues: ["default", "mail"],
  concurrency: 16,
  meta: { running: 3, process: { bootId: "b", pidNamespace: "pid:[1]", startTicks: 9 } },
};

describe("worker recovery settings", () => {
  it("--lease and the heartbeat settings come from flags, else AETHER_*, else defaults", () => {
    const defaults = resolveWorkerConfig({}, {});
    assert.deepEqual(
      [defaults.lease, defaults.heartbeatInterval, defaults.heartbeatTimeout].map((s) => s.value),
      [30_000, 2_000, 10_000],
    );
    const config = resolveWorkerConfig({ lease: "45s" }, {
      AETHER_HEARTBEAT_INTERVAL: "1s",
      AETHER_HEARTBEAT_TIMEOUT: "5s",
    });
    assert.deepEqual(config.lease, { value: 45_000, source: "flag", origin: "--lease" });
    assert.deepEqual(config.heartbeatInterval, {
      value: 1000,
      source: "env",
      origin: "AETHER_HEARTBEAT_INTERVAL",
    });
    const rows = workerConfigRows(config);
    assert.deepEqual(rows.find(([key]) => key === "lease"), ["lease", "45s", "--lease"]);
    assert.deepEqual(rows.find(([key]) => key === "heartbeatTimeout"), [
      "heartbeatTimeout",
      "5s",
      "AETHER_HEARTBEAT_TIMEOUT",
    ]);
  });

  it("contradicting or malformed settings are refused naming them", () => {
    const refused = (values: Record<string, string>, env: Record<string, string>, re: RegExp) =>
      assert.throws(() => resolveWorkerConfig(values, env), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, re);
        return true;
      });
    refused(
      { "heartbeat-timeout": "2s" },
      {},
      /^--heartbeat-timeout \(2s\) must be longer than --heartbeat-interval \(default 2s\)$/,
    );
    refused(
      { lease: "10s" },
      {},
      /^--heartbeat-timeout \(default 10s\) must be shorter than --lease \(10s\); otherwise/,
    );
    refused({}, { AETHER_LEASE: "30" }, /AETHER_LEASE .*add a unit/);
    refused({ "heartbeat-interval": "0s" }, {}, /--heartbeat-interval must be at least 1ms/);
  });
});

describe("the worker registry over HTTP and the CLI", () => {
  it("GET /api/workers lists the registered workers", async () => {
    const store = new InMemoryTaskStore();
    await store.registerWorker(WORKER);
    const handler = createAdminHandler({ store, dispatcher: new TaskDispatcher(store) });
    try {
      const response = await handler(new Request("http://localhost/api/workers"));
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { workers: [WORKER], unrunnable: [] });
      const post = await handler(
        new Request("http://localhost/api/workers", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        }),
      );
      assert.equal(post.status, 405);
    } finally {
      handler.close();
    }
  });

  it(
    "`aether-tasks workers` prints the registry as a table and as JSON",
    { timeout: 30_000 },
    async () => {
      const dir = await tempDir("aether-workers-cli-");
      try {
        const db = join(dir.path, "tasks.db");
        const store = await SqliteTaskStore.open(db);
        await store.registerWorker(WORKER);
        await store.close();
        const json = await cli(["workers", "--db", db, "--json"]);
        assert.equal(json.code, 0, json.stderr);
        assert.deepEqual(JSON.parse(json.stdout), { workers: [WORKER] });
        const table = await cli(["workers", "--db", db]);
        assert.equal(table.code, 0, table.stderr);
        const [header, row] = table.stdout.trim().split("\n");
        assert.match(header!, /^ID +HOST +PID +QUEUES +CONCURRENCY +RUNNING +STARTED +LAST BEAT$/);
        assert.match(
          row!,
          /^worker-1234abcd +box-1 +4242 +default,mail +16 +3 +2023-11-14T22:13:20Z +\S+ ago$/,
        );
        const missing = await cli(["workers", "--db", join(dir.path, "none.db")]);
        assert.equal(missing.code, 2);
        assert.match(missing.stderr, /No database at/);
      } finally {
        await dir.remove();
      }
    },
  );
});

/** Runs the CLI from source under the current runtime. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const command = "Bun" in globalThis ? [main, ...args] : ["run", "-A", main, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, {
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
