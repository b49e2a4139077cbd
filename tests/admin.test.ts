/**
 * The admin endpoint: every route and error through the handler with no socket, the security
 * rules, and one real server on whichever runtime runs the file.
 */

import assert from "node:assert/strict";
import { connect } from "node:net";
import { afterEach, beforeEach, describe, it } from "node:test";
import * as v from "valibot";
import {
  type AdminHandler,
  type AdminHandlerOptions,
  createAdminHandler,
} from "../src/admin/handler.ts";
import { taskEventStream } from "../src/admin/event_stream.ts";
import { parseDuration } from "../src/duration.ts";
import {
  AdminServer,
  DEFAULT_ADMIN_HOST,
  DEFAULT_ADMIN_PORT,
  parseAdminAddress,
} from "../src/admin/server.ts";
import { constantTimeEqual, isLoopbackHost } from "../src/admin/security.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import type { TaskRecord } from "../src/task.ts";
import { TaskWorker } from "../src/worker.ts";
import { FakeClock, nextEvent } from "./_helpers.ts";

const TOKEN = "test-token-0123456789abcdef";
const BASE = "http://localhost:7070";
const runtime = "Bun" in globalThis ? "Bun" : "Deno";

interface Setup {
  store: InMemoryTaskStore;
  registry: TaskRegistry;
  dispatcher: TaskDispatcher;
  signals: TaskSignals;
  handler: AdminHandler;
  worker: TaskWorker | undefined;
  /** Calls the handler; adds the token unless `auth: false`, and JSON headers for a `json` body. */
  call(path: string, init?: RequestInit & { json?: unknown; auth?: boolean }): Promise<Response>;
}

/** A registry with a few tasks the tests use. */
function makeRegistry(): TaskRegistry {
  const registry = new TaskRegistry();
  registry.register("greet", ({ name }: { name: string }) => `hello ${name}`, {
    schema: v.object({ name: v.pipe(v.string(), v.minLength(1)), times: v.optional(v.number()) }),
  });
  registry.register("explode", () => {
    throw new Error("boom");
  }, { retryConfig: { maxAttempts: 1 } });
  registry.register("wait-for-cancel", (_args, ctx) =>
    new Promise((_, reject) => {
      ctx.progress(0.5);
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
    }));
  return registry;
}

async function setup(
  options: { token?: string; worker?: boolean; handler?: Partial<AdminHandlerOptions> } = {},
): Promise<Setup> {
  const store = new InMemoryTaskStore();
  await store.migrate();
  const registry = makeRegistry();
  const dispatcher = new TaskDispatcher(store, { registry });
  const signals = new TaskSignals();
  const worker = options.worker
    ? new TaskWorker(store, { registry, signals, pollInterval: 60_000, concurrency: 2 })
    : undefined;
  worker?.start();
  const handler = createAdminHandler({
    store,
    dispatcher,
    signals,
    token: options.token,
    onError: () => {},
    ...options.handler,
  });
  const call: Setup["call"] = (path, init = {}) => {
    const { json, auth = true, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (options.token && auth && !headers.has("authorization")) {
      headers.set("authorization", `Bearer ${options.token}`);
    }
    if (json !== undefined) {
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      rest.body = JSON.stringify(json);
      rest.method ??= "POST";
    }
    return handler(new Request(BASE + path, { ...rest, headers }));
  };
  return { store, registry, dispatcher, signals, handler, worker, call };
}

async function teardown(s: Setup | undefined): Promise<void> {
  if (!s) return;
  s.handler.close();
  await s.worker?.stop({ graceMillis: 0 });
  await s.store.close();
}

/** Reads Server-Sent Events from a body until `until` accepts one; returns those read. */
async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (event: { event: string; data: unknown }) => boolean,
): Promise<{ event: string; data: unknown }[]> {
  const decoder = new TextDecoder();
  const events: { event: string; data: unknown }[] = [];
  let buffer = "";
  while (true) {
    const { done, value } = await reader.read();
    if (done) {
      throw new Error(`The stream ended after ${JSON.stringify(events.map((e) => e.event))}`);
    }
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (name === undefined || data === undefined) continue;
      const event = { event: name, data: JSON.parse(data) };
      events.push(event);
      if (until(event)) return events;
    }
  }
}

/** Sends one HTTP/1.1 request over a socket and returns the raw response text. */
function rawRequest(
  port: number,
  requestLine: string,
  headers: Record<string, string>,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
      socket.write(`${requestLine} HTTP/1.1\r\n${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`);
    });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
}

async function body(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}

describe("admin handler: health, stats and metrics", () => {
  let s: Setup | undefined;
  afterEach(() => teardown(s));

  it("GET /healthz answers without a token and for any Host", async () => {
    s = await setup({ token: TOKEN });
    const response = await s.call("/healthz", {
      auth: false,
      headers: { host: "anything.example" },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ok" });
    assert.equal((await s.call("/healthz", { method: "POST" })).status, 405);
  });

  it("GET /readyz is 200 when the store answers and 503 when it does not", async () => {
    s = await setup();
    assert.equal((await s.call("/readyz")).status, 200);
    s.store.stats = () => Promise.reject(new Error("no such table: tasks"));
    const response = await s.call("/readyz");
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), {
      error: "The store is not reachable or not migrated",
    });
  });

  it("GET /api/stats has counts per status and queue, throughput and pool stats", async () => {
    s = await setup({
      handler: { poolStats: () => ({ size: 4, busy: 1, crashes: 2, recycles: 3 }) },
    });
    await s.dispatcher.enqueue("greet", { name: "a" });
    await s.dispatcher.enqueue("greet", { name: "b" }, { queue: "mail" });
    const stats = await body(await s.call("/api/stats"));
    assert.equal(stats.total, 2);
    assert.equal((stats.byStatus as Record<string, number>).PENDING, 2);
    assert.deepEqual(Object.keys(stats.queues as object).sort(), ["default", "mail"]);
    assert.deepEqual(stats.pool, { size: 4, busy: 1, crashes: 2, recycles: 3 });
    const throughput = stats.throughput as {
      completed: number[];
      failed: number[];
      bucketMillis: number;
    };
    assert.equal(throughput.completed.length, 60);
    assert.equal(throughput.bucketMillis, 10_000);
  });

  it("GET /metrics reports gauges, counters, durations, pool state and lease rescues", async () => {
    const clock = new FakeClock(Date.now());
    s = await setup({
      worker: true,
      handler: { poolStats: () => ({ size: 4, busy: 1, crashes: 2, recycles: 3 }), clock },
    });
    const completed = nextEvent(s.signals.taskCompleted);
    const failed = nextEvent(s.signals.taskFailed);
    await s.dispatcher.enqueue("greet", { name: "metrics" });
    await s.dispatcher.enqueue("explode", {});
    await Promise.all([completed, failed]);

    // A worker that died holding a task: its lease ran out, and a rescuer takes the task back.
    await s.dispatcher.enqueue("greet", { name: "orphan" }, { queue: "orphans" });
    const [orphan] = await s.store.claim({
      workerId: "dead",
      queues: ["orphans"],
      limit: 1,
      now: Date.now(),
      leaseMillis: 1,
    });
    assert.ok(orphan);
    clock.time = orphan.leaseExpiresAt! + 60_000;
    const rescuer = new TaskWorker(s.store, { registry: s.registry, signals: s.signals, clock });
    const retrying = nextEvent(s.signals.taskRetrying);
    assert.equal(await rescuer.rescueExpiredLeases(), 1);
    assert.equal((await retrying).error.name, "LeaseExpired");
    await rescuer.stop();

    const response = await s.call("/metrics");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const has = (line: string) =>
      assert.ok(text.split("\n").includes(line), `metrics include ${line}\n${text}`);
    has("# TYPE aether_tasks gauge");
    has(`aether_tasks{queue="default",status="COMPLETED"} 1`);
    has(`aether_tasks{queue="default",status="FAILED"} 1`);
    has(`aether_tasks{queue="orphans",status="RETRYING"} 1`);
    has(`aether_tasks_processed_total{name="greet"} 2`);
    has(`aether_tasks_completed_total{name="greet"} 1`);
    has(`aether_tasks_failed_total{name="explode"} 1`);
    has(`aether_tasks_retried_total{name="greet"} 1`);
    has("# TYPE aether_task_duration_seconds histogram");
    has(`aether_task_duration_seconds_bucket{name="greet",le="+Inf"} 1`);
    has(`aether_task_duration_seconds_count{name="explode"} 1`);
    has("aether_lease_rescues_total 1");
    has("aether_pool_workers 4");
    has("aether_pool_busy_workers 1");
    has("aether_pool_worker_crashes_total 2");
    has("aether_pool_worker_recycles_total 3");

    const stats = await body(await s.call("/api/stats"));
    const throughput = stats.throughput as { completed: number[]; failed: number[] };
    assert.equal(throughput.completed.reduce((a, b) => a + b), 1);
    assert.equal(throughput.failed.reduce((a, b) => a + b), 2, "a failure and a rescued retry");
  });
});

describe("admin handler: tasks API", () => {
  let s: Setup | undefined;
  afterEach(() => teardown(s));

  it("POST /api/tasks enqueues and GET /api/tasks/:id returns the record without its token", async () => {
    s = await setup();
    const response = await s.call("/api/tasks", { json: { name: "greet", args: { name: "Ada" } } });
    assert.equal(response.status, 201);
    const { id } = await body(response);
    assert.equal(typeof id, "string");
    assert.equal(response.headers.get("location"), `/api/tasks/${id}`);
    const task = await body(await s.call(`/api/tasks/${id}`));
    assert.equal(task.name, "greet");
    assert.deepEqual(task.args, { name: "Ada" });
    assert.equal(task.status, "PENDING");
    assert.ok(!("attemptToken" in task));
  });

  it("POST /api/tasks accepts durations, priority, queue, maxAttempts and a null timeout", async () => {
    s = await setup();
    const enqueue = async (json: unknown) => {
      const response = await s!.call("/api/tasks", { json });
      assert.equal(response.status, 201, JSON.stringify(await response.clone().json()));
      return (await s!.dispatcher.getTask((await body(response)).id as string))!;
    };
    const later = await enqueue({
      name: "greet",
      args: { name: "x" },
      delay: "1h30m",
      timeout: "30s",
      priority: "HIGH",
      queue: "mail",
      maxAttempts: 7,
    });
    assert.equal(later.status, "SCHEDULED");
    assert.equal(later.runAt - later.createdAt, 5_400_000);
    assert.equal(later.timeoutMillis, 30_000);
    assert.equal(later.priority, "HIGH");
    assert.equal(later.queue, "mail");
    assert.equal(later.maxAttempts, 7);
    const numbers = await enqueue({
      name: "greet",
      args: { name: "y" },
      delay: 250,
      timeout: null,
    });
    assert.equal(numbers.runAt - numbers.createdAt, 250);
    assert.equal(numbers.timeoutMillis, null);
  });

  it("POST /api/tasks with bad arguments is 400 with every schema issue", async () => {
    s = await setup();
    const response = await s.call("/api/tasks", {
      json: { name: "greet", args: { name: "", times: "x" } },
    });
    assert.equal(response.status, 400);
    const result = await body(response);
    assert.match(result.error as string, /Invalid arguments for task "greet"/);
    const details = result.details as { task: string; issues: { path: string; message: string }[] };
    assert.equal(details.task, "greet");
    assert.deepEqual(details.issues.map((i) => i.path).sort(), ["args.name", "args.times"]);
    assert.ok(details.issues.every((i) => i.message.length > 0));
  });

  it("concurrent POST /api/tasks share one commit, and a bad one fails alone", async () => {
    s = await setup();
    let inserts = 0;
    const insert = s.store.insert.bind(s.store);
    s.store.insert = (tasks) => {
      inserts++;
      return insert(tasks);
    };
    const good = Array.from(
      { length: 5 },
      (_, i) => s!.call("/api/tasks", { json: { name: "greet", args: { name: `n${i}` } } }),
    );
    const responses = await Promise.all(good);
    assert.deepEqual(responses.map((r) => r.status), [201, 201, 201, 201, 201]);
    assert.equal(inserts, 1, "five enqueues, one insert");

    const mixed = await Promise.all([
      s.call("/api/tasks", { json: { name: "greet", args: { name: "ok" } } }),
      s.call("/api/tasks", { json: { name: "greet", args: { name: 42 } } }),
      s.call("/api/tasks", { json: { name: "gret", args: {} } }),
      s.call("/api/tasks", { json: { name: "greet", args: { name: "also ok" } } }),
    ]);
    assert.deepEqual(mixed.map((r) => r.status), [201, 400, 400, 201]);
    const invalid = await body(mixed[1]!);
    assert.match(invalid.error as string, /^Invalid arguments for task "greet": args\.name/);
    assert.deepEqual((await body(mixed[2]!)).details, { task: "gret", suggestions: ["greet"] });
    assert.equal((await s.dispatcher.stats()).total, 7);
  });

  it("POST /api/tasks with an unknown task is 400 with suggestions", async () => {
    s = await setup();
    const response = await s.call("/api/tasks", { json: { name: "gret", args: {} } });
    assert.equal(response.status, 400);
    const result = await body(response);
    assert.match(result.error as string, /did you mean "greet"/);
    assert.deepEqual(result.details, { task: "gret", suggestions: ["greet"] });
  });

  it("POST /api/tasks refuses malformed requests with 400 and says why", async () => {
    s = await setup();
    const cases: [unknown, RegExp][] = [
      [
        { name: "greet", args: { name: "x" }, dealy: 5 },
        /Unknown field "dealy"; did you mean "delay"\?/,
      ],
      [[1, 2], /A task must be an object/],
      [{ args: {} }, /name must be a task name/],
      [{ name: "greet", args: { name: "x" }, delay: "soon" }, /delay must be .*"soon"/],
      [{ name: "greet", args: { name: "x" }, timeout: -5 }, /timeout must be/],
      [{ name: "greet", args: { name: "x" }, priority: "URGENT" }, /priority must be one of/],
      [{ name: "greet", args: { name: "x" }, queue: "bad queue" }, /queue must be/],
      [
        { name: "greet", args: { name: "x" }, maxAttempts: 0 },
        /maxAttempts must be an integer from 1 to 1000, got 0/,
      ],
    ];
    for (const [json, message] of cases) {
      const response = await s.call("/api/tasks", { json });
      assert.equal(response.status, 400, JSON.stringify(json));
      assert.match((await body(response)).error as string, message);
    }
    const broken = await s.call("/api/tasks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(broken.status, 400);
    assert.match((await body(broken)).error as string, /not valid JSON/);
    assert.equal((await s.dispatcher.stats()).total, 0, "nothing was enqueued");
  });

  it("GET /api/tasks filters by status, name and queue, refuses a limit over 1000 and pages with a cursor", async () => {
    s = await setup();
    await s.dispatcher.enqueueMany(
      Array.from({ length: 120 }, (_, i) => ({ name: "greet", args: { name: `n${i}` } })),
    );
    await s.dispatcher.enqueue("explode", {}, { queue: "other" });
    const first = await body(await s.call("/api/tasks?limit=100"));
    assert.equal((first.tasks as unknown[]).length, 100);
    assert.equal(typeof first.nextCursor, "string");
    const next = await body(await s.call(`/api/tasks?limit=1000&cursor=${first.nextCursor}`));
    assert.equal((next.tasks as unknown[]).length, 21);
    assert.equal(next.nextCursor, null);

    const byName = await body(await s.call("/api/tasks?name=explode"));
    assert.deepEqual((byName.tasks as TaskRecord[]).map((t) => t.name), ["explode"]);
    const byQueue = await body(await s.call("/api/tasks?queue=other&status=pending"));
    assert.deepEqual((byQueue.tasks as TaskRecord[]).map((t) => t.queue), ["other"]);
    const none = await body(await s.call("/api/tasks?status=FAILED"));
    assert.deepEqual(none.tasks, []);
    const page = await body(await s.call("/api/tasks?limit=3"));
    assert.equal((page.tasks as unknown[]).length, 3);

    for (
      const [query, message] of [
        ["status=DONE", /status must be one of/],
        ["stauts=FAILED", /Unknown query parameter "stauts"; did you mean "status"\?/],
        ["limit=0", /limit must be an integer from 1 to 1000, got "0"/],
        ["limit=ten", /limit must be an integer from 1 to 1000/],
        ["limit=5000", /limit must be an integer from 1 to 1000, got "5000"/],
        ["cursor=abc", /cursor must be/],
      ] as const
    ) {
      const response = await s.call(`/api/tasks?${query}`);
      assert.equal(response.status, 400, query);
      assert.match((await body(response)).error as string, message);
    }
  });

  it("GET /api/tasks/:id of an unknown id is 404", async () => {
    s = await setup();
    const response = await s.call("/api/tasks/0190f7a4-0000-7000-8000-000000000000");
    assert.equal(response.status, 404);
    const result = await body(response);
    assert.match(result.error as string, /No task with id/);
    assert.equal((await s.call(`/api/tasks/${"x".repeat(500)}`)).status, 404);
  });

  it("cancel and retry change the task, and an illegal transition is 409", async () => {
    s = await setup();
    const id = await s.dispatcher.enqueue("greet", { name: "x" });
    const cancelled = await s.call(`/api/tasks/${id}/cancel`, { json: {} });
    assert.equal(cancelled.status, 200);
    assert.equal((await body(cancelled)).status, "CANCELLED");

    const again = await s.call(`/api/tasks/${id}/cancel`, { json: {} });
    assert.equal(again.status, 409);
    const conflict = await body(again);
    assert.match(conflict.error as string, /Cannot cancel task .*: it is CANCELLED/);
    assert.deepEqual(conflict.details, {
      id,
      status: "CANCELLED",
      allowed: ["PENDING", "SCHEDULED", "RETRYING", "PROCESSING"],
    });

    const retried = await s.call(`/api/tasks/${id}/retry`, {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    assert.equal(retried.status, 200, "an empty body is fine");
    assert.equal((await body(retried)).status, "PENDING");
    assert.equal((await s.call(`/api/tasks/${id}/retry`, { json: {} })).status, 409);
    assert.equal((await s.call("/api/tasks/nope/cancel", { json: {} })).status, 404);
    assert.equal((await s.call("/api/tasks/nope/retry", { json: {} })).status, 404);
  });

  it("cancelling a running task requests the cancel and the task ends CANCELLED", async () => {
    s = await setup({ worker: true });
    const started = nextEvent(s.signals.taskStarted);
    const id = await s.dispatcher.enqueue("wait-for-cancel", {});
    await started;
    const cancelledEvent = nextEvent(s.signals.taskCancelled);
    const response = await s.call(`/api/tasks/${id}/cancel`, { json: {} });
    assert.equal(response.status, 200);
    const requested = await body(response);
    assert.equal(requested.status, "PROCESSING");
    assert.equal(requested.cancelRequested, true);
    assert.equal((await cancelledEvent).task.id, id);
  });

  it("GET /api/tasks/:id/wait returns the final task once it completes", async () => {
    s = await setup({ worker: true });
    const id = await s.dispatcher.enqueue("greet", { name: "Grace" });
    const response = await s.call(`/api/tasks/${id}/wait?timeout=30s`);
    assert.equal(response.status, 200);
    const task = await body(response);
    assert.equal(task.status, "COMPLETED");
    assert.equal(task.result, "hello Grace");
  });

  it("GET /api/tasks/:id/wait is 202 with the current task when the timeout passes first", async () => {
    s = await setup({ handler: { maxWaitMillis: 5 } });
    const id = await s.dispatcher.enqueue("greet", { name: "x" });
    const response = await s.call(`/api/tasks/${id}/wait?timeout=1h`);
    assert.equal(response.status, 202, "the hour is capped to maxWaitMillis");
    assert.equal((await body(response)).status, "PENDING");
    assert.equal((await s.call("/api/tasks/missing/wait?timeout=1ms")).status, 404);
    const bad = await s.call(`/api/tasks/${id}/wait?timeout=forever`);
    assert.equal(bad.status, 400);
    assert.match((await body(bad)).error as string, /timeout must be/);
  });

  it("GET /api/tasks/:id/wait ends with 503 when the handler closes", async () => {
    s = await setup();
    const id = await s.dispatcher.enqueue("greet", { name: "x" });
    const waiting = s.call(`/api/tasks/${id}/wait?timeout=5m`);
    s.handler.close();
    assert.equal((await waiting).status, 503);
  });
});

describe("admin handler: event stream", () => {
  let s: Setup | undefined;
  afterEach(() => teardown(s));

  it("GET /api/events streams life-cycle events and drops its listeners when the client leaves", async () => {
    s = await setup({ worker: true });
    const response = await s.call("/api/events");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
    const reader = response.body!.getReader();
    assert.ok(s.signals.taskProgress.connected, "the stream listens");
    const id = await s.dispatcher.enqueue("greet", { name: "stream" });
    const events = await readEvents(
      reader,
      (e) => e.event === "task:completed" && (e.data as { task: { id: string } }).task.id === id,
    );
    const names = events.map((e) => e.event);
    assert.ok(names.includes("tasks:inserted"), names.join());
    assert.ok(names.includes("task:started"), names.join());
    const done = events.at(-1)!.data as { task: Record<string, unknown> };
    assert.equal(done.task.status, "COMPLETED");
    assert.equal(done.task.name, "greet");

    const failedId = await s.dispatcher.enqueue("explode", {});
    const failed = await readEvents(reader, (e) => e.event === "task:failed");
    assert.deepEqual((failed.at(-1)!.data as { error: unknown }).error, {
      name: "Error",
      message: "boom",
    });
    assert.equal((failed.at(-1)!.data as { task: { id: string } }).task.id, failedId);

    await reader.cancel();
    assert.equal(s.signals.taskProgress.connected, false, "cancelling the body disconnects");
  });

  it("GET /api/events ends every open stream when the handler closes", async () => {
    s = await setup();
    const streams = [await s.call("/api/events"), await s.call("/api/events")];
    assert.ok(s.signals.taskProgress.connected);
    s.handler.close();
    for (const stream of streams) {
      const reader = stream.body!.getReader();
      while (!(await reader.read()).done) { /* drain to the end */ }
    }
    assert.equal(s.signals.taskProgress.connected, false);
  });

  it("GET /api/events sends heartbeat comments", async () => {
    s = await setup({ handler: { heartbeatMillis: 5 } });
    const reader = (await s.call("/api/events")).body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes(": heartbeat\n\n")) text += decoder.decode((await reader.read()).value);
    assert.ok(text.startsWith("retry: 3000\n: connected\n\n"), text);
    await reader.cancel();
  });

  it("a client that stops reading is cut off once its buffer is full", async () => {
    s = await setup();
    let closed = 0;
    const stream = taskEventStream({
      store: s.store,
      signals: s.signals,
      heartbeatMillis: 60_000,
      signal: new AbortController().signal,
      maxBufferedEvents: 3,
      onClose: () => closed++,
    });
    for (let i = 0; i < 4; i++) await s.dispatcher.enqueue("greet", { name: `n${i}` });
    assert.equal(closed, 1);
    assert.equal(s.signals.taskProgress.connected, false);
    const reader = stream.getReader();
    await assert.rejects(async () => {
      while (!(await reader.read()).done) { /* read what was buffered, then the error */ }
    }, /The event stream client stopped reading/);
  });

  it("GET /api/events refuses streams past the limit with 503", async () => {
    s = await setup({ handler: { maxEventStreams: 1 } });
    const open = await s.call("/api/events");
    const refused = await s.call("/api/events");
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
    await open.body!.cancel();
    const reopened = await s.call("/api/events");
    assert.equal(reopened.status, 200, "a closed stream frees its place");
    await reopened.body!.cancel();
  });
});

describe("admin handler: errors", () => {
  let s: Setup | undefined;
  afterEach(() => teardown(s));

  it("an unknown route is 404 and a wrong method is 405 with Allow", async () => {
    s = await setup();
    const missing = await s.call("/api/nothing");
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: "No route for /api/nothing" });
    const wrong = await s.call("/api/tasks", { method: "DELETE" });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, POST");
    const cancelByGet = await s.call("/api/tasks/x/cancel");
    assert.equal(cancelByGet.status, 405);
    assert.equal(cancelByGet.headers.get("allow"), "POST");
  });

  it("a POST without Content-Type: application/json is 415", async () => {
    s = await setup();
    for (const type of [undefined, "text/plain", "application/x-www-form-urlencoded"]) {
      const headers: Record<string, string> = type ? { "content-type": type } : {};
      const response = await s.call("/api/tasks", {
        method: "POST",
        headers,
        body: `{"name":"greet"}`,
      });
      assert.equal(response.status, 415, String(type));
      assert.match((await body(response)).error as string, /Content-Type: application\/json/);
    }
    const charset = await s.call("/api/tasks", {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ name: "greet", args: { name: "x" } }),
    });
    assert.equal(charset.status, 201);
  });

  it("a body over the limit is 413, by Content-Length and by counting a streamed body", async () => {
    s = await setup({ handler: { maxBodyBytes: 1024 } });
    const big = JSON.stringify({ name: "greet", args: { name: "x".repeat(2000) } });
    const declared = await s.call("/api/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(big.length) },
      body: big,
    });
    assert.equal(declared.status, 413);
    assert.deepEqual(await declared.json(), {
      error: "The request body is larger than the limit of 1024 bytes",
      details: { limit: 1024 },
    });
    const chunk = new TextEncoder().encode("x".repeat(600));
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        controller.enqueue(chunk);
      },
    });
    const streamed = await s.handler(
      new Request(`${BASE}/api/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: endless,
        duplex: "half",
      } as RequestInit),
    );
    assert.equal(streamed.status, 413);
    assert.ok(sent < 10, `reading stopped after the limit (${sent} chunks pulled)`);
  });

  it("a body that does not arrive in time is 408", async () => {
    s = await setup({ handler: { bodyTimeoutMillis: 20 } });
    const stalled = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    const response = await s.handler(
      new Request(`${BASE}/api/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: stalled,
        duplex: "half",
      } as RequestInit),
    );
    assert.equal(response.status, 408);
  });

  it("an unexpected error is a bare 500: no message or stack reaches the client", async () => {
    const errors: unknown[] = [];
    s = await setup({ handler: { onError: (e) => errors.push(e) } });
    s.store.get = () => Promise.reject(new Error("disk on fire at /secret/path"));
    const response = await s.call("/api/tasks/abc");
    assert.equal(response.status, 500);
    const text = await response.text();
    assert.equal(text, `{"error":"Internal server error"}`);
    assert.equal(errors.length, 1);
  });
});

describe("admin handler: security", () => {
  let s: Setup | undefined;
  afterEach(() => teardown(s));

  it("with a token, API routes need Authorization: Bearer and a wrong token is 401", async () => {
    s = await setup({ token: TOKEN });
    for (
      const path of [
        "/api/stats",
        "/api/tasks",
        "/metrics",
        "/readyz",
        "/api/events",
        "/api/nothing",
      ]
    ) {
      const response = await s.call(path, { auth: false });
      assert.equal(response.status, 401, path);
      assert.match(response.headers.get("www-authenticate")!, /^Bearer realm="aether-tasks"/);
    }
    const wrong = await s.call("/api/stats", { headers: { authorization: `Bearer ${TOKEN}x` } });
    assert.equal(wrong.status, 401);
    assert.deepEqual(await wrong.json(), { error: "The token is not valid" });
    const basic = await s.call("/api/stats", {
      headers: { authorization: `Basic ${btoa(`u:${TOKEN}`)}` },
    });
    assert.equal(basic.status, 401);
    const post = await s.call("/api/tasks", {
      auth: false,
      json: { name: "greet", args: { name: "x" } },
    });
    assert.equal(post.status, 401);
    assert.equal((await s.call("/api/stats")).status, 200);
  });

  it("the dashboard page loads without a token, under a nonce-based CSP with no external resources", async () => {
    s = await setup({ token: TOKEN });
    const response = await s.call("/", { auth: false });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/html/);
    const csp = response.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    const html = await response.text();
    assert.ok(html.includes(`<script nonce="${nonce}">`));
    assert.ok(!/\b(src|href)="https?:/.test(html), "no external resources");
    assert.equal(response.headers.get("x-frame-options"), "DENY");
  });

  it("a request for a Host that is not allowed is 403 (DNS rebinding)", async () => {
    s = await setup();
    for (
      const host of [
        "evil.example",
        "evil.example:7070",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
      ]
    ) {
      const response = await s.call("/api/stats", { headers: { host } });
      assert.equal(response.status, 403, host);
      assert.match((await body(response)).error as string, /Host .* is not allowed/);
    }
    for (const host of ["localhost:7070", "127.0.0.1:1234", "[::1]:7070", "LOCALHOST"]) {
      assert.equal((await s.call("/api/stats", { headers: { host } })).status, 200, host);
    }
    assert.equal((await s.call("/", { headers: { host: "evil.example" } })).status, 403);
  });

  it("allowedHosts names the hosts to serve, with or without a port, or * for any", async () => {
    s = await setup({ handler: { allowedHosts: ["tasks.internal", "admin.example:8080"] } });
    assert.equal(
      (await s.call("/api/stats", { headers: { host: "tasks.internal:7070" } })).status,
      200,
    );
    assert.equal(
      (await s.call("/api/stats", { headers: { host: "admin.example:8080" } })).status,
      200,
    );
    assert.equal(
      (await s.call("/api/stats", { headers: { host: "admin.example:9090" } })).status,
      403,
    );
    assert.equal((await s.call("/api/stats", { headers: { host: "localhost" } })).status, 403);
    await teardown(s);
    s = await setup({ handler: { allowedHosts: ["*"] } });
    assert.equal(
      (await s.call("/api/stats", { headers: { host: "anything.example" } })).status,
      200,
    );
    assert.throws(
      () => createAdminHandler({ ...s!, allowedHosts: ["bad host/"] }),
      /allowedHosts\[0\]/,
    );
  });

  it("a cross-origin POST is 403, even with a valid token; a same-origin one passes", async () => {
    s = await setup({ token: TOKEN });
    const id = await s.dispatcher.enqueue("greet", { name: "x" });
    const crossOrigin = await s.call(`/api/tasks/${id}/cancel`, {
      json: {},
      headers: { origin: "http://evil.example", host: "localhost:7070" },
    });
    assert.equal(crossOrigin.status, 403);
    assert.match(
      (await body(crossOrigin)).error as string,
      /Cross-origin requests cannot change tasks/,
    );
    const otherPort = await s.call("/api/tasks", {
      json: { name: "greet", args: { name: "x" } },
      headers: { origin: "http://localhost:3000", host: "localhost:7070" },
    });
    assert.equal(otherPort.status, 403, "another port is another origin");
    const fetchMetadata = await s.call("/api/tasks", {
      json: { name: "greet", args: { name: "x" } },
      headers: { "sec-fetch-site": "cross-site" },
    });
    assert.equal(fetchMetadata.status, 403);
    const sameOrigin = await s.call(`/api/tasks/${id}/cancel`, {
      json: {},
      headers: {
        origin: "http://localhost:7070",
        host: "localhost:7070",
        "sec-fetch-site": "same-origin",
      },
    });
    assert.equal(sameOrigin.status, 200);
  });

  it("a short or unprintable token is refused at construction", async () => {
    s = await setup();
    assert.throws(
      () => createAdminHandler({ ...s!, token: "short" }),
      /token must be at least 16 characters/,
    );
    assert.throws(
      () => createAdminHandler({ ...s!, token: "has a space in it!!" }),
      /printable ASCII/,
    );
    assert.throws(
      () => createAdminHandler({ ...s!, maxBodyBytes: 0 }),
      /maxBodyBytes must be a positive integer, got 0/,
    );
  });

  it("constantTimeEqual compares whole byte strings", () => {
    assert.equal(constantTimeEqual("secret-token", "secret-token"), true);
    assert.equal(constantTimeEqual("secret-token", "secret-tokeN"), false);
    assert.equal(constantTimeEqual("secret", "secret-token"), false);
    assert.equal(constantTimeEqual("", ""), true);
    assert.equal(constantTimeEqual("é", "e\u0301"), false);
  });
});

describe("admin server", () => {
  it("refuses to bind a non-loopback address without a token, and says why", async () => {
    const store = new InMemoryTaskStore();
    const dispatcher = new TaskDispatcher(store, { registry: makeRegistry() });
    for (const host of ["0.0.0.0", "::", "192.0.2.10", "tasks.example"]) {
      assert.throws(
        () => new AdminServer({ store, dispatcher, host }),
        (error: Error) => {
          assert.match(
            error.message,
            new RegExp(
              `Refusing to serve the admin endpoint on ${
                host.replace(/\./g, "\\.")
              } without a token`,
            ),
          );
          assert.match(error.message, /--admin-token or AETHER_ADMIN_TOKEN/);
          return true;
        },
      );
    }
    const guarded = new AdminServer({ store, dispatcher, host: "0.0.0.0", token: TOKEN });
    await guarded.stop();
    const loopback = new AdminServer({ store, dispatcher, host: "127.0.0.2" });
    await loopback.stop();
    assert.throws(
      () => new AdminServer({ store, dispatcher, port: 70_000 }),
      /port must be an integer from 0 to 65535, got 70000/,
    );
    await store.close();
  });

  it("parseAdminAddress reads HOST:PORT forms with defaults", () => {
    assert.deepEqual(parseAdminAddress("0.0.0.0:8080"), { host: "0.0.0.0", port: 8080 });
    assert.deepEqual(parseAdminAddress("[::1]:7071"), { host: "::1", port: 7071 });
    assert.deepEqual(parseAdminAddress("localhost"), {
      host: "localhost",
      port: DEFAULT_ADMIN_PORT,
    });
    assert.deepEqual(parseAdminAddress(":9000"), { host: DEFAULT_ADMIN_HOST, port: 9000 });
    for (const bad of ["", "host:port", "a:1:2", "x:99999"]) {
      assert.throws(() => parseAdminAddress(bad), /The admin address must be HOST:PORT/, bad);
    }
  });

  it("isLoopbackHost knows loopback addresses and nothing else", () => {
    for (const host of ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"]) {
      assert.ok(isLoopbackHost(host), host);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "127.0.0.1.nip.io", "localhost.example"]) {
      assert.ok(!isLoopbackHost(host), host);
    }
  });

  it("parseDuration reads milliseconds and unit strings", () => {
    assert.equal(parseDuration("500ms", "t"), 500);
    assert.equal(parseDuration("30s", "t"), 30_000);
    assert.equal(parseDuration("5m", "t"), 300_000);
    assert.equal(parseDuration("1h30m", "t"), 5_400_000);
    assert.equal(parseDuration("1.5s", "t"), 1500);
    assert.equal(parseDuration("2d", "t"), 172_800_000);
    assert.equal(parseDuration("1200", "t"), 1200);
    assert.equal(parseDuration(42.4, "t"), 42);
    for (const bad of ["", "5 m", "m5", "-1s", "1y", -1, Infinity, null, {}]) {
      assert.throws(
        () => parseDuration(bad, "delay"),
        /delay must be milliseconds >= 0 or a duration/,
      );
    }
  });

  describe(`a real server on ${runtime}`, () => {
    let store: InMemoryTaskStore;
    let worker: TaskWorker;
    let server: AdminServer;
    let signals: TaskSignals;
    const auth = { authorization: `Bearer ${TOKEN}` };

    beforeEach(async () => {
      store = new InMemoryTaskStore();
      await store.migrate();
      const registry = makeRegistry();
      signals = new TaskSignals();
      worker = new TaskWorker(store, { registry, signals, pollInterval: 60_000 });
      worker.start();
      const dispatcher = new TaskDispatcher(store, { registry });
      server = new AdminServer({ store, dispatcher, signals, token: TOKEN, port: 0 });
      await server.start();
    });
    afterEach(async () => {
      await server.stop();
      await worker.stop({ graceMillis: 0 });
      await store.close();
    });

    it(`serves the API on a free port and stops idempotently (${runtime})`, async () => {
      assert.ok(server.port! > 0);
      assert.equal(server.url, `http://127.0.0.1:${server.port}`);
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const unauthorized = await fetch(`${server.url}/api/stats`);
      assert.equal(unauthorized.status, 401);
      await unauthorized.body?.cancel();

      const events = await fetch(`${server.url}/api/events`, { headers: auth });
      assert.equal(events.status, 200);
      const reader = events.body!.getReader();

      const created = await fetch(`${server.url}/api/tasks`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: "greet", args: { name: "socket" } }),
      });
      assert.equal(created.status, 201);
      const { id } = await created.json() as { id: string };
      await readEvents(
        reader,
        (e) => e.event === "task:completed" && (e.data as { task: { id: string } }).task.id === id,
      );

      const waited = await fetch(`${server.url}/api/tasks/${id}/wait?timeout=10s`, {
        headers: auth,
      });
      assert.equal(waited.status, 200);
      assert.equal((await waited.json() as TaskRecord).result, "hello socket");

      const page = await fetch(`${server.url}/`);
      assert.match(await page.text(), /<title>aether-tasks<\/title>/);

      // fetch() will not send a foreign Host header, so speak HTTP/1.1 over a socket.
      const rebinding = await rawRequest(server.port!, "GET /api/stats", {
        host: "evil.example",
        ...auth,
      });
      assert.match(rebinding, /^HTTP\/1\.1 403/);
      assert.match(rebinding, /The Host \\"evil\.example\\" is not allowed/);
      assert.match(
        await rawRequest(server.port!, "GET /api/stats", {
          host: `localhost:${server.port}`,
          ...auth,
        }),
        /^HTTP\/1\.1 200/,
      );

      await Promise.all([server.stop(), server.stop()]);
      const ended = await reader.read().catch(() => ({ done: true }));
      assert.equal(ended.done, true, "stop ends open event streams");
      await assert.rejects(fetch(`${server.url}/healthz`));
    });

    it(`an event stream whose client disconnects drops its listeners (${runtime})`, async () => {
      const disconnected = new Promise<void>((resolve) => {
        const connect = signals.taskProgress.connect.bind(signals.taskProgress);
        signals.taskProgress.connect = (listener) => {
          const disconnect = connect(listener);
          return () => {
            disconnect();
            resolve();
          };
        };
      });
      const client = new AbortController();
      const response = await fetch(`${server.url}/api/events`, {
        headers: auth,
        signal: client.signal,
      });
      const reader = response.body!.getReader();
      await reader.read();
      assert.ok(signals.taskProgress.connected);
      client.abort();
      await disconnected;
      assert.equal(signals.taskProgress.connected, false);
    });

    it(`reports a port that is taken (${runtime})`, async () => {
      const dispatcher = new TaskDispatcher(store);
      const second = new AdminServer({ store, dispatcher, port: server.port! });
      await assert.rejects(second.start(), /Cannot serve the admin endpoint on 127\.0\.0\.1:\d+/);
      await second.stop();
    });
  });
});
