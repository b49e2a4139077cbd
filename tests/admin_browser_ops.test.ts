/**
 * The dashboard's everyday operations in headless Chromium (Debian's `/usr/bin/chromium`, driven
 * by playwright-core) against a real admin server: search by id prefix, a deep link that
 * survives a reload, a bulk retry of 500 failed tasks, a delete, keyboard use and a phone-sized
 * screen.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { describe, it } from "node:test";
import { chromium, type Page } from "playwright-core";
import { AdminServer } from "../src/admin/server.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import type { TaskRecord } from "../src/task.ts";
import { makeTask } from "./_helpers.ts";
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS } from "./_browser.ts";

const TOKEN = "browser-ops-token-0123456789";
const runtime = "Bun" in globalThis ? "Bun" : "Deno";

/** The sizes of an element the phone check reads. */
interface Box {
  scrollWidth: number;
  clientWidth: number;
}

describe("admin dashboard operations in headless Chromium", () => {
  it(
    `finds by prefix, keeps views in the URL, bulk-retries 500 failed tasks and deletes one (${runtime})`,
    { timeout: 120_000 },
    async () => {
      assert.ok(
        existsSync(CHROMIUM),
        `${CHROMIUM} is missing: install it with apt-get install -y chromium`,
      );
      const store = new InMemoryTaskStore();
      await store.migrate();
      const dispatcher = new TaskDispatcher(store, { registry: new TaskRegistry() });
      const server = new AdminServer({ store, dispatcher, token: TOKEN, port: 0 });
      await server.start();
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const problems: string[] = [];
      let page: Page | undefined;
      const now = Date.now();
      const finished = (overrides: Partial<TaskRecord>): TaskRecord =>
        makeTask({
          createdAt: now,
          runAt: now,
          attempts: 1,
          startedAt: now + 5,
          completedAt: now + 10,
          ...overrides,
        });
      try {
        const failures = Array.from({ length: 500 }, (_, n) =>
          finished({
            name: "charge-card",
            args: { order: n },
            status: "FAILED",
            lastError: { message: "Payment gateway timed out" },
          }));
        const otherFailure = finished({ name: "send-email", status: "FAILED" });
        const done = finished({
          name: "send-email",
          args: { to: "ada@example.com" },
          status: "COMPLETED",
        });
        // A task whose record carries an attempt history (stores that keep one add it).
        const retried = {
          ...finished({ name: "resize-image", status: "COMPLETED", attempts: 2 }),
          attemptHistory: [
            {
              attempt: 1,
              startedAt: now + 5,
              endedAt: now + 7,
              outcome: "retry" as const,
              workerId: "worker-first",
              error: { message: "disk busy" },
            },
            {
              attempt: 2,
              startedAt: now + 8,
              endedAt: now + 10,
              outcome: "completed" as const,
              workerId: "worker-second",
              error: null,
            },
          ],
        };
        await store.insert([...failures, otherFailure, done, retried]);

        page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
        page.setDefaultTimeout(20_000);
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(`console: ${message.text()}`);
        });
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
        await page.goto(server.url!);
        await page.locator("#login").waitFor({ state: "visible" });
        await page.fill("#token-input", TOKEN);
        await page.press("#token-input", "Enter");
        await page.locator('#live[data-state="live"]').waitFor();

        // Search by a unique id prefix (upper case, as pasted): the one task opens, and the
        // URL says so.
        const target = failures[123]!;
        await page.fill("#id-filter", target.id.slice(0, 30).toUpperCase());
        await page.locator(`#detail[data-id="${target.id}"]`).waitFor();
        assert.equal(await page.locator("#tasks tbody tr").count(), 1);
        assert.match(page.url(), new RegExp(`task=${target.id}`));
        assert.match(await page.locator("#detail pre.args").innerText(), /"order": 123/);
        await page.keyboard.press("Escape");
        await page.locator("#detail").waitFor({ state: "hidden" });

        // Search by args text.
        await page.fill("#id-filter", "");
        await page.fill("#args-filter", "ada@example");
        await page.locator(`#tasks tr[data-id="${done.id}"]`).waitFor();
        await page.locator("#tasks tbody tr").nth(1).waitFor({ state: "detached" });

        // A deep link to a filtered view with a task open survives a reload.
        await page.goto(`${server.url}#status=FAILED&name=charge-card&task=${target.id}`);
        await page.reload();
        await page.locator(`#detail[data-id="${target.id}"][data-status="FAILED"]`).waitFor();
        assert.equal(await page.inputValue("#status-filter"), "FAILED");
        assert.equal(await page.inputValue("#name-filter"), "charge-card");
        assert.equal(await page.inputValue("#args-filter"), "");
        await page.locator('#tasks tbody tr[data-status="FAILED"]').first().waitFor();
        const names = await page.locator("#tasks tbody tr td:nth-child(2)").allInnerTexts();
        assert.ok(names.length > 0 && names.every((n) => n === "charge-card"), names.join());
        await page.click("#detail-close");

        // Bulk retry: the confirmation says how many, the server does them all.
        await page.click('[data-bulk="retry"]');
        await page.locator("#confirm[open]").waitFor();
        assert.match(
          await page.locator("#confirm-text").innerText(),
          /^Retry 500 failed tasks named charge-card\?$/,
        );
        await page.click("#confirm-yes");
        await page.locator("#toast", { hasText: "Retried 500 tasks" }).waitFor();
        assert.equal(await dispatcher.count({ status: "FAILED", name: "charge-card" }), 0);
        assert.equal(await dispatcher.count({ status: "PENDING", name: "charge-card" }), 500);
        assert.equal((await store.get(otherFailure.id))?.status, "FAILED", "not in the filter");
        await page.locator("#tasks-empty").waitFor();

        // Cancelling the confirmation changes nothing.
        await page.selectOption("#status-filter", "");
        await page.click('[data-bulk="cancel"]');
        await page.locator("#confirm[open]").waitFor();
        assert.match(await page.locator("#confirm-text").innerText(), /^Cancel 500 waiting tasks/);
        await page.click("#confirm-no");
        await page.locator("#confirm").waitFor({ state: "hidden" });
        assert.equal(await dispatcher.count({ status: "PENDING" }), 500);

        // Delete one finished task from its detail, by keyboard.
        await page.goto(`${server.url}#name=send-email`);
        const link = page.locator(`#tasks tr[data-id="${done.id}"] a.task-link`);
        await link.focus();
        await page.keyboard.press("Enter");
        const detail = page.locator(`#detail[data-id="${done.id}"]`);
        await detail.waitFor();
        await detail.locator('button[data-action="delete"]').click();
        await page.locator("#confirm[open]").waitFor();
        assert.match(await page.locator("#confirm-text").innerText(), /cannot be undone/);
        await page.click("#confirm-yes");
        await page.locator(`#tasks tr[data-id="${done.id}"]`).waitFor({ state: "detached" });
        await detail.waitFor({ state: "hidden" });
        assert.equal(await store.get(done.id), null);

        // The detail of a task with an attempt history lists each attempt, worker and error.
        await page.goto(`${server.url}#task=${retried.id}`);
        const attempts = page.locator(`#detail[data-id="${retried.id}"] table.attempts tbody tr`);
        await attempts.first().waitFor();
        assert.equal(await attempts.count(), 2);
        assert.match(await attempts.nth(0).innerText(), /RETRY[\s\S]*worker-first[\s\S]*disk busy/);
        assert.match(await attempts.nth(1).innerText(), /COMPLETED[\s\S]*worker-second/);

        // A phone-sized screen: nothing wider than the screen, the table still usable.
        await page.setViewportSize({ width: 375, height: 740 });
        await page.goto(`${server.url}#status=PENDING`);
        await page.locator('#tasks tbody tr[data-status="PENDING"]').first().waitFor();
        // Page code (the test's own type check has no DOM library, and the CSP forbids eval).
        const overflow = await page.evaluate(() => {
          const root = (globalThis as unknown as { document: { documentElement: Box } }).document
            .documentElement;
          return root.scrollWidth - root.clientWidth;
        });
        assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: `${ARTIFACTS}dashboard-phone.png`, fullPage: true });

        const unexpected = problems.filter((p) => !/status of 401/.test(p));
        assert.deepEqual(unexpected, [], "no console errors (a CSP violation would show here)");
      } catch (error) {
        await mkdir(ARTIFACTS, { recursive: true });
        await page?.screenshot({ path: `${ARTIFACTS}dashboard-ops-failure.png`, fullPage: true })
          .catch(() => {});
        console.error("Browser console:", problems);
        throw error;
      } finally {
        await browser.close();
        await server.stop();
        await store.close();
      }
    },
  );
});
