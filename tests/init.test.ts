/**
 * `aether-tasks init [DIR]`: scaffolds a handlers project whose example handler type-checks with
 * `deno check` against the written declarations (and a wrong handler does not), runs with the
 * worker from source and in the binary, and never overwrites a file.
 */

import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { tempDir } from "./_helpers.ts";
import { binary, CLI_FROM_SOURCE, DENO, run, start } from "./_process.ts";

const CLI = CLI_FROM_SOURCE["bun" in process.versions ? "bun" : "deno"];
const TEST_TIMEOUT = { timeout: 120_000 };
const FILES = [
  "deno.json",
  "handlers/hello.ts",
  "tsconfig.json",
  "types/aether-tasks.d.ts",
  "types/valibot.d.mts",
];

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...await listFiles(dir, path));
    else found.push(path);
  }
  return found.sort();
}

/** Runs a worker on `handlers` and enqueues `name` with `--wait`; returns the result printed. */
async function runThroughWorker(
  cli: readonly string[],
  cwd: string,
  name: string,
  args: string,
): Promise<string> {
  const common = ["--handlers", "handlers", "--db", "tasks.db"];
  const worker = start([...cli, "worker", ...common, "--no-admin", "--poll-interval", "20ms"], {
    cwd,
  });
  try {
    const done = await run([
      ...cli,
      "enqueue",
      name,
      args,
      ...common,
      "--wait",
      "--wait-timeout",
      "60s",
    ], { cwd });
    assert.equal(done.code, 0, done.stderr);
    return done.stdout.trim();
  } finally {
    const stopped = await worker.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  }
}

describe("aether-tasks init", () => {
  let root: { path: string; remove: () => Promise<void> };
  let project: string;
  before(async () => {
    root = await tempDir("aether-init-");
    project = join(root.path, "my-tasks");
  });
  after(() => root.remove());

  it(
    "creates the folder with an example handler, declarations, deno.json and tsconfig.json",
    TEST_TIMEOUT,
    async () => {
      const result = await run([...CLI, "init", "my-tasks"], { cwd: root.path });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /created my-tasks\/handlers\/hello\.ts/);
      assert.deepEqual(await listFiles(project), FILES);
      const tsconfig = JSON.parse(await readFile(join(project, "tsconfig.json"), "utf8"));
      assert.deepEqual(tsconfig.compilerOptions.paths["aether-tasks"], [
        "./types/aether-tasks.d.ts",
      ]);
    },
  );

  it(
    "writes a handler that type-checks with deno check, and a wrong one is caught",
    TEST_TIMEOUT,
    async () => {
      const checked = await run([DENO, "check", "handlers/"], { cwd: project });
      assert.equal(checked.code, 0, checked.stderr);
      await writeFile(
        join(project, "handlers", "wrong.ts"),
        'import { defineTask, v } from "aether-tasks";\n' +
          'export default defineTask({ name: "wrong", args: v.object({ n: v.number() }), ' +
          "run: ({ n }) => n.toUpperCase() });\n",
      );
      try {
        const wrong = await run([DENO, "check", "handlers/"], { cwd: project });
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /Property 'toUpperCase' does not exist on type 'number'/);
      } finally {
        await rm(join(project, "handlers", "wrong.ts"));
      }
    },
  );

  it("writes a handler the worker runs from source", TEST_TIMEOUT, async () => {
    const result = await runThroughWorker(CLI, project, "hello", '{"name":"Ada"}');
    assert.equal(JSON.parse(result).greeting, "Hello, Ada!");
  });

  it(
    "writes the same files from the binary, and the binary's worker runs the handler",
    TEST_TIMEOUT,
    async () => {
      const exe = await binary();
      const fromBinary = join(root.path, "from-binary");
      const made = await run([exe, "init", fromBinary], { cwd: root.path });
      assert.equal(made.code, 0, made.stderr);
      for (const file of FILES) {
        assert.equal(
          await readFile(join(fromBinary, file), "utf8"),
          await readFile(join(project, file), "utf8"),
          file,
        );
      }
      const result = await runThroughWorker([exe], project, "hello", '{"name":"Grace"}');
      assert.equal(JSON.parse(result).greeting, "Hello, Grace!");
    },
  );

  it("refuses to overwrite: exit 2, one line, nothing written", TEST_TIMEOUT, async () => {
    const hello = join(project, "handlers", "hello.ts");
    await writeFile(hello, "// mine\n");
    const again = await run([...CLI, "init", "my-tasks"], { cwd: root.path });
    assert.equal(again.code, 2);
    assert.equal(
      again.stderr,
      "aether-tasks: init: my-tasks/handlers/hello.ts already exists; nothing was written (init never overwrites)\n",
    );
    assert.equal(await readFile(hello, "utf8"), "// mine\n");

    // One file in the way is enough: the others are not written either.
    const partial = join(root.path, "partial");
    await mkdir(partial);
    await writeFile(join(partial, "tsconfig.json"), "{}\n");
    const refused = await run([...CLI, "init", "partial"], { cwd: root.path });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /partial\/tsconfig\.json already exists/);
    assert.deepEqual(await listFiles(partial), ["tsconfig.json"]);
  });
});
