/** Unique tasks, flow limits, retention and the process-wide defaults, with an injected clock. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as v from "valibot";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { parseFlowLimits, parseRateLimit } from "../src/flow_limits.ts";
import { DEFAULT_RETENTION, parseRetention, Pruner } from "../src/pruner.ts";
import { defaultRegistry, TaskRegistry } from "../src/registry.ts";
import { defaultSignals, TaskSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { TaskWorker } from "../src/worker.ts";
import { FakeClock } from "./_helpers.ts";

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;

function setup() {
  const store = new InMemoryTaskStore();
  const clock = new FakeClock(T0);
  const registry = new TaskRegistry();
  registry.register("sync", () => null, { schema: v.object({ account: v.string() }) });
  registry.register("mail", () => null);
  const dispatcher = new TaskDispatcher(store, { registry, clock });
  return { store, clock, registry, dispatcher };
}

describe("unique tasks", () => {
  it("a second enqueue while the first waits returns the existing id as a duplicate", async () => {
    const { dispatcher } = setup();
    const unique = { by: ["name", "args"] as const };
    const first = await dispatcher.enqueueDetailed("sync", { account: "a" }, { unique });
    const again = await dispatcher.enqueueDetailed("sync", { account: "a" }, { unique });
    const other = await dispatcher.enqueueDetailed("sync", { account: "b" }, { unique });
    assert.deepEqual(again, { id: first.id, duplicate: true });
    assert.equal(first.duplicate, false);
    assert.equal(other.duplicate, false);
    assert.equal(await dispatcher.count(), 2);
  });

  it("args compare as JSON with keys sorted; by name alone ignores args", async () => {
    const { dispatcher } = setup();
    const a = await dispatcher.enqueue("mail", { to: "x", cc: "y" }, { unique: {} });
    assert.equal(await dispatcher.enqueue("mail", { cc: "y", to: "x" }, { unique: {} }), a);
    const byName = await dispatcher.enqueue("mail", { n: 1 }, {
      unique: { by: ["name"], key: "k" },
    });
    assert.equal(
      await dispatcher.enqueue("mail", { n: 2 }, { unique: { by: ["name"], key: "k" } }),
      byName,
    );
    assert.notEqual(
      await dispatcher.enqueue("mail", { n: 2 }, { unique: { by: ["name"], key: "j" } }),
      byName,
    );
  });

  it("a period makes the key hold within one bucket only", async () => {
    const { dispatcher, clock } = setup();
    const unique = { period: "1h" };
    clock.time = Math.ceil(T0 / 3_600_000) * 3_600_000; // the start of an hour
    const a = await dispatcher.enqueue("mail", {}, { unique });
    clock.advance(3_599_999);
    assert.equal(await dispatcher.enqueue("mail", {}, { unique }), a);
    clock.advance(1);
    assert.notEqual(await dispatcher.enqueue("mail", {}, { unique }), a);
  });

  it("enqueueManyDetailed gives one result per request, duplicates within the batch too", async () => {
    const { dispatcher } = setup();
    const results = await dispatcher.enqueueManyDetailed([
      { name: "mail", args: { n: 1 }, options: { unique: {} } },
      { name: "mail", args: { n: 1 }, options: { unique: {} } },
      { name: "mail", args: { n: 1 } },
    ]);
    assert.equal(results[1]?.id, results[0]?.id);
    assert.deepEqual(results.map((r) => r.duplicate), [false, true, false]);
    assert.equal(await dispatcher.count(), 2);
  });

  it("a task definition may declare a default, which unique: false turns off", async () => {
    const { store, clock } = setup();
    const registry = new TaskRegistry();
    registry.register("once", () => null, { unique: { by: ["name"] } });
    const d = new TaskDispatcher(store, { registry, clock });
    const a = await d.enqueue("once", { n: 1 });
    assert.equal(await d.enqueue("once", { n: 2 }), a);
    assert.notEqual(await d.enqueue("once", { n: 3 }, { unique: false }), a);
  });

  it("bad unique options are a clear error naming the field; nothing is written", async () => {
    const { dispatcher } = setup();
    const cases: [unknown, RegExp][] = [
      [{ by: [] }, /unique\.by must list one or more of name, queue, args, got \[\]/],
      [{ by: ["nmae"] }, /unique\.by must list/],
      [
        { states: ["PENDING"] },
        /unique\.states must include PENDING, SCHEDULED, RETRYING, PROCESSING \(missing SCHEDULED/,
      ],
      [{ states: ["DONE"] }, /unique\.states must list statuses/],
      [{ period: "0s" }, /unique\.period must be at least 1ms/],
      [{ period: "soon" }, /unique\.period must be/],
      [{ key: "" }, /unique\.key must be a text/],
      [{ keys: "x" }, /unique\.keys is not a unique option/],
      ["yes", /unique must be an object/],
    ];
    for (const [unique, message] of cases) {
      await assert.rejects(dispatcher.enqueue("mail", {}, { unique: unique as never }), message);
    }
    assert.equal(await dispatcher.count(), 0);
  });
});

describe("flow limits", () => {
  it("bad limits are a clear error naming the field; nothing is written", async () => {
    const { dispatcher, store } = setup();
    const cases: [unknown, RegExp][] = [
      [{ maxRunning: -1 }, /limits\.maxRunning must be an integer >= 0 or null, got -1/],
      [{ maxRunning: 1.5 }, /limits\.maxRunning must be an integer/],
      [
        { rateLimit: { limit: 10, per: "0s" } },
        /limits\.rateLimit\.per must be a duration of at least 1ms, got "0s"/,
      ],
      [
        { rateLimit: { limit: 0, per: "1s" } },
        /limits\.rateLimit\.limit must be an integer >= 1, got 0/,
      ],
      [
        { rateLimit: { limit: -5, per: "1s" } },
        /limits\.rateLimit\.limit must be an integer >= 1, got -5/,
      ],
      [{ rateLimit: "10 per second" }, /limits\.rateLimit must be LIMIT\/DURATION/],
      [{ rateLimit: { limit: 1, per: "1 s" } }, /limits\.rateLimit\.per must be/],
      [{ burst: 3 }, /limits\.burst is not a limit/],
    ];
    for (const [limits, message] of cases) {
      await assert.rejects(dispatcher.setQueueLimits("default", limits as never), message);
      await assert.rejects(dispatcher.setTaskLimits("mail", limits as never), message);
    }
    assert.deepEqual(await store.listLimits(), []);
    assert.throws(
      () => new TaskRegistry().register("t", () => null, { maxRunning: -2 }),
      /maxRunning must be/,
    );
    assert.throws(
      () => new TaskWorker(store, { queueLimits: { q: { rateLimit: { limit: 1, per: 0 } } } }),
      /queueLimits\.q\.rateLimit\.per must be a duration of at least 1ms/,
    );
  });

  it("reads limits as written: objects, text and ms", () => {
    assert.deepEqual(parseRateLimit("20/1s"), { limit: 20, perMillis: 1000 });
    assert.deepEqual(parseRateLimit({ limit: 3, per: 250 }), { limit: 3, perMillis: 250 });
    assert.deepEqual(parseFlowLimits({ maxRunning: 5 }), { rateLimit: null, maxRunning: 5 });
    assert.deepEqual(parseFlowLimits({}), { rateLimit: null, maxRunning: null });
  });

  it("a task held back by maxRunning stays waiting with no attempt spent, and runs once a slot frees", async () => {
    const { store, clock, dispatcher } = setup();
    const registry = new TaskRegistry();
    // Each running handler's release, by task id, set once the handler has been entered.
    const release = new Map<string, () => void>();
    let entered = () => {};
    registry.register("slow", (_args, ctx) =>
      new Promise<void>((resolve) => {
        release.set(ctx.taskId, resolve);
        entered();
      }), { maxRunning: 1 });
    const handlerOf = async (id: string) => {
      while (!release.has(id)) await new Promise<void>((resolve) => (entered = resolve));
      return release.get(id)!;
    };
    const d = new TaskDispatcher(store, { registry, clock });
    const signals = new TaskSignals();
    const nextStart = () =>
      new Promise<string>((resolve) => {
        const off = signals.taskStarted.connect(({ task }) => {
          off();
          resolve(task.id);
        });
      });
    const a = await d.enqueue("slow");
    const b = await d.enqueue("slow");
    const first = nextStart();
    const worker = new TaskWorker(store, {
      registry,
      clock,
      signals,
      concurrency: 4,
      retention: false,
    });
    worker.start();
    assert.equal(await first, a);
    const held = await dispatcher.getTask(b);
    assert.deepEqual([held?.status, held?.attempts], ["PENDING", 0]);
    assert.equal(worker.runningCount, 1);
    const second = nextStart();
    (await handlerOf(a))();
    assert.equal(await second, b);
    (await handlerOf(b))();
    await worker.stop();
    assert.deepEqual((await store.listLimits()).map((l) => [l.scope, l.name, l.maxRunning]), [
      ["task", "slow", 1],
    ]);
  });
});

describe("retention", () => {
  it("parses --retention text over the defaults", () => {
    assert.deepEqual(parseRetention("completed=1d,failed=90d"), {
      COMPLETED: DAY,
      FAILED: 90 * DAY,
      CANCELLED: DEFAULT_RETENTION.CANCELLED,
    });
    assert.deepEqual(parseRetention("never"), { COMPLETED: null, FAILED: null, CANCELLED: null });
    assert.deepEqual(parseRetention("cancelled=never").CANCELLED, null);
    assert.throws(
      () => parseRetention("done=1d"),
      /--retention must be STATUS=DURATION parts.*"done=1d"/,
    );
    assert.throws(
      () => parseRetention("failed=30"),
      /--retention failed must be a duration.*add a unit/,
    );
    assert.throws(
      () => new Pruner(new InMemoryTaskStore(), { retention: { FAILED: -1 } }),
      /retention\.FAILED must be/,
    );
  });

  it("the leader deletes finished tasks past their status's retention in bounded batches", async () => {
    const store = new InMemoryTaskStore();
    const clock = new FakeClock(T0);
    const registry = new TaskRegistry();
    registry.register("t", () => null);
    const d = new TaskDispatcher(store, { registry, clock });
    const ids = await d.enqueueMany(Array.from({ length: 7 }, () => ({ name: "t" })));
    const claimed = await store.claim({
      workerId: "w",
      queues: ["default"],
      limit: 7,
      now: T0,
      leaseMillis: 1000,
    });
    const kinds = [
      "completed",
      "completed",
      "completed",
      "failed",
      "failed",
      "cancelled",
      "completed",
    ] as const;
    await store.finish(claimed.map((task, i) => {
      const base = { id: task.id, token: task.attemptToken!, now: T0 + (i === 6 ? 6 * DAY : 0) };
      const kind = kinds[i]!;
      return kind === "completed"
        ? { ...base, kind, result: null }
        : kind === "failed"
        ? { ...base, kind, error: { message: "x" } }
        : { ...base, kind, error: null };
    }));
    clock.time = T0 + 8 * DAY;
    const leader = new Pruner(store, { clock, batchSize: 2, holder: "a" });
    const other = new Pruner(store, { clock, batchSize: 2, holder: "b" });
    assert.equal(await leader.runOnce(), 4); // three completed and one cancelled, past 7 days
    assert.equal(await other.runOnce(), 0); // not the leader
    const left = (await store.list({ limit: 10 })).tasks.map((t) => t.status).sort();
    assert.deepEqual(left, ["COMPLETED", "FAILED", "FAILED"]);
    clock.time = T0 + 31 * DAY;
    assert.equal(await leader.runOnce(), 3);
    assert.equal(ids.length, 7);
    const never = new Pruner(store, { clock, retention: parseRetention("never"), holder: "a" });
    assert.equal(await never.runOnce(), 0);
  });
});

describe("process-wide defaults (seed parity)", () => {
  it("TaskRegistry.register, TaskSignals.taskStarted.connect and new TaskWorker(store) work together", async () => {
    const store = new InMemoryTaskStore();
    const seen: string[] = [];
    const sent: unknown[] = [];
    TaskRegistry.register("seed-parity-email", (args) => void sent.push(args));
    let done!: () => void;
    const completed = new Promise<void>((resolve) => (done = resolve));
    const off = [
      TaskSignals.taskStarted.connect(({ task }) => void seen.push(`started ${task.name}`)),
      TaskSignals.taskCompleted.connect(({ task }) => {
        seen.push(`completed ${task.name}`);
        done();
      }),
    ];
    try {
      assert.equal(TaskSignals.taskStarted, defaultSignals.taskStarted);
      const worker = new TaskWorker(store, { retention: false });
      assert.equal(worker.signals, defaultSignals);
      worker.start();
      await new TaskDispatcher(store).enqueue("seed-parity-email", { to: "a@b.c" });
      await completed;
      await worker.stop();
      assert.deepEqual(seen, ["started seed-parity-email", "completed seed-parity-email"]);
      assert.deepEqual(sent, [{ to: "a@b.c" }]);
    } finally {
      for (const disconnect of off) disconnect();
      defaultRegistry.unregister("seed-parity-email");
    }
  });
});
