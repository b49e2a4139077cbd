/**
 * The dashboard in a real browser: headless Chromium (Debian's `/usr/bin/chromium`, driven by
 * playwright-core) against a real admin server with a token. Fails when Chromium is missing.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { describe, it } from "node:test";
import { chromium, type Page } from "playwright-core";
import { AdminServer } from "../src/admin/server.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { TaskWorker } from "../src/worker.ts";
import { nextEvent } from "./_helpers.ts";
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS } from "./_browser.ts";

const TOKEN = "browser-test-token-0123456789";
const runtime = "Bun" in globalThis ? "Bun" : "Deno";

describe("admin dashboard in headless Chromium", () => {
  it(
    `shows tasks completing live and retries a failed one (${runtime})`,
    { timeout: 120_000 },
    async () => {
      assert.ok(
        existsSync(CHROMIUM),
        `${CHROMIUM} is missing: install it with apt-get install -y chromium`,
      );

      const store = new InMemoryTaskStore();
      await store.migrate();
      const registry = new TaskRegistry();
      let flakyMayPass = false;
      registry.register("send-welcome-email", async ({ to }: { to: string }, ctx) => {
        ctx.log("rendering template for", to);
        await ctx.progress(1);
        return { delivered: true, to };
      });
      registry.register(
        "resize-image",
        ({ width }: { width: number }) => ({ width, height: width / 2 }),
      );
      registry.register("charge-card", (args: { cents: number }, ctx) => {
        ctx.log("charging", args.cents, "cents");
        if (!flakyMayPass) throw new Error("Payment gateway timed out after 3000 ms");
        return { charged: args.cents };
      }, { retryConfig: { maxAttempts: 1 } });

      const signals = new TaskSignals();
      const worker = new TaskWorker(store, {
        registry,
        signals,
        pollInterval: 60_000,
        queues: ["default", "media"],
      });
      worker.start();
      const dispatcher = new TaskDispatcher(store, { registry });
      const server = new AdminServer({ store, dispatcher, signals, token: TOKEN, port: 0 });
      await server.start();
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const problems: string[] = [];
      let page: Page | undefined;
      try {
        // Some history, so the counts, queues and chart have something to show.
        const settled = Promise.all([
          nextEvent(signals.taskCompleted, ({ task }) => task.name === "resize-image"),
        ]);
        await dispatcher.enqueueMany([
          ...["a@example.com", "b@example.com", "c@example.com"].map((to) => ({
            name: "send-welcome-email",
            args: { to },
          })),
          { name: "resize-image", args: { width: 640 }, options: { queue: "media" } },
          {
            name: "send-welcome-email",
            args: { to: "later@example.com" },
            options: { delay: 3_600_000 },
          },
        ]);
        await settled;

        page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
        page.setDefaultTimeout(20_000);
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(`console: ${message.text()}`);
        });
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
        await page.goto(server.url!);

        // The page asks for the token, keeps it for this tab, and never puts it in the URL.
        await page.locator("#login").waitFor({ state: "visible" });
        await page.fill("#token-input", TOKEN);
        await page.press("#token-input", "Enter");
        await page.locator('#live[data-state="live"]').waitFor();
        assert.equal(
          await page.evaluate(() => sessionStorage.getItem("aether-tasks:admin-token")),
          TOKEN,
        );
        assert.ok(!page.url().includes(TOKEN));

        // A task enqueued now shows up completed without a reload.
        const liveId = await dispatcher.enqueue("send-welcome-email", { to: "live@example.com" });
        await page.locator(`#tasks tr[data-id="${liveId}"][data-status="COMPLETED"]`).waitFor();
        await page.locator("#activity li", { hasText: "send-welcome-email" }).first().waitFor();

        // A failed task appears in the failures list; Retry runs it again and it completes.
        const flakyId = await dispatcher.enqueue("charge-card", { cents: 4200 });
        const row = page.locator(`#tasks tr[data-id="${flakyId}"]`);
        await page.locator(`#tasks tr[data-id="${flakyId}"][data-status="FAILED"]`).waitFor();
        await page.locator(`#failures li[data-id="${flakyId}"]`, {
          hasText: "Payment gateway timed out",
        }).waitFor();
        flakyMayPass = true;
        await row.locator('button[data-action="retry"]').click();
        await page.locator(`#tasks tr[data-id="${flakyId}"][data-status="COMPLETED"]`).waitFor();
        assert.equal((await store.get(flakyId))?.status, "COMPLETED");

        // The detail view shows the arguments, result, attempts and log lines.
        await row.locator("a.task-link").click();
        const detail = page.locator(`#detail[data-id="${flakyId}"][data-status="COMPLETED"]`);
        await detail.waitFor();
        assert.match(await detail.locator("pre.args").innerText(), /"cents": 4200/);
        assert.match(await detail.locator("pre.result").innerText(), /"charged": 4200/);
        assert.match(await detail.locator("pre.logs").innerText(), /charging 4200 cents/);

        // Queue control: Pause stops every worker claiming from the queue; Resume undoes it.
        const media = page.locator('#queue-control tr[data-queue="media"]');
        await media.locator('button[data-action="pause"]').click();
        await media.locator('button[data-action="resume"]').waitFor();
        assert.equal((await store.listQueues()).find((q) => q.name === "media")?.paused, true);
        await media.locator('button[data-action="resume"]').click();
        await media.locator('button[data-action="pause"]').waitFor();
        assert.equal((await store.listQueues()).find((q) => q.name === "media")?.paused, false);
        // The schedules panel shows a schedule with its next run.
        await dispatcher.schedule("nightly-resize", {
          task: "resize-image",
          cron: "0 3 * * *",
          args: { width: 320 },
        });
        // A schedule is no task event, so nothing tells the page to refresh: reload it.
        await page.reload();
        await page.locator('#schedules tr[data-schedule="nightly-resize"]').waitFor();

        // Counts by status come from the store.
        const completedCard = page.locator('#counts .card[data-status="COMPLETED"] .value');
        assert.equal(
          await completedCard.innerText(),
          String((await store.stats()).byStatus.COMPLETED),
        );

        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: `${ARTIFACTS}dashboard-detail.png` });
        await page.keyboard.press("Escape");
        await detail.waitFor({ state: "hidden" });
        await page.locator("#toast").waitFor({ state: "hidden" });
        await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });

        // The one expected error: the first API call, made before the token was entered.
        const unexpected = problems.filter((p) => !/status of 401/.test(p));
        assert.deepEqual(unexpected, [], "no console errors (a CSP violation would show here)");
        assert.ok(
          problems.length <= 1,
          `one refused call before the token was given: ${problems.join("; ")}`,
        );
      } catch (error) {
        // What the page showed when it went wrong, for whoever reads the CI log.
        await mkdir(ARTIFACTS, { recursive: true });
        await page?.screenshot({ path: `${ARTIFACTS}dashboard-failure.png`, fullPage: true })
          .catch(() => {});
        console.error("Browser console:", problems);
        throw error;
      } finally {
        await browser.close();
        await server.stop();
        await worker.stop({ graceMillis: 0 });
        await store.close();
      }
    },
  );
});
