/**
 * OpenTelemetry tracing: the send span of an enqueue and the traceparent it stores, the process
 * span of each attempt linked to it, the handler's spans as its children, the traceparent a pool
 * Worker receives, and nothing at all without a tracer provider or without the package.
 * Spans go to an in-memory exporter of `@opentelemetry/sdk-trace-base`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { WorkerPool } from "../src/pool/pool.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskRecord } from "../src/task.ts";
import { activeTracer, loadTracingApi, setTracingApiLoaderForTests } from "../src/tracing/_api.ts";
import { AsyncLocalContextManager } from "../src/tracing/context_manager.ts";
import { TracingAttributes as A } from "../src/tracing/conventions.ts";
import { formatTraceparent, parseTraceparent } from "../src/tracing/traceparent.ts";
import { TaskWorker } from "../src/worker.ts";
import { makeTask, tempDir } from "./_helpers.ts";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalContextManager();
const appTracer = () => trace.getTracer("app");

before(() => {
  context.setGlobalContextManager(contextManager.enable());
});
after(async () => {
  trace.disable();
  context.disable();
  await provider.shutdown();
});

const stops: (() => Promise<void>)[] = [];
beforeEach(() => {
  trace.setGlobalTracerProvider(provider);
  exporter.reset();
});
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  trace.disable();
  setTracingApiLoaderForTests();
});

/** A memory store, a registry with `register`ed handlers, a started worker and a dispatcher. */
function harness(register: (registry: TaskRegistry) => void, executor?: WorkerPool) {
  const registry = new TaskRegistry();
  register(registry);
  const store = new InMemoryTaskStore();
  const worker = new TaskWorker(store, {
    registry,
    workerId: "worker-t",
    queues: ["default", "mail"],
    pollInterval: 60_000,
    scheduler: false,
    ...(executor ? { executor } : {}),
  });
  worker.start();
  stops.push(() => worker.stop({ graceMillis: 0 }));
  const dispatcher = new TaskDispatcher(store, { registry });
  const done = async (id: string) => await dispatcher.waitFor(id, { timeout: 10_000 });
  return { store, worker, dispatcher, done };
}

/** The finished spans so far. */
async function spans(): Promise<ReadableSpan[]> {
  await provider.forceFlush();
  return exporter.getFinishedSpans();
}

function only(all: ReadableSpan[], name: string): ReadableSpan {
  const found = all.filter((span) => span.name === name);
  assert.equal(found.length, 1, `one span "${name}" among ${all.map((s) => s.name)}`);
  return found[0]!;
}

describe("tracing", () => {
  it("an enqueue inside an active span stores the traceparent of its send span, a child of it", async () => {
    const { dispatcher, done } = harness((r) => r.register("greet", () => "hi"));
    const id = await appTracer().startActiveSpan("request", async (request) => {
      try {
        return await dispatcher.enqueue("greet", {}, { queue: "default" });
      } finally {
        request.end();
      }
    });
    const task = await dispatcher.getTask(id);
    await done(id);
    const all = await spans();
    const request = only(all, "request");
    const send = only(all, "send greet");
    assert.equal(send.kind, SpanKind.PRODUCER);
    assert.equal(send.parentSpanContext?.spanId, request.spanContext().spanId);
    assert.equal(send.spanContext().traceId, request.spanContext().traceId);
    assert.equal(task?.traceparent, formatTraceparent(send.spanContext()));
    assert.equal(task?.tracestate, undefined, "no tracestate without one on the span");
    // The worker heard of the insert inside the request's context: no parent of the attempt.
    assert.equal(only(all, "process greet").parentSpanContext, undefined);
    assert.deepEqual(
      {
        system: send.attributes[A.SYSTEM],
        type: send.attributes[A.OPERATION_TYPE],
        queue: send.attributes[A.DESTINATION],
        id: send.attributes[A.MESSAGE_ID],
        name: send.attributes[A.TASK_NAME],
      },
      { system: "aether-tasks", type: "send", queue: "default", id, name: "greet" },
    );
  });

  it("each attempt runs in a CONSUMER span linked to the send span, with the conventions' attributes", async () => {
    let calls = 0;
    const { dispatcher, done } = harness((r) =>
      r.register("flaky", () => {
        if (++calls === 1) throw new TypeError("first attempt fails");
        return "ok";
      }, { retryConfig: { maxAttempts: 2, baseDelayMillis: 1, useJitter: false } })
    );
    const id = await dispatcher.enqueue("flaky", {}, { queue: "mail" });
    assert.equal((await done(id)).status, "COMPLETED");
    const all = await spans();
    const send = only(all, "send flaky");
    const attempts = all.filter((span) => span.name === "process flaky")
      .sort((a, b) => Number(a.attributes[A.ATTEMPT]) - Number(b.attributes[A.ATTEMPT]));
    assert.equal(attempts.length, 2);
    for (const [i, span] of attempts.entries()) {
      assert.equal(span.kind, SpanKind.CONSUMER);
      assert.equal(span.parentSpanContext, undefined, "a root span, linked rather than parented");
      assert.equal(span.links.length, 1);
      assert.equal(span.links[0]!.context.traceId, send.spanContext().traceId);
      assert.equal(span.links[0]!.context.spanId, send.spanContext().spanId);
      assert.deepEqual(
        {
          system: span.attributes[A.SYSTEM],
          type: span.attributes[A.OPERATION_TYPE],
          operation: span.attributes[A.OPERATION_NAME],
          queue: span.attributes[A.DESTINATION],
          id: span.attributes[A.MESSAGE_ID],
          name: span.attributes[A.TASK_NAME],
          attempt: span.attributes[A.ATTEMPT],
          client: span.attributes[A.CLIENT_ID],
        },
        {
          system: "aether-tasks",
          type: "process",
          operation: "process",
          queue: "mail",
          id,
          name: "flaky",
          attempt: i + 1,
          client: "worker-t",
        },
      );
    }
    const [failed, succeeded] = attempts as [ReadableSpan, ReadableSpan];
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.equal(failed.status.message, "first attempt fails");
    assert.equal(failed.attributes[A.ERROR_TYPE], "TypeError");
    assert.equal(failed.attributes[A.OUTCOME], "retry");
    assert.deepEqual(failed.events.map((e) => e.name), ["exception", "aether_tasks.retry"]);
    assert.equal(succeeded.status.code, SpanStatusCode.UNSET);
    assert.equal(succeeded.attributes[A.OUTCOME], "completed");
  });

  it("a final failure ends the span with status ERROR and the error", async () => {
    const { dispatcher, done } = harness((r) =>
      r.register("doomed", () => {
        throw new RangeError("no way");
      }, { retryConfig: { maxAttempts: 1 } })
    );
    const id = await dispatcher.enqueue("doomed");
    assert.equal((await done(id)).status, "FAILED");
    const span = only(await spans(), "process doomed");
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes[A.OUTCOME], "failed");
    assert.equal(span.attributes[A.ERROR_TYPE], "RangeError");
    const exception = span.events.find((e) => e.name === "exception");
    assert.equal(exception?.attributes?.["exception.message"], "no way");
  });

  it("in process the handler's own spans are children of the attempt's span, across awaits", async () => {
    let seen: string | null = null;
    const { dispatcher, done } = harness((r) =>
      r.register("nested", async (_args, ctx) => {
        seen = ctx.traceparent;
        await new Promise((resolve) => setTimeout(resolve, 1));
        appTracer().startActiveSpan("inside", (span) => span.end());
      })
    );
    const id = await dispatcher.enqueue("nested");
    await done(id);
    const all = await spans();
    const attempt = only(all, "process nested");
    const inside = only(all, "inside");
    assert.equal(inside.parentSpanContext?.spanId, attempt.spanContext().spanId);
    assert.equal(inside.spanContext().traceId, attempt.spanContext().traceId);
    assert.equal(seen, formatTraceparent(attempt.spanContext()));
  });

  it("enqueueMany writes in one send span; every task of the batch carries its context", async () => {
    const { dispatcher, done } = harness((r) => {
      r.register("a", () => null);
      r.register("b", () => null);
    });
    const ids = await dispatcher.enqueueMany([{ name: "a" }, { name: "b" }, { name: "a" }]);
    const tasks = await Promise.all(ids.map((id) => dispatcher.getTask(id)));
    await Promise.all(ids.map(done));
    const all = await spans();
    const send = only(all, "send");
    assert.equal(send.attributes[A.BATCH_COUNT], 3);
    assert.equal(send.attributes[A.MESSAGE_ID], undefined);
    for (const task of tasks) {
      assert.equal(task?.traceparent, formatTraceparent(send.spanContext()));
    }
    assert.equal(all.filter((span) => span.name.startsWith("process ")).length, 3);
  });

  it("a stored traceparent that is not valid gives no link, and the task still runs", async () => {
    const { store, dispatcher, done } = harness((r) => r.register("test-task", () => "ran"));
    const task = makeTask({ createdAt: Date.now(), traceparent: "00-not-a-traceparent-01" });
    await store.insert([task]);
    assert.equal((await done(task.id)).result, "ran");
    const span = only(await spans(), "process test-task");
    assert.deepEqual(span.links, []);
    assert.ok(dispatcher);
  });

  it("with no tracer provider nothing is recorded, no traceparent is stored, and tasks run", async () => {
    await loadTracingApi();
    assert.notEqual(activeTracer(), null, "on while a provider is registered");
    trace.disable();
    assert.equal(activeTracer(), null, "off, so no span object is even made");
    let seen: string | null | undefined;
    const { dispatcher, done } = harness((r) =>
      r.register("quiet", (_args, ctx) => {
        seen = ctx.traceparent;
        return "done";
      })
    );
    const id = await dispatcher.enqueue("quiet");
    const stored = await dispatcher.getTask(id);
    assert.equal((await done(id)).result, "done");
    assert.equal(stored?.traceparent, undefined);
    assert.equal(seen, null);
    assert.deepEqual(await spans(), []);
  });

  it("the API is loaded only once a provider is registered, which turns tracing on for running workers", async () => {
    trace.disable();
    let loads = 0;
    setTracingApiLoaderForTests(() => {
      loads++;
      return import("@opentelemetry/api");
    });
    const { dispatcher, done } = harness((r) => r.register("later", () => "ok"));
    await done(await dispatcher.enqueue("later"));
    assert.equal(loads, 0, "no provider: the package is not even imported");
    trace.setGlobalTracerProvider(provider);
    const id = await dispatcher.enqueue("later");
    await done(id);
    assert.equal(loads, 1);
    const all = await spans();
    assert.equal(
      only(all, "process later").links[0]?.context.spanId,
      only(all, "send later").spanContext().spanId,
    );
  });

  it("without the @opentelemetry/api package everything works and nothing is traced", async () => {
    setTracingApiLoaderForTests(() => Promise.reject(new Error("Cannot find package")));
    let seen: string | null | undefined;
    const { dispatcher, done } = harness((r) =>
      r.register("plain", (_args, ctx) => {
        seen = ctx.traceparent;
        return 1;
      })
    );
    const id = await appTracer().startActiveSpan("request", async (request) => {
      try {
        return await dispatcher.enqueue("plain");
      } finally {
        request.end();
      }
    });
    assert.equal((await done(id)).result, 1);
    assert.equal((await dispatcher.getTask(id))?.traceparent, undefined);
    assert.equal(seen, null);
    assert.deepEqual((await spans()).map((span) => span.name), ["request"]);
  });
});

describe("tracing on SQLite", () => {
  it("the traceparent an enqueue stored in the file links the attempt's span", async () => {
    const dir = await tempDir("aether-tracing-");
    const store = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
    await store.migrate();
    const registry = new TaskRegistry();
    registry.register("persisted", () => "ok");
    const worker = new TaskWorker(store, { registry, pollInterval: 60_000, scheduler: false });
    worker.start();
    try {
      const dispatcher = new TaskDispatcher(store, { registry });
      const id = await appTracer().startActiveSpan("request", async (request) => {
        try {
          return await dispatcher.enqueue("persisted");
        } finally {
          request.end();
        }
      });
      const done = await dispatcher.waitFor(id, { timeout: 10_000 });
      assert.equal(done.status, "COMPLETED");
      const all = await spans();
      const send = only(all, "send persisted");
      assert.equal(done.traceparent, formatTraceparent(send.spanContext()));
      assert.equal(
        only(all, "process persisted").links[0]?.context.spanId,
        send.spanContext().spanId,
      );
    } finally {
      await worker.stop({ graceMillis: 0 });
      await store.close();
      await dir.remove();
    }
  });
});

describe("tracing through the Worker pool", () => {
  let pool: WorkerPool;
  before(async () => {
    const handlersDir = fileURLToPath(new URL("./fixtures/tracing_handlers", import.meta.url));
    pool = await WorkerPool.start({ handlersDir, size: 1, graceMillis: 100 });
  });
  after(async () => {
    await pool.close();
  });

  /** A worker over the shared pool (the worker must not close it). */
  const run = async () => {
    const shared = { execute: pool.execute.bind(pool) } as unknown as WorkerPool;
    const { dispatcher, done } = harness((r) => {
      for (const definition of pool.definitions) r.add(definition);
    }, shared);
    return await done(await dispatcher.enqueue("traceparent"));
  };

  it("the Worker receives the traceparent of the attempt's span, which the main thread ends", async () => {
    const task: TaskRecord = await run();
    const span = only(await spans(), "process traceparent");
    assert.deepEqual(task.result, { traceparent: formatTraceparent(span.spanContext()) });
    assert.equal(span.links[0]?.context.spanId, parseTraceparent(task.traceparent)?.spanId);
  });

  it("with no tracer provider the Worker receives null", async () => {
    trace.disable();
    assert.deepEqual((await run()).result, { traceparent: null });
    assert.deepEqual(await spans(), []);
  });
});

describe("traceparent", () => {
  it("formats a span context and reads it back; values the spec says to ignore read as null", () => {
    const value = formatTraceparent({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
    });
    assert.equal(value, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.deepEqual(parseTraceparent(value), {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
    });
    // A later version may append fields; version 00 may not.
    assert.ok(parseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-x"));
    for (
      const bad of [
        null,
        42,
        "",
        `${value}-x`,
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
      ]
    ) assert.equal(parseTraceparent(bad), null, String(bad));
  });
});
