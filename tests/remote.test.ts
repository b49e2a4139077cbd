/**
 * The HTTP worker protocol on the in-memory and SQLite stores (the suite is `remote_suite.ts`),
 * published task types, and the OpenAPI document against the routes the handler serves.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { createAdminHandler } from "../src/admin/handler.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { createRemoteEndpoint } from "../src/remote/endpoint.ts";
import { API_ROUTES } from "../src/remote/openapi.ts";
import { mergeTaskTypes, registryTaskTypes } from "../src/remote/task_types.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { FakeClock, tempDir } from "./_helpers.ts";
import {
  makeRegistry,
  remoteProtocolSuite,
  type Setup,
  setupRemote,
  type StoreFactory,
} from "./remote_suite.ts";

const memory: StoreFactory = () => Promise.resolve({ store: new InMemoryTaskStore() });
const sqlite: StoreFactory = async () => {
  const dir = await tempDir("aether-remote-");
  return { store: await SqliteTaskStore.open(join(dir.path, "tasks.db")), cleanup: dir.remove };
};

remoteProtocolSuite("memory", memory);
remoteProtocolSuite("sqlite", sqlite);

let current: Setup | undefined;
const setup = async () => (current = await setupRemote(memory));
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe("published task types", () => {
  it("lists each task with its args' JSON Schema, queue, retry and timeout defaults", async () => {
    const s = await setup();
    const { taskTypes } = await (await s.call("/api/v1/task-types")).json();
    const resize = taskTypes.find((t: { name: string }) => t.name === "resize");
    assert.equal(resize.queue, "images");
    assert.equal(resize.maxAttempts, 3);
    assert.equal(resize.timeoutMillis, 60_000);
    assert.equal(resize.retry.maxAttempts, 3);
    assert.deepEqual(resize.argsSchema.required, ["url", "width"]);
    assert.equal(resize.argsSchema.properties.width.type, "integer");
    assert.equal(taskTypes.find((t: { name: string }) => t.name === "email").argsSchema, null);
    // A transform has no JSON Schema form: published as null rather than as a looser schema.
    assert.equal(
      taskTypes.find((t: { name: string }) => t.name === "transformed").argsSchema,
      null,
    );
  });

  it("live workers' published types stand over this process's own, by name", () => {
    const local = registryTaskTypes(makeRegistry());
    const shared = (queue: string) => ({ ...local[0]!, name: "shared", queue });
    const mine = { ...local[0]!, queue: "mine" };
    const types = mergeTaskTypes(
      {
        types: new Map([["shared", shared("new")], [mine.name, mine]]),
        anyName: false,
        workers: 2,
      },
      [...local, shared("old")],
    );
    assert.equal(types.find((t) => t.name === "shared")?.queue, "new");
    assert.equal(types.find((t) => t.name === mine.name)?.queue, "mine");
    assert.deepEqual(types.map((t) => t.name), ["email", "resize", "shared", "transformed"]);
  });
});

describe("OpenAPI document", () => {
  it("documents every route the admin app serves (method and path, from Hono's route table)", () => {
    const store = new InMemoryTaskStore();
    const handler = createAdminHandler({ store, dispatcher: new TaskDispatcher(store) });
    try {
      const served = new Set(
        handler.app.routes.filter((r) => r.method !== "ALL")
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
      );
      const documented = new Set(API_ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`));
      // HEAD is answered for every GET route; the dashboard's page and assets are not the API.
      const api = [...served].filter((route) => / \/(api|healthz|readyz|metrics)/.test(route));
      assert.deepEqual(api.filter((route) => !documented.has(route)), [], "served, not documented");
    } finally {
      handler.close();
    }
  });

  it("is OpenAPI 3.1 and every documented route is served (no 404 for the path, no 405)", async () => {
    const s = await setup();
    const document = await (await s.call("/api/openapi.json")).json();
    assert.equal(document.openapi, "3.1.0");
    for (const route of API_ROUTES) {
      assert.ok(document.paths[route.path][route.method], `${route.method} ${route.path}`);
      const path = route.path.replace("{id}", "some-id").replace("{queue}", "some-queue");
      const init: RequestInit = { method: route.method.toUpperCase() };
      if (route.method === "post") {
        init.body = "{}";
        init.headers = { "content-type": "application/json" };
      }
      if (route.path === "/api/events") continue; // a stream: served, checked in admin.test.ts
      const response = await s.call(path, undefined, init);
      const text = await response.text();
      assert.notEqual(response.status, 405, `${route.method} ${route.path}: ${text}`);
      assert.ok(
        !(response.status === 404 && /No route/.test(text)),
        `${route.method} ${route.path} is documented but not served: ${text}`,
      );
    }
  });

  it("lists every route of the worker protocol app", () => {
    const store = new InMemoryTaskStore();
    const endpoint = createRemoteEndpoint({
      store,
      clock: new FakeClock(),
      signal: new AbortController().signal,
      readBody: () => Promise.resolve({}),
    });
    const documented = new Set(API_ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`));
    for (const route of endpoint.app.routes) {
      const path = route.path.replace(/:(\w+)/g, "{$1}");
      assert.ok(
        documented.has(`${route.method} ${path}`),
        `${route.method} ${path} is not documented`,
      );
    }
  });
});

describe("remote routes and store failures", () => {
  it("a store error is a bare 500 reported to onError, with no stack in the answer", async () => {
    const store = new InMemoryTaskStore();
    await store.migrate();
    store.listWorkers = () => Promise.reject(new Error("disk on fire"));
    const errors: unknown[] = [];
    const handler = createAdminHandler({
      store,
      dispatcher: new TaskDispatcher(store, { registry: makeRegistry() }),
      onError: (error) => errors.push(error),
    });
    const response = await handler(new Request("http://localhost:7070/api/v1/task-types"));
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: "Internal server error" });
    assert.match(String(errors[0]), /disk on fire/);
    handler.close();
  });
});

describe("remote endpoint options", () => {
  it("a bad option throws at construction, naming it and its value", () => {
    const store = new InMemoryTaskStore();
    const dispatcher = new TaskDispatcher(store, { registry: makeRegistry() });
    const make = (remote: Record<string, unknown>) => () =>
      createAdminHandler({ store, dispatcher, remote: remote as never });
    assert.throws(
      make({ leaseMillis: 0 }),
      (e) => e instanceof RangeError && /leaseMillis.*0/.test(e.message),
    );
    assert.throws(
      make({ heartbeatTimeoutMillis: 1.5 }),
      (e) => e instanceof RangeError && /heartbeatTimeoutMillis.*1\.5/.test(e.message),
    );
    assert.throws(
      make({ registry: {} }),
      (e) => e instanceof TypeError && /remote\.registry/.test(e.message),
    );
  });
});
