/**
 * The HTTP worker protocol's suite, run against each store from a one-line test file
 * (`remote.test.ts`: memory and SQLite; `remote_postgres.test.ts`), through the admin handler with
 * no socket: register, fetch (long poll, pauses, names), heartbeats, fenced outcomes and their
 * conflicts, idempotent repeats, batched complete, bad input, a silent remote worker's tasks
 * coming back.
 */

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import * as v from "valibot";
import { type AdminHandler, createAdminHandler } from "../src/admin/handler.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { WorkerHeartbeat } from "../src/heartbeat.ts";
import { TaskRegistry } from "../src/registry.ts";
import { LeaseRescuer } from "../src/rescuer.ts";
import { TaskSignals } from "../src/signals.ts";
import type { TaskStore } from "../src/store/store.ts";
import { FakeClock, makeTask } from "./_helpers.ts";

const TOKEN = "remote-test-token-0123456789";
const BASE = "http://localhost:7070";
const LEASE = 5_000;

/** Opens a fresh, empty store; `cleanup` removes what it made. */
export type StoreFactory = () => Promise<{ store: TaskStore; cleanup?: () => Promise<void> }>;

/** A handler over a fresh store, and helpers to call it. */
export interface Setup {
  store: TaskStore;
  clock: FakeClock;
  dispatcher: TaskDispatcher;
  handler: AdminHandler;
  call(path: string, json?: unknown, init?: RequestInit): Promise<Response>;
  post(path: string, json: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  register(extra?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/** A registry with the tasks the tests use. */
export function makeRegistry(): TaskRegistry {
  const registry = new TaskRegistry();
  registry.register("resize", () => null, {
    schema: v.object({ url: v.string(), width: v.pipe(v.number(), v.integer()) }),
    queue: "images",
    retryConfig: { maxAttempts: 3 },
    timeout: 60_000,
  });
  registry.register("email", () => null, { queue: "images" });
  registry.register("transformed", () => null, {
    schema: v.pipe(v.string(), v.transform((s) => s.length)),
  });
  return registry;
}

/** The admin handler (with the worker protocol) over a store `open` makes. */
export async function setupRemote(open: StoreFactory): Promise<Setup> {
  const { store, cleanup } = await open();
  await store.migrate();
  const clock = new FakeClock();
  const registry = makeRegistry();
  const dispatcher = new TaskDispatcher(store, { registry, clock });
  const handler = createAdminHandler({
    store,
    dispatcher,
    clock,
    token: TOKEN,
    onError: (error) => console.error(error),
    remote: { registry, leaseMillis: LEASE, heartbeatTimeoutMillis: 10_000, pollMillis: 50 },
  });
  const call: Setup["call"] = (path, json, init = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${TOKEN}`);
    if (json !== undefined) {
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      init.body = JSON.stringify(json);
      init.method ??= "POST";
    }
    return handler(new Request(BASE + path, { ...init, headers }));
  };
  const post: Setup["post"] = async (path, json) => {
    const response = await call(path, json);
    return { status: response.status, body: await response.json() };
  };
  const register: Setup["register"] = async (extra = {}) => {
    const { status, body } = await post("/api/v1/worker/register", {
      queues: ["images"],
      concurrency: 4,
      host: "py-host",
      pid: 4242,
      ...extra,
    });
    assert.equal(status, 201, JSON.stringify(body));
    return body.workerId as string;
  };
  const close = async () => {
    handler.close();
    await store.close();
    await cleanup?.();
  };
  return { store, clock, dispatcher, handler, call, post, register, close };
}

type Fetched = {
  id: string;
  token: string;
  attempt: number;
  leaseExpiresAt: number;
  traceparent: string | null;
  tracestate: string | null;
  args: unknown;
};

async function fetchTasks(s: Setup, workerId: string, limit = 10, waitMillis = 0) {
  const { status, body } = await s.post("/api/v1/worker/fetch", { workerId, limit, waitMillis });
  assert.equal(status, 200, JSON.stringify(body));
  return body.tasks as Fetched[];
}

/** The protocol's cases on the stores `open` makes. */
export function remoteProtocolSuite(kind: string, open: StoreFactory): void {
  describe(`HTTP worker protocol (${kind} store)`, () => {
    let current: Setup | undefined;
    const setup = async () => (current = await setupRemote(open));
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });

    it("a registered remote worker shows in the processes list and fetches with args, attempt, lease and token", async () => {
      const s = await setup();
      const workerId = await s.register({
        meta: { language: "python", process: { bootId: "made-up", startTicks: 1 } },
      });
      const workers = await (await s.call("/api/workers")).json();
      const row = workers.workers.find((w: { id: string }) => w.id === workerId);
      assert.equal(row.host, "py-host");
      assert.deepEqual(row.queues, ["images"]);
      assert.equal(row.meta.language, "python");
      assert.equal(row.meta.process, undefined, "a client cannot claim a local process identity");

      const id = await s.dispatcher.enqueue("resize", { url: "a.png", width: 10 });
      const [task] = await fetchTasks(s, workerId);
      assert.ok(task);
      assert.equal(task.id, id);
      assert.deepEqual(task.args, { url: "a.png", width: 10 });
      assert.equal(task.attempt, 1);
      assert.equal(task.leaseExpiresAt, s.clock.now() + LEASE);
      const stored = await s.store.get(id);
      assert.equal(stored?.status, "PROCESSING");
      assert.equal(stored?.workerId, workerId);
      assert.equal(stored?.attemptToken, task.token);
      // The start (as of the fetch) is written with the worker's next heartbeat or outcome.
      const fetchedAt = s.clock.now();
      s.clock.advance(100);
      await s.post("/api/v1/worker/heartbeat", { workerId, tasks: [{ id, token: task.token }] });
      assert.equal((await s.store.get(id))?.startedAt, fetchedAt);
    });

    it("a fetched task carries the trace context it was enqueued with (null without one)", async () => {
      const s = await setup();
      const workerId = await s.register();
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      const [traced, plain] = [
        makeTask({ name: "resize", queue: "images", traceparent, tracestate: "k=v" }),
        makeTask({ name: "resize", queue: "images" }),
      ];
      await s.store.insert([traced, plain]);
      const tasks = await fetchTasks(s, workerId, 2);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      assert.equal(byId.get(traced.id)?.traceparent, traceparent);
      assert.equal(byId.get(traced.id)?.tracestate, "k=v");
      assert.equal(byId.get(plain.id)?.traceparent, null);
      assert.equal(byId.get(plain.id)?.tracestate, null);
    });

    it("a completion with the attempt token completes; repeated, it is answered as done; another token gets 409", async () => {
      const s = await setup();
      const workerId = await s.register();
      const id = await s.dispatcher.enqueue("resize", { url: "a.png", width: 10 });
      const [task] = await fetchTasks(s, workerId);
      const wrong = await s.post(`/api/v1/worker/tasks/${id}/complete`, {
        token: "nope",
        result: 1,
      });
      assert.equal(wrong.status, 409);
      assert.equal(
        (wrong.body.details as { current: { status: string } }).current.status,
        "PROCESSING",
      );
      const done = await s.post(`/api/v1/worker/tasks/${id}/complete`, {
        token: task!.token,
        result: { ok: 1 },
      });
      assert.equal(done.status, 200);
      assert.equal((done.body.task as { status: string }).status, "COMPLETED");
      const again = await s.post(`/api/v1/worker/tasks/${id}/complete`, {
        token: task!.token,
        result: { ok: 1 },
      });
      assert.equal(again.status, 200);
      assert.equal(again.body.replayed, true);
      const failAfter = await s.post(`/api/v1/worker/tasks/${id}/fail`, {
        token: task!.token,
        error: "x",
      });
      assert.equal(failAfter.status, 409);
      assert.equal(
        (failAfter.body.details as { current: { status: string } }).current.status,
        "COMPLETED",
      );
      const stored = await s.store.get(id);
      assert.deepEqual(stored?.result, { ok: 1 });
      assert.equal(stored?.startedAt, s.clock.now(), "the start was written with the outcome");
    });

    it("a late completion after the lease expired and the task was rescued is refused with its current state", async () => {
      const s = await setup();
      const workerId = await s.register();
      const id = await s.dispatcher.enqueue("resize", { url: "a.png", width: 10 });
      const [task] = await fetchTasks(s, workerId);
      s.clock.advance(LEASE + 1);
      const rescuer = new LeaseRescuer(s.store, {
        clock: s.clock,
        random: () => 0,
        interval: 60_000,
        signals: new TaskSignals(),
        onError: (error) => assert.fail(String(error)),
      });
      assert.equal(await rescuer.runOnce(), 1);
      const late = await s.post(`/api/v1/worker/tasks/${id}/complete`, {
        token: task!.token,
        result: 1,
      });
      assert.equal(late.status, 409);
      assert.match(late.body.error as string, /nothing was changed/);
      assert.equal(
        (late.body.details as { current: { status: string } }).current.status,
        "RETRYING",
      );
      const stored = await s.store.get(id);
      assert.equal(stored?.status, "RETRYING");
      assert.equal(stored?.result, null);
    });

    it("fail retries while attempts remain and fails for good with retryable: false", async () => {
      const s = await setup();
      const workerId = await s.register();
      const a = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      const b = await s.dispatcher.enqueue("resize", { url: "b", width: 1 });
      const tasks = await fetchTasks(s, workerId);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      const retried = await s.post(`/api/v1/worker/tasks/${a}/fail`, {
        token: byId.get(a)!.token,
        error: { message: "flaky", stack: "at py" },
      });
      assert.equal((retried.body.task as { status: string }).status, "RETRYING");
      const failed = await s.post(`/api/v1/worker/tasks/${b}/fail`, {
        token: byId.get(b)!.token,
        error: "bad input",
        retryable: false,
      });
      const task = failed.body.task as {
        status: string;
        lastError: { message: string };
        attempts: number;
      };
      assert.equal(task.status, "FAILED");
      assert.equal(task.lastError.message, "bad input");
      assert.equal(task.attempts, 1);
    });

    it("heartbeat extends the leases and answers which tasks were cancelled and which were lost", async () => {
      const s = await setup();
      const workerId = await s.register();
      const a = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      const b = await s.dispatcher.enqueue("resize", { url: "b", width: 1 });
      const tasks = await fetchTasks(s, workerId);
      s.clock.advance(1_000);
      await s.dispatcher.cancel(a);
      const leases = tasks.map((t) => ({ id: t.id, token: t.token }));
      leases.push({ id: b, token: "stale-token" });
      const beat = await s.post("/api/v1/worker/heartbeat", { workerId, tasks: leases });
      assert.equal(beat.status, 200);
      assert.equal(beat.body.leaseExpiresAt, s.clock.now() + LEASE);
      assert.deepEqual(beat.body.cancelled, [a]);
      assert.deepEqual(beat.body.lost, [b]);
      assert.equal((await s.store.get(b))?.leaseExpiresAt, s.clock.now() + LEASE);
    });

    it("a long-polling fetch answers when a task is enqueued", async () => {
      const s = await setup();
      const workerId = await s.register();
      s.clock.time = Date.now(); // the deadline is on the injected clock; keep it near real time
      const fetching = fetchTasks(s, workerId, 5, 30_000);
      const id = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      const tasks = await fetching;
      assert.deepEqual(tasks.map((t) => t.id), [id]);
    });

    it("a long poll of a worker that stopped beating ends as unknown-worker and hands out nothing", async () => {
      const s = await setup();
      const workerId = await s.register();
      s.clock.time = Date.now(); // the deadline is on the injected clock; keep it near real time
      const fetching = s.post("/api/v1/worker/fetch", { workerId, limit: 5, waitMillis: 30_000 });
      // The fetch's own beat (its first claim finds nothing: no task is due)...
      while ((await s.store.listWorkers())[0]?.lastBeatAt !== s.clock.now()) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      // ...then silence past the heartbeat timeout while the poll waits (a stopped process).
      s.clock.advance(10_001);
      const { status, body } = await fetching;
      assert.equal(status, 404, JSON.stringify(body));
      assert.equal((body.details as { reason: string }).reason, "unknown-worker");
      // What comes due now is not held by the silent worker.
      const id = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      assert.equal((await s.store.get(id))?.status, "PENDING");
    });

    it("a paused queue is not fetched from, and the fetch limit is capped at the worker's concurrency", async () => {
      const s = await setup();
      const workerId = await s.register({ concurrency: 2 });
      for (let i = 0; i < 3; i++) await s.dispatcher.enqueue("resize", { url: `${i}`, width: 1 });
      await s.dispatcher.pauseQueue("images");
      assert.deepEqual(await fetchTasks(s, workerId), []);
      await s.dispatcher.resumeQueue("images");
      assert.equal((await fetchTasks(s, workerId, 10)).length, 2);
    });

    it("a worker that names its tasks fetches only those", async () => {
      const s = await setup();
      const workerId = await s.register({ names: ["resize"] });
      const email = await s.dispatcher.enqueue("email", {});
      const resize = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      const tasks = await fetchTasks(s, workerId);
      assert.deepEqual(tasks.map((t) => t.id), [resize]);
      const other = await s.store.get(email);
      assert.equal(other?.status, "PENDING");
      assert.equal(other?.attempts, 0);
    });

    it("batched complete ends many attempts in one request and fetches the next ones", async () => {
      const s = await setup();
      const workerId = await s.register({ concurrency: 3 });
      for (let i = 0; i < 5; i++) await s.dispatcher.enqueue("resize", { url: `${i}`, width: 1 });
      const first = await fetchTasks(s, workerId, 3);
      assert.equal(first.length, 3);
      const { status, body } = await s.post("/api/v1/worker/complete", {
        workerId,
        outcomes: [
          { outcome: "completed", id: first[0]!.id, token: first[0]!.token, result: 0 },
          {
            outcome: "failed",
            id: first[1]!.id,
            token: first[1]!.token,
            error: "no",
            retryable: false,
          },
          { outcome: "released", id: first[2]!.id, token: first[2]!.token },
          { outcome: "completed", id: first[0]!.id, token: "stale", result: 0 },
        ],
        fetch: { limit: 3 },
      });
      assert.equal(status, 200);
      const results = body.results as { ok: boolean; status?: number; task?: { status: string } }[];
      assert.deepEqual(results.map((r) => r.ok), [true, true, true, false]);
      assert.deepEqual(results.slice(0, 3).map((r) => r.task?.status), [
        "COMPLETED",
        "FAILED",
        "PENDING",
      ]);
      // The fourth repeats the first with another token: refused, the first one's record is not replayed.
      assert.equal(results[3]!.status, 409);
      // The refill holds the two never claimed; the released one too, or (PostgreSQL) next time.
      const refill = (body.tasks as Fetched[]).map((t) => t.id);
      const never = (await s.store.list({ status: "PROCESSING", limit: 10 })).tasks
        .map((t) => t.id);
      assert.ok(refill.length >= 2 && refill.every((id) => never.includes(id)), String(refill));
      assert.ok(!refill.includes(first[0]!.id) && !refill.includes(first[1]!.id));
    });

    it("deregister gives held tasks back without spending the attempt and leaves the registry", async () => {
      const s = await setup();
      const workerId = await s.register();
      const id = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      const [task] = await fetchTasks(s, workerId);
      const { status } = await s.post("/api/v1/worker/deregister", {
        workerId,
        release: [{ id, token: task!.token }],
      });
      assert.equal(status, 200);
      const stored = await s.store.get(id);
      assert.equal(stored?.status, "PENDING");
      assert.equal(stored?.attempts, 0);
      assert.equal((await s.store.listWorkers()).length, 0);
      const after = await s.post("/api/v1/worker/fetch", { workerId, limit: 1 });
      assert.equal(after.status, 404);
      assert.equal((after.body.details as { reason: string }).reason, "unknown-worker");
    });

    it("a remote worker silent past the heartbeat timeout is gone and its tasks come back", async () => {
      const s = await setup();
      const workerId = await s.register();
      const id = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      const [task] = await fetchTasks(s, workerId);
      const local = new WorkerHeartbeat(s.store, {
        workerId: "local-1",
        queues: ["default"],
        concurrency: 1,
        interval: 1_000,
        timeout: 10_000,
        signals: new TaskSignals(),
        clock: s.clock,
      });
      assert.deepEqual(await local.runOnce(), []);
      s.clock.advance(10_001);
      const gone = await local.runOnce();
      assert.equal(gone.length, 1);
      assert.equal(gone[0]!.worker.id, workerId);
      assert.equal(gone[0]!.rescued, 1);
      assert.equal((await s.store.get(id))?.status, "RETRYING");
      const beat = await s.post("/api/v1/worker/heartbeat", {
        workerId,
        tasks: [{ id, token: task!.token }],
      });
      assert.equal(beat.status, 404);
      const fetched = await s.post("/api/v1/worker/fetch", { workerId, limit: 1 });
      assert.equal(fetched.status, 404, "a worker taken for gone registers again to fetch");
      const late = await s.post(`/api/v1/worker/tasks/${id}/complete`, { token: task!.token });
      assert.equal(late.status, 409);
      await local.stop();
    });

    it("progress and log lines are stored with the token and refused without it", async () => {
      const s = await setup();
      const workerId = await s.register();
      const id = await s.dispatcher.enqueue("resize", { url: "a", width: 1 });
      const [task] = await fetchTasks(s, workerId);
      assert.equal(
        (await s.post(`/api/v1/worker/tasks/${id}/progress`, { token: task!.token, progress: 0.5 }))
          .status,
        200,
      );
      assert.equal(
        (await s.post(`/api/v1/worker/tasks/${id}/log`, {
          token: task!.token,
          lines: ["one", "two"],
        })).status,
        200,
      );
      const stale = await s.post(`/api/v1/worker/tasks/${id}/progress`, {
        token: "old",
        progress: 0.9,
      });
      assert.equal(stale.status, 409);
      const stored = await s.store.get(id);
      assert.equal(stored?.progress, 0.5);
      assert.deepEqual(stored?.logs, ["one", "two"]);
      assert.equal(
        (await s.post(`/api/v1/worker/tasks/nope/progress`, { token: "x", progress: 1 })).status,
        404,
      );
    });

    it("bad input gets 400 naming the field, the value and what was expected", async () => {
      const s = await setup();
      const workerId = await s.register();
      let deep: unknown = 1;
      for (let i = 0; i < 70; i++) deep = [deep];
      const cases: [string, unknown, RegExp, string][] = [
        ["/api/v1/worker/fetch", { workerId, limit: 0 }, /^limit: expected >=1, got 0$/, "limit"],
        ["/api/v1/worker/fetch", { workerId, limit: 1, wait: 5 }, /^Unknown field "wait"/, "wait"],
        [
          "/api/v1/worker/fetch",
          { workerId: "w1", limit: 1 },
          /^workerId: expected a workerId from register, got "w1"$/,
          "workerId",
        ],
        [
          "/api/v1/worker/register",
          { queues: ["a b"], concurrency: 1 },
          /^queues\.0: expected 1-128/,
          "queues.0",
        ],
        [
          "/api/v1/worker/register",
          { queues: ["a"] },
          /^concurrency: expected a value \(the field is required\)/,
          "concurrency",
        ],
        [
          "/api/v1/worker/complete",
          { outcomes: [{ outcome: "done", id: "a", token: "b" }] },
          /^outcomes\.0\.outcome: expected \("completed" \| "failed" \| "released"\), got "done"$/,
          "outcomes.0.outcome",
        ],
        [
          "/api/v1/worker/complete",
          { outcomes: [], fetch: { limit: 1 } },
          /^workerId: expected a workerId from register \(required with fetch\)/,
          "workerId",
        ],
        ["/api/v1/worker/heartbeat", null, /^body: expected Object, got null$/, "body"],
        [
          "/api/v1/worker/tasks/some-id/complete",
          { token: "t", result: deep },
          /^result: expected JSON of at most 64 levels .* nested more than 64 levels deep/,
          "result",
        ],
      ];
      for (const [path, json, message, field] of cases) {
        const { status, body } = await s.post(path, json);
        assert.equal(status, 400, `${path} ${JSON.stringify(json)}: ${JSON.stringify(body)}`);
        assert.match(body.error as string, message);
        assert.equal((body.details as { field: string }).field, field);
      }
      const notJson = await s.call("/api/v1/worker/fetch", undefined, {
        method: "POST",
        body: "{",
        headers: { "content-type": "application/json" },
      });
      assert.equal(notJson.status, 400);
      const noType = await s.call("/api/v1/worker/fetch", undefined, {
        method: "POST",
        body: "{}",
      });
      assert.equal(noType.status, 415);
      const wrongMethod = await s.call("/api/v1/worker/fetch");
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get("allow"), "POST");
      assert.equal((await s.call("/api/v1/nothing")).status, 404);
    });

    it("the worker protocol needs the token like the admin API", async () => {
      const s = await setup();
      const response = await s.call("/api/v1/worker/register", { queues: ["a"], concurrency: 1 }, {
        headers: { authorization: "Bearer wrong-token-0123456789" },
      });
      assert.equal(response.status, 401);
      assert.equal((await s.store.listWorkers()).length, 0);
      const crossSite = await s.call("/api/v1/worker/register", { queues: ["a"], concurrency: 1 }, {
        headers: { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      });
      assert.equal(crossSite.status, 403);
    });
  });
}
