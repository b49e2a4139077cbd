/**
 * Hostile HTTP input: malformed Host headers, a missing Host, bodies over the limit. Through the
 * handler with no socket, and through a real server on whichever runtime runs the file (the
 * runtime builds the request URL from the Host header, which is where a 500 used to come from).
 */

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { createAdminHandler } from "../src/admin/handler.ts";
import { isValidHost, splitHost } from "../src/admin/security.ts";
import { AdminServer } from "../src/admin/server.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";

const runtime = "Bun" in globalThis ? "Bun" : "Deno";
const BAD_HOSTS = [
  "localhost:7070@evil",
  "localhost%00.evil.com",
  "localhost:99999",
  "localhost:0",
];

function setup() {
  const store = new InMemoryTaskStore();
  const registry = new TaskRegistry();
  registry.register("noop", () => {});
  const dispatcher = new TaskDispatcher(store, { registry });
  const errors: unknown[] = [];
  const handler = createAdminHandler({ store, dispatcher, onError: (e) => errors.push(e) });
  return { store, dispatcher, handler, errors };
}

/**
 * Sends raw bytes and resolves with the answer once it is complete (by its Content-Length, or
 * when the server closes), then closes the socket: a server may wait for an unread body.
 */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    let answer = "";
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
      const end = answer.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(answer.slice(0, end))?.[1];
      if (end >= 0 && length !== undefined && answer.length >= end + 4 + Number(length)) done();
    });
    socket.on("end", done);
    socket.on("error", (error) => (answer ? done() : reject(error)));
  });
}

function statusAndBody(answer: string): { status: number; body: unknown } {
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1]);
  const text = answer.slice(answer.indexOf("\r\n\r\n") + 4);
  return { status, body: text ? JSON.parse(text) : null };
}

describe("Host headers", () => {
  it("splitHost refuses userinfo, percent signs, spaces and ports outside 1-65535", () => {
    for (const host of [...BAD_HOSTS, "a b", "évil", "[::1", "localhost:", ":7070", ""]) {
      assert.equal(splitHost(host), null, host);
      assert.equal(isValidHost(host), false, host);
    }
    assert.deepEqual(splitHost("LocalHost:7070"), { name: "localhost", port: "7070" });
    assert.deepEqual(splitHost("[::1]:65535"), { name: "[::1]", port: "65535" });
    assert.deepEqual(splitHost("my_host.example"), { name: "my_host.example", port: null });
  });

  for (const host of BAD_HOSTS) {
    it(`the handler answers Host ${JSON.stringify(host)} with a JSON 400, not a 500`, async () => {
      const { handler, errors } = setup();
      const response = await handler(
        new Request("http://localhost/api/stats", { headers: { host } }),
      );
      assert.equal(response.status, 400);
      const body = await response.json() as { error: string };
      assert.match(body.error, /The Host header must be a host name or IP address/);
      assert.deepEqual(errors, []);
      handler.close();
    });
  }

  it("a request whose URL the runtime could not build (no Host) is a JSON 400", async () => {
    const { handler } = setup();
    // What Bun hands over for an HTTP/1.0 request without Host: a URL that is only a path.
    const request = { url: "/api/stats", method: "GET", headers: new Headers() } as Request;
    const response = await handler(request);
    assert.equal(response.status, 400);
    assert.match((await response.json() as { error: string }).error, /no Host header/);
    handler.close();
  });
});

describe(`a real admin server (${runtime})`, () => {
  let admin: AdminServer;
  let port: number;
  let store: InMemoryTaskStore;
  const errors: unknown[] = [];

  before(async () => {
    store = new InMemoryTaskStore();
    const registry = new TaskRegistry();
    registry.register("noop", () => {});
    admin = new AdminServer({
      store,
      dispatcher: new TaskDispatcher(store, { registry }),
      port: 0,
      onError: (e) => errors.push(e),
    });
    await admin.start();
    port = admin.port!;
  });
  after(() => admin.stop());

  for (const host of BAD_HOSTS) {
    it(`answers Host ${JSON.stringify(host)} with a JSON 400`, async () => {
      const answer = await rawRequest(
        port,
        `GET /api/stats HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      const { status, body } = statusAndBody(answer);
      assert.equal(status, 400, answer);
      assert.match((body as { error: string }).error, /Host header/);
    });
  }

  it("answers an HTTP/1.0 request without Host with JSON, never a 500", async () => {
    const answer = await rawRequest(port, "GET /api/stats HTTP/1.0\r\n\r\n");
    const { status, body } = statusAndBody(answer);
    // Bun gives the handler no URL (400); Deno fills in the address it listens on (200).
    assert.ok(status === 400 || status === 200, answer);
    assert.equal(typeof body, "object");
    assert.deepEqual(errors, []);
  });

  it("a Content-Length over the limit is the documented JSON 413", async () => {
    const answer = await rawRequest(
      port,
      "POST /api/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        "Content-Length: 99999999\r\nConnection: close\r\n\r\n{}",
    );
    const { status, body } = statusAndBody(answer);
    assert.equal(status, 413, answer);
    assert.deepEqual(body, {
      error: "The request body is larger than the limit of 1048576 bytes",
      details: { limit: 1048576 },
    });
  });

  it("a streamed body over the limit is a JSON 413 too, and nothing is written", async () => {
    const chunk = "x".repeat(64 * 1024);
    const chunks = Array.from({ length: 20 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const answer = await rawRequest(
      port,
      "POST /api/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks.join("")}0\r\n\r\n`,
    ).catch((error) => `error ${error}`);
    if (!answer.startsWith("error")) {
      assert.equal(statusAndBody(answer).status, 413, answer.slice(0, 200));
    }
    assert.equal((await store.stats()).total, 0);
  });

  it("a non-numeric Content-Length is refused by the runtime's parser with an empty 400 (no JSON possible)", async () => {
    // Neither Bun.serve's `error` nor Deno.serve's `onError` is called for a request the HTTP
    // parser rejects, and neither runtime offers a hook for it: this pins what they answer, so
    // a runtime that starts passing such requests on (to our JSON 400) is noticed.
    for (const declared of ["abc", "12abc", "-1", "1e3"]) {
      const answer = await rawRequest(
        port,
        "POST /api/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
          `Content-Length: ${declared}\r\nConnection: close\r\n\r\n{}`,
      );
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, declared);
      assert.equal(answer.slice(answer.indexOf("\r\n\r\n") + 4), "", declared);
    }
    assert.deepEqual(errors, []);
    assert.equal((await store.stats()).total, 0);
  });
});
