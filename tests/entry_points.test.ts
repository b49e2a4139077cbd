/**
 * The entry points the README promises, from a fresh clone of the repository (its committed
 * HEAD, with this checkout's `node_modules` linked in): `deno task run <command>`,
 * `deno task worker`, `bun run worker` and `bun run cli <command>`.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { TaskStats } from "../src/store/store.ts";
import type { TaskRecord } from "../src/task.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUN = join(ROOT, "node_modules/.bin/bun");
const DENO = join(ROOT, "node_modules/deno/deno");
/** Longest wait for a worker to start or stop before a test fails. */
const EVENT_TIMEOUT_MILLIS = 30_000;
const TEST_TIMEOUT = { timeout: 90_000 };

function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("AETHER_")) env[key] = value;
  }
  return { ...env, NO_COLOR: "1" };
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: readonly string[], cwd: string): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd,
      env: childEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Starts a worker through a task runner and resolves once it logged `worker.started`; `stop()`
 * sends SIGTERM to the runner (which passes it on) and resolves with the exit code.
 */
async function startWorker(
  command: readonly string[],
  cwd: string,
): Promise<{ stop(): Promise<number | null>; kill(): void; log: string[] }> {
  const child = spawn(command[0]!, [...command.slice(1), "--log-format", "json"], {
    cwd,
    env: childEnv(),
    stdio: ["ignore", "ignore", "pipe"],
  });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`No worker.started within ${EVENT_TIMEOUT_MILLIS} ms:\n${log.join("\n")}`),
        ),
      EVENT_TIMEOUT_MILLIS,
    );
    createInterface({ input: child.stderr }).on("line", (line) => {
      log.push(line);
      if (line.includes('"event":"worker.started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`The worker exited (${code}) before it started:\n${log.join("\n")}`));
    });
  });
  return {
    log,
    stop() {
      // process.kill, not child.kill: Deno's child_process reports a child it signalled as
      // killed (code null) even when the child exits 0.
      process.kill(child.pid!, "SIGTERM");
      return exited;
    },
    kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

const CSV_ARGS = JSON.stringify({
  columns: [{ key: "n" }],
  rows: [{ n: 1 }, { n: 2 }],
  totals: ["n"],
});

describe("the promised entry points, from a fresh clone", () => {
  let clone: string;

  before(async () => {
    clone = await mkdtemp(join(tmpdir(), "aether-clone-"));
    const cloned = await run(["git", "clone", "--quiet", ROOT, clone], tmpdir());
    assert.equal(cloned.code, 0, `git clone failed: ${cloned.stderr}`);
    await symlink(join(ROOT, "node_modules"), join(clone, "node_modules"));
  });
  after(async () => {
    await rm(clone, { recursive: true, force: true });
  });

  const runners: {
    name: string;
    worker: (db: string) => string[];
    cli: (args: readonly string[]) => string[];
  }[] = [
    {
      name: "deno task run worker, deno task run enqueue and deno task run stats",
      worker: (db) => [DENO, "task", "run", "worker", "--no-admin", "--db", db],
      cli: (args) => [DENO, "task", "run", ...args],
    },
    {
      name: "deno task worker and deno task cli",
      worker: (db) => [DENO, "task", "worker", "--no-admin", "--db", db],
      cli: (args) => [DENO, "task", "cli", ...args],
    },
    {
      name: "bun run worker and bun run cli",
      worker: (db) => [BUN, "run", "worker", "--no-admin", "--db", db],
      cli: (args) => [BUN, "run", "cli", ...args],
    },
  ];

  for (const [index, { name, worker: workerCommand, cli }] of runners.entries()) {
    it(`${name}: a task runs to COMPLETED and SIGTERM stops the worker`, TEST_TIMEOUT, async () => {
      const db = join(clone, `data/tasks-${index}.db`);
      const worker = await startWorker([...workerCommand(db), "--poll-interval", "50ms"], clone);
      try {
        const done = await run(
          cli(["enqueue", "csv-report", CSV_ARGS, "--db", db, "--wait", "--json"]),
          clone,
        );
        assert.equal(done.code, 0, done.stderr);
        const task = JSON.parse(done.stdout) as TaskRecord;
        assert.equal(task.status, "COMPLETED");
        const stats = await run(cli(["stats", "--db", db, "--json"]), clone);
        assert.equal(stats.code, 0, stats.stderr);
        assert.equal((JSON.parse(stats.stdout) as TaskStats).byStatus.COMPLETED, 1);
        assert.equal(await worker.stop(), 0, worker.log.join("\n"));
        assert.ok(worker.log.some((line) => line.includes('"event":"worker.stopped"')));
      } finally {
        worker.kill();
      }
    });
  }

  it("deno task run with no command prints the overview and exits 2", TEST_TIMEOUT, async () => {
    const result = await run([DENO, "task", "run"], clone);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Usage: aether-tasks COMMAND/);
  });
});
