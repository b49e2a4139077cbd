/**
 * Worker behaviour over a real store: call `workerSuite(backend, open)` from a backend's test
 * file. Time-dependent steps drive an injected clock and await signals; nothing sleeps.
 */

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import * as v from "valibot";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { AttemptAborted } from "../src/executor.ts";
import { TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import type { TaskStore } from "../src/store/store.ts";
import { TaskWorker, type TaskWorkerOptions } from "../src/worker.ts";
import { collectEvents, FakeClock, makeTask, nextEvent } from "./_helpers.ts";

/** A promise with its resolve function outside. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves once `check` holds, looking again after each macrotask (no fixed sleep). */
async function until(
  check: () => boolean | Promise<boolean>,
  what = "the condition",
): Promise<void> {
  for (let i = 0; !(await check()); i++) {
    if (i > 20_000) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

export function workerSuite(
  backend: string,
  open: () => Promise<{ store: TaskStore; cleanup?: () => Promise<void> }>,
): void {
  describe(`TaskWorker on ${backend}`, () => {
    let store: TaskStore;
    let cleanup: (() => Promise<void>) | undefined;
    let registry: TaskRegistry;
    let clock: FakeClock;
    let dispatcher: TaskDispatcher;
    const workers: TaskWorker[] = [];

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
      registry = new TaskRegistry();
      clock = new FakeClock();
      dispatcher = new TaskDispatcher(store, { registry, clock });
    });
    afterEach(async () => {
      await Promise.all(workers.splice(0).map((w) => w.stop({ graceMillis: 0 })));
      await store.close();
      await cleanup?.();
    });

    const startWorker = (options: TaskWorkerOptions = {}) => {
      const worker = new TaskWorker(store, {
        registry,
        clock,
        pollInterval: 60_000,
        random: () => 0.5,
        ...options,
      });
      workers.push(worker);
      worker.start();
      return worker;
    };

    it("runs a task to COMPLETED with its result and emits started and completed", async () => {
      registry.register("add", ({ a, b }: { a: number; b: number }) => a + b, {
        schema: v.object({ a: v.number(), b: v.number() }),
      });
      const worker = startWorker();
      const started = nextEvent(worker.signals.taskStarted);
      const completed = nextEvent(worker.signals.taskCompleted);
      const id = await dispatcher.enqueue("add", { a: 2, b: 3 });
      assert.equal((await started).task.id, id);
      assert.equal((await started).task.status, "PROCESSING");
      const done = await dispatcher.waitFor(id, { timeout: 5000 });
      assert.equal(done.status, "COMPLETED");
      assert.equal(done.result, 5);
      assert.equal(done.attempts, 1);
      assert.equal((await completed).task.result, 5);
    });

    it("a task enqueued while the worker idles starts without waiting for the poll interval", async () => {
      registry.register("noop", () => "ok");
      startWorker({ pollInterval: 3_600_000 });
      const id = await dispatcher.enqueue("noop");
      assert.equal((await dispatcher.waitFor(id, { timeout: 5000 })).status, "COMPLETED");
    });

    it("claims higher priority first, then the earlier enqueued", async () => {
      const order: string[] = [];
      registry.register("record", ({ label }: { label: string }) => void order.push(label));
      await dispatcher.enqueue("record", { label: "low" }, { priority: "LOW" });
      await dispatcher.enqueue("record", { label: "normal-1" });
      await dispatcher.enqueue("record", { label: "critical" }, { priority: "CRITICAL" });
      await dispatcher.enqueue("record", { label: "normal-2" });
      const last = await dispatcher.enqueue("record", { label: "high" }, { priority: "HIGH" });
      const worker = startWorker({ concurrency: 1 });
      const all = collectEvents(worker.signals.taskCompleted, 5);
      await all;
      assert.ok(await dispatcher.getTask(last));
      assert.deepEqual(order, ["critical", "high", "normal-1", "normal-2", "low"]);
    });

    it("a delayed task waits until it is due", async () => {
      registry.register("noop", () => null);
      const worker = startWorker();
      const id = await dispatcher.enqueue("noop", {}, { delay: 10_000 });
      assert.equal((await dispatcher.getTask(id))?.status, "SCHEDULED");
      clock.advance(10_000);
      worker.wake();
      assert.equal((await dispatcher.waitFor(id, { timeout: 5000 })).status, "COMPLETED");
    });

    it("a failure with attempts left is RETRYING after the backoff, then runs again", async () => {
      let calls = 0;
      registry.register("flaky", () => {
        if (++calls < 3) throw new Error(`boom ${calls}`);
        return calls;
      }, { retryConfig: { maxAttempts: 3, useJitter: false } });
      const worker = startWorker();
      const retried = collectEvents(worker.signals.taskRetrying, 2);
      const id = await dispatcher.enqueue("flaky");
      const first = await nextEvent(worker.signals.taskRetrying);
      assert.equal(first.task.status, "RETRYING");
      assert.equal(first.error.message, "boom 1");
      assert.equal(first.nextRunAt, clock.now() + 1000);
      assert.equal((await dispatcher.getTask(id))?.lastError?.message, "boom 1");
      clock.advance(1000);
      worker.wake();
      const [, second] = await retried;
      assert.equal(second?.nextRunAt, clock.now() + 2000, "the second delay doubles");
      clock.advance(2000);
      worker.wake();
      const done = await dispatcher.waitFor(id, { timeout: 5000 });
      assert.equal(done.status, "COMPLETED");
      assert.equal(done.attempts, 3);
      assert.equal(done.result, 3);
    });

    it("exhausted attempts end FAILED with the error and emit taskFailed", async () => {
      registry.register("doomed", () => {
        throw new TypeError("always");
      }, { retryConfig: { maxAttempts: 1 } });
      const worker = startWorker();
      const failed = nextEvent(worker.signals.taskFailed);
      const id = await dispatcher.enqueue("doomed");
      const event = await failed;
      assert.equal(event.task.id, id);
      assert.equal(event.error.message, "always");
      const task = await dispatcher.getTask(id);
      assert.equal(task?.status, "FAILED");
      assert.equal(task?.lastError?.message, "always");
      assert.match(task?.lastError?.stack ?? "", /TypeError: always/);
    });

    it("args that fail the schema at execution fail the task for good", async () => {
      registry.register("strict", () => "ran", {
        schema: v.object({ n: v.number() }),
        retryConfig: { maxAttempts: 5 },
      });
      const worker = startWorker();
      const failed = nextEvent(worker.signals.taskFailed);
      const task = makeTask({
        name: "strict",
        args: { n: "not a number" },
        runAt: clock.now(),
        maxAttempts: 5,
      });
      await store.insert([task]);
      worker.wake();
      const event = await failed;
      assert.equal(event.task.attempts, 1);
      assert.match(
        event.error.message,
        /Invalid arguments for task "strict": args\.n: Invalid type/,
      );
    });

    it("a result that is not JSON fails the attempt with a clear error", async () => {
      registry.register("bigint", () => 10n, { retryConfig: { maxAttempts: 1 } });
      startWorker();
      const id = await dispatcher.enqueue("bigint");
      const task = await dispatcher.waitFor(id, { timeout: 5000 });
      assert.equal(task.status, "FAILED");
      assert.match(
        task.lastError?.message ?? "",
        /result is a bigint; a task's result must be plain JSON/,
      );
    });

    it("cancel of a PROCESSING task aborts the handler's signal and ends CANCELLED", async () => {
      let reason: unknown;
      registry.register(
        "wait-for-abort",
        (_args, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(reason = ctx.signal.reason))
          ),
      );
      const worker = startWorker();
      const started = nextEvent(worker.signals.taskStarted);
      const cancelled = nextEvent(worker.signals.taskCancelled);
      const id = await dispatcher.enqueue("wait-for-abort");
      await started;
      const flagged = await dispatcher.cancel(id);
      assert.equal(flagged.status, "PROCESSING");
      assert.equal(flagged.cancelRequested, true);
      const done = await dispatcher.waitFor(id, { timeout: 5000 });
      assert.equal(done.status, "CANCELLED");
      assert.equal((await cancelled).task.id, id);
      assert.ok(reason instanceof AttemptAborted && reason.kind === "cancel");
    });

    it("a task past its timeout is aborted and retried with a timeout error", async () => {
      let reason: unknown;
      registry.register("hang", (_args, ctx) => {
        ctx.signal.addEventListener("abort", () => (reason = ctx.signal.reason));
        return new Promise(() => {});
      }, { timeout: 30, retryConfig: { maxAttempts: 2 } });
      const worker = startWorker();
      const retrying = nextEvent(worker.signals.taskRetrying);
      const id = await dispatcher.enqueue("hang");
      const event = await retrying;
      assert.equal(event.task.id, id);
      assert.equal(event.error.message, "Timed out after 30 ms");
      assert.ok(reason instanceof AttemptAborted && reason.kind === "timeout");
    });

    it("a late completion after the lease expired is rejected and reported", async () => {
      const release = gate<string>();
      registry.register("slow", () => release.promise);
      const worker = startWorker({ leaseMillis: 60_000 });
      const started = nextEvent(worker.signals.taskStarted);
      const lost = nextEvent(worker.signals.leaseLost);
      const id = await dispatcher.enqueue("slow");
      await started;
      clock.advance(60_001);
      assert.equal(await worker.rescueExpiredLeases(), 1);
      const rescued = await dispatcher.getTask(id);
      assert.equal(rescued?.status, "RETRYING");
      assert.equal(rescued?.attempts, 1, "the lost attempt counts");
      assert.match(rescued?.lastError?.message ?? "", /Lease expired/);
      release.open("too late");
      const event = await lost;
      assert.equal(event.taskId, id);
      assert.equal(event.outcome, "completed");
      const after = await dispatcher.getTask(id);
      assert.equal(after?.status, "RETRYING");
      assert.equal(after?.result, null);
    });

    it("a rescued lease on the last attempt ends FAILED", async () => {
      const release = gate();
      registry.register("slow", () => release.promise, { retryConfig: { maxAttempts: 1 } });
      const worker = startWorker({ leaseMillis: 60_000 });
      const started = nextEvent(worker.signals.taskStarted);
      const id = await dispatcher.enqueue("slow");
      await started;
      clock.advance(60_001);
      await worker.rescueExpiredLeases();
      assert.equal((await dispatcher.getTask(id))?.status, "FAILED");
      release.open();
    });

    it("renewing leases keeps a long task's lease from expiring", async () => {
      const release = gate();
      registry.register("slow", () => release.promise);
      const worker = startWorker({ leaseMillis: 60_000 });
      const started = nextEvent(worker.signals.taskStarted);
      const id = await dispatcher.enqueue("slow");
      await started;
      clock.advance(50_000);
      await worker.renewLeases();
      clock.advance(50_000);
      assert.equal(await worker.rescueExpiredLeases(), 0);
      assert.equal((await dispatcher.getTask(id))?.leaseExpiresAt, clock.now() - 50_000 + 60_000);
      release.open();
      assert.equal((await dispatcher.waitFor(id, { timeout: 5000 })).status, "COMPLETED");
    });

    it("never runs more tasks at once than its concurrency", async () => {
      let running = 0;
      let peak = 0;
      const release = gate();
      registry.register("held", async () => {
        peak = Math.max(peak, ++running);
        await release.promise;
        running--;
      });
      const worker = startWorker({ concurrency: 3 });
      const threeStarted = collectEvents(worker.signals.taskStarted, 3);
      const allDone = collectEvents(worker.signals.taskCompleted, 8);
      await dispatcher.enqueueMany(Array.from({ length: 8 }, () => ({ name: "held" })));
      await threeStarted;
      assert.equal(worker.runningCount, 3);
      release.open();
      await allDone;
      assert.equal(peak, 3);
    });

    it("a wake-up while every slot is busy waits for a free slot instead of spinning", async () => {
      const release = gate();
      registry.register("held", () => release.promise);
      registry.register("noop", () => "ran");
      const worker = startWorker({ concurrency: 1 });
      const started = nextEvent(worker.signals.taskStarted);
      const held = await dispatcher.enqueue("held");
      await started;
      // The insert wakes the worker while its only slot is taken; timers must keep running.
      const next = await dispatcher.enqueue("noop");
      await new Promise((resolve) => setTimeout(resolve, 1));
      assert.equal((await dispatcher.getTask(next))?.status, "PENDING");
      release.open();
      assert.equal((await dispatcher.waitFor(next, { timeout: 5000 })).result, "ran");
      assert.equal((await dispatcher.getTask(held))?.status, "COMPLETED");
    });

    it("progress and log lines are stored on the task", async () => {
      registry.register("report", async (_args, ctx) => {
        await ctx.progress({ done: 1, of: 2 });
        ctx.log("step", 1, { ok: true });
        ctx.log("step two");
        return "done";
      });
      const worker = startWorker();
      const progress = nextEvent(worker.signals.taskProgress);
      const id = await dispatcher.enqueue("report");
      assert.deepEqual((await progress).progress, { done: 1, of: 2 });
      const task = await dispatcher.waitFor(id, { timeout: 5000 });
      assert.deepEqual(task.progress, { done: 1, of: 2 });
      assert.deepEqual(task.logs, ['step 1 {"ok":true}', "step two"]);
    });

    it("a throwing or rejecting listener never breaks the worker", async () => {
      const reported: string[] = [];
      const signals = new TaskSignals((_error, signal) => reported.push(signal));
      signals.taskStarted.connect(() => {
        throw new Error("listener bug");
      });
      signals.taskCompleted.connect(() => Promise.reject(new Error("async listener bug")));
      registry.register("noop", () => 1);
      startWorker({ signals });
      const id = await dispatcher.enqueue("noop");
      assert.equal((await dispatcher.waitFor(id, { timeout: 5000 })).status, "COMPLETED");
      await Promise.resolve();
      assert.deepEqual(reported.sort(), ["taskCompleted", "taskStarted"]);
    });

    it("a worker claims only the names it defines: a task it has no handler for stays waiting, unspent", async () => {
      registry.register("elsewhere", () => 1);
      registry.register("local", () => "ran");
      const here = new TaskRegistry();
      here.register("local", () => "ran");
      const elsewhere = await dispatcher.enqueue("elsewhere", {}, {
        retryConfig: { maxAttempts: 1 },
      });
      const local = await dispatcher.enqueue("local");
      startWorker({ registry: here });
      assert.equal((await dispatcher.waitFor(local, { timeout: 5000 })).status, "COMPLETED");
      const task = await dispatcher.getTask(elsewhere);
      assert.equal(task?.status, "PENDING");
      assert.equal(task?.attempts, 0);
    });

    it("stop waits for running tasks within the grace period", async () => {
      const release = gate();
      registry.register("slow", () => release.promise.then(() => "finished"));
      const worker = startWorker();
      const started = nextEvent(worker.signals.taskStarted);
      const id = await dispatcher.enqueue("slow");
      await started;
      const stopping = worker.stop({ graceMillis: 60_000 });
      release.open();
      await stopping;
      assert.equal((await dispatcher.getTask(id))?.status, "COMPLETED");
      assert.equal(worker.stop(), stopping, "stop is idempotent");
    });

    it("stop releases tasks still running after the grace without spending their attempt", async () => {
      let reason: unknown;
      registry.register("stubborn", (_args, ctx) => {
        ctx.signal.addEventListener("abort", () => (reason = ctx.signal.reason));
        return new Promise(() => {});
      });
      const worker = startWorker();
      const started = nextEvent(worker.signals.taskStarted);
      const id = await dispatcher.enqueue("stubborn");
      await started;
      await worker.stop({ graceMillis: 10 });
      const task = await dispatcher.getTask(id);
      assert.equal(task?.status, "PENDING");
      assert.equal(task?.attempts, 0);
      assert.equal(task?.attemptToken, null);
      assert.ok(reason instanceof AttemptAborted && reason.kind === "shutdown");
      const next = startWorker();
      registry.unregister("stubborn");
      registry.register("stubborn", () => "second run");
      next.wake();
      assert.equal((await dispatcher.waitFor(id, { timeout: 5000 })).result, "second run");
    });

    it("prefetched tasks wait leased but not started, and go back on stop without spending an attempt", async () => {
      const release = gate();
      registry.register("slow", () => release.promise);
      const ids = await dispatcher.enqueueMany(
        Array.from({ length: 6 }, () => ({ name: "slow", args: {} })),
      );
      const worker = startWorker({ concurrency: 2, prefetch: 4 });
      const started = collectEvents(worker.signals.taskStarted, 2);
      worker.wake();
      const running = new Set((await started).map((e) => e.task.id));
      await until(() => worker.prefetchedCount === 4);
      for (const id of ids) {
        const task = await dispatcher.getTask(id);
        assert.equal(task?.status, "PROCESSING", "every task is claimed");
        if (!running.has(id)) {
          assert.equal(task?.startedAt, null, "prefetched: claimed, not started");
        }
      }
      const stopping = worker.stop({ graceMillis: 60_000 });
      await until(async () => (await store.count({ status: "PENDING" })) === 4);
      for (const id of ids.filter((id) => !running.has(id))) {
        const task = await dispatcher.getTask(id);
        assert.deepEqual([task?.status, task?.attempts], ["PENDING", 0], "given back at once");
      }
      release.open();
      await stopping;
      for (const id of running) assert.equal((await dispatcher.getTask(id))?.status, "COMPLETED");
    });

    it("a started task is marked started in the store while it still runs", async () => {
      const release = gate();
      registry.register("slow", () => release.promise);
      const worker = startWorker({ concurrency: 1, prefetch: 0 });
      const started = nextEvent(worker.signals.taskStarted);
      const id = await dispatcher.enqueue("slow");
      await started;
      await until(async () => (await dispatcher.getTask(id))?.startedAt === clock.now());
      release.open();
      const done = await dispatcher.waitFor(id, { timeout: 5000 });
      assert.equal(done.startedAt, clock.now());
    });

    it("a CRITICAL task enqueued after a full prefetch of LOW ones runs before them", async () => {
      const release = gate();
      const order: string[] = [];
      registry.register("low", async () => {
        order.push("low");
        await release.promise;
      });
      registry.register("urgent", () => void order.push("urgent"));
      await dispatcher.enqueueMany(
        Array.from(
          { length: 200 },
          () => ({ name: "low", args: {}, options: { priority: "LOW" as const } }),
        ),
      );
      const worker = startWorker({ concurrency: 1, prefetch: 200 });
      worker.wake();
      await until(() => worker.prefetchedCount === 199);
      const urgent = await dispatcher.enqueue("urgent", {}, { priority: "CRITICAL" });
      await until(() => worker.prefetchedCount === 200, "the CRITICAL task is claimed ahead");
      release.open();
      await dispatcher.waitFor(urgent, { timeout: 10_000 });
      assert.deepEqual(
        order.slice(0, 2),
        ["low", "urgent"],
        "only the LOW task already running went first",
      );
    });

    it("a slow handler never holds back the commit of a fast one's outcome", async () => {
      const release = gate();
      registry.register("slow", () => release.promise);
      registry.register("fast", () => "quick");
      const worker = startWorker({ concurrency: 2 });
      const slowStarted = nextEvent(worker.signals.taskStarted);
      const slow = await dispatcher.enqueue("slow");
      await slowStarted;
      const fast = await dispatcher.enqueue("fast");
      assert.equal((await dispatcher.waitFor(fast, { timeout: 5000 })).result, "quick");
      assert.equal((await dispatcher.getTask(slow))?.status, "PROCESSING");
      release.open();
      await dispatcher.waitFor(slow, { timeout: 5000 });
    });

    it("drains a backlog far larger than concurrency + prefetch, each task once", async () => {
      const runs = new Map<string, number>();
      registry.register(
        "count",
        (_args, ctx) => void runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1),
      );
      const ids = await dispatcher.enqueueMany(
        Array.from({ length: 1500 }, () => ({ name: "count", args: {} })),
      );
      const worker = startWorker({ concurrency: 4 });
      const done = collectEvents(worker.signals.taskCompleted, ids.length);
      worker.wake();
      await done;
      assert.equal(runs.size, ids.length);
      assert.deepEqual([...new Set(runs.values())], [1]);
      assert.equal(await store.count({ status: "COMPLETED" }), ids.length);
    });

    it("bad worker options are refused with the option's name and value", () => {
      assert.throws(
        () => new TaskWorker(store, { concurrency: 0 }),
        /concurrency must be a positive integer, got 0/,
      );
      assert.throws(
        () => new TaskWorker(store, { pollInterval: -5 }),
        /pollInterval must be a positive integer, got -5/,
      );
      assert.throws(
        () => new TaskWorker(store, { queues: [] }),
        /queues must be a non-empty array/,
      );
      assert.throws(() => new TaskWorker(store, { queues: ["bad queue"] }), /queues\[0\] must be/);
    });

    it("only claims from its queues", async () => {
      registry.register("noop", () => 1);
      const worker = startWorker({ queues: ["fast"] });
      const other = await dispatcher.enqueue("noop", {}, { queue: "slow" });
      const mine = await dispatcher.enqueue("noop", {}, { queue: "fast" });
      await dispatcher.waitFor(mine, { timeout: 5000 });
      worker.wake();
      await worker.stop();
      assert.equal((await dispatcher.getTask(other))?.status, "PENDING");
    });
  });
}
