import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import * as v from "valibot";
import { TaskDispatcher } from "../src/dispatcher.ts";
import {
  IllegalTransitionError,
  InvalidArgumentsError,
  TaskNotFoundError,
  UnknownTaskError,
  WaitTimeoutError,
} from "../src/errors.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { FakeClock } from "./_helpers.ts";

describe("TaskDispatcher", () => {
  let store: InMemoryTaskStore;
  let registry: TaskRegistry;
  let clock: FakeClock;
  let dispatcher: TaskDispatcher;

  beforeEach(() => {
    store = new InMemoryTaskStore();
    registry = new TaskRegistry();
    registry.register("send-email", () => {}, {
      schema: v.object({ to: v.pipe(v.string(), v.email()), subject: v.optional(v.string()) }),
      queue: "mail",
      priority: "HIGH",
      retryConfig: { maxAttempts: 5 },
      timeout: 10_000,
    });
    registry.register("noop", () => {});
    clock = new FakeClock();
    dispatcher = new TaskDispatcher(store, { registry, clock });
  });

  const nothingWritten = async () => assert.equal((await dispatcher.stats()).total, 0);

  it("enqueue without a delay is PENDING and due now", async () => {
    const id = await dispatcher.enqueue("noop", { a: 1 });
    const task = await dispatcher.getTask(id);
    assert.equal(task?.status, "PENDING");
    assert.equal(task?.runAt, clock.now());
    assert.equal(task?.createdAt, clock.now());
    assert.deepEqual(task?.args, { a: 1 });
    assert.equal(task?.queue, "default");
    assert.equal(task?.priority, "NORMAL");
    assert.equal(task?.attempts, 0);
    assert.equal(task?.maxAttempts, 3);
  });

  it("enqueue with a delay is SCHEDULED and due after it", async () => {
    const id = await dispatcher.enqueue("noop", {}, { delay: 5000 });
    const task = await dispatcher.getTask(id);
    assert.equal(task?.status, "SCHEDULED");
    assert.equal(task?.runAt, clock.now() + 5000);
  });

  it("registered defaults apply and enqueue options override them", async () => {
    const a = await dispatcher.getTask(
      await dispatcher.enqueue("send-email", { to: "a@example.com" }),
    );
    assert.equal(a?.queue, "mail");
    assert.equal(a?.priority, "HIGH");
    assert.equal(a?.maxAttempts, 5);
    assert.equal(a?.timeoutMillis, 10_000);
    const b = await dispatcher.getTask(
      await dispatcher.enqueue("send-email", { to: "a@example.com" }, {
        queue: "urgent",
        priority: "CRITICAL",
        retryConfig: { maxAttempts: 2, useJitter: false },
        timeout: null,
      }),
    );
    assert.equal(b?.queue, "urgent");
    assert.equal(b?.priority, "CRITICAL");
    assert.equal(b?.maxAttempts, 2);
    assert.equal(b?.retryConfig.useJitter, false);
    assert.equal(b?.timeoutMillis, null);
  });

  it("the stored args are a copy: later changes by the caller do not leak in", async () => {
    const args = { to: "a@example.com", subject: "one" };
    const id = await dispatcher.enqueue("send-email", args);
    args.subject = "two";
    assert.deepEqual((await dispatcher.getTask(id))?.args, { to: "a@example.com", subject: "one" });
  });

  it("ids are unique and sort in enqueue order", async () => {
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push(await dispatcher.enqueue("noop"));
    assert.equal(new Set(ids).size, 50);
    assert.deepEqual([...ids].sort(), ids);
  });

  describe("bad input is a clear error and writes nothing", () => {
    it("an unknown task lists near matches", async () => {
      const error = await dispatcher.enqueue("send-emial", {}).catch((e) => e);
      assert.ok(error instanceof UnknownTaskError);
      assert.deepEqual(error.suggestions, ["send-email"]);
      assert.match(error.message, /Unknown task "send-emial"; did you mean "send-email"\?/);
      await nothingWritten();
    });

    it("args failing the schema list each issue's path and message", async () => {
      const error = await dispatcher.enqueue("send-email", { to: "nope", subject: 4 }).catch((e) =>
        e
      );
      assert.ok(error instanceof InvalidArgumentsError);
      assert.deepEqual(error.issues.map((i) => i.path), ["args.to", "args.subject"]);
      assert.match(error.message, /args\.to: Invalid email/);
      await nothingWritten();
    });

    for (
      const [label, args, pattern] of [
        ["a function", { cb: () => 1 }, /args\.cb is a function/],
        ["a BigInt", { n: 10n }, /args\.n is a bigint/],
        [
          "a cycle",
          (() => {
            const o: Record<string, unknown> = {};
            o.self = o;
            return o;
          })(),
          /args\.self refers back to itself/,
        ],
        ["a Date", { at: new Date(0) }, /args\.at is a Date, not a plain object/],
        ["NaN", { x: NaN }, /args\.x is NaN/],
      ] as const
    ) {
      it(`args holding ${label} are refused`, async () => {
        const error = await dispatcher.enqueue("noop", args).catch((e) => e);
        assert.ok(error instanceof InvalidArgumentsError, String(error));
        assert.match(error.message, pattern);
        await nothingWritten();
      });
    }

    it("a negative delay", async () => {
      await assert.rejects(
        dispatcher.enqueue("noop", {}, { delay: -1 }),
        /delay must be a duration from 0 to 10 years, .*got -1/,
      );
      await nothingWritten();
    });

    it("an unknown priority", async () => {
      await assert.rejects(
        dispatcher.enqueue("noop", {}, { priority: "URGENT" as never }),
        /priority must be one of LOW, NORMAL, HIGH, CRITICAL \(any case\), got "URGENT"/,
      );
      await assert.rejects(
        dispatcher.enqueue("noop", {}, { priority: "hihg" as never }),
        /did you mean HIGH\?/,
      );
      await nothingWritten();
    });

    it("maxAttempts 0", async () => {
      await assert.rejects(
        dispatcher.enqueue("noop", {}, { retryConfig: { maxAttempts: 0 } }),
        (e: unknown) =>
          e instanceof RangeError &&
          /retryConfig.maxAttempts must be an integer from 1 to 1000, got 0/.test(e.message),
      );
      await nothingWritten();
    });

    it("an unknown option", async () => {
      await assert.rejects(
        dispatcher.enqueue("noop", {}, { dealy: 5 } as never),
        /Unknown field "dealy"; did you mean "delay"\?/,
      );
      await nothingWritten();
    });

    it("enqueueMany with one bad request writes none of them", async () => {
      await assert.rejects(
        dispatcher.enqueueMany([{ name: "noop" }, { name: "send-email", args: { to: "x" } }]),
        /Request 1: Invalid arguments for task "send-email"/,
      );
      await nothingWritten();
    });
  });

  it("enqueueMany stores all tasks and returns their ids in order", async () => {
    const ids = await dispatcher.enqueueMany([
      { name: "noop", args: { i: 0 } },
      { name: "noop", args: { i: 1 }, options: { delay: 10 } },
    ]);
    assert.equal(ids.length, 2);
    assert.deepEqual((await dispatcher.getTask(ids[1]!))?.args, { i: 1 });
    assert.equal((await dispatcher.getTask(ids[1]!))?.status, "SCHEDULED");
  });

  it("cancel ends PENDING, SCHEDULED and RETRYING tasks", async () => {
    const pending = await dispatcher.enqueue("noop");
    const scheduled = await dispatcher.enqueue("noop", {}, { delay: 1000 });
    assert.equal((await dispatcher.cancel(pending)).status, "CANCELLED");
    assert.equal((await dispatcher.cancel(scheduled)).status, "CANCELLED");
    const retrying = await dispatcher.enqueue("noop");
    const [claimed] = await store.claim({
      workerId: "w",
      queues: ["default"],
      limit: 1,
      now: clock.now(),
      leaseMillis: 1000,
    });
    await store.finish([{
      kind: "retry",
      id: retrying,
      token: claimed!.attemptToken!,
      now: clock.now(),
      error: { message: "x" },
      runAt: clock.now() + 100,
    }]);
    assert.equal((await dispatcher.getTask(retrying))?.status, "RETRYING");
    assert.equal((await dispatcher.cancel(retrying)).status, "CANCELLED");
  });

  it("cancel of a COMPLETED task or an unknown id is an error", async () => {
    const id = await dispatcher.enqueue("noop");
    const [claimed] = await store.claim({
      workerId: "w",
      queues: ["default"],
      limit: 1,
      now: clock.now(),
      leaseMillis: 1000,
    });
    await store.finish([{
      kind: "completed",
      id,
      token: claimed!.attemptToken!,
      now: clock.now(),
      result: null,
    }]);
    const error = await dispatcher.cancel(id).catch((e) => e);
    assert.ok(error instanceof IllegalTransitionError);
    assert.match(
      error.message,
      /Cannot cancel task .*: it is COMPLETED; only PENDING, SCHEDULED, RETRYING, PROCESSING tasks can be cancelled/,
    );
    await assert.rejects(dispatcher.cancel("nope"), TaskNotFoundError);
  });

  it("retry brings back FAILED and CANCELLED tasks and refuses a PENDING one", async () => {
    const id = await dispatcher.enqueue("noop");
    await assert.rejects(dispatcher.retry(id), IllegalTransitionError);
    await dispatcher.cancel(id);
    clock.advance(500);
    const again = await dispatcher.retry(id);
    assert.equal(again.status, "PENDING");
    assert.equal(again.runAt, clock.now());
    await assert.rejects(dispatcher.retry("nope"), TaskNotFoundError);
  });

  it("listByStatus pages through tasks of one status", async () => {
    const ids = await dispatcher.enqueueMany(Array.from({ length: 5 }, () => ({ name: "noop" })));
    await dispatcher.cancel(ids[0]!);
    const first = await dispatcher.listByStatus("PENDING", { limit: 3 });
    assert.equal(first.tasks.length, 3);
    assert.ok(first.nextCursor);
    const second = await dispatcher.listByStatus("PENDING", { limit: 3, cursor: first.nextCursor });
    assert.equal(second.tasks.length, 1);
    assert.equal(second.nextCursor, null);
    assert.deepEqual([...first.tasks, ...second.tasks].map((t) => t.id), ids.slice(1).reverse());
    assert.throws(
      () => dispatcher.listByStatus("PENDING", { limit: 0 }),
      /limit must be an integer from 1 to 1000, got 0/,
    );
    assert.throws(() => dispatcher.listByStatus("DONE" as never), /status must be one of/);
  });

  it("stats counts per status overall and per queue", async () => {
    await dispatcher.enqueue("noop");
    await dispatcher.enqueue("send-email", { to: "a@example.com" }, { delay: 10 });
    const stats = await dispatcher.stats();
    assert.equal(stats.total, 2);
    assert.equal(stats.byStatus.PENDING, 1);
    assert.equal(stats.queues.mail?.SCHEDULED, 1);
  });

  it("waitFor times out, honours an abort signal and refuses unknown ids", async () => {
    const id = await dispatcher.enqueue("noop");
    await assert.rejects(dispatcher.waitFor(id, { timeout: 20 }), WaitTimeoutError);
    const controller = new AbortController();
    const waiting = dispatcher.waitFor(id, { signal: controller.signal });
    controller.abort(new Error("gave up"));
    await assert.rejects(waiting, /gave up/);
    await assert.rejects(dispatcher.waitFor("nope"), TaskNotFoundError);
  });

  it("waitFor resolves when the task is cancelled", async () => {
    const id = await dispatcher.enqueue("noop");
    const waiting = dispatcher.waitFor(id, { timeout: 5000 });
    await dispatcher.cancel(id);
    assert.equal((await waiting).status, "CANCELLED");
  });
});
