/**
 * A handler that does not parse is reported with its file, line and column on both runtimes
 * (Bun's own message has no position: "2 errors building …"), from source and in the binary.
 */

import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { HandlerLoadError, loadHandlers } from "../src/handlers/load.ts";
import { tempDir } from "./_helpers.ts";
import { binary, run } from "./_process.ts";

const ONE_ERROR = [
  'import { defineTask } from "aether-tasks";',
  "export default defineTask({",
  '  name: "broken",',
  "  run: () => { return 1 +; },",
  "});",
  "",
].join("\n");

const TWO_ERRORS = ["let x = 1; let x = 2;", "let y = 1; let y = 2;", "export default x;", ""].join(
  "\n",
);

const isBun = "bun" in process.versions;

async function loadError(dir: string): Promise<HandlerLoadError> {
  const error = await loadHandlers(dir).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof HandlerLoadError, `expected a HandlerLoadError, got ${error}`);
  return error;
}

describe("a handler with a syntax error", () => {
  let root: { path: string; remove: () => Promise<void> };
  before(async () => {
    root = await tempDir("aether-syntax-");
    for (const [folder, text] of [["one", ONE_ERROR], ["two", TWO_ERRORS]] as const) {
      await mkdir(join(root.path, folder));
      await writeFile(join(root.path, folder, "broken.ts"), text);
    }
  });
  after(() => root.remove());

  it("is reported with the file, line and column of the error", async () => {
    const error = await loadError(join(root.path, "one"));
    assert.equal(error.file, join(root.path, "one", "broken.ts"));
    assert.match(error.message, /broken\.ts:4:26\b/);
    assert.match(error.message, /Unexpected ;|Expression expected/);
  });

  it("lists every error Bun found, each with its line and column", async () => {
    const error = await loadError(join(root.path, "two"));
    assert.match(error.message, /broken\.ts:1:16\b/);
    assert.doesNotMatch(error.message, /errors building/);
    // Deno stops at the first error; Bun reports both.
    if (isBun) assert.match(error.message, /2 errors: .*broken\.ts:2:16\b/);
  });

  it("stops the binary's worker with exit 2 and one line naming line and column", {
    timeout: 120_000,
  }, async () => {
    const exe = await binary();
    const result = await run([exe, "worker", "--handlers", "one", "--db", "t.db", "--no-admin"], {
      cwd: root.path,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.match(result.stderr, /broken\.ts:4:26: Unexpected ;/);
  });
});
