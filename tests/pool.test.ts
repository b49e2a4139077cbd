/**
 * The Web Worker pool: handler modules run in Workers while the main thread keeps the store,
 * claims and leases. Short timeouts and graces keep the suite fast; every wait is on an event.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, afterEach, before, describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { HandlerLoadError } from "../src/handlers/load.ts";
import type { TaskExecutor } from "../src/executor.ts";
import {
  DEFAULT_ABORT_GRACE_MILLIS,
  WorkerPool,
  type WorkerPoolOptions,
  type WorkerPoolStats,
} from "../src/pool/pool.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import type { TaskRecord } from "../src/task.ts";
import { TaskWorker } from "../src/worker.ts";
import { makeTask, nextEvent, tempDir } from "./_helpers.ts";

const handlersDir = fileURLToPath(new URL("./fixtures/pool_handlers", import.meta.url));
const badHandlers = (name: string) =>
  fileURLToPath(new URL(`./fixtures/bad_handlers/${name}`, import.meta.url));
const isDeno = process.versions.deno !== undefined;

interface Harness {
  pool: WorkerPool;
  store: InMemoryTaskStore;
  worker: TaskWorker;
  dispatcher: TaskDispatcher;
  /** Enqueues and waits for the task's final record. */
  run(
    name: string,
    args?: unknown,
    options?: Parameters<TaskDispatcher["enqueue"]>[2],
  ): Promise<TaskRecord>;
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/**
 * A store, a worker and a dispatcher over `pool`. The worker closes the pool when it stops,
 * unless `keepPool` (for the pool the tests share: each Worker start costs a module load, and
 * under Deno a process start).
 */
function harness(
  pool: WorkerPool,
  options: { concurrency?: number; registry?: TaskRegistry; keepPool?: boolean } = {},
): Harness {
  const registry = options.registry ?? new TaskRegistry();
  if (!options.registry) { for (const definition of pool.definitions) registry.add(definition); }
  const store = new InMemoryTaskStore();
  const executor: TaskExecutor = options.keepPool
    ? { execute: (task, control) => pool.execute(task, control) }
    : pool;
  const worker = new TaskWorker(store, { executor, concurrency: options.concurrency ?? 4 });
  const dispatcher = new TaskDispatcher(store, { registry });
  worker.start();
  stops.push(() => worker.stop({ graceMillis: 0 }));
  return {
    pool,
    store,
    worker,
    dispatcher,
    run: async (name, args = {}, enqueueOptions = {}) =>
      await dispatcher.waitFor(await dispatcher.enqueue(name, args, enqueueOptions), {
        timeout: 10_000,
      }),
  };
}

/** A pool of its own, closed when its test ends. */
async function ownPool(
  options: Partial<WorkerPoolOptions>,
  worker: { concurrency?: number } = {},
): Promise<Harness> {
  const pool = await WorkerPool.start({ handlersDir, size: 1, graceMillis: 100, ...options });
  stops.push(() => pool.close());
  return harness(pool, worker);
}

/** How much each counter of `pool.stats()` grows while `body` runs. */
async function counting<T>(
  pool: WorkerPool,
  body: () => Promise<T>,
): Promise<{ value: T; grew: Partial<WorkerPoolStats> }> {
  const before = pool.stats();
  const value = await body();
  const after = pool.stats();
  const grew: Partial<WorkerPoolStats> = {};
  for (const key of ["crashes", "killed", "recycles", "quarantined"] as const) {
    grew[key] = after[key] - before[key];
  }
  return { value, grew };
}

const once = { retryConfig: { maxAttempts: 1 } };

describe("WorkerPool", () => {
  let shared: WorkerPool;
  before(async () => {
    shared = await WorkerPool.start({
      handlersDir,
      size: 1,
      graceMillis: 100,
      maxHeapMegabytes: 48,
    });
  });
  after(() => shared.close());
  const onShared = (options: { concurrency?: number; registry?: TaskRegistry } = {}) =>
    harness(shared, { ...options, keepPool: true });

  it("loads the handlers folder and runs a task with its args parsed by the schema", async () => {
    const h = onShared();
    assert.deepEqual(
      h.pool.definitions.map((d) => d.name),
      [
        "bad-result",
        "barrier",
        "blocked-once",
        "cancellable",
        "crash",
        "echo",
        "noop",
        "report",
        "sleep",
        "spin",
      ],
    );
    const task = await h.run("echo", { n: 21 });
    assert.equal(task.status, "COMPLETED");
    assert.deepEqual(task.result, { double: 42, label: "none", attempt: 1 });
  });

  it("fails a task whose args fail the schema in the Worker, for good", async () => {
    // A producer whose registry has no schema for "echo" lets bad args through to the Worker.
    const registry = new TaskRegistry();
    registry.register("echo", () => null);
    const h = onShared({ registry });
    const task = await h.run("echo", { n: "two" }, { retryConfig: { maxAttempts: 3 } });
    assert.equal(task.status, "FAILED");
    assert.equal(task.attempts, 1);
    assert.match(task.lastError!.message, /Invalid arguments for task "echo": args\.n: /);
  });

  it("interleaves async handlers inside one Worker", async () => {
    const h = onShared({ concurrency: 3 });
    const ids = await h.dispatcher.enqueueMany(
      [1, 2, 3].map(() => ({ name: "barrier", args: { group: "g", parties: 3 } })),
    );
    for (const id of ids) {
      assert.equal((await h.dispatcher.waitFor(id, { timeout: 10_000 })).status, "COMPLETED");
    }
  });

  it("keeps progress and log lines on the task and signals progress", async () => {
    const h = onShared();
    const progressed = nextEvent(
      h.worker.signals.taskProgress,
      (e) => (e.progress as { done?: number }).done === 2,
    );
    const task = await h.run("report", {});
    assert.equal(task.status, "COMPLETED");
    assert.deepEqual((await progressed).progress, { done: 2, of: 2 });
    assert.deepEqual(task.progress, { done: 2, of: 2 });
    assert.deepEqual(task.logs, ['starting {"step":1}', "half way"]);
    assert.deepEqual(task.result, {
      refused: "progress.when is a Date, not a plain object; progress must be plain JSON",
      reason: null,
    });
  });

  it("fails a task whose result is not plain JSON, saying what is wrong", async () => {
    const h = onShared();
    const expected = {
      function: "result.callback is a function; a task's result must be plain JSON",
      date: "result is a Date, not a plain object; a task's result must be plain JSON",
      bigint: "result[0] is a bigint; a task's result must be plain JSON",
      map: "result is a Map, not a plain object; a task's result must be plain JSON",
    };
    const { grew } = await counting(shared, async () => {
      for (const [kind, message] of Object.entries(expected)) {
        const task = await h.run("bad-result", { kind }, once);
        assert.equal(task.status, "FAILED", kind);
        assert.equal(task.lastError?.message, message);
      }
    });
    assert.equal(grew.crashes, 0);
  });

  it("fails a handler that throws or rejects as any failure, without a crash", async () => {
    const h = onShared();
    const { grew } = await counting(shared, async () => {
      assert.equal(
        (await h.run("crash", { kind: "throw" }, once)).lastError?.message,
        "thrown by the handler",
      );
      assert.equal(
        (await h.run("crash", { kind: "reject" }, once)).lastError?.message,
        "rejected by the handler",
      );
    });
    assert.equal(grew.crashes, 0);
  });

  describe("crashes", () => {
    const kinds: [kind: string, message: RegExp][] = [
      ["timer", /crashed with an uncaught error .*: thrown in a timer/],
      ["unhandled", /crashed with an uncaught error .*: nobody awaits this/],
      ["process.exit", /^The handler called process\.exit\(7\), which would end its Worker$/],
      ["self.close", /^The handler called self\.close\(\), which would end its Worker$/],
      ["memory", /^The Worker exceeded its heap limit: \d+ MB in use, over 48 MB$/],
    ];
    if (isDeno) {
      kinds.push(["Deno.exit", /^The handler called Deno\.exit\(7\), which would end its Worker$/]);
    }

    for (const [kind, message] of kinds) {
      it(`fails the task, replaces the Worker and goes on when a handler crashes it: ${kind}`, async () => {
        const h = onShared();
        const { value: task, grew } = await counting(shared, () => h.run("crash", { kind }, once));
        assert.equal(task.status, "FAILED");
        assert.match(task.lastError!.message, message);
        assert.equal(grew.crashes, 1);
        assert.equal((await h.run("noop")).status, "COMPLETED");
        assert.equal(shared.stats().workers, 1);
      });
    }

    // Deno runs each Worker as a process with a V8 heap limit (twice maxHeapMegabytes); a Bun
    // Worker has none, and the burst would take the whole process down.
    const burst = "fails the task and goes on when a handler runs out of heap in one burst (Deno)";
    it(burst, { skip: !isDeno }, async () => {
      const h = onShared();
      const { value: task, grew } = await counting(
        shared,
        () => h.run("crash", { kind: "memory-burst" }, once),
      );
      assert.equal(task.status, "FAILED");
      assert.equal(
        task.lastError!.message,
        "The Worker running this task died: The Worker exited unexpectedly (code 133, signal SIGTRAP)",
      );
      assert.equal(grew.crashes, 1);
      assert.equal((await h.run("noop")).status, "COMPLETED");
    });

    it("quarantines a task that crashed its Worker poisonThreshold (3) times, attempts left or not", async () => {
      const h = onShared();
      const { value: task, grew } = await counting(
        shared,
        () =>
          h.run("crash", { kind: "process.exit" }, {
            retryConfig: { maxAttempts: 10, baseDelayMillis: 0 },
          }),
      );
      assert.equal(task.status, "FAILED");
      assert.equal(task.attempts, 3);
      assert.match(
        task.lastError!.message,
        /^Quarantined as poison: this task crashed its Worker 3 times\. Last crash: The handler called process\.exit/,
      );
      assert.deepEqual([grew.crashes, grew.quarantined], [3, 1]);
    });

    it("releases every task of a Worker that crashed without a culprit, then runs each alone", async () => {
      // The heap watchdog cannot tell which task grew the heap: both go back, then run alone.
      const h = onShared({ concurrency: 2 });
      const starts = countStarts(h.worker);
      const markers = await tempDir("aether-marker-");
      after(markers.remove);
      const { value: [hog, bystander], grew } = await counting(shared, async () => {
        const [hog, bystander] = await h.dispatcher.enqueueMany([
          { name: "crash", args: { kind: "memory" }, options: once },
          {
            name: "blocked-once",
            args: { marker: join(markers.path, crypto.randomUUID()) },
            options: once,
          },
        ]);
        return [
          await h.dispatcher.waitFor(hog!, { timeout: 10_000 }),
          await h.dispatcher.waitFor(bystander!, { timeout: 10_000 }),
        ];
      });
      assert.equal(hog!.status, "FAILED");
      assert.match(hog!.lastError!.message, /heap limit/);
      assert.deepEqual([bystander!.status, bystander!.attempts], ["COMPLETED", 1]);
      assert.deepEqual([starts.get(hog!.id), starts.get(bystander!.id)], [2, 2]);
      assert.equal(grew.crashes, 2);
    });
  });

  describe("aborts", () => {
    it("fails with the timeout a handler that stops at its abort, without killing its Worker", async () => {
      const h = onShared();
      const { value: task, grew } = await counting(
        shared,
        () => h.run("sleep", { ms: 60_000 }, { timeout: 200, ...once }),
      );
      assert.equal(task.status, "FAILED");
      assert.equal(task.lastError?.message, "Timed out after 200 ms");
      assert.equal(grew.killed, 0);
    });

    it("terminates the Worker of a handler that ignores its timeout past the grace, then retries", async () => {
      const h = onShared();
      const { value: task, grew } = await counting(
        shared,
        () =>
          h.run("sleep", { ms: 60_000, honorAbort: false }, {
            timeout: 200,
            retryConfig: { maxAttempts: 2, baseDelayMillis: 0 },
          }),
      );
      assert.equal(task.status, "FAILED");
      assert.equal(task.attempts, 2);
      assert.equal(task.lastError?.message, "Timed out after 200 ms");
      // The first attempt's Worker is killed after the grace. The retry is too, unless its
      // timeout fires while the replacement Worker still starts (a loaded machine), which fails
      // the attempt without a Worker to kill.
      assert.ok(grew.killed === 1 || grew.killed === 2, `killed ${grew.killed}`);
      assert.equal((await h.run("noop")).status, "COMPLETED");
    });

    it("puts back the other tasks of a terminated Worker without spending an attempt", async () => {
      const h = onShared({ concurrency: 2 });
      const starts = countStarts(h.worker);
      const [stuck, bystander] = await h.dispatcher.enqueueMany([
        {
          name: "sleep",
          args: { ms: 60_000, honorAbort: false },
          options: { timeout: 200, ...once },
        },
        { name: "sleep", args: { ms: 500 }, options: once },
      ]);
      const stuckTask = await h.dispatcher.waitFor(stuck!, { timeout: 10_000 });
      const bystanderTask = await h.dispatcher.waitFor(bystander!, { timeout: 10_000 });
      assert.equal(stuckTask.status, "FAILED");
      assert.deepEqual([bystanderTask.status, bystanderTask.attempts, starts.get(bystander!)], [
        "COMPLETED",
        1,
        2,
      ]);
    });

    it("ends CANCELLED a running task cancelled in its Worker", async () => {
      const h = onShared();
      const started = nextEvent(h.worker.signals.taskStarted);
      const { value: task, grew } = await counting(shared, async () => {
        const id = await h.dispatcher.enqueue("cancellable", {});
        await started;
        await h.dispatcher.cancel(id);
        return await h.dispatcher.waitFor(id, { timeout: 10_000 });
      });
      assert.equal(task.status, "CANCELLED");
      assert.equal(grew.killed, 0);
    });

    it("ends CANCELLED a running task that ignores its cancel, terminating its Worker", async () => {
      const h = onShared();
      const started = nextEvent(h.worker.signals.taskStarted);
      const { value: task, grew } = await counting(shared, async () => {
        const id = await h.dispatcher.enqueue("sleep", { ms: 60_000, honorAbort: false });
        await started;
        await h.dispatcher.cancel(id);
        return await h.dispatcher.waitFor(id, { timeout: 10_000 });
      });
      assert.equal(task.status, "CANCELLED");
      assert.equal(grew.killed, 1);
    });

    it("releases a busy task at once when its worker stops past the grace, and closes the pool", async () => {
      const h = await ownPool({});
      const started = nextEvent(h.worker.signals.taskStarted);
      const id = await h.dispatcher.enqueue("sleep", { ms: 60_000, honorAbort: false });
      await started;
      await h.worker.stop({ graceMillis: 0 });
      const task = await h.dispatcher.getTask(id);
      assert.deepEqual([task?.status, task?.attempts], ["PENDING", 0]);
      assert.equal(h.pool.stats().workers, 0);
    });
  });

  it("recycles a Worker after recycleAfter tasks", async () => {
    const h = await ownPool({ recycleAfter: 3 }, { concurrency: 1 });
    const ids = await h.dispatcher.enqueueMany(Array.from({ length: 7 }, () => ({ name: "noop" })));
    for (const id of ids) {
      assert.equal((await h.dispatcher.waitFor(id, { timeout: 10_000 })).status, "COMPLETED");
    }
    assert.equal(h.pool.stats().recycles, 2);
    assert.equal(h.pool.stats().workers, 1);
  });

  describe("life cycle", () => {
    it("refuses bad options, naming the option and its value", () => {
      assert.throws(
        () => new WorkerPool({ handlersDir, size: 0 }),
        /size must be an integer >= 1, got 0/,
      );
      assert.throws(
        () => new WorkerPool({ handlersDir, graceMillis: -1 }),
        /graceMillis .* got -1/,
      );
      assert.throws(
        () => new WorkerPool({ handlersDir, maxHeapMegabytes: 0.5 }),
        /maxHeapMegabytes .* got 0\.5/,
      );
      assert.throws(() => new WorkerPool({ handlersDir: "" }), /handlersDir must be a folder path/);
      assert.equal(DEFAULT_ABORT_GRACE_MILLIS, 5_000);
    });

    it("fails start with a HandlerLoadError naming the file", async () => {
      const broken = await tempDir();
      stops.push(broken.remove);
      await writeFile(
        join(broken.path, "missing.ts"),
        'import { gone } from "./_gone.ts";\nexport default gone;\n',
      );
      const cases: [folder: string, file: string, problem: RegExp][] = [
        [
          badHandlers("duplicate"),
          "second.ts",
          /defines task "twice", which .*first\.ts defines too/,
        ],
        [broken.path, "missing.ts", /the module failed to load/],
        // Loads in the main thread, exits in the Worker: the Worker's report names the file.
        [badHandlers("exits_on_load"), "exits.ts", /process\.exit\(3\)/],
      ];
      for (const [folder, file, problem] of cases) {
        const error = await WorkerPool.start({ handlersDir: folder, size: 1 }).then(
          () => assert.fail(`${folder} should not start`),
          (e: unknown) => e,
        );
        assert.ok(error instanceof HandlerLoadError, `${folder}: ${error}`);
        assert.equal(error.file, join(folder, file));
        assert.match(error.problem, problem);
      }
    });

    it("fails execute before start, and stops idempotently", async () => {
      const pool = new WorkerPool({ handlersDir, size: 1 });
      // Before start it defines no task: a worker over it claims nothing.
      assert.deepEqual(pool.definitions, []);
      const result = await pool.execute(makeTask({ name: "noop" }), {
        signal: new AbortController().signal,
        progress: () => Promise.resolve(),
        log: () => {},
      });
      assert.equal(
        result.kind === "failed" && (result.error as Error).message,
        "The WorkerPool was not started; call start() first",
      );
      await Promise.all([pool.stop(), pool.close(), pool[Symbol.asyncDispose]()]);
      await assert.rejects(pool.start(), /A closed WorkerPool cannot start again/);
    });
  });
});

/** Counts `taskStarted` events per task id. */
function countStarts(worker: TaskWorker): Map<string, number> {
  const starts = new Map<string, number>();
  worker.signals.taskStarted.connect(({ task }) =>
    starts.set(task.id, (starts.get(task.id) ?? 0) + 1)
  );
  return starts;
}

describe("WorkerPool in its own process", () => {
  const script = fileURLToPath(new URL("./fixtures/pool_process.ts", import.meta.url));

  /** Runs the fixture; resolves with its exit code and JSON report, or rejects after 20 s. */
  function runProcess(
    ...args: string[]
  ): Promise<{ code: number | null; report: Record<string, unknown> }> {
    const runtimeArgs = isDeno ? ["run", "-A", script, ...args] : [script, ...args];
    const child = spawn(process.execPath, runtimeArgs, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (chunk) => (out += chunk));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(
          new Error(`pool_process ${args.join(" ")} did not exit within 20 s; printed ${out}`),
        );
      }, 20_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        try {
          resolve({ code, report: JSON.parse(out.trim().split("\n").at(-1) ?? "{}") });
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  it("stops a CPU-bound handler by its timeout; the pool goes on and the process exits", async () => {
    const { code, report } = await runProcess("cpu-timeout");
    assert.equal(code, 0);
    assert.deepEqual([report.spin, report.error, report.after], [
      "FAILED",
      "Timed out after 200 ms",
      "COMPLETED",
    ]);
    assert.equal((report.stats as { killed: number }).killed, 1);
  });

  it("exits after stopping with a Worker stuck in synchronous code (explicit exit)", async () => {
    const { code, report } = await runProcess("stop-busy", "spin", "explicit");
    assert.equal(code, 0);
    assert.deepEqual([report.status, report.attempts], ["PENDING", 0]);
  });

  it("exits by itself after stopping with a Worker busy in async code", async () => {
    const { code, report } = await runProcess("stop-busy", "sleep", "natural");
    assert.equal(code, 0);
    assert.deepEqual([report.status, report.attempts], ["PENDING", 0]);
  });

  // Deno 2.9's Worker.terminate() leaves a thread stuck in synchronous code running (seen on
  // 2.9.6), which would keep the process alive; the pool runs Deno's Workers as processes.
  it("exits by itself after stopping with a Worker stuck in synchronous code", async () => {
    const { code } = await runProcess("stop-busy", "spin", "natural");
    assert.equal(code, 0);
  });
});
