/**
 * `GET /api/activity`: what every worker process started and finished, from the store, newest
 * first; and the `store:changed` event that tells the dashboard another process wrote.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAdminHandler } from "../src/admin/handler.ts";
import { activityEntry } from "../src/admin/routes/activity.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { makeTask } from "./_helpers.ts";

const T = 1_700_000_000_000;

async function setup() {
  const store = new InMemoryTaskStore();
  await store.migrate();
  const handler = createAdminHandler({
    store,
    dispatcher: new TaskDispatcher(store),
    onError: () => {},
  });
  const get = (path: string) => handler(new Request(`http://localhost${path}`));
  return { store, handler, get };
}

describe("admin: activity across processes", () => {
  it("lists running and finished tasks of every worker by when it happened, newest first", async () => {
    const { store, handler, get } = await setup();
    try {
      await store.insert([
        makeTask({
          createdAt: T,
          name: "old-done",
          status: "COMPLETED",
          startedAt: T + 10,
          completedAt: T + 5_000,
          workerId: "worker-a",
        }),
        makeTask({
          createdAt: T + 1,
          name: "running",
          status: "PROCESSING",
          startedAt: T + 3_000,
          workerId: "worker-b",
        }),
        makeTask({
          createdAt: T + 2,
          name: "failed",
          status: "FAILED",
          startedAt: T + 20,
          completedAt: T + 1_000,
          workerId: "worker-b",
        }),
        makeTask({ createdAt: T + 3, name: "waiting", status: "PENDING" }),
      ]);
      const response = await get("/api/activity");
      assert.equal(response.status, 200);
      const { activity } = await response.json() as {
        activity: { at: number; workerId: string; task: { name: string; status: string } }[];
      };
      assert.deepEqual(
        activity.map((e) => [e.task.name, e.task.status, e.workerId, e.at]),
        [
          ["old-done", "COMPLETED", "worker-a", T + 5_000],
          ["running", "PROCESSING", "worker-b", T + 3_000],
          ["failed", "FAILED", "worker-b", T + 1_000],
        ],
      );
      const one = await (await get("/api/activity?limit=1")).json() as { activity: unknown[] };
      assert.equal(one.activity.length, 1);
    } finally {
      handler.close();
    }
  });

  it("a bad limit or an unknown parameter is a 400 that names it", async () => {
    const { handler, get } = await setup();
    try {
      for (const query of ["limit=0", "limit=abc", "limit=201", "limit=1.5"]) {
        const response = await get(`/api/activity?${query}`);
        assert.equal(response.status, 400, query);
        assert.match((await response.json()).error, /^limit must be an integer from 1 to 200, got/);
      }
      const unknown = await get("/api/activity?status=FAILED");
      assert.equal(unknown.status, 400);
      assert.match(
        (await unknown.json()).error,
        /Unknown query parameter "status"; expected limit/,
      );
    } finally {
      handler.close();
    }
  });

  it("an entry's time is when the task reached its status", () => {
    assert.equal(activityEntry(makeTask({ status: "PROCESSING", startedAt: T + 7 })).at, T + 7);
    assert.equal(
      activityEntry(makeTask({ status: "CANCELLED", startedAt: null, completedAt: T + 9 })).at,
      T + 9,
    );
    assert.equal(
      activityEntry(makeTask({ createdAt: T, status: "RETRYING", startedAt: null })).at,
      T,
    );
  });

  it("the event stream tells of another process's write as store:changed", async () => {
    const { store, handler, get } = await setup();
    try {
      const response = await get("/api/events");
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      while (!text.includes(": connected")) text += decoder.decode((await reader.read()).value);
      store.notifier.notify({ type: "changed" });
      while (!text.includes("event: store:changed")) {
        text += decoder.decode((await reader.read()).value);
      }
      assert.match(text, /event: store:changed\ndata: \{\}\n\n/);
      await reader.cancel();
    } finally {
      handler.close();
    }
  });
});
