/**
 * Long timers: chunking with fake timer functions (no real long waits), and the worker and the
 * dispatcher keeping durations above 2^31−1 ms as written instead of firing at once.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { WaitTimeoutError } from "../src/errors.ts";
import {
  MAX_TIMER_CHUNK_MILLIS,
  setLongInterval,
  setLongTimeout,
  type TimerFunctions,
} from "../src/long_timer.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { TaskWorker } from "../src/worker.ts";
import { nextEvent } from "./_helpers.ts";

const DAY = 86_400_000;

/** Timer functions whose pending timers fire only when `fireNext()` is called. */
function fakeTimers() {
  const pending = new Map<number, { callback: () => void; millis: number }>();
  let next = 1;
  const delays: number[] = [];
  const timers: TimerFunctions = {
    setTimeout(callback, millis) {
      delays.push(millis);
      pending.set(next, { callback, millis });
      return next++;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  const fireNext = () => {
    const [handle, timer] = [...pending.entries()][0]!;
    pending.delete(handle);
    timer.callback();
  };
  return { timers, delays, pending, fireNext };
}

describe("setLongTimeout", () => {
  it("a short delay is one runtime timer", () => {
    const fake = fakeTimers();
    let fired = 0;
    setLongTimeout(() => fired++, 250, fake.timers);
    assert.deepEqual(fake.delays, [250]);
    fake.fireNext();
    assert.equal(fired, 1);
  });

  it("30 days is waited in chunks of at most 2^31-1 ms and fires after the last one", () => {
    const fake = fakeTimers();
    let fired = 0;
    setLongTimeout(() => fired++, 30 * DAY, fake.timers);
    fake.fireNext();
    assert.equal(fired, 0, "fired after the first chunk");
    fake.fireNext();
    assert.equal(fired, 1);
    assert.equal(fake.delays.length, 2);
    assert.ok(fake.delays.every((d) => d <= MAX_TIMER_CHUNK_MILLIS));
    assert.equal(fake.delays.reduce((a, b) => a + b, 0), 30 * DAY);
  });

  it("clear() between chunks stops it", () => {
    const fake = fakeTimers();
    let fired = 0;
    const timer = setLongTimeout(() => fired++, 100 * DAY, fake.timers);
    fake.fireNext();
    timer.clear();
    timer.clear();
    assert.equal(fake.pending.size, 0);
    assert.equal(fired, 0);
  });

  it("Infinity never schedules anything; a negative or NaN delay is refused", () => {
    const fake = fakeTimers();
    setLongTimeout(() => {}, Infinity, fake.timers).clear();
    assert.equal(fake.delays.length, 0);
    assert.throws(() => setLongTimeout(() => {}, -1, fake.timers), RangeError);
    assert.throws(() => setLongTimeout(() => {}, NaN, fake.timers), RangeError);
  });

  it("a real 30-day timer does not fire early, and unref() returns the timer", async () => {
    let fired = false;
    const timer = setLongTimeout(() => (fired = true), 30 * DAY).unref();
    await sleep(20);
    assert.equal(fired, false);
    timer.clear();
  });
});

describe("setLongInterval", () => {
  it("a period of 30 days fires after each whole period, in chunks, until cleared", () => {
    const fake = fakeTimers();
    let fired = 0;
    const timer = setLongInterval(() => fired++, 30 * DAY, fake.timers);
    fake.fireNext();
    assert.equal(fired, 0, "fired after the first chunk");
    fake.fireNext();
    assert.equal(fired, 1);
    fake.fireNext();
    fake.fireNext();
    assert.equal(fired, 2);
    timer.clear();
    assert.equal(fake.pending.size, 0);
    assert.ok(fake.delays.every((d) => d <= MAX_TIMER_CHUNK_MILLIS));
  });

  it("a short period is the runtime's own interval; a negative one is refused", async () => {
    let fired = 0;
    const timer = setLongInterval(() => fired++, 1);
    await sleep(30);
    timer.clear();
    assert.ok(fired >= 2, `fired ${fired} times`);
    assert.throws(() => setLongInterval(() => {}, -1), RangeError);
  });
});

describe("long durations in the worker and the dispatcher", () => {
  const setup = () => {
    const store = new InMemoryTaskStore();
    const registry = new TaskRegistry();
    const dispatcher = new TaskDispatcher(store, { registry });
    return { store, registry, dispatcher };
  };

  it("an attempt timeout of 30 days does not time the task out at once", async () => {
    const { store, registry, dispatcher } = setup();
    registry.register("slow", async () => {
      await sleep(30);
      return "done";
    });
    const worker = new TaskWorker(store, { registry, pollInterval: 60_000 });
    const completed = nextEvent(worker.signals.taskCompleted);
    const failed = nextEvent(worker.signals.taskRetrying);
    worker.start();
    const id = await dispatcher.enqueue("slow", {}, { timeout: 30 * DAY });
    const first = await Promise.race([
      completed.then(() => "completed"),
      failed.then(() => "retry"),
    ]);
    assert.equal(first, "completed");
    assert.equal((await dispatcher.getTask(id))?.status, "COMPLETED");
    await worker.stop({ graceMillis: 0 });
  });

  it("a grace of 30 days lets a running task finish instead of releasing it at once", async () => {
    const { store, registry, dispatcher } = setup();
    registry.register("slow", async () => {
      await sleep(30);
      return "done";
    });
    const worker = new TaskWorker(store, { registry, pollInterval: 60_000 });
    const started = nextEvent(worker.signals.taskStarted);
    worker.start();
    const id = await dispatcher.enqueue("slow", {});
    await started;
    await worker.stop({ graceMillis: 30 * DAY });
    assert.equal((await dispatcher.getTask(id))?.status, "COMPLETED");
  });

  it("a poll interval of 30 days does not spin the claim loop", async () => {
    let claims = 0;
    class CountingStore extends InMemoryTaskStore {
      override claim(request: Parameters<InMemoryTaskStore["claim"]>[0]) {
        claims++;
        return super.claim(request);
      }
    }
    const worker = new TaskWorker(new CountingStore(), {
      registry: new TaskRegistry(),
      pollInterval: 30 * DAY,
    });
    worker.start();
    await sleep(30);
    await worker.stop({ graceMillis: 0 });
    assert.ok(claims <= 2, `claimed ${claims} times in 30 ms`);
  });

  it("a lease of 100 days does not renew leases in a loop (every third is over 2^31-1 ms)", async () => {
    let renewals = 0;
    class CountingStore extends InMemoryTaskStore {
      override renewLeases(...request: Parameters<InMemoryTaskStore["renewLeases"]>) {
        renewals++;
        return super.renewLeases(...request);
      }
    }
    const store = new CountingStore();
    const registry = new TaskRegistry();
    const started = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    registry.register("hold", async () => {
      started.resolve();
      await release.promise;
    });
    const worker = new TaskWorker(store, {
      registry,
      pollInterval: 60_000,
      leaseMillis: 100 * DAY,
    });
    worker.start();
    await new TaskDispatcher(store, { registry }).enqueue("hold", {});
    await started.promise;
    await sleep(30);
    assert.ok(renewals <= 2, `renewed ${renewals} times in 30 ms`);
    release.resolve();
    await worker.stop({ graceMillis: 1000 });
  });

  it("waitFor with a 30-day timeout and poll interval does not spin re-reading the task", async () => {
    let reads = 0;
    class CountingStore extends InMemoryTaskStore {
      override get(id: string) {
        reads++;
        return super.get(id);
      }
    }
    const registry = new TaskRegistry();
    registry.register("noop", () => {});
    const dispatcher = new TaskDispatcher(new CountingStore(), { registry });
    const id = await dispatcher.enqueue("noop", {});
    const controller = new AbortController();
    const waiting = dispatcher.waitFor(id, {
      timeout: 30 * DAY,
      pollInterval: 30 * DAY,
      signal: controller.signal,
    });
    const outcome = waiting.then(() => "finished", (error) => error);
    await sleep(30);
    controller.abort(new Error("test over"));
    const error = await outcome;
    assert.ok(!(error instanceof WaitTimeoutError), "timed out early");
    assert.match(String(error), /test over/);
    assert.ok(reads <= 2, `read the task ${reads} times in 30 ms`);
  });
});
