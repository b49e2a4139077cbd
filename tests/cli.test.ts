/**
 * The `aether-tasks` executable end to end: built with `bun build --compile`, copied with a
 * handlers folder into an empty folder (no node_modules), started, fed with the CLI, stopped
 * with signals and restarted; every failing invocation with its exit code and message; and the
 * same CLI from source under Bun and Deno.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import type { TaskStats } from "../src/store/store.ts";
import type { TaskRecord } from "../src/task.ts";
import { BINARY, BUN, childEnv, DENO, ROOT, run } from "./_process.ts";

const FIXTURE_HANDLERS = join(ROOT, "tests/fixtures/cli/handlers");
const VERSION = (await import("../package.json", { with: { type: "json" } })).default.version;

/** Longest wait for one awaited event (a log line, an exit) before a test fails. */
const EVENT_TIMEOUT_MILLIS = 20_000;
/** Per test, for Bun (whose default is 5 s). */
const TEST_TIMEOUT = { timeout: 60_000 };

// ---- processes ----

/** A JSON log line of `worker --log-format json`. */
interface LogLine {
  level: string;
  event: string;
  msg: string;
  taskId?: string;
  admin?: string | null;
  [key: string]: unknown;
}

/** A worker process whose JSON log lines on stderr can be awaited. */
class WorkerProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  readonly #pid: number;
  #waiters = new Set<() => void>();
  #exit: { code: number | null; signal: string | null } | undefined;

  constructor(command: readonly string[], cwd: string, env: Record<string, string> = childEnv()) {
    const child = spawn(command[0]!, [...command.slice(1), "--log-format", "json"], {
      cwd,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.#pid = child.pid!;
    createInterface({ input: child.stderr! }).on("line", (text) => {
      try {
        this.lines.push(JSON.parse(text) as LogLine);
      } catch {
        this.lines.push({ level: "raw", event: "raw", msg: text });
      }
      for (const wake of this.#waiters) wake();
    });
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.#exit = { code, signal };
        for (const wake of this.#waiters) wake();
        resolve(this.#exit);
      });
    });
  }

  /** Resolves with the first log line matching `predicate`, once it is printed. */
  waitFor(predicate: (line: LogLine) => boolean, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find(predicate);
        if (found || this.#exit) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          if (found) resolve(found);
          else {reject(
              new Error(
                `The worker exited (${JSON.stringify(this.#exit)}) before ${what}:\n${this.log()}`,
              ),
            );}
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`No ${what} within ${EVENT_TIMEOUT_MILLIS} ms:\n${this.log()}`));
      }, EVENT_TIMEOUT_MILLIS);
      this.#waiters.add(check);
      check();
    });
  }

  started(): Promise<LogLine> {
    return this.waitFor((l) => l.event === "worker.started", "worker.started");
  }

  /** Sends `signal` by process id (Deno's `child.kill` sends only the first signal). */
  signal(signal: "SIGTERM" | "SIGINT"): void {
    process.kill(this.#pid, signal);
  }

  /** Resolves with the exit, or rejects after `millis`. */
  exit(millis = EVENT_TIMEOUT_MILLIS): Promise<{ code: number | null; signal: string | null }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`The worker did not exit within ${millis} ms:\n${this.log()}`)),
        millis,
      );
    });
    return Promise.race([this.exited, late]).finally(() => clearTimeout(timer));
  }

  /** Ends the process if it still runs (after a failed test). */
  kill(): void {
    if (!this.#exit) {
      try {
        process.kill(this.#pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }

  log(): string {
    return this.lines.map((l) => l.msg).join("\n");
  }
}

// ---- the binary ----

async function newestMtime(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = 0;
  for (const entry of await readdir(path)) {
    newest = Math.max(newest, await newestMtime(join(path, entry)));
  }
  return newest;
}

let building: Promise<string> | undefined;

/** `dist/aether-tasks`, rebuilt unless it is newer than every source file. */
function binary(): Promise<string> {
  building ??= (async () => {
    const built = await stat(BINARY).then((s) => s.mtimeMs, () => 0);
    const sources = Math.max(
      ...(await Promise.all(
        ["src", "scripts/build.ts", "package.json"].map((p) => newestMtime(join(ROOT, p))),
      )),
    );
    if (built <= sources) {
      // Under Deno too: building needs Bun.
      const result = await run([BUN, "scripts/build.ts"], { cwd: ROOT });
      assert.equal(result.code, 0, `build failed:\n${result.stdout}${result.stderr}`);
    }
    return BINARY;
  })();
  return building;
}

/** An empty temporary folder. */
async function tempFolder(prefix: string): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix));
}

async function copyFolder(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from)) await copyFile(join(from, entry), join(to, entry));
}

describe("the aether-tasks binary in an empty folder", () => {
  let dir: string;
  let exe: string;
  const workers: WorkerProcess[] = [];
  const cli = (
    args: readonly string[],
    options: { env?: Record<string, string>; input?: string } = {},
  ) => run([exe, ...args], { cwd: dir, ...options });
  const cliJson = async <T>(args: readonly string[]): Promise<T> => {
    const result = await cli([...args, "--json"]);
    assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };
  const startWorker = (args: readonly string[] = []) => {
    const worker = new WorkerProcess([
      exe,
      "worker",
      "--no-admin",
      "--poll-interval",
      "50ms",
      ...args,
    ], dir);
    workers.push(worker);
    return worker;
  };

  before(async () => {
    dir = await tempFolder("aether-cli-");
  });
  after(async () => {
    for (const worker of workers) worker.kill();
    await Promise.all(workers.map((w) => w.exited));
    await rm(dir, { recursive: true, force: true });
  });

  it("is built (or reused when fresh) and copied with a handlers folder and nothing else", {
    timeout: 120_000,
  }, async () => {
    const built = await binary();
    exe = join(dir, "aether-tasks");
    await copyFile(built, exe);
    await chmod(exe, 0o755);
    await copyFolder(FIXTURE_HANDLERS, join(dir, "handlers"));
    assert.deepEqual((await readdir(dir)).sort(), ["aether-tasks", "handlers"]);
  });

  it("prints its version and the schema version", TEST_TIMEOUT, async () => {
    const plain = await cli(["--version"]);
    assert.equal(plain.code, 0);
    assert.match(
      plain.stdout,
      new RegExp(`^aether-tasks ${VERSION.replaceAll(".", "\\.")} \\(schema \\d+, bun `),
    );
    const info = await cliJson<{ version: string; schemaVersion: number }>(["version"]);
    assert.equal(info.version, VERSION);
    assert.ok(Number.isInteger(info.schemaVersion) && info.schemaVersion >= 1);
  });

  it(
    "a worker runs tasks enqueued with the CLI; --wait prints the result and exits 0, or 1 on failure",
    TEST_TIMEOUT,
    async () => {
      const worker = new WorkerProcess([
        exe,
        "worker",
        "--admin",
        "127.0.0.1:0",
        "--poll-interval",
        "50ms",
      ], dir);
      workers.push(worker);
      const started = await worker.started();
      assert.ok(
        await exists(join(dir, "data/tasks.db")),
        "the database and its folder were created",
      );

      const health = await fetch(`${started.admin}/healthz`);
      assert.equal(health.status, 200, "the admin endpoint answers");
      await health.body?.cancel();

      const added = await cli(["enqueue", "add", '{"a":2,"b":3}', "--wait"]);
      assert.equal(added.code, 0, added.stderr);
      assert.equal(added.stdout, "5\n");

      const failed = await cli(["enqueue", "always-fail", "--wait"]);
      assert.equal(failed.code, 1);
      assert.equal(failed.stdout, "");
      assert.match(failed.stderr, /FAILED after 2 attempts: boom/);

      const id =
        (await cli(["enqueue", "add", '{"a":1,"b":1}', "--priority", "high", "--queue", "default"]))
          .stdout.trim();
      assert.match(id, /^[0-9a-f-]{36}$/);
      await worker.waitFor(
        (l) => l.event === "task.completed" && l.taskId === id,
        `completion of ${id}`,
      );
      const task = await cliJson<TaskRecord>(["get", id]);
      assert.equal(task.status, "COMPLETED");
      assert.equal(task.priority, "HIGH");
      assert.equal(task.result, 2);

      const stats = await cliJson<TaskStats>(["stats"]);
      assert.equal(stats.byStatus.COMPLETED, 2);
      assert.equal(stats.byStatus.FAILED, 1);
      assert.equal(stats.total, 3);
      const table = await cli(["stats"]);
      assert.match(table.stdout, /^QUEUE\s+PENDING\s+SCHEDULED\s+PROCESSING\s+COMPLETED/);
      assert.ok(!table.stdout.includes("\x1b["), "no colors when stdout is not a terminal");

      // The log has one line per life-cycle event.
      const events = worker.lines.map((l) => l.event);
      for (const event of ["task.started", "task.completed", "task.retrying", "task.failed"]) {
        assert.ok(events.includes(event), `logged ${event}`);
      }
      const retrying = worker.lines.find((l) => l.event === "task.retrying")!;
      assert.equal(typeof retrying.nextRunAt, "string");
      assert.equal(
        typeof worker.lines.find((l) => l.event === "task.completed")!.durationMs,
        "number",
      );

      worker.signal("SIGTERM");
      assert.equal((await worker.exit()).code, 0);
    },
  );

  it(
    "SIGTERM lets a running task finish within the grace, then exits 0",
    TEST_TIMEOUT,
    async () => {
      const worker = startWorker(["--grace", "10s"]);
      await worker.started();
      const id = (await cli(["enqueue", "sleep", '{"ms":700}'])).stdout.trim();
      await worker.waitFor(
        (l) => l.event === "task.started" && l.taskId === id,
        "the sleep task starting",
      );
      const signalled = Date.now();
      worker.signal("SIGTERM");
      const exit = await worker.exit();
      assert.equal(exit.code, 0);
      assert.ok(Date.now() - signalled < 10_000, "within the grace");
      assert.ok(worker.lines.some((l) => l.event === "worker.stopping"));
      assert.ok(worker.lines.some((l) => l.event === "task.completed" && l.taskId === id));
      assert.equal(worker.lines.at(-1)?.event, "worker.stopped");
      assert.equal((await cliJson<TaskRecord>(["get", id])).status, "COMPLETED");
    },
  );

  it(
    "a task still running after the grace is given back, and a restarted worker finishes it: nothing is lost",
    TEST_TIMEOUT,
    async () => {
      const gate = join(dir, "gate-1");
      const ndjson = Array.from(
        { length: 30 },
        (_, i) => JSON.stringify({ name: "add", args: { a: i, b: 1 } }),
      ).join("\n");
      await writeFile(join(dir, "many.ndjson"), ndjson);
      const before = await cliJson<TaskStats>(["stats"]);

      const first = startWorker(["--grace", "300ms", "--concurrency", "2"]);
      await first.started();
      const held = (await cli(["enqueue", "wait-for-file", JSON.stringify({ path: gate })])).stdout
        .trim();
      await first.waitFor(
        (l) => l.event === "task.started" && l.taskId === held,
        "the held task starting",
      );
      const imported = await cli(["enqueue", "--file", "many.ndjson"]);
      assert.equal(imported.code, 0, imported.stderr);
      first.signal("SIGTERM");
      assert.equal((await first.exit()).code, 0);

      const released = await cliJson<TaskRecord>(["get", held]);
      assert.equal(released.status, "PENDING", "given back, ready for another worker at once");
      assert.equal(released.attempts, 0, "the interrupted attempt is not counted");

      await writeFile(gate, "");
      const second = startWorker();
      await second.waitFor(
        (l) => l.event === "task.completed" && l.taskId === held,
        "the held task completing",
      );
      await second.waitFor(
        () =>
          second.lines.filter((l) => l.event === "task.completed").length +
              first.lines.filter((l) => l.event === "task.completed").length === 31,
        "31 completions across both workers",
      );
      second.signal("SIGTERM");
      assert.equal((await second.exit()).code, 0);
      const after = await cliJson<TaskStats>(["stats"]);
      assert.equal(after.total, before.total + 31, "every task is still there");
      assert.equal(
        after.byStatus.COMPLETED,
        before.byStatus.COMPLETED + 31,
        JSON.stringify(after.byStatus),
      );
    },
  );

  it("a second SIGTERM gives running tasks back at once", TEST_TIMEOUT, async () => {
    const worker = startWorker(["--grace", "60s"]);
    await worker.started();
    const held =
      (await cli(["enqueue", "wait-for-file", JSON.stringify({ path: join(dir, "never") })])).stdout
        .trim();
    await worker.waitFor(
      (l) => l.event === "task.started" && l.taskId === held,
      "the held task starting",
    );
    worker.signal("SIGTERM");
    await worker.waitFor((l) => l.event === "worker.stopping", "worker.stopping");
    const second = Date.now();
    worker.signal("SIGTERM");
    assert.equal((await worker.exit(5_000)).code, 0);
    assert.ok(Date.now() - second < 5_000, "well before the 60 s grace");
    const task = await cliJson<TaskRecord>(["get", held]);
    assert.equal(task.status, "PENDING");
    assert.equal(
      (await cli(["cancel", held])).code,
      0,
      "tidy up: nothing waits on the missing file",
    );
  });

  it(
    "enqueue --file writes the good lines and reports each bad one with its line number",
    TEST_TIMEOUT,
    async () => {
      const lines = [
        JSON.stringify({ name: "add", args: { a: 1, b: 2 } }),
        "{not json",
        JSON.stringify({ name: "ad", args: { a: 1, b: 2 } }),
        JSON.stringify({ name: "add", args: { a: "x", b: 2 } }),
        "",
        JSON.stringify({ name: "add", args: { a: 1, b: 2 }, prio: "high" }),
        JSON.stringify({
          name: "add",
          args: { a: 1, b: 2 },
          priority: "high",
          delay: "1h",
          maxAttempts: 5,
        }),
        JSON.stringify({ name: "sleep", args: { ms: 1 }, timeout: "nope" }),
      ];
      await writeFile(join(dir, "mixed.ndjson"), lines.join("\n") + "\n");
      const before = await cliJson<TaskStats>(["stats"]);

      const result = await cli(["enqueue", "--file", "mixed.ndjson", "--queue", "imports"]);
      assert.equal(result.code, 1, "some lines were rejected");
      assert.equal(result.stdout, "Accepted 2 lines, rejected 5\n");
      const rejected = result.stderr.trim().split("\n");
      assert.equal(rejected.length, 5);
      assert.match(rejected[0]!, /line 2: not valid JSON/);
      assert.match(rejected[1]!, /line 3: Unknown task "ad"; did you mean "add"\?/);
      assert.match(rejected[2]!, /line 4: Invalid arguments for task "add": args\.a/);
      assert.match(rejected[3]!, /line 6: Unknown field "prio"; did you mean "priority"\?/);
      assert.match(rejected[4]!, /line 8: timeout must be a duration/);

      const after = await cliJson<TaskStats>(["stats"]);
      assert.equal(after.total, before.total + 2, "only the good lines were written");
      const page = await cliJson<{ tasks: TaskRecord[] }>(["list", "--queue", "imports"]);
      assert.deepEqual(page.tasks.map((t) => [t.priority, t.status, t.maxAttempts]).sort(), [
        ["HIGH", "SCHEDULED", 5],
        ["NORMAL", "PENDING", 3],
      ]);

      // --json: one line per non-blank input line, in input order, with the id or the error.
      const json = await cli(["enqueue", "--file", "-", "--json"], { input: lines.join("\n") });
      assert.equal(json.code, 1);
      const results = json.stdout.trimEnd().split("\n").map((l) =>
        JSON.parse(l) as { line: number; id?: string; error?: string }
      );
      assert.deepEqual(results.map((r) => r.line), [1, 2, 3, 4, 6, 7, 8]);
      assert.deepEqual(results.map((r) => (r.id ? "id" : "error")), [
        "id",
        "error",
        "error",
        "error",
        "error",
        "id",
        "error",
      ]);
      assert.equal(results[2]!.error, 'Unknown task "ad"; did you mean "add"?');
      for (const { id } of results.filter((r) => r.id)) {
        assert.deepEqual((await cliJson<TaskRecord>(["get", id!])).args, { a: 1, b: 2 });
      }
    },
  );

  it(
    "get, cancel, retry and delete take a unique id prefix; an ambiguous one lists candidates",
    TEST_TIMEOUT,
    async () => {
      const lines = Array.from(
        { length: 3 },
        (_, n) => JSON.stringify({ name: "add", args: { a: n, b: 0 }, delay: "1h" }),
      ).join("\n");
      const imported = await cli(["enqueue", "--file", "-", "--json"], { input: lines });
      assert.equal(imported.code, 0, imported.stderr);
      const ids = imported.stdout.trimEnd().split("\n").map((l) =>
        (JSON.parse(l) as { id: string }).id
      );
      const [first, second] = ids as [string, string];
      let shared = 0;
      while (first[shared] === second[shared]) shared++;
      const ambiguous = first.slice(0, shared);
      const unique = first.slice(0, shared + 1);

      const got = await cliJson<TaskRecord>(["get", unique.toUpperCase()]);
      assert.equal(got.id, first, "a unique prefix, in any case, names the task");

      for (const command of ["get", "cancel", "retry", "delete"]) {
        const result = await cli([command, ambiguous]);
        assert.equal(result.code, 2, `${command} ${ambiguous}: ${result.stderr}`);
        assert.equal(result.stdout, "");
        const message = result.stderr.trimEnd().split("\n");
        assert.equal(message.length, 1, `one line: ${result.stderr}`);
        assert.ok(message[0]!.includes(ambiguous), message[0]);
        assert.ok(message[0]!.includes(first) || message[0]!.includes(second), "lists candidates");

        const none = await cli([command, "ffffffff-ffff"]);
        assert.equal(none.code, 1, `${command} with no match: ${none.stderr}`);
        assert.match(none.stderr, /^aether-tasks: No task with id "ffffffff-ffff"/);
      }

      const deleteWaiting = await cli(["delete", unique]);
      assert.equal(deleteWaiting.code, 1, "a waiting task is not deleted");
      assert.match(deleteWaiting.stderr, /SCHEDULED/);
      assert.equal((await cli(["cancel", unique])).stdout, `Cancelled task ${first}\n`);
      assert.equal((await cli(["retry", unique])).stdout, `Task ${first} is PENDING again\n`);
      assert.equal((await cli(["cancel", unique])).code, 0);
      assert.deepEqual(await cliJson(["delete", unique]), { deleted: first });
      assert.equal((await cli(["get", first])).code, 1, "deleted");
      for (const id of ids.slice(1)) assert.equal((await cli(["cancel", id])).code, 0, "tidy up");
    },
  );

  it("list, get, cancel, retry and prune manage tasks", TEST_TIMEOUT, async () => {
    const later = (await cli(["enqueue", "add", '{"a":1,"b":2}', "--delay", "1h30m"])).stdout
      .trim();
    const scheduled = await cliJson<TaskRecord>(["get", later]);
    assert.equal(scheduled.status, "SCHEDULED");
    assert.ok(scheduled.runAt - scheduled.createdAt === 90 * 60_000);

    const fields = await cli(["get", later]);
    assert.match(fields.stdout, /^id\s+[0-9a-f-]{36}\nname\s+add\n/);

    assert.equal((await cli(["cancel", later])).stdout, `Cancelled task ${later}\n`);
    const again = await cli(["cancel", later]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^aether-tasks: Cannot cancel task .* it is CANCELLED/);

    const page = await cliJson<{ tasks: TaskRecord[]; nextCursor: string | null }>([
      "list",
      "--status",
      "cancelled",
      "--limit",
      "1",
    ]);
    assert.equal(page.tasks[0]?.id, later);
    const table = await cli(["list", "--status", "FAILED"]);
    assert.match(table.stdout, /^ID\s+NAME\s+QUEUE\s+STATUS/);
    assert.match(table.stdout, /always-fail/);

    assert.equal((await cli(["retry", later])).code, 0);
    assert.equal((await cliJson<TaskRecord>(["get", later])).status, "PENDING");
    const retried = await cliJson<{ retried: number }>([
      "retry",
      "--all-failed",
      "--name",
      "always-fail",
    ]);
    assert.equal(retried.retried, 1);
    assert.equal((await cliJson<TaskStats>(["stats"])).byStatus.FAILED, 0);

    assert.equal((await cli(["cancel", later])).code, 0);
    const pruned = await cliJson<{ deleted: number }>([
      "prune",
      "--older-than",
      "0",
      "--status",
      "cancelled",
    ]);
    assert.ok(pruned.deleted >= 1);
    assert.equal((await cli(["get", later])).code, 1, "pruned");

    const migrated = await cli(["migrate"]);
    assert.match(migrated.stdout, /is at schema version \d+/);
  });

  it(
    "stats --watch prints a snapshot per interval until SIGINT, then exits 0",
    TEST_TIMEOUT,
    async () => {
      const child = spawn(exe, ["stats", "--watch", "--json", "--interval", "50ms"], {
        cwd: dir,
        env: childEnv(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      const exited = new Promise<number | null>((resolve) =>
        child.on("exit", (code) => resolve(code))
      );
      const snapshots: {
        time: number;
        total: number;
        rates: { completed: number; failed: number; overMillis: number } | null;
      }[] = [];
      for await (const line of createInterface({ input: child.stdout! })) {
        snapshots.push(JSON.parse(line));
        if (snapshots.length === 3) break;
      }
      process.kill(child.pid!, "SIGINT");
      assert.equal(await exited, 0);
      assert.ok(snapshots.every((s) => Number.isInteger(s.total) && s.time > 0));
      assert.ok(snapshots[2]!.time > snapshots[0]!.time);
      assert.equal(snapshots[0]!.rates, null, "no rate before a second reading");
      for (const { rates } of snapshots.slice(1)) {
        assert.ok(rates && rates.completed >= 0 && rates.failed >= 0 && rates.overMillis > 0);
      }
    },
  );

  it("enqueue --args-file reads the args from a file or stdin", TEST_TIMEOUT, async () => {
    await writeFile(join(dir, "args.json"), '{"a": 40, "b": 2}');
    const fromFile = await cliJson<{ id: string }>(["enqueue", "add", "--args-file", "args.json"]);
    assert.deepEqual((await cliJson<TaskRecord>(["get", fromFile.id])).args, { a: 40, b: 2 });
    const fromStdin = await cli(["enqueue", "add", "--args-file", "-"], {
      input: '{"a": 1, "b": 2}',
    });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.deepEqual((await cliJson<TaskRecord>(["get", fromStdin.stdout.trim()])).args, {
      a: 1,
      b: 2,
    });
    const missing = await cli(["enqueue", "add", "--args-file", "nope.json"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^aether-tasks: Cannot read --args-file "nope\.json": /);
    for (const id of [fromFile.id, fromStdin.stdout.trim()]) {
      assert.equal((await cli(["cancel", id])).code, 0);
    }
  });

  it(
    "worker --print-config: flags override the environment, which overrides defaults",
    TEST_TIMEOUT,
    async () => {
      const env = childEnv({
        AETHER_CONCURRENCY: "7",
        AETHER_QUEUES: "a,b",
        AETHER_LOG_FORMAT: "json",
        AETHER_ADMIN: "off",
      });
      const result = await cli([
        "worker",
        "--print-config",
        "--json",
        "--concurrency",
        "9",
        "--grace",
        "1m30s",
      ], { env });
      assert.equal(result.code, 0, result.stderr);
      const { config, sources } = JSON.parse(result.stdout);
      assert.equal(config.concurrency, 9);
      assert.equal(sources.concurrency, "--concurrency");
      assert.deepEqual(config.queues, ["a", "b"]);
      assert.equal(sources.queues, "AETHER_QUEUES");
      assert.equal(config.grace, 90_000);
      assert.equal(config.logFormat, "json");
      assert.equal(config.admin, null);
      assert.equal(config.db, "./data/tasks.db");
      assert.equal(sources.db, "default");
      const table = await cli(["worker", "--print-config"], { env });
      assert.match(table.stdout, /concurrency\s+7\s+AETHER_CONCURRENCY/);
    },
  );

  describe("a failing invocation prints one line naming the problem", () => {
    const cases: { args: string[]; code: number; message: RegExp; env?: Record<string, string> }[] =
      [
        {
          args: ["enqeue", "add"],
          code: 2,
          message: /unknown command "enqeue"; did you mean "enqueue"\?/,
        },
        {
          args: ["worker", "--concurency", "2"],
          code: 2,
          message: /unknown option --concurency; did you mean --concurrency\?/,
        },
        {
          args: ["list", "--limt", "2"],
          code: 2,
          message: /unknown option --limt; did you mean --limit\?/,
        },
        {
          args: ["enqueue", "add", "{}", "--delay", "5x"],
          code: 2,
          message: /--delay must be a duration .* got "5x"/,
        },
        {
          args: ["worker", "--grace", "30"],
          code: 2,
          message: /--grace must be a duration .*; add a unit/,
        },
        { args: ["enqueue", "add", "{a:1}"], code: 2, message: /ARGS_JSON is not valid JSON/ },
        {
          args: ["enqueue", "ad", "{}"],
          code: 2,
          message: /Unknown task "ad"; did you mean "add"\?/,
        },
        {
          args: ["enqueue", "add", '{"a":"x","b":1}'],
          code: 2,
          message: /Invalid arguments for task "add": args\.a/,
        },
        {
          args: ["enqueue", "add", "{}", "--priority", "hihg"],
          code: 2,
          message: /did you mean HIGH\?/,
        },
        {
          args: ["worker", "--handlers", "./nope"],
          code: 2,
          message: /handlers folder "\.\/nope" does not exist/,
        },
        {
          args: ["enqueue", "add", "{}", "--handlers", "./nope"],
          code: 2,
          message: /handlers folder "\.\/nope" does not exist/,
        },
        { args: ["stats", "--db", "missing.db"], code: 2, message: /No database at "missing\.db"/ },
        {
          args: ["stats", "--db", "not-a-db.txt"],
          code: 2,
          message: /not-a-db\.txt.*file is not a database/,
        },
        {
          args: ["stats", "--db", "newer.db"],
          code: 2,
          message: /newer\.db: The database schema is version 99/,
        },
        {
          args: ["worker", "--db", "newer.db"],
          code: 2,
          message: /newer\.db: The database schema is version 99/,
        },
        {
          args: ["worker"],
          env: { AETHER_CONCURRENCY: "lots" },
          code: 2,
          message: /AETHER_CONCURRENCY must be a positive integer, got "lots"/,
        },
        {
          args: ["worker", "--log-format", "xml"],
          code: 2,
          message: /--log-format must be one of pretty, json/,
        },
        { args: ["worker", "--admin", "0.0.0.0:7070"], code: 2, message: /without a token/ },
        { args: ["list", "extra"], code: 2, message: /list: unexpected argument "extra"/ },
        { args: ["get"], code: 2, message: /get: missing ID/ },
        { args: ["prune"], code: 2, message: /--older-than is required/ },
        { args: ["get", "no-such-id"], code: 1, message: /No task with id "no-such-id"/ },
      ];

    before(async () => {
      await writeFile(
        join(dir, "not-a-db.txt"),
        "just some text, certainly not SQLite\n".repeat(40),
      );
      assert.equal((await cli(["migrate", "--db", "newer.db"])).code, 0);
      const driver = await openSqliteDriver(join(dir, "newer.db"));
      driver.exec("PRAGMA user_version = 99");
      driver.close();
    });

    for (const { args, code, message, env } of cases) {
      it(
        `${args.join(" ")}${env ? ` with ${Object.keys(env).join(", ")}` : ""} → exit ${code}`,
        TEST_TIMEOUT,
        async () => {
          const result = await cli(args, env ? { env: childEnv(env) } : {});
          assert.equal(result.code, code, result.stderr);
          assert.equal(result.stdout, "");
          const lines = result.stderr.trimEnd().split("\n");
          assert.equal(lines.length, 1, `one line: ${result.stderr}`);
          assert.match(lines[0]!, /^aether-tasks: /);
          assert.match(lines[0]!, message);
        },
      );
    }
  });
});

describe("the CLI from source, in the repository with its handlers", () => {
  const runtimes: { name: string; command: string[] }[] = [
    { name: "bun", command: [BUN, "src/cli/main.ts"] },
    { name: "deno", command: [DENO, "run", "-A", "src/cli/main.ts"] },
  ];
  for (const { name, command } of runtimes) {
    it(`${name}: worker, enqueue --wait, stats and SIGTERM`, TEST_TIMEOUT, async () => {
      const dir = await tempFolder(`aether-cli-${name}-`);
      const db = join(dir, "tasks.db");
      const worker = new WorkerProcess([
        ...command,
        "worker",
        "--no-admin",
        "--db",
        db,
        "--poll-interval",
        "50ms",
      ], ROOT);
      try {
        const started = await worker.started();
        assert.ok((started.handlers as string[]).includes("csv-report"));
        const args = JSON.stringify({
          columns: [{ key: "n" }],
          rows: [{ n: 1 }, { n: 2 }],
          totals: ["n"],
        });
        const done = await run([
          ...command,
          "enqueue",
          "csv-report",
          args,
          "--db",
          db,
          "--wait",
          "--json",
        ], { cwd: ROOT });
        assert.equal(done.code, 0, done.stderr);
        const task = JSON.parse(done.stdout) as TaskRecord;
        assert.equal(task.status, "COMPLETED");
        assert.deepEqual((task.result as { totals: unknown }).totals, { n: 3 });
        const stats = await run([...command, "stats", "--db", db, "--json"], { cwd: ROOT });
        assert.equal(JSON.parse(stats.stdout).byStatus.COMPLETED, 1);
        worker.signal("SIGTERM");
        assert.equal((await worker.exit()).code, 0);
      } finally {
        worker.kill();
        await worker.exited;
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
