/** Admin routes for queues and schedules, called through `fetch`-style requests (no socket). */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAdminHandler } from "../src/admin/handler.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";

const BASE = "http://127.0.0.1:7070";

function setup() {
  const store = new InMemoryTaskStore();
  const registry = new TaskRegistry();
  registry.register("report", () => null);
  const dispatcher = new TaskDispatcher(store, { registry });
  const handler = createAdminHandler({
    store,
    dispatcher,
    signals: new TaskSignals(),
    onError: () => {},
  });
  const post = (path: string) =>
    handler(
      new Request(BASE + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      }),
    );
  const get = (path: string) => handler(new Request(BASE + path));
  return { store, dispatcher, handler, post, get };
}

describe("admin routes: queues and schedules", () => {
  it("pause and resume a queue; GET /api/queues shows its state and limits", async () => {
    const { dispatcher, handler, post, get } = setup();
    await dispatcher.setQueueLimits("mail", { maxRunning: 2, rateLimit: { limit: 5, per: "1s" } });
    const paused = await post("/api/queues/mail/pause");
    assert.equal(paused.status, 200);
    assert.equal((await paused.json()).paused, true);
    const listed = await (await get("/api/queues")).json();
    assert.deepEqual(
      listed.queues.map((
        q: { name: string; paused: boolean; maxRunning: number },
      ) => [q.name, q.paused, q.maxRunning]),
      [["mail", true, 2]],
    );
    assert.deepEqual(listed.queues[0].rateLimit, { limit: 5, perMillis: 1000 });
    assert.equal((await (await post("/api/queues/mail/resume")).json()).paused, false);
    handler.close();
  });

  it("bad input is a 4xx naming the problem, never a 500", async () => {
    const { handler, post, get } = setup();
    const bad = await post("/api/queues/bad%20queue!/pause");
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /queue must be 1-128 characters/);
    assert.equal((await get("/api/queues/mail/pause")).status, 405);
    handler.close();
  });

  it("GET /api/schedules lists schedules with their next run", async () => {
    const { dispatcher, handler, get } = setup();
    await dispatcher.schedule("nightly", {
      task: "report",
      cron: "0 3 * * *",
      timezone: "Europe/Berlin",
    });
    const { schedules } = await (await get("/api/schedules")).json();
    assert.equal(schedules.length, 1);
    assert.equal(schedules[0].id, "nightly");
    assert.ok(schedules[0].nextRunAt > Date.now());
    handler.close();
  });
});
