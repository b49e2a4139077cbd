/**
 * The README's port of the original module's guide ("The original module's examples, in
 * TypeScript"): its `ts` blocks, extracted from README.md between the `seed examples` markers,
 * are one program. It runs here in a fresh folder on the runtime running the test (and is type
 * checked under Deno) with small stand-ins for the application's own objects, and must register,
 * enqueue, run, report and manage tasks as the guide says.
 */

import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { tempDir } from "./_helpers.ts";
import { BUN, DENO, ROOT, run } from "./_process.ts";

const START = "<!-- seed examples: tests/seed_examples.test.ts -->";
const END = "<!-- /seed examples -->";

/** The `ts` blocks between the markers, joined in order, importing the checkout's `mod.ts`. */
async function seedProgram(): Promise<string> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  assert.ok(start !== -1 && end > start, "README.md lacks the seed examples markers");
  const blocks = [...readme.slice(start, end).matchAll(/```ts\n([\s\S]*?)\n```/g)].map((m) =>
    m[1]!
  );
  assert.ok(blocks.length >= 6, `expected the guide's sections as blocks, found ${blocks.length}`);
  return blocks.join("\n\n").replace(
    `from "aether-tasks"`,
    `from ${JSON.stringify(join(ROOT, "mod.ts"))}`,
  );
}

/** The application's own objects the examples use, and the checks that follow them. */
const PREAMBLE = `
interface User { email: string; name: string }
const user: User = { email: "ada@example.com", name: "Ada" };
const sent: string[] = [];
const emailService = {
  send(to: string, subject: string, _body: string) {
    sent.push(to + ": " + subject);
    return Promise.resolve({ delivered: true, id: "m-" + sent.length });
  },
};
const templateEngine = {
  render: (template: string, data: Record<string, string>) => "<p>" + template + ", " + data.name + "</p>",
};
const mailed: string[] = [];
const mailService = {
  send(to: string, html: string) {
    mailed.push(to + " " + html);
    return Promise.resolve();
  },
};
`;

const EPILOGUE = `
const templated = new Promise<string>((resolve) => {
  TaskSignals.taskCompleted.connect(({ task }) => {
    if (task.name === "send_templated_email") resolve(task.id);
  });
});
await sendWelcomeEmail(user);
const templatedId = await templated;
const done = await dispatcher.waitFor(taskId, { timeout: 10_000 });
const cancelled = await dispatcher.getTask(delayedId);
console.log("SUMMARY " + JSON.stringify({
  first: { status: done.status, result: done.result, seen: task !== null },
  delayed: cancelled?.status,
  templated: (await dispatcher.getTask(templatedId))?.priority,
  sent,
  mailed,
  failedListed: Array.isArray(failedTasks.tasks),
  retryConfig: retryConfig.maxAttempts,
  memoryStore: (await store.stats()).total,
}));
await worker.stop();
await taskStore.close();
await store.close();
await dbStore.close();
`;

describe("the README's port of the original module's examples", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  before(async () => {
    dir = await tempDir("aether-seed-");
    file = join(dir.path, "seed.ts");
    const program = await seedProgram();
    await writeFile(file, PREAMBLE + program + "\n" + EPILOGUE);
  });
  after(() => dir.remove());

  it("runs as written: registers, enqueues, signals, reports and manages tasks", async () => {
    const runtime = "bun" in process.versions
      ? [BUN, "run", file]
      : [DENO, "run", "-A", "--config", join(ROOT, "deno.json"), file];
    const out = await run(runtime, { cwd: dir.path });
    assert.equal(out.code, 0, out.stderr + out.stdout);
    const line = out.stdout.split("\n").find((l) => l.startsWith("SUMMARY "));
    assert.ok(line, out.stdout);
    const summary = JSON.parse(line.slice("SUMMARY ".length));
    assert.deepEqual(summary.first, {
      status: "COMPLETED",
      result: { success: true, messageId: "m-1" },
      seen: true,
    });
    assert.equal(summary.delayed, "CANCELLED");
    assert.equal(summary.templated, "HIGH");
    assert.deepEqual(summary.sent, ["user@example.com: Welcome!"]);
    assert.deepEqual(summary.mailed, ["ada@example.com <p>welcome, Ada</p>"]);
    assert.equal(summary.failedListed, true);
    assert.equal(summary.retryConfig, 5);
    assert.equal(summary.memoryStore, 0);
    // The signals' listeners and the stats report printed what the guide shows.
    assert.match(out.stdout, /Task \S+ started: send_templated_email/);
    assert.match(out.stdout, /Task \S+ completed/);
    assert.match(out.stdout, /Pending: \d+\n\s+Scheduled: \d+/);
  });

  it(
    "type-checks as written",
    { skip: "bun" in process.versions ? "checked under Deno" : false },
    async () => {
      const out = await run([DENO, "check", "--config", join(ROOT, "deno.json"), file], {
        cwd: ROOT,
      });
      assert.equal(out.code, 0, out.stderr + out.stdout);
    },
  );
});
