/**
 * The dashboard page the endpoint serves (`src/admin/dashboard/_assets.ts`) is the one its
 * sources make: `scripts/build_dashboard.ts --check` regenerates it with Bun and compares.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DASHBOARD_HTML } from "../src/admin/dashboard/_assets.ts";
import { NONCE_PLACEHOLDER } from "../src/admin/dashboard/_nonce.ts";
import { dashboardPage } from "../src/admin/routes/dashboard.ts";
import { TASK_STATUSES } from "../src/task.ts";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { tempDir } from "./_helpers.ts";
import { binary, BUN, childEnv, ROOT, run } from "./_process.ts";

describe("dashboard assets", () => {
  it("_assets.ts is in sync with index.html, style.css and app.ts", async () => {
    const result = await run([BUN, "scripts/build_dashboard.ts", "--check"], { cwd: ROOT });
    assert.equal(result.code, 0, result.stderr);
  });

  it("the page inlines its style and script under the nonce, with nothing external", () => {
    assert.equal(DASHBOARD_HTML.split(`nonce="${NONCE_PLACEHOLDER}"`).length - 1, 2);
    assert.ok(!/<link rel="stylesheet"|<script [^>]*src=/.test(DASHBOARD_HTML));
    const page = dashboardPage("abc123");
    assert.ok(page.includes(`<style nonce="abc123">`) && page.includes(`<script nonce="abc123">`));
    assert.ok(!page.includes(NONCE_PLACEHOLDER));
    // The bundled script carries the server's status list, not a copy typed by hand.
    assert.ok(DASHBOARD_HTML.includes(JSON.stringify(TASK_STATUSES[0])));
    const script = DASHBOARD_HTML.slice(DASHBOARD_HTML.indexOf("<script"));
    assert.equal(script.indexOf("</script>"), script.lastIndexOf("</script>"));
  });

  it("the compiled binary serves the same page", { timeout: 120_000 }, async () => {
    const exe = await binary();
    const dir = await tempDir("aether-dashboard-binary-");
    const child = spawn(exe, [
      "worker",
      "--db",
      join(dir.path, "tasks.db"),
      "--handlers",
      join(ROOT, "tests/fixtures/cli/handlers"),
      "--workers",
      "1",
      "--admin",
      "127.0.0.1:0",
      "--log-format",
      "json",
    ], { cwd: dir.path, env: childEnv(), stdio: ["ignore", "ignore", "pipe"] });
    const closed = new Promise<number | null>((resolve) =>
      child.on("close", (code) => resolve(code))
    );
    try {
      const admin = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stderr! }).on("line", (line) => {
          if (line.includes('"worker.started"')) resolve(JSON.parse(line).admin);
        });
        void closed.then((code) => reject(new Error(`the binary exited ${code}`)));
      });
      const response = await fetch(`${admin}/`);
      assert.equal(response.status, 200);
      const nonce = /script-src 'nonce-([^']+)'/.exec(
        response.headers.get("content-security-policy") ?? "",
      )?.[1];
      assert.ok(nonce);
      assert.equal(await response.text(), dashboardPage(nonce));
    } finally {
      process.kill(child.pid!, "SIGTERM");
      assert.equal(await closed, 0);
      await dir.remove();
    }
  });
});
