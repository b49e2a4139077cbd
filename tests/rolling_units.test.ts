/**
 * The parts of rolling deploys that need no second process: published task types, enqueue of
 * names this process does not define (library and HTTP), unrunnable counts, the worker's claim
 * names, and a cancel learned from a `changed` event alone.
 */

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import * as v from "valibot";
import { createAdminHandler } from "../src/admin/handler.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { EnqueueInputError, parseEnqueueRequest } from "../src/enqueue_input.ts";
import { InvalidArgumentsError, UnknownTaskError } from "../src/errors.ts";
import type { TaskExecutor } from "../src/executor.ts";
import { DEFAULT_HEARTBEAT_TIMEOUT } from "../src/heartbeat.ts";
import type { JsonValue } from "../src/json.ts";
import { createDefinition, TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import type { ClaimRequest, StoreEvent, TaskStore, WorkerInfo } from "../src/store/store.ts";
import {
  describeTaskTypes,
  MAX_ARGS_SCHEMA_BYTES,
  MAX_TASK_TYPES_BYTES,
  type TaskTypeInfo,
} from "../src/task_types.ts";
import { TaskWorker } from "../src/worker.ts";
import { FakeClock, nextEvent } from "./_helpers.ts";

const T0 = 1_700_000_000_000;

/** A registry row as a live worker of another process writes it. */
function workerRow(id: string, taskTypes: TaskTypeInfo[] | undefined, lastBeatAt = T0): WorkerInfo {
  return {
    id,
    host: "elsewhere",
    pid: 1,
    startedAt: T0 - 1000,
    lastBeatAt,
    queues: ["images"],
    concurrency: 1,
    meta: (taskTypes === undefined ? {} : { taskTypes }) as unknown as JsonValue,
  };
}

const resizeType = (): TaskTypeInfo =>
  describeTaskTypes([
    createDefinition("resize", () => {}, {
      queue: "images",
      priority: "HIGH",
      retryConfig: { maxAttempts: 7 },
      timeout: 1234,
      schema: v.object({ width: v.number() }),
    }),
  ])[0]!;

describe("published task types", () => {
  it("describe a definition: queue, priority, attempts, timeout, retry and its args as JSON Schema", () => {
    const type = resizeType();
    assert.equal(type.name, "resize");
    assert.equal(type.queue, "images");
    assert.equal(type.priority, "HIGH");
    assert.equal(type.maxAttempts, 7);
    assert.equal(type.timeoutMillis, 1234);
    assert.equal(type.retry.maxAttempts, 7);
    const schema = type.argsSchema as { type: string; required: string[] };
    assert.equal(schema.type, "object");
    assert.deepEqual(schema.required, ["width"]);
    const [plain] = describeTaskTypes([createDefinition("plain", () => {})]);
    assert.equal(plain?.argsSchema, null);
  });

  it("a schema JSON Schema cannot express never fails: what cannot be converted is left out", () => {
    const [odd] = describeTaskTypes([
      createDefinition("odd", () => {}, {
        schema: v.pipe(v.string(), v.transform((s) => s.length), v.check((n) => n > 1)),
      }),
    ]);
    assert.notEqual(odd, undefined);
  });

  it("a large schema is published as null; the whole list stays within its bound", () => {
    const fields = (n: number, prefix: string) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`${prefix}${i}`, v.string()]),
      );
    const [huge] = describeTaskTypes([
      createDefinition("huge", () => {}, { schema: v.object(fields(400, "field_number_")) }),
    ]);
    assert.equal(huge?.argsSchema, null, `over ${MAX_ARGS_SCHEMA_BYTES} bytes`);
    const many = Array.from(
      { length: 40 },
      (_, i) => createDefinition(`task-${i}`, () => {}, { schema: v.object(fields(60, "f")) }),
    );
    const types = describeTaskTypes(many);
    assert.equal(types.length, 40, "every name is published");
    assert.ok(JSON.stringify(types).length <= MAX_TASK_TYPES_BYTES);
    assert.ok(types.some((t) => t.argsSchema === null) && types.some((t) => t.argsSchema !== null));
  });
});

describe("enqueue of names this process does not define", () => {
  let store: InMemoryTaskStore;
  let dispatcher: TaskDispatcher;
  let clock: FakeClock;
  beforeEach(() => {
    store = new InMemoryTaskStore();
    clock = new FakeClock(T0);
    dispatcher = new TaskDispatcher(store, { registry: new TaskRegistry(), clock });
  });

  it("without unregistered, an unknown name is refused as before", async () => {
    const registry = new TaskRegistry();
    registry.register("resize", () => {});
    const local = new TaskDispatcher(store, { registry, clock });
    await assert.rejects(local.enqueue("resise"), (error: unknown) => {
      assert.ok(error instanceof UnknownTaskError);
      assert.deepEqual(error.suggestions, ["resize"]);
      return true;
    });
    assert.equal(await store.count({}), 0);
  });

  it("takes the defaults a live worker publishes, with no warning", async () => {
    await store.registerWorker(workerRow("w-new", [resizeType()]));
    const result = await dispatcher.enqueueDetailed("resize", { width: 3 }, { unregistered: true });
    assert.equal(result.warning, undefined);
    const task = await store.get(result.id);
    assert.equal(task?.queue, "images");
    assert.equal(task?.priority, "HIGH");
    assert.equal(task?.maxAttempts, 7);
    assert.equal(task?.timeoutMillis, 1234);
    // Options given still win over the published defaults.
    const own = await dispatcher.enqueueDetailed("resize", { width: 1 }, {
      unregistered: true,
      queue: "urgent",
      retryConfig: { maxAttempts: 2 },
    });
    const ownTask = await store.get(own.id);
    assert.equal(ownTask?.queue, "urgent");
    assert.equal(ownTask?.maxAttempts, 2);
  });

  it("a name no live worker defines is stored with a warning and the plain defaults", async () => {
    await store.registerWorker(
      workerRow("w-gone", [resizeType()], T0 - DEFAULT_HEARTBEAT_TIMEOUT - 1),
    );
    const result = await dispatcher.enqueueDetailed("resize", { width: 3 }, { unregistered: true });
    assert.match(
      result.warning ?? "",
      /No live worker defines task "resize": it waits in queue "default"/,
    );
    assert.equal((await store.get(result.id))?.queue, "default");
    const [many] = await dispatcher.enqueueManyDetailed([
      { name: "ghost", options: { unregistered: true } },
    ]);
    assert.match(many?.warning ?? "", /"ghost"/);
  });

  it("args are checked against the JSON Schema a live worker published", async () => {
    await store.registerWorker(workerRow("w-new", [resizeType()]));
    await assert.rejects(
      dispatcher.enqueue("resize", { width: "wide", extra: 1 }, { unregistered: true }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentsError);
        assert.deepEqual(error.issues.map((i) => i.path), ["args.width"]);
        assert.match(error.issues[0]!.message, /Expected number but received "wide"/);
        return true;
      },
    );
    await assert.rejects(dispatcher.enqueue("resize", {}, { unregistered: true }), /args\.width/);
    assert.equal(await store.count({}), 0, "nothing is written");
    // validate (a bulk import's check of each line) uses the types last loaded.
    await dispatcher.loadTaskTypes();
    assert.throws(
      () => dispatcher.validate("resize", { width: "wide" }, { unregistered: true }),
      InvalidArgumentsError,
    );
    dispatcher.validate("resize", { width: 2 }, { unregistered: true });
    const handler = createAdminHandler({ store, dispatcher, onError: () => {} });
    const response = await handler(
      new Request("http://localhost:7070/api/tasks", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "resize", args: { width: "wide" }, unregistered: true }),
      }),
    );
    assert.equal(response.status, 400);
    assert.match(await response.text(), /args\.width/);
  });

  it("no warning while a live worker claims every name (it publishes no task types)", async () => {
    await store.registerWorker(workerRow("w-any", undefined));
    const result = await dispatcher.enqueueDetailed("anything", {}, { unregistered: true });
    assert.equal(result.warning, undefined);
  });

  it("malformed published defaults fall back to the plain ones", async () => {
    const bad = { ...resizeType(), queue: "no spaces allowed", priority: "URGENT" } as unknown;
    await store.registerWorker(workerRow("w-bad", [bad as TaskTypeInfo]));
    const result = await dispatcher.enqueueDetailed("resize", {}, { unregistered: true });
    const task = await store.get(result.id);
    assert.equal(task?.queue, "default");
    assert.equal(task?.priority, "NORMAL");
  });

  it("args must still be plain JSON; a bad flag value names the field", async () => {
    await assert.rejects(
      dispatcher.enqueue("ghost", { when: new Date() }, { unregistered: true }),
      InvalidArgumentsError,
    );
    await assert.rejects(
      dispatcher.enqueue("ghost", {}, { unregistered: "yes" as unknown as boolean }),
      (error: unknown) =>
        error instanceof EnqueueInputError && error.field === "unregistered" &&
        /unregistered must be true or false, got "yes"/.test(error.message),
    );
    assert.equal(
      parseEnqueueRequest({ name: "ghost", unregistered: true }).options.unregistered,
      true,
    );
    assert.equal(await store.count({}), 0);
  });

  it("POST /api/tasks with unregistered stores the task and answers the warning", async () => {
    const handler = createAdminHandler({ store, dispatcher, onError: () => {} });
    const post = (json: unknown) =>
      handler(
        new Request("http://localhost:7070/api/tasks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        }),
      );
    const refused = await post({ name: "ghost" });
    assert.equal(refused.status, 400);
    const accepted = await post({ name: "ghost", args: { n: 1 }, unregistered: true });
    assert.equal(accepted.status, 201);
    const body = await accepted.json() as { id: string; warning?: string };
    assert.match(body.warning ?? "", /No live worker defines task "ghost"/);
    assert.equal((await store.get(body.id))?.status, "PENDING");
    const bad = await post({ name: "ghost", unregistered: 1 });
    assert.equal(bad.status, 400);
  });

  it("unrunnable counts waiting tasks per name no live worker defines", async () => {
    await store.registerWorker(workerRow("w-new", [resizeType()]));
    for (const name of ["resize", "ghost", "ghost", "spook"]) {
      await dispatcher.enqueue(name, { width: 1 }, { unregistered: true });
    }
    assert.deepEqual(await dispatcher.unrunnable(), [
      { name: "ghost", waiting: 2 },
      { name: "spook", waiting: 1 },
    ]);
    assert.deepEqual(await dispatcher.unrunnable(1), [{ name: "ghost", waiting: 2 }]);
    await store.registerWorker(workerRow("w-any", undefined));
    assert.deepEqual(await dispatcher.unrunnable(), [], "a worker that claims any name is live");
    await assert.rejects(dispatcher.unrunnable(0), RangeError);
  });
});

describe("the worker's claims and cancels", () => {
  let store: InMemoryTaskStore;
  let worker: TaskWorker | undefined;
  beforeEach(() => (store = new InMemoryTaskStore()));
  afterEach(async () => await worker?.stop({ graceMillis: 0 }));

  it("claims name the executor's definitions; an executor without them claims any name", async () => {
    const requests: ClaimRequest[] = [];
    const spy = new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (key === "claim") {
          return (request: ClaimRequest) => {
            requests.push(request);
            return target.claim(request);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as TaskStore;
    const registry = new TaskRegistry();
    registry.register("b", () => {});
    registry.register("a", () => {});
    worker = new TaskWorker(spy, { registry, signals: new TaskSignals(), pollInterval: 60_000 });
    worker.start();
    await new TaskDispatcher(spy, { registry }).enqueue("a");
    await nextEvent(worker.signals.taskCompleted);
    assert.deepEqual(requests.at(-1)?.names, ["a", "b"]);
    await worker.stop();
    requests.length = 0;
    const anyName: TaskExecutor = {
      execute: () => Promise.resolve({ kind: "completed", result: 1 }),
    };
    worker = new TaskWorker(spy, {
      executor: anyName,
      signals: new TaskSignals(),
      pollInterval: 60_000,
    });
    worker.start();
    await new TaskDispatcher(spy, { registry }).enqueue("b");
    await nextEvent(worker.signals.taskCompleted);
    assert.ok(requests.length > 0 && requests.every((r) => r.names === undefined));
  });

  it("a cancel another process wrote reaches the handler on a changed event alone", async () => {
    // The worker hears `changed` but never the cancelRequested event (a lost wake-up).
    const listeners = new Set<(event: StoreEvent) => void>();
    store.listen((event) => {
      if (event.type !== "cancelRequested") { for (const listener of listeners) listener(event); }
    });
    const quiet = new Proxy(store, {
      get(target, key) {
        if (key === "listen") {
          return (listener: (event: StoreEvent) => void) => {
            listeners.add(listener);
            return () => listeners.delete(listener);
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as TaskStore;
    const registry = new TaskRegistry();
    let aborted: unknown;
    registry.register(
      "hold",
      (_args, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => reject(aborted = ctx.signal.reason), {
            once: true,
          })
        ),
    );
    // Leases far longer than the test: no renewal brings the cancel.
    worker = new TaskWorker(quiet, {
      registry,
      signals: new TaskSignals(),
      leaseMillis: 3_600_000,
      pollInterval: 60_000,
    });
    const started = nextEvent(worker.signals.taskStarted);
    worker.start();
    const id = await new TaskDispatcher(store, { registry }).enqueue("hold");
    await started;
    const cancelled = nextEvent(worker.signals.taskCancelled);
    await store.cancel(id, Date.now());
    for (const listener of listeners) listener({ type: "changed" });
    assert.equal((await cancelled).task.id, id);
    assert.match(String(aborted), /cancelled/);
    assert.equal((await store.get(id))?.status, "CANCELLED");
  });
});
