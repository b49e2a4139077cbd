/**
 * The admin routes for everyday operation, through the handler with no socket: search by id
 * prefix and args text, counts, bulk actions in bounded batches, delete, chart history and
 * queue wait percentiles.
 */

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { type AdminHandler, createAdminHandler } from "../src/admin/handler.ts";
import { throughputSeries, waitTimes } from "../src/admin/routes/charts.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { HISTORY_BUCKET_MILLIS, type HistoryPoint } from "../src/store/store.ts";
import type { TaskRecord } from "../src/task.ts";
import { FakeClock, makeTask } from "./_helpers.ts";

const BASE = "http://localhost:7070";

describe("admin routes for everyday operation", () => {
  let store: InMemoryTaskStore;
  let clock: FakeClock;
  let handler: AdminHandler;

  const call = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (init.json !== undefined) headers.set("content-type", "application/json");
    return handler(
      new Request(BASE + path, {
        ...init,
        headers,
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      }),
    );
  };
  const json = async <T = Record<string, unknown>>(response: Response, status = 200) => {
    const body = await response.json();
    assert.equal(response.status, status, JSON.stringify(body));
    return body as T;
  };
  /** Inserts `count` tasks with the overrides; returns them. */
  const seed = async (count: number, overrides: Partial<TaskRecord>): Promise<TaskRecord[]> => {
    const tasks = Array.from(
      { length: count },
      (_, i) => makeTask({ createdAt: clock.now(), args: { n: i }, ...overrides }),
    );
    await store.insert(tasks);
    return tasks;
  };
  const failed = (name: string, queue = "default"): Partial<TaskRecord> => ({
    name,
    queue,
    status: "FAILED",
    attempts: 3,
    startedAt: clock.now(),
    completedAt: clock.now(),
    lastError: { message: "boom" },
  });

  beforeEach(async () => {
    store = new InMemoryTaskStore();
    await store.migrate();
    clock = new FakeClock();
    const dispatcher = new TaskDispatcher(store, { registry: new TaskRegistry(), clock });
    handler = createAdminHandler({ store, dispatcher, clock });
  });
  afterEach(async () => {
    handler.close();
    await store.close();
  });

  it("GET /api/tasks finds tasks by id prefix (any case) and by args text", async () => {
    const [a] = await seed(1, { args: { email: "ada@example.com" } });
    await seed(2, { args: { email: "bob@example.com" } });
    const byPrefix = await json<{ tasks: TaskRecord[] }>(
      await call(`/api/tasks?idPrefix=${a!.id.slice(0, 30).toUpperCase()}`),
    );
    assert.deepEqual(byPrefix.tasks.map((t) => t.id), [a!.id]);
    const byArgs = await json<{ tasks: TaskRecord[] }>(
      await call(`/api/tasks?argsContains=${encodeURIComponent("bob@")}`),
    );
    assert.equal(byArgs.tasks.length, 2);
    const bad = await json<{ error: string }>(await call("/api/tasks?idPrefix=xyz"), 400);
    assert.match(bad.error, /^idPrefix must be a task id or the start of one .* got "xyz"$/);
  });

  it("counts what a bulk action would touch, then retries all failed of a name in batches", async () => {
    await seed(250, failed("charge-card"));
    await seed(3, failed("send-email"));
    await seed(4, { name: "charge-card" });
    const all = await json(await call("/api/tasks/count?name=charge-card"));
    assert.equal(all.count, 254);
    const toRetry = await json(
      await call("/api/tasks/count?action=retry&status=FAILED&name=charge-card"),
    );
    assert.equal(toRetry.count, 250);
    const toCancel = await json(await call("/api/tasks/count?action=cancel&name=charge-card"));
    assert.equal(toCancel.count, 4, "only the waiting ones");

    const done = await json(
      await call("/api/tasks/bulk", {
        method: "POST",
        json: { action: "retry", filter: { status: "FAILED", name: "charge-card" } },
      }),
    );
    assert.equal(done.count, 250);
    const stats = await store.stats();
    assert.equal(stats.byStatus.FAILED, 3, "the other name's failures are left alone");
    assert.equal(stats.byStatus.PENDING, 254);
  });

  it("cancels all waiting tasks of a queue and deletes finished ones", async () => {
    await seed(5, { queue: "media" });
    await seed(2, { queue: "default" });
    await seed(3, { ...failed("resize", "media") });
    const cancelled = await json(
      await call("/api/tasks/bulk", {
        method: "POST",
        json: { action: "cancel", filter: { queue: "media" } },
      }),
    );
    assert.equal(cancelled.count, 5);
    const deleted = await json(
      await call("/api/tasks/bulk", {
        method: "POST",
        json: { action: "delete", filter: { queue: "media" } },
      }),
    );
    assert.equal(deleted.count, 8, "5 cancelled and 3 failed");
    assert.equal((await store.stats()).total, 2);
  });

  it("refuses a bad bulk request with 400 naming the field and value", async () => {
    const cases: [unknown, RegExp][] = [
      [
        { action: "retyr", filter: {} },
        /action must be one of retry, cancel, delete, got "retyr"; did you mean "retry"\?/,
      ],
      [
        { action: "retry", filter: { staus: "FAILED" } },
        /Unknown filter field "staus"; did you mean "status"\?/,
      ],
      [{ action: "retry", filter: { status: "BROKEN" } }, /status must be one of .* got "BROKEN"/],
      [{ action: "retry", filter: [] }, /filter must be an object/],
      [{ action: "retry", everything: true }, /Unknown field "everything"/],
      [[], /must be a JSON object/],
    ];
    for (const [body, message] of cases) {
      const error = await json<{ error: string }>(
        await call("/api/tasks/bulk", { method: "POST", json: body }),
        400,
      );
      assert.match(error.error, message);
    }
    const count = await json<{ error: string }>(await call("/api/tasks/count?action=nuke"), 400);
    assert.match(count.error, /action must be one of/);
  });

  it("DELETE /api/tasks/:id removes a finished task, refuses a waiting one, 404 for none", async () => {
    const [finished] = await seed(1, failed("x"));
    const [waiting] = await seed(1, {});
    assert.deepEqual(
      await json(await call(`/api/tasks/${finished!.id}`, { method: "DELETE" })),
      { deleted: finished!.id },
    );
    assert.equal(await store.get(finished!.id), null);
    await json(await call(`/api/tasks/${finished!.id}`, { method: "DELETE" }), 404);
    await json(await call(`/api/tasks/${waiting!.id}`, { method: "DELETE" }), 409);
    assert.equal((await store.get(waiting!.id))?.status, "PENDING");
    const wrong = await call(`/api/tasks/${waiting!.id}`, { method: "PUT" });
    assert.equal(wrong.status, 405);
    assert.match(wrong.headers.get("allow") ?? "", /DELETE/);
  });

  it("GET /api/history sums the store's minute counters into slots", async () => {
    const series = await json<{ completed: number[]; slotMillis: number; range: string }>(
      await call("/api/history?range=day"),
    );
    assert.equal(series.range, "day");
    assert.equal(series.completed.length, 96);
    assert.equal(series.slotMillis, 15 * 60_000);
    await json(await call("/api/history?range=week"), 400);
  });

  it("GET /api/wait-times: percentiles of start − runAt over recent completed tasks", async () => {
    const waits = [5, 10, 20, 40, 1000];
    await store.insert(waits.map((wait) =>
      makeTask({
        status: "COMPLETED",
        attempts: 1,
        runAt: clock.now(),
        startedAt: clock.now() + wait,
        completedAt: clock.now() + wait + 1,
      })
    ));
    const body = await json(await call("/api/wait-times"));
    assert.deepEqual(body, { sample: 5, p50: 20, p90: 1000, p99: 1000, max: 1000 });
  });
});

describe("chart series", () => {
  it("throughputSeries adds minute buckets into slots and leaves out those outside", () => {
    const since = 1_700_000_000_000 - (1_700_000_000_000 % (15 * 60_000));
    const point = (minutes: number, completed: number): HistoryPoint => ({
      at: since + minutes * HISTORY_BUCKET_MILLIS,
      completed,
      failed: 1,
      retried: 0,
    });
    const series = throughputSeries(
      "day",
      [point(-1, 100), point(0, 1), point(14, 2), point(15, 4)],
      since,
      since + 30 * 60_000,
      15 * 60_000,
    );
    assert.deepEqual(series.completed, [3, 4]);
    assert.deepEqual(series.failed, [2, 1]);
    assert.deepEqual(series.at, [since, since + 15 * 60_000]);
  });

  it("waitTimes has no percentiles for an empty sample", () => {
    assert.deepEqual(waitTimes([]), { sample: 0, p50: null, p90: null, p99: null, max: null });
  });
});
