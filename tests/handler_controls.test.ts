/**
 * Handler controls: a permanent failure (`PermanentError`, `ctx.fail`), a snooze (`ctx.snooze`),
 * a task's own backoff, and the attempt history they leave, in process and through the Web
 * Worker pool. Time moves by an injected clock; every wait is on an event.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, afterEach, before, describe, it } from "node:test";
import * as v from "valibot";
import { createAdminHandler } from "../src/admin/handler.ts";
import { formatTaskFields } from "../src/cli/format_task.ts";
import { paletteFor } from "../src/cli/output.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { isPermanentError, PermanentError } from "../src/errors.ts";
import { InProcessExecutor, type TaskExecutor } from "../src/executor.ts";
import { defineTask } from "../src/handlers/define.ts";
import { fromWireError, toWireError } from "../src/pool/_protocol.ts";
import { WorkerPool } from "../src/pool/pool.ts";
import { TaskRegistry } from "../src/registry.ts";
import { LeaseRescuer } from "../src/rescuer.ts";
import { customBackoffDelay } from "../src/retry.ts";
import { defaultSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import { MAX_ATTEMPT_HISTORY, type TaskRecord } from "../src/task.ts";
import { TaskWorker, type TaskWorkerOptions } from "../src/worker.ts";
import { FakeClock, tempDir } from "./_helpers.ts";
import { CLI_FROM_SOURCE, run } from "./_process.ts";

const handlersDir = fileURLToPath(new URL("./fixtures/controls_handlers", import.meta.url));

/** Resolves with the record once the store has applied an outcome of task `id`. */
function nextFinish(store: TaskStore, id: string): Promise<TaskRecord> {
  return new Promise((resolve, reject) => {
    const stop = store.listen((event) => {
      if (event.type !== "finished" || !event.ids.includes(id)) return;
      stop();
      store.get(id).then((task) => task ? resolve(task) : reject(new Error(`${id} is gone`)));
    });
  });
}

interface Setup {
  store: TaskStore;
  registry: TaskRegistry;
  clock: FakeClock;
  dispatcher: TaskDispatcher;
  start(options?: TaskWorkerOptions): TaskWorker;
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** A store (memory unless given), a registry, a fake clock, a dispatcher and workers over them. */
function setup(store: TaskStore = new InMemoryTaskStore()): Setup {
  const registry = new TaskRegistry();
  const clock = new FakeClock();
  const dispatcher = new TaskDispatcher(store, { registry, clock });
  stops.push(() => store.close());
  return {
    store,
    registry,
    clock,
    dispatcher,
    start: (options = {}) => {
      const worker = new TaskWorker(store, {
        registry,
        clock,
        pollInterval: 60_000,
        random: () => 0.5,
        scheduler: false,
        retention: false,
        ...options,
      });
      worker.start();
      stops.push(() => worker.stop({ graceMillis: 0 }));
      return worker;
    },
  };
}

describe("a permanent failure", () => {
  for (
    const [how, handler] of [
      ["throw new PermanentError", () => {
        throw new PermanentError("The account is closed");
      }],
      ["ctx.fail(message)", (_: unknown, ctx) => ctx.fail("The account is closed")],
      ["ctx.fail(error), even when the handler catches its throw", (_: unknown, ctx) => {
        try {
          ctx.fail(new Error("The account is closed"));
        } catch { /* swallowed by mistake */ }
        return "not stored";
      }],
    ] as const satisfies readonly (readonly [string, Parameters<TaskRegistry["register"]>[1]])[]
  ) {
    it(`${how} ends the task FAILED after attempt 1 of 5, in process`, async () => {
      const { registry, dispatcher, start } = setup();
      registry.register("charge", handler, { retryConfig: { maxAttempts: 5 } });
      start();
      const id = await dispatcher.enqueue("charge", {});
      const done = await dispatcher.waitFor(id, { timeout: 10_000 });
      assert.equal(done.status, "FAILED");
      assert.equal(done.attempts, 1);
      assert.equal(done.maxAttempts, 5);
      assert.equal(done.result, null);
      assert.equal(done.lastError?.message, "The account is closed");
      assert.deepEqual(done.attemptHistory?.map((e) => [e.attempt, e.outcome]), [[1, "failed"]]);
    });
  }

  it("crosses the Worker boundary as a flag on the serialized error", () => {
    const wire = toWireError(new PermanentError("gone"));
    assert.equal(wire.permanent, true);
    assert.equal(JSON.parse(JSON.stringify(wire)).permanent, true);
    const back = fromWireError(wire);
    assert.ok(back instanceof PermanentError && isPermanentError(back));
    assert.equal(back.message, "gone");
    assert.equal(toWireError(new Error("plain")).permanent, undefined);
    assert.equal(isPermanentError(fromWireError(toWireError(new Error("plain")))), false);
  });
});

describe("ctx.snooze", () => {
  it("runs the task again at runAt without spending an attempt", async () => {
    const { store, registry, clock, dispatcher, start } = setup();
    const seen: number[] = [];
    registry.register("poll-partner", (_args, ctx) => {
      seen.push(ctx.attempt);
      if (seen.length === 1) ctx.snooze("10m");
      return { attempt: ctx.attempt };
    }, { retryConfig: { maxAttempts: 1 } });
    const worker = start();
    const id = await dispatcher.enqueue("poll-partner", {});
    const snoozedAt = clock.now();
    const snoozed = await nextFinish(store, id);
    assert.equal(snoozed.status, "SCHEDULED");
    assert.equal(snoozed.runAt, snoozedAt + 600_000);
    assert.equal(snoozed.attempts, 0, "the snoozed attempt does not count");
    assert.equal(snoozed.lastError, null);
    assert.deepEqual(snoozed.attemptHistory?.map((e) => [e.attempt, e.outcome, e.error]), [
      [1, "snoozed", null],
    ]);
    assert.equal(snoozed.attemptHistory?.[0]?.workerId, worker.workerId);
    clock.advance(600_000);
    worker.wake();
    const done = await dispatcher.waitFor(id, { timeout: 10_000 });
    assert.equal(done.status, "COMPLETED", "maxAttempts 1 still allows the run after a snooze");
    assert.deepEqual(done.result, { attempt: 1 });
    assert.deepEqual(seen, [1, 1]);
    assert.deepEqual(done.attemptHistory?.map((e) => e.outcome), ["snoozed", "completed"]);
  });

  it("refuses a bad or out-of-range duration with a RangeError naming the value", async () => {
    const { registry, dispatcher, start } = setup();
    registry.register("snooze-bad", (args: { d: unknown }, ctx) => {
      ctx.snooze(args.d as string);
    }, { retryConfig: { maxAttempts: 1 } });
    start();
    for (
      const [d, expected] of [
        ["soon", /ctx\.snooze\(duration\) must be .*got "soon"/],
        [-5, /ctx\.snooze\(duration\) must be .*got -5/],
        ["30", /ctx\.snooze\(duration\) must be a duration .*got "30"; add a unit/],
        ["4000d", /ctx\.snooze\(duration\) must be at most 10 years .*got "4000d"/],
      ] as const
    ) {
      const done = await dispatcher.waitFor(await dispatcher.enqueue("snooze-bad", { d }), {
        timeout: 10_000,
      });
      assert.equal(done.status, "FAILED");
      assert.match(done.lastError?.message ?? "", expected);
      assert.match(done.lastError?.stack ?? "", /^RangeError/);
    }
  });

  it("ends a task whose cancel was requested while it ran CANCELLED", async () => {
    const { store, registry, dispatcher, start } = setup();
    let release = () => {};
    const running = new Promise<void>((resolve) => (release = resolve));
    let began = () => {};
    const started = new Promise<void>((resolve) => (began = resolve));
    registry.register("snooze-late", async (_args, ctx) => {
      began();
      await running;
      ctx.snooze("1m");
    });
    start();
    const id = await dispatcher.enqueue("snooze-late", {});
    await started;
    // The cancel flag only: the handler keeps going until it snoozes.
    await store.cancel(id, Date.now());
    release();
    const done = await dispatcher.waitFor(id, { timeout: 10_000 });
    assert.equal(done.status, "CANCELLED");
  });
});

describe("a task's own backoff", () => {
  it("sets the retry time from the attempt and the error", async () => {
    const { registry, clock, dispatcher, start } = setup();
    const calls: [number, string][] = [];
    registry.register("partner", () => {
      throw Object.assign(new Error("429"), { retryAfterMillis: 42_000 });
    }, {
      retryConfig: { maxAttempts: 3 },
      backoff: (attempt, error) => {
        calls.push([attempt, (error as Error).message]);
        return attempt === 1 ? (error as { retryAfterMillis: number }).retryAfterMillis : "2m";
      },
    });
    const worker = start();
    const id = await dispatcher.enqueue("partner", {});
    const first = await new Promise<{ nextRunAt: number }>((resolve) => {
      const stop = worker.signals.taskRetrying.connect((event) => {
        if (event.task.id === id) resolve((stop(), event));
      });
    });
    assert.equal(first.nextRunAt, clock.now() + 42_000);
    clock.advance(42_000);
    const second = new Promise<{ nextRunAt: number }>((resolve) => {
      const stop = worker.signals.taskRetrying.connect((event) => {
        if (event.task.id === id) resolve((stop(), event));
      });
    });
    worker.wake();
    assert.equal((await second).nextRunAt, clock.now() + 120_000);
    clock.advance(120_000);
    worker.wake();
    const done = await dispatcher.waitFor(id, { timeout: 10_000 });
    assert.equal(done.status, "FAILED");
    assert.deepEqual(calls, [[1, "429"], [2, "429"]], "not called after the last attempt");
  });

  it("falls back to the exponential default when it throws or returns a bad value", async () => {
    const { registry, clock, dispatcher, start } = setup();
    const warnings: string[] = [];
    const results: unknown[] = [
      () => {
        throw new Error("no idea");
      },
      Number.NaN,
      -1,
      "later",
      400 * 86_400_000,
      { ms: 5 },
    ];
    registry.register("bad-backoff", (args: { i: number }) => {
      throw new Error(`fail ${args.i}`);
    }, {
      retryConfig: { maxAttempts: 2, baseDelayMillis: 3000, useJitter: false },
      backoff: (_attempt, error) => {
        const result = results[Number((error as Error).message.split(" ")[1])];
        return (typeof result === "function" ? result() : result) as number;
      },
    });
    const worker = start({
      executor: new InProcessExecutor(registry, { warn: (line) => warnings.push(line) }),
    });
    for (let i = 0; i < results.length; i++) {
      const retrying = new Promise<{ nextRunAt: number }>((resolve) => {
        const stop = worker.signals.taskRetrying.connect((event) => {
          if (event.task.name === "bad-backoff") resolve((stop(), event));
        });
      });
      await dispatcher.enqueue("bad-backoff", { i });
      assert.equal((await retrying).nextRunAt, clock.now() + 3000, `result ${i}: the default`);
    }
    assert.deepEqual(warnings.map((w) => w.replace(/ returned .*;| threw: .*;/, " …;")), [
      ...results.map(() => `The backoff of task "bad-backoff" …; used the exponential default`),
    ]);
    assert.match(warnings[0]!, /threw: no idea/);
    assert.match(warnings[1]!, /returned null; expected milliseconds from 0 to 31536000000/);
    assert.match(warnings[3]!, /returned "later"/);
  });

  it("is checked: results in range, as ms or a duration", () => {
    const delay = (value: unknown) => customBackoffDelay(() => value as number, 1, null, "t");
    assert.deepEqual(delay(0), { delay: 0 });
    assert.deepEqual(delay(1500.4), { delay: 1500 });
    assert.deepEqual(delay("1h30m"), { delay: 5_400_000 });
    assert.deepEqual(delay("365d"), { delay: 365 * 86_400_000 });
    for (const bad of [Infinity, -1, "366d", "soon", "30", null, undefined, true]) {
      assert.ok("problem" in delay(bad), `${String(bad)} is refused`);
    }
  });

  it("a bad backoff is logged once per window by default, not once per failure", async () => {
    const { registry, dispatcher, start } = setup();
    registry.register("always-bad", () => {
      throw new Error("x");
    }, { retryConfig: { maxAttempts: 2 }, backoff: () => -1 });
    const worker = start();
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...parts: unknown[]) => void logged.push(parts);
    try {
      for (let i = 0; i < 3; i++) {
        const retrying = new Promise<void>((resolve) => {
          const stop = worker.signals.taskRetrying.connect((event) => {
            if (event.task.name === "always-bad") resolve(stop());
          });
        });
        await dispatcher.enqueue("always-bad", {});
        await retrying;
      }
    } finally {
      console.error = original;
    }
    assert.equal(logged.filter((p) => String(p[0]).includes('"always-bad"')).length, 1);
  });

  it("must be a function", () => {
    assert.throws(
      () => defineTask({ name: "t", backoff: 5 as unknown as () => number, run: () => null }),
      { name: "TypeError", message: /The backoff of task "t" must be a function .*got number/ },
    );
  });
});

describe("the attempt history", () => {
  it(`keeps the newest ${MAX_ATTEMPT_HISTORY} attempts with start, end, outcome, worker and error`, async () => {
    const { registry, clock, dispatcher, start } = setup();
    registry.register("always-fails", (_args, ctx) => {
      throw new Error(`failure ${ctx.attempt}`);
    }, { retryConfig: { maxAttempts: MAX_ATTEMPT_HISTORY + 3 }, backoff: () => 1000 });
    const worker = start();
    const id = await dispatcher.enqueue("always-fails", {});
    const finished = new Promise<void>((resolve) => {
      const stop = worker.signals.taskFailed.connect(({ task }) => {
        if (task.id === id) resolve(stop());
      });
    });
    const stop = worker.signals.taskRetrying.connect(({ task }) => {
      if (task.id !== id) return;
      clock.advance(1000);
      worker.wake();
    });
    await finished;
    stop();
    const task = await dispatcher.getTask(id);
    const history = task?.attemptHistory ?? [];
    assert.equal(history.length, MAX_ATTEMPT_HISTORY);
    assert.deepEqual(
      history.map((e) => e.attempt),
      Array.from({ length: MAX_ATTEMPT_HISTORY }, (_, i) => i + 4),
    );
    assert.deepEqual(history.at(-1)?.outcome, "failed");
    assert.ok(history.slice(0, -1).every((e) => e.outcome === "retry"));
    for (const e of history) {
      assert.equal(e.error?.message, `failure ${e.attempt}`);
      assert.equal(e.workerId, worker.workerId);
      assert.ok(e.startedAt !== null && e.startedAt <= e.endedAt);
    }
  });

  it("records a rescued lease as expired", async () => {
    const { store, registry, clock, dispatcher } = setup();
    registry.register("crashy", () => null);
    const id = await dispatcher.enqueue("crashy", {});
    // A worker that claims and then dies: nothing renews or finishes the attempt.
    const [claimed] = await store.claim({
      workerId: "gone-worker",
      queues: ["default"],
      limit: 1,
      now: clock.now(),
      leaseMillis: 1000,
    });
    assert.equal(claimed?.id, id);
    clock.advance(1001);
    const rescuer = new LeaseRescuer(store, {
      clock,
      random: () => 0.5,
      interval: 60_000,
      signals: defaultSignals,
      onError: (error) => assert.fail(String(error)),
    });
    assert.equal(await rescuer.runOnce(), 1);
    const task = await store.get(id);
    assert.equal(task?.status, "RETRYING");
    assert.deepEqual(task?.attemptHistory?.map((e) => [e.attempt, e.outcome, e.workerId]), [
      [1, "expired", "gone-worker"],
    ]);
    assert.match(task?.attemptHistory?.[0]?.error?.message ?? "", /Lease expired/);
  });

  it("is written by the SQLite store in the outcome's statement and shown by get", async () => {
    const dir = await tempDir("aether-controls-");
    stops.push(dir.remove);
    const file = join(dir.path, "tasks.db");
    const { registry, clock, dispatcher, start, store } = setup(await SqliteTaskStore.open(file));
    let runs = 0;
    registry.register("sync", (_args, ctx) => {
      if (++runs === 1) ctx.snooze("30s");
      if (runs === 2) throw new Error("partner said no");
      return "ok";
    }, { retryConfig: { maxAttempts: 2, useJitter: false }, schema: v.object({}) });
    const worker = start();
    const id = await dispatcher.enqueue("sync", {});
    assert.equal((await nextFinish(store, id)).status, "SCHEDULED");
    clock.advance(30_000);
    worker.wake();
    assert.equal((await nextFinish(store, id)).status, "RETRYING");
    clock.advance(1000);
    worker.wake();
    const done = await dispatcher.waitFor(id, { timeout: 10_000 });
    assert.equal(done.status, "COMPLETED");
    assert.equal(done.attempts, 2, "the snooze gave its attempt back");
    assert.deepEqual(done.attemptHistory?.map((e) => [e.attempt, e.outcome]), [
      [1, "snoozed"],
      [1, "retry"],
      [2, "completed"],
    ]);
    const text = formatTaskFields(paletteFor({ isTTY: false }, {}), done);
    assert.match(text, /history +#1 snoozed +\S+Z +\S+ +worker-/);
    assert.match(text, /#1 retry +\S+Z .* partner said no/);
    assert.match(text, /#2 completed/);
    // `aether-tasks get`, human and --json, from another process.
    const cli = [...CLI_FROM_SOURCE["Bun" in globalThis ? "bun" : "deno"], "get", id, "--db", file];
    const human = await run(cli, { cwd: dir.path });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /#1 retry .* partner said no/);
    const json = await run([...cli, "--json"], { cwd: dir.path });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).attemptHistory, done.attemptHistory);
  });

  it("is part of the task JSON of GET /api/tasks/:id", async () => {
    const { store, registry, dispatcher, start } = setup();
    registry.register("once-failing", (_args, ctx) => {
      if (ctx.attempt === 1) throw new Error("first try");
      return 1;
    }, { retryConfig: { maxAttempts: 2 }, backoff: () => 0 });
    start();
    const id = await dispatcher.enqueue("once-failing", {});
    await dispatcher.waitFor(id, { timeout: 10_000 });
    const handler = createAdminHandler({ store, dispatcher, signals: defaultSignals });
    const response = await handler(new Request(`http://127.0.0.1/api/tasks/${id}`));
    assert.equal(response.status, 200);
    const body = await response.json() as TaskRecord;
    assert.deepEqual(body.attemptHistory?.map((e) => [e.attempt, e.outcome, e.error?.message]), [
      [1, "retry", "first try"],
      [2, "completed", undefined],
    ]);
  });
});

describe("handler controls through the Web Worker pool", () => {
  let pool: WorkerPool;
  before(async () => {
    pool = new WorkerPool({ handlersDir, size: 1 });
    await pool.start();
  });
  after(async () => {
    await pool.close();
  });

  const poolSetup = () => {
    const s = setup();
    for (const definition of pool.definitions) s.registry.add(definition);
    const executor: TaskExecutor = { execute: (task, control) => pool.execute(task, control) };
    return { ...s, worker: s.start({ executor }) };
  };

  for (const how of ["throw", "fail", "fail-caught"]) {
    it(`a permanent failure (${how}) is FAILED after attempt 1 of 5`, async () => {
      const { dispatcher } = poolSetup();
      const done = await dispatcher.waitFor(await dispatcher.enqueue("permanent", { how }), {
        timeout: 10_000,
      });
      assert.equal(done.status, "FAILED");
      assert.equal(done.attempts, 1);
      assert.equal(done.maxAttempts, 5);
      assert.equal(done.lastError?.message, "The account is closed");
    });
  }

  it("a snooze runs again at runAt without spending an attempt", async () => {
    const { store, clock, dispatcher, worker } = poolSetup();
    const id = await dispatcher.enqueue("snooze", { snooze: "10m" });
    const snoozedAt = clock.now();
    const snoozed = await nextFinish(store, id);
    assert.equal(snoozed.status, "SCHEDULED");
    assert.equal(snoozed.runAt, snoozedAt + 600_000);
    assert.equal(snoozed.attempts, 0);
    clock.advance(600_000);
    worker.wake();
    const done = await dispatcher.waitFor(id, { timeout: 10_000 });
    assert.equal(done.status, "COMPLETED");
    assert.deepEqual(done.result, { attempt: 1 });
  });

  it("the task's own backoff, defined in the handler module, sets the retry time", async () => {
    const { clock, dispatcher, worker } = poolSetup();
    const id = await dispatcher.enqueue("backoff", {});
    const first = await new Promise<{ nextRunAt: number }>((resolve) => {
      const stop = worker.signals.taskRetrying.connect((event) => {
        if (event.task.id === id) resolve((stop(), event));
      });
    });
    assert.equal(first.nextRunAt, clock.now() + 7000);
  });
});
