/**
 * The admin endpoint reached from elsewhere: any Host once a token is required (a remote
 * dashboard, a Prometheus scrape or a probe by IP), allowed hosts from the option, the flag and
 * the environment, sub-apps mounted behind the same checks, and a taken port.
 */

import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { Hono } from "hono";
import { HttpError } from "../src/admin/_http.ts";
import { type AdminHandler, createAdminHandler } from "../src/admin/handler.ts";
import { AdminPortInUseError, AdminServer } from "../src/admin/server.ts";
import { resolveWorkerConfig } from "../src/cli/worker_config.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { tempDir } from "./_helpers.ts";
import { childEnv, CLI_FROM_SOURCE, ROOT, run } from "./_process.ts";

const TOKEN = "remote-token-0123456789abcdef";
const runtime = "Bun" in globalThis ? "bun" : "deno";

function parts() {
  const store = new InMemoryTaskStore();
  const registry = new TaskRegistry();
  registry.register("noop", () => {});
  return { store, dispatcher: new TaskDispatcher(store, { registry }), onError: () => {} };
}

function get(
  handler: AdminHandler,
  path: string,
  host: string,
  token?: string,
): Promise<Response> {
  const headers: Record<string, string> = { host };
  if (token) headers.authorization = `Bearer ${token}`;
  return handler(new Request(`http://${host}${path}`, { headers }));
}

describe("admin endpoint: remote access", () => {
  let handler: AdminHandler | undefined;
  afterEach(() => handler?.close());

  it("with a token, a remote dashboard, a scrape and a probe by IP are served; without the token only /healthz and the page", async () => {
    handler = createAdminHandler({ ...parts(), token: TOKEN });
    for (const host of ["10.0.0.5:7070", "tasks.example.com", "[2001:db8::1]:7070"]) {
      const page = await get(handler, "/", host);
      assert.equal(page.status, 200, host);
      assert.match(await page.text(), /<title>aether-tasks<\/title>/);
      for (const path of ["/api/stats", "/metrics", "/readyz", "/api/workers"]) {
        assert.equal((await get(handler, path, host, TOKEN)).status, 200, `${host}${path}`);
        const refused = await get(handler, path, host);
        assert.equal(refused.status, 401, `${host}${path} without the token`);
        assert.match((await refused.json()).error, /needs Authorization: Bearer/);
      }
      assert.equal((await get(handler, "/healthz", host)).status, 200);
    }
  });

  it("without a token, a non-loopback Host is refused with 403 that names the setting", async () => {
    handler = createAdminHandler(parts());
    const refused = await get(handler, "/api/stats", "10.0.0.5:7070");
    assert.equal(refused.status, 403);
    const { error } = await refused.json();
    assert.match(error, /Host "10\.0\.0\.5:7070" is not allowed/);
    assert.match(error, /--admin-allowed-hosts, AETHER_ADMIN_ALLOWED_HOSTS/);
    assert.equal((await get(handler, "/", "10.0.0.5:7070")).status, 403);
    assert.equal((await get(handler, "/api/stats", "localhost:7070")).status, 200);
  });

  it("allowedHosts narrows a token's any-Host default", async () => {
    handler = createAdminHandler({
      ...parts(),
      token: TOKEN,
      allowedHosts: ["tasks.internal", "10.0.0.5:7070"],
    });
    assert.equal((await get(handler, "/api/stats", "tasks.internal:8080", TOKEN)).status, 200);
    assert.equal((await get(handler, "/api/stats", "10.0.0.5:7070", TOKEN)).status, 200);
    assert.equal((await get(handler, "/api/stats", "10.0.0.5:9999", TOKEN)).status, 403);
    assert.equal((await get(handler, "/api/stats", "evil.example", TOKEN)).status, 403);
  });

  it("a real server on 0.0.0.0 with a token answers a request whose Host is an IP address", async () => {
    await using server = new AdminServer({ ...parts(), token: TOKEN, host: "0.0.0.0", port: 0 });
    await server.start();
    const { connect } = await import("node:net");
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port!, "127.0.0.1", () =>
        socket.write(
          `GET /api/stats HTTP/1.1\r\nHost: 192.0.2.10:${server.port}\r\n` +
            `Authorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
        ));
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.match(answer, /"byStatus"/);
  });
});

describe("admin endpoint: mounted sub-apps", () => {
  let handler: AdminHandler | undefined;
  afterEach(() => handler?.close());

  it("a sub-app in routes gets the same Host check, token and JSON errors", async () => {
    const extra = new Hono()
      .get("/api/extra/types", (c) => c.json({ types: ["noop"] }))
      .get("/api/extra/boom", () => {
        throw new HttpError(422, "boom must be defused", { field: "boom" });
      });
    const worker = new Hono().get("/ping", (c) => c.json({ pong: true }));
    handler = createAdminHandler({
      ...parts(),
      token: TOKEN,
      allowedHosts: ["localhost"],
      routes: [{ path: "/", app: extra }, { path: "/api/extra/worker", app: worker }],
    });
    const ok = await get(handler, "/api/extra/types", "localhost", TOKEN);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { types: ["noop"] });
    assert.equal(ok.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(
      await (await get(handler, "/api/extra/worker/ping", "localhost", TOKEN)).json(),
      {
        pong: true,
      },
    );
    assert.equal((await get(handler, "/api/extra/types", "localhost")).status, 401);
    assert.equal((await get(handler, "/api/extra/types", "evil.example", TOKEN)).status, 403);
    const boom = await get(handler, "/api/extra/boom", "localhost", TOKEN);
    assert.equal(boom.status, 422);
    assert.deepEqual(await boom.json(), {
      error: "boom must be defused",
      details: { field: "boom" },
    });
    const wrongMethod = await handler(
      new Request("http://localhost/api/extra/types", {
        method: "DELETE",
        headers: { authorization: `Bearer ${TOKEN}` },
      }),
    );
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET");
  });

  it("a bad routes entry is refused at construction, naming it", () => {
    assert.throws(
      () => createAdminHandler({ ...parts(), routes: [{ path: "api", app: new Hono() }] }),
      /routes\[0\]\.path must be a path starting with "\/", got "api"/,
    );
    assert.throws(
      // @ts-expect-error: not an app
      () => createAdminHandler({ ...parts(), routes: [{ path: "/", app: {} }] }),
      /routes\[0\]\.app must be a Hono app/,
    );
  });
});

describe("worker: --admin-allowed-hosts and a taken admin port", () => {
  let blocker: Server | undefined;
  afterEach(() =>
    new Promise<void>((resolve) => blocker ? blocker.close(() => resolve()) : resolve())
  );

  it("--admin-allowed-hosts and AETHER_ADMIN_ALLOWED_HOSTS set allowedHosts; a bad entry names the flag", () => {
    const fromFlag = resolveWorkerConfig(
      { "admin-allowed-hosts": "tasks.internal, 10.0.0.5:7070" },
      {},
    );
    assert.deepEqual(fromFlag.adminAllowedHosts.value, ["tasks.internal", "10.0.0.5:7070"]);
    const fromEnv = resolveWorkerConfig({}, { AETHER_ADMIN_ALLOWED_HOSTS: "*" });
    assert.deepEqual(fromEnv.adminAllowedHosts.value, ["*"]);
    assert.equal(resolveWorkerConfig({}, {}).adminAllowedHosts.value, null);
    assert.throws(
      () => resolveWorkerConfig({ "admin-allowed-hosts": "ok.example,bad host/" }, {}),
      /--admin-allowed-hosts must be a comma-separated list of host names.*"ok\.example,bad host\/"/,
    );
    assert.throws(
      () => resolveWorkerConfig({}, { AETHER_ADMIN_ALLOWED_HOSTS: " , " }),
      /AETHER_ADMIN_ALLOWED_HOSTS must be/,
    );
  });

  it("a second server on a taken port fails with AdminPortInUseError naming the port and the fix", async () => {
    await using first = new AdminServer({ ...parts(), port: 0 });
    await first.start();
    const second = new AdminServer({ ...parts(), port: first.port! });
    const error = await second.start().then(() => null, (e: unknown) => e);
    assert.ok(error instanceof AdminPortInUseError, String(error));
    assert.equal(error.port, first.port);
    assert.match(
      error.message,
      new RegExp(`on 127\\.0\\.0\\.1:${first.port}: the port is in use`),
    );
    assert.match(error.message, /--admin 127\.0\.0\.1:0 .*--no-admin/);
    await second.stop();
  });

  it("a worker whose admin port is taken exits 2 with one line that says what to do", async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    const dir = await tempDir("aether-admin-port-");
    after(() => dir.remove());
    const result = await run([
      ...CLI_FROM_SOURCE[runtime],
      "worker",
      "--db",
      join(dir.path, "tasks.db"),
      "--handlers",
      join(ROOT, "tests/fixtures/cli/handlers"),
      "--workers",
      "1",
      "--admin",
      `127.0.0.1:${port}`,
    ], { cwd: dir.path, env: childEnv() });
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split("\n").filter((l) => /port is in use/.test(l));
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0]!,
      new RegExp(`admin endpoint on 127\\.0\\.0\\.1:${port}: the port is in use`),
    );
    assert.match(lines[0]!, /--admin 127\.0\.0\.1:0/);
  });
});
