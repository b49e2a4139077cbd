/**
 * `enqueue --wait`: `--timeout` is the attempt's limit, `--wait-timeout` the wait's. A delayed
 * task no longer keeps `--wait` waiting for ever when a limit is given. The CLI runs from source
 * on the runtime under test.
 */

import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import type { TaskRecord } from "../src/task.ts";
import { tempDir } from "./_helpers.ts";
import { CLI_FROM_SOURCE, ROOT, run } from "./_process.ts";

const CLI = CLI_FROM_SOURCE["bun" in process.versions ? "bun" : "deno"];
const HANDLERS = join(ROOT, "tests/fixtures/cli/handlers");
const TEST_TIMEOUT = { timeout: 30_000 };

describe("enqueue --wait --wait-timeout", () => {
  let dir: { path: string; remove: () => Promise<void> };
  const cli = (...args: string[]) =>
    run([...CLI, ...args, "--handlers", HANDLERS, "--db", "tasks.db"], { cwd: dir.path });
  before(async () => {
    dir = await tempDir("aether-wait-");
  });
  after(() => dir.remove());

  it(
    "gives up on a delayed task after the wait's limit, exit 1, and the task stays queued",
    TEST_TIMEOUT,
    async () => {
      const waited = await cli(
        "enqueue",
        "add",
        '{"a":1,"b":2}',
        "--delay",
        "1h",
        "--timeout",
        "2s",
        "--wait",
        "--wait-timeout",
        "100ms",
        "--json",
      );
      assert.equal(waited.code, 1, waited.stderr);
      const task = JSON.parse(waited.stdout) as TaskRecord;
      assert.equal(task.status, "SCHEDULED");
      assert.equal(task.timeoutMillis, 2000, "--timeout is still the attempt's limit");
      assert.match(
        waited.stderr,
        /is still SCHEDULED after 100ms \(--wait-timeout\); it stays queued/,
      );
      const got = await run([...CLI, "get", task.id, "--db", "tasks.db", "--json"], {
        cwd: dir.path,
      });
      assert.equal(got.code, 0, got.stderr);
      assert.equal((JSON.parse(got.stdout) as TaskRecord).status, "SCHEDULED");
    },
  );

  it(
    "is refused without --wait, and a bare number is refused, before anything is written",
    TEST_TIMEOUT,
    async () => {
      const fresh = await tempDir("aether-wait-fresh-");
      try {
        const cliIn = (...args: string[]) =>
          run([...CLI, ...args, "--handlers", HANDLERS, "--db", "tasks.db"], { cwd: fresh.path });
        const noWait = await cliIn("enqueue", "add", '{"a":1,"b":2}', "--wait-timeout", "1s");
        assert.equal(noWait.code, 2);
        assert.equal(
          noWait.stderr,
          "aether-tasks: enqueue: --wait-timeout limits --wait; add --wait\n",
        );
        const bare = await cliIn(
          "enqueue",
          "add",
          '{"a":1,"b":2}',
          "--wait",
          "--wait-timeout",
          "3",
        );
        assert.equal(bare.code, 2);
        assert.match(
          bare.stderr,
          /^aether-tasks: --wait-timeout must be a duration .*got "3"; add a unit/,
        );
        assert.equal(bare.stderr.split("\n").length, 2, "one line");
        await assert.rejects(stat(join(fresh.path, "tasks.db")), { code: "ENOENT" });
      } finally {
        await fresh.remove();
      }
    },
  );
});
