/**
 * The Python client (`clients/python/aether_tasks.py`) with the system `python3` against a real
 * worker process (the CLI from source, on the runtime running this file): enqueue from Python
 * and run in TypeScript; enqueue from TypeScript and run in Python; a Python worker killed with
 * SIGKILL mid-task (the task runs again in another one); a Python worker stalled (SIGSTOP) past
 * its heartbeat timeout (its late completion is refused). Cross-process waits poll the API with a
 * deadline or await printed lines; nothing sleeps for a fixed time.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, afterEach, before, describe, it } from "node:test";
import { childEnv, CLI_FROM_SOURCE, ROOT } from "./_process.ts";

const TOKEN = "python-test-token-0123456789";
const PYTHON = "python3";
const HAS_PYTHON = spawnSync(PYTHON, ["--version"]).status === 0;
const RUNTIME = "Bun" in globalThis ? "bun" : "deno";
const EVENT_TIMEOUT_MILLIS = 30_000;
const TEST_TIMEOUT = { timeout: 90_000 };
const PY_ENV = childEnv({ PYTHONPATH: join(ROOT, "clients/python"), PYTHONUNBUFFERED: "1" });

/** A child process whose printed lines can be awaited. */
class Proc {
  readonly child: ChildProcess;
  out = "";
  #waiters = new Set<() => void>();
  #ended = false;

  constructor(command: readonly string[], env: Record<string, string>, cwd = ROOT) {
    this.child = spawn(command[0]!, command.slice(1), {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const take = (chunk: Buffer) => {
      this.out += chunk.toString();
      for (const wake of this.#waiters) wake();
    };
    this.child.stdout!.on("data", take);
    this.child.stderr!.on("data", take);
    this.child.on("exit", () => {
      this.#ended = true;
      for (const wake of this.#waiters) wake();
    });
  }

  /** Resolves with the match once the output matches `pattern`. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`No ${pattern} within ${EVENT_TIMEOUT_MILLIS} ms:\n${this.out}`));
      }, EVENT_TIMEOUT_MILLIS);
      const check = () => {
        const match = this.out.match(pattern);
        if (match || this.#ended) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          if (match) resolve(match);
          else reject(new Error(`The process ended before printing ${pattern}:\n${this.out}`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  exited(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve(this.child.exitCode);
    }
    return new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      process.kill(this.child.pid!, signal);
    }
  }
}

let dir = "";
let server: Proc | undefined;
let url = "";
const started: Proc[] = [];

async function api(path: string, init: RequestInit & { json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${TOKEN}`);
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    init.body = JSON.stringify(init.json);
    init.method ??= "POST";
  }
  const response = await fetch(url + path, { ...init, headers });
  return { status: response.status, body: await response.json() };
}

/** Polls the task through the API until `accept` holds, with a deadline. */
async function taskUntil(
  id: string,
  accept: (task: Record<string, unknown>) => boolean,
  what: string,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + EVENT_TIMEOUT_MILLIS;
  for (;;) {
    const { body } = await api(`/api/tasks/${id}/wait?timeout=200ms`);
    if (accept(body)) return body;
    // Not yet: the wait itself held the request for up to 200 ms, so this loop does not spin.
    if (Date.now() > deadline) {
      throw new Error(`Task ${id} never became ${what}: ${JSON.stringify(body)}`);
    }
  }
}

/** A Python worker; `hangs` overrides when `py.resize` hangs (default: on attempt 1 only). */
function pythonWorker(concurrency = 1, hangs?: boolean): Proc {
  const env = hangs === undefined ? PY_ENV : { ...PY_ENV, PY_WORKER_HANGS: hangs ? "1" : "0" };
  const proc = new Proc([
    PYTHON,
    join(ROOT, "tests/fixtures/python_worker.py"),
    url,
    TOKEN,
    String(concurrency),
  ], env);
  started.push(proc);
  return proc;
}

async function enqueue(name: string, args: unknown): Promise<string> {
  const { status, body } = await api("/api/tasks", { json: { name, args } });
  assert.equal(status, 201, JSON.stringify(body));
  return body.id;
}

describe("Python client", { skip: HAS_PYTHON ? false : "python3 is not installed" }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aether-python-"));
    server = new Proc(
      [
        ...CLI_FROM_SOURCE[RUNTIME],
        "worker",
        "--handlers",
        join(ROOT, "tests/fixtures/remote_handlers"),
        "--db",
        join(dir, "tasks.db"),
        "--admin",
        "127.0.0.1:0",
        "--admin-token",
        TOKEN,
        "--queues",
        "default",
        "--workers",
        "1",
        "--poll-interval",
        "50ms",
        "--lease",
        "5s",
        "--heartbeat-interval",
        "250ms",
        "--heartbeat-timeout",
        "2500ms",
        "--log-format",
        "json",
      ],
      childEnv(),
      dir,
    );
    const match = await server.waitFor(/"admin":"(http:\/\/[^"]+)"/);
    url = match[1]!;
  });

  // Each test starts its own Python processes; none may take the next test's tasks.
  afterEach(async () => {
    for (const proc of started) {
      proc.signal("SIGCONT");
      proc.signal("SIGKILL");
    }
    await Promise.all(started.map((p) => p.exited()));
    started.length = 0;
  });

  after(async () => {
    server?.signal("SIGTERM");
    await server?.exited();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    "a task enqueued from Python runs in the TypeScript worker; Python waits for its result",
    TEST_TIMEOUT,
    async () => {
      const proc = new Proc([
        PYTHON,
        join(ROOT, "tests/fixtures/python_enqueue.py"),
        url,
        TOKEN,
        "ts.double",
        '{"x": 21}',
      ], PY_ENV);
      started.push(proc);
      const line = (await proc.waitFor(/^\{.*\}$/m))[0];
      assert.equal(await proc.exited(), 0, proc.out);
      const printed = JSON.parse(line);
      assert.equal(printed.task.status, "COMPLETED");
      assert.equal(printed.task.result, 42);
      assert.equal(printed.task.priority, "HIGH");
      assert.equal(printed.task.maxAttempts, 2);
      assert.equal(printed.type.argsSchema.properties.x.type, "number");
    },
  );

  it(
    "a task enqueued from TypeScript runs in a Python worker, which shows in the processes list",
    TEST_TIMEOUT,
    async () => {
      const worker = pythonWorker(2);
      await worker.waitFor(/registered (remote-\S+)/);
      const id = await enqueue("py.resize", { n: 5 });
      const task = await taskUntil(id, (t) => t.status === "COMPLETED", "COMPLETED");
      assert.equal((task.result as { n: number }).n, 10);
      assert.match(task.workerId as string, /^remote-/);
      const { body } = await api("/api/workers");
      const row = body.workers.find((w: { id: string }) => w.id === task.workerId);
      assert.equal(row?.meta.language, "python");
      worker.signal("SIGTERM");
      assert.equal(await worker.exited(), 0, worker.out);
      assert.match(worker.out, /stopped remote-/);
      const after = await api("/api/workers");
      assert.ok(
        !after.body.workers.some((w: { id: string }) => w.id === task.workerId),
        "it left the registry",
      );
    },
  );

  it(
    "a Python worker killed with SIGKILL mid-task: the task runs again in another worker",
    TEST_TIMEOUT,
    async () => {
      // The first worker hangs on whichever attempt it starts; the second one never does.
      const first = pythonWorker(1, true);
      await first.waitFor(/registered/);
      const id = await enqueue("py.resize", { n: 7, hang: 60 });
      // Attempt 1, unless a starved machine let its heartbeat timeout pass before the start.
      const started = Number((await first.waitFor(new RegExp(`started ${id} (\\d+)`)))[1]);
      first.signal("SIGKILL");
      await first.exited();
      const second = pythonWorker(1, false);
      await second.waitFor(new RegExp(`started ${id} \\d+`));
      const task = await taskUntil(id, (t) => t.status === "COMPLETED", "COMPLETED");
      const result = task.result as { n: number; attempt: number; pid: number };
      assert.equal(result.n, 14);
      // The next attempt, unless the loaded machine starved a worker past its heartbeat timeout.
      assert.ok(result.attempt > started, `ran again: attempt ${result.attempt} after ${started}`);
      assert.equal(task.attempts, result.attempt);
      assert.notEqual(result.pid, first.child.pid);
      // Taken back when its heartbeats stopped ("is gone"); on a starved machine the retry's own
      // lease may have run out too before it completed ("Lease expired").
      assert.match((task.lastError as { message: string }).message, /is gone|Lease expired/);
      second.signal("SIGTERM");
      await second.exited();
    },
  );

  it("an attempt past its timeout is failed by the Python worker", TEST_TIMEOUT, async () => {
    const worker = pythonWorker(1);
    await worker.waitFor(/registered/);
    const { status, body } = await api("/api/tasks", {
      json: { name: "py.resize", args: { n: 1, hang: 60 }, timeout: "500ms", maxAttempts: 1 },
    });
    assert.equal(status, 201);
    const task = await taskUntil(body.id, (t) => t.status === "FAILED", "FAILED");
    assert.match((task.lastError as { message: string }).message, /^Timed out after 500 ms/);
    worker.signal("SIGKILL");
    await worker.exited();
  });

  it(
    "a Python worker stalled past its heartbeat timeout: its late completion is refused",
    TEST_TIMEOUT,
    async () => {
      // The stalled worker hangs on whichever attempt it starts; the other one never does.
      const stalled = pythonWorker(1, true);
      await stalled.waitFor(/registered/);
      const id = await enqueue("py.resize", { n: 3, hang: 1 });
      // Attempt 1, unless a starved machine let its heartbeat timeout pass before the start.
      const started = Number((await stalled.waitFor(new RegExp(`started ${id} (\\d+)`)))[1]);
      stalled.signal("SIGSTOP");
      const other = pythonWorker(1, false);
      const done = await taskUntil(id, (t) => t.status === "COMPLETED", "COMPLETED");
      const result = done.result as { attempt: number; pid: number };
      assert.ok(result.attempt > started, `ran again: attempt ${result.attempt} after ${started}`);
      assert.notEqual(result.pid, stalled.child.pid);
      stalled.signal("SIGCONT");
      await stalled.waitFor(new RegExp(`outcome of ${id} refused \\(COMPLETED\\)`));
      const final = await api(`/api/tasks/${id}`);
      assert.deepEqual(final.body.result, result, "the late outcome changed nothing");
      for (const proc of [stalled, other]) proc.signal("SIGTERM");
      await Promise.all([stalled.exited(), other.exited()]);
    },
  );
});
