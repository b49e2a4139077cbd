/** The `queues` and `schedules` commands and `worker --retention`, run from source. */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { tempDir } from "./_helpers.ts";

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const isBun = "Bun" in globalThis;

function cli(
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("AETHER_")) env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, isBun ? [MAIN, ...args] : ["run", "-A", MAIN, ...args], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (c) => (stdout += c));
    child.stderr!.on("data", (c) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("CLI: queues and schedules", { timeout: 60_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let db: string;
  before(async () => {
    dir = await tempDir();
    db = join(dir.path, "t.db");
    const store = await SqliteTaskStore.open(db);
    const registry = new TaskRegistry();
    registry.register("report", () => null);
    await new TaskDispatcher(store, { registry }).schedule("nightly", {
      task: "report",
      cron: "0 3 * * *",
      timezone: "Europe/Berlin",
    });
    await store.close();
  });
  after(async () => await dir.remove());

  it(
    "queues pause, limit, list and resume write the store every worker reads",
    { timeout: 30_000 },
    async () => {
      assert.equal(
        (await cli(["queues", "pause", "mail", "--db", db], dir.path)).stdout,
        "Queue mail paused\n",
      );
      const limited = await cli([
        "queues",
        "limit",
        "mail",
        "--rate-limit",
        "10/1s",
        "--max-running",
        "3",
        "--db",
        db,
      ], dir.path);
      assert.equal(limited.stdout, "Queue mail: 10/1s, max 3 running\n");
      const listed = await cli(["queues", "list", "--json", "--db", db], dir.path);
      const [mail] = JSON.parse(listed.stdout);
      assert.deepEqual([mail.name, mail.paused, mail.limits.maxRunning, mail.limits.rateLimit], [
        "mail",
        true,
        3,
        { limit: 10, perMillis: 1000 },
      ]);
      assert.equal(
        (await cli(["queues", "resume", "mail", "--db", db], dir.path)).stdout,
        "Queue mail resumed\n",
      );
      const store = await SqliteTaskStore.open(db);
      assert.deepEqual((await store.listQueues()).map((q) => [q.name, q.paused]), [[
        "mail",
        false,
      ]]);
      await store.close();
    },
  );

  it(
    "bad queue commands exit 2 with one line naming the problem",
    { timeout: 30_000 },
    async () => {
      const cases: [string[], RegExp][] = [
        [
          ["queues", "stop", "mail"],
          /the action must be one of list, pause, resume, limit, got "stop"/,
        ],
        [["queues", "pause"], /queues pause needs a QUEUE/],
        [
          ["queues", "limit", "mail", "--rate-limit", "10/0s"],
          /--rate-limit\.per must be a duration of at least 1ms, got "0s"/,
        ],
        [
          ["queues", "limit", "mail", "--max-running=1.5"],
          /--max-running must be an integer >= 0, got "1\.5"/,
        ],
        [["queues", "pause", "bad queue!"], /queue must be 1-128 characters/],
      ];
      for (const [args, message] of cases) {
        const result = await cli([...args, "--db", db], dir.path);
        assert.equal(result.code, 2, args.join(" "));
        assert.match(result.stderr, message);
        assert.equal(result.stderr.trim().split("\n").length, 1);
      }
    },
  );

  it(
    "schedules lists the schedules with their next run; --next previews an expression without a database",
    { timeout: 30_000 },
    async () => {
      const listed = await cli(["schedules", "--json", "--db", db], dir.path);
      const [nightly] = JSON.parse(listed.stdout);
      assert.equal(nightly.id, "nightly");
      assert.ok(nightly.nextRunAt > Date.now());
      const table = await cli(["schedules", "--db", db], dir.path);
      assert.match(
        table.stdout,
        /^ID\s+TASK\s+CRON\s+SOURCE\s+LAST\s+NEXT\nnightly\s+report\s+0 3 \* \* \* \(Europe\/Berlin\)\s+api\s+-/,
      );
      const next = await cli(["schedules", "--next", "3", "0 */6 * * *", "--json"], dir.path);
      const times = JSON.parse(next.stdout) as string[];
      assert.equal(times.length, 3);
      assert.ok(times.every((t) => /T(00|06|12|18):00:00\.000Z$/.test(t)));
      for (
        const [args, message] of [
          [
            ["schedules", "--next", "3", "61 * * * *"],
            /cron "61 \* \* \* \*" is not a valid cron expression/,
          ],
          [
            ["schedules", "--next", "3", "* * * * *", "--timezone", "Mars/Base"],
            /--timezone must be an IANA time zone/,
          ],
          [["schedules", "--next", "0", "* * * * *"], /--next must be an integer from 1 to 1000/],
          [
            ["worker", "--retention", "done=1d", "--print-config"],
            /--retention must be STATUS=DURATION parts/,
          ],
        ] as [string[], RegExp][]
      ) {
        const result = await cli(args, dir.path);
        assert.equal(result.code, 2, args.join(" "));
        assert.match(result.stderr, message);
      }
      const config = await cli([
        "worker",
        "--retention",
        "completed=1d,failed=never",
        "--print-config",
        "--json",
        "--handlers",
        fileURLToPath(new URL("./fixtures/cli/handlers", import.meta.url)),
      ], dir.path);
      assert.deepEqual(JSON.parse(config.stdout).config.retention, {
        COMPLETED: 86_400_000,
        FAILED: null,
        CANCELLED: 604_800_000,
      });
    },
  );
});
