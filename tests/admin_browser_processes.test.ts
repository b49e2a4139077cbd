/**
 * The dashboard shows the whole store, not the process that serves it: two worker processes on
 * one SQLite file (one serves the dashboard, the other has no admin endpoint), both listed in the
 * processes panel, and the throughput chart and activity counting the tasks both ran. The page
 * is reached through a reverse proxy that serves it under `/tasks/` and passes the browser's
 * `Host` on, as docs/DEPLOYMENT.md describes. Headless Chromium (Debian's `/usr/bin/chromium`,
 * driven by playwright-core); fails when it is missing.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { createServer, request as httpRequest, type Server } from "node:http";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { chromium, type Page } from "playwright-core";
import { tempDir } from "./_helpers.ts";
import { childEnv, CLI_FROM_SOURCE, ROOT } from "./_process.ts";
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS } from "./_browser.ts";

const TOKEN = "processes-test-token-0123456789";
const runtime = "Bun" in globalThis ? "bun" : "deno";
const TASKS_PER_QUEUE = 3;

interface StartedLine {
  event: string;
  workerId: string;
  admin: string | null;
  pid: number;
}

/** A `worker` process from source, with its JSON log read line by line. */
function startWorker(args: readonly string[], cwd: string) {
  const child: ChildProcess = spawn(
    CLI_FROM_SOURCE[runtime][0]!,
    [...CLI_FROM_SOURCE[runtime].slice(1), "worker", ...args, "--log-format", "json"],
    { cwd, env: childEnv(), stdio: ["ignore", "ignore", "pipe"] },
  );
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => resolve(code))
  );
  const started = new Promise<StartedLine>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (text) => {
      lines.push(text);
      if (text.includes('"worker.started"')) resolve(JSON.parse(text) as StartedLine);
    });
    void exited.then((code) => reject(new Error(`worker exited ${code}:\n${lines.join("\n")}`)));
  });
  return {
    started,
    async stop(): Promise<number | null> {
      // By process id: Deno's child.kill sends only the first signal.
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGTERM");
      return await exited;
    },
  };
}

/**
 * A reverse proxy: `/tasks/*` to `upstream` with the prefix stripped, `Host` passed on as the
 * browser sent it, responses streamed (Server-Sent Events), like nginx with
 * `proxy_set_header Host $http_host` and `proxy_buffering off`.
 */
async function startProxy(upstream: string): Promise<{ url: string; server: Server }> {
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    if (!req.url?.startsWith("/tasks/")) {
      res.writeHead(404).end();
      return;
    }
    const forwarded = httpRequest({
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url.slice("/tasks".length),
      headers: { ...req.headers, "x-forwarded-proto": "http" },
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on("error", () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/tasks/`, server };
}

describe("admin dashboard: the whole store", () => {
  it(
    `lists both worker processes and charts the tasks both ran (${runtime})`,
    { timeout: 180_000 },
    async () => {
      assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
      const dir = await tempDir("aether-processes-");
      const common = [
        "--db",
        join(dir.path, "tasks.db"),
        "--handlers",
        join(ROOT, "tests/fixtures/cli/handlers"),
        "--workers",
        "1",
        "--poll-interval",
        "50ms",
      ];
      // Each worker takes one queue, so each surely runs some of the tasks.
      const serving = startWorker(
        [...common, "--queues", "a", "--admin", "127.0.0.1:0", "--admin-token", TOKEN],
        dir.path,
      );
      const other = startWorker([...common, "--queues", "b", "--no-admin"], dir.path);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const problems: string[] = [];
      let page: Page | undefined;
      let proxy: { url: string; server: Server } | undefined;
      try {
        const [a, b] = await Promise.all([serving.started, other.started]);
        assert.ok(a.admin, "the first worker serves the admin endpoint");
        const admin: string = a.admin;
        const auth = { authorization: `Bearer ${TOKEN}` };
        const ids: string[] = [];
        for (const queue of ["a", "b"]) {
          for (let i = 0; i < TASKS_PER_QUEUE; i++) {
            const response: Response = await fetch(`${admin}/api/tasks`, {
              method: "POST",
              headers: { ...auth, "content-type": "application/json" },
              body: JSON.stringify({ name: "add", args: { a: i, b: 1 }, queue }),
            });
            assert.equal(response.status, 201);
            ids.push((await response.json() as { id: string }).id);
          }
        }
        const done = await Promise.all(ids.map(async (id) => {
          const response = await fetch(`${admin}/api/tasks/${id}/wait?timeout=60s`, {
            headers: auth,
          });
          assert.equal(response.status, 200, `task ${id} finished`);
          return await response.json() as { status: string; workerId: string };
        }));
        assert.ok(done.every((t) => t.status === "COMPLETED"));
        assert.deepEqual(
          new Set(done.map((t) => t.workerId)),
          new Set([a.workerId, b.workerId]),
          "both workers ran tasks",
        );

        // A task no running worker defines waits, and the processes panel says so.
        const ghost = await fetch(`${admin}/api/tasks`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ name: "ghost", args: {}, queue: "a", unregistered: true }),
        });
        assert.equal(ghost.status, 201);
        assert.match((await ghost.json() as { warning: string }).warning, /ghost/);

        proxy = await startProxy(admin);
        page = await browser.newPage({ viewport: { width: 1280, height: 1200 } });
        page.setDefaultTimeout(30_000);
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(`console: ${message.text()}`);
        });
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
        await page.goto(proxy.url);
        await page.locator("#login").waitFor({ state: "visible" });
        await page.fill("#token-input", TOKEN);
        await page.press("#token-input", "Enter");
        await page.locator('#live[data-state="live"]').waitFor();

        // Both processes, with their host, PID and queues.
        for (const worker of [a, b]) {
          const row = page.locator(`#processes tr[data-worker="${worker.workerId}"]`);
          await row.waitFor();
          assert.equal(await row.getAttribute("data-late"), "false");
          const cells = await row.locator("td").allInnerTexts();
          assert.equal(cells[2], String(worker.pid));
          assert.equal(cells[4], worker === a ? "a" : "b");
        }
        assert.equal(await page.locator("#processes tbody tr").count(), 2);
        await page.locator('#unrunnable [data-name="ghost"]').waitFor();
        assert.match(await page.locator("#unrunnable").innerText(), /ghost \(1\)/);

        // The chart counts the tasks of both; the activity names both workers.
        const total = 2 * TASKS_PER_QUEUE;
        await page.locator(`#chart-summary[data-completed="${total}"]`).waitFor();
        for (const worker of [a, b]) {
          await page.locator(`#activity li[data-worker="${worker.workerId}"]`).first().waitFor();
        }
        assert.equal(
          await page.locator('#counts .card[data-status="COMPLETED"] .value').innerText(),
          String(total),
        );

        // A change through the proxy passes the origin check: the proxy passed the Host on.
        const queueA = page.locator('#queue-control tr[data-queue="a"]');
        await queueA.locator('button[data-action="pause"]').click();
        await queueA.locator('button[data-action="resume"]').waitFor();
        const queues = await (await fetch(`${admin}/api/queues`, { headers: auth })).json() as {
          queues: { name: string; paused: boolean }[];
        };
        assert.equal(queues.queues.find((q) => q.name === "a")?.paused, true);

        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: `${ARTIFACTS}dashboard-processes.png`, fullPage: true });
        const unexpected = problems.filter((p) => !/status of 401/.test(p));
        assert.deepEqual(unexpected, [], "no console errors");
      } catch (error) {
        await mkdir(ARTIFACTS, { recursive: true });
        await page?.screenshot({
          path: `${ARTIFACTS}dashboard-processes-failure.png`,
          fullPage: true,
        })
          .catch(() => {});
        console.error("Browser console:", problems);
        throw error;
      } finally {
        await browser.close();
        proxy?.server.closeAllConnections();
        proxy?.server.close();
        const codes = await Promise.all([serving.stop(), other.stop()]);
        await dir.remove();
        assert.deepEqual(codes, [0, 0], "both workers stop cleanly");
      }
    },
  );
});
