/**
 * Handlers that import npm packages: a package installed in a `node_modules` folder beside the
 * handlers folder (here a tiny local one, no network) resolves from the handler's directory in
 * the binary and from source; `import "valibot"` works in the binary with nothing installed (the
 * binary serves its own copy) and from source once installed beside the handlers.
 */

import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { tempDir } from "./_helpers.ts";
import { binary, CLI_FROM_SOURCE, ROOT, run, start } from "./_process.ts";

const CLI = CLI_FROM_SOURCE["bun" in process.versions ? "bun" : "deno"];
const TEST_TIMEOUT = { timeout: 120_000 };

const HANDLER = `import { shout } from "tiny-pkg";
import * as valibot from "valibot";
import { defineTask } from "aether-tasks";

export default defineTask({
  name: "shout",
  args: valibot.object({ text: valibot.string() }),
  run: ({ text }) => shout(text),
});
`;

/** A folder with `handlers/shout.ts` and `node_modules/tiny-pkg`, as `npm install` leaves it. */
async function project(dir: string, options: { valibot: boolean }): Promise<void> {
  const pkg = join(dir, "node_modules", "tiny-pkg");
  await mkdir(pkg, { recursive: true });
  await writeFile(
    join(pkg, "package.json"),
    JSON.stringify({ name: "tiny-pkg", version: "1.0.0", type: "module", exports: "./index.js" }),
  );
  await writeFile(join(pkg, "index.js"), "export const shout = (s) => `${s.toUpperCase()}!`;\n");
  if (options.valibot) {
    await symlink(join(ROOT, "node_modules", "valibot"), join(dir, "node_modules", "valibot"));
  }
  await mkdir(join(dir, "handlers"));
  await writeFile(join(dir, "handlers", "shout.ts"), HANDLER);
}

/** Runs a worker (its pool of Workers) and `enqueue --wait`; returns the result printed. */
async function shoutThroughWorker(cli: readonly string[], cwd: string): Promise<string> {
  const common = ["--handlers", "handlers", "--db", "tasks.db"];
  const worker = start([...cli, "worker", ...common, "--no-admin", "--poll-interval", "20ms"], {
    cwd,
  });
  try {
    const done = await run(
      [...cli, "enqueue", "shout", '{"text":"hi"}', ...common, "--wait", "--wait-timeout", "60s"],
      { cwd },
    );
    assert.equal(done.code, 0, done.stderr);
    return done.stdout.trim();
  } finally {
    const stopped = await worker.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  }
}

describe("a handler that imports npm packages", () => {
  let root: { path: string; remove: () => Promise<void> };
  before(async () => {
    root = await tempDir("aether-packages-");
  });
  after(() => root.remove());

  it(
    "runs in the binary with node_modules beside it; valibot needs no install",
    TEST_TIMEOUT,
    async () => {
      const dir = join(root.path, "binary");
      await project(dir, { valibot: false });
      const exe = await binary();
      assert.equal(await shoutThroughWorker([exe], dir), '"HI!"');
    },
  );

  it("runs from source with the packages installed beside the handlers", TEST_TIMEOUT, async () => {
    const dir = join(root.path, "source");
    await project(dir, { valibot: true });
    assert.equal(await shoutThroughWorker(CLI, dir), '"HI!"');
  });

  it("names the missing package when it is not installed", TEST_TIMEOUT, async () => {
    const dir = join(root.path, "missing");
    await mkdir(join(dir, "handlers"), { recursive: true });
    await writeFile(join(dir, "handlers", "shout.ts"), HANDLER);
    const exe = await binary();
    const result = await run([exe, "worker", "--handlers", "handlers", "--no-admin"], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /shout\.ts: the module failed to load: .*'tiny-pkg'/);
  });
});
