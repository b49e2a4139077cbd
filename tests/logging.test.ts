/**
 * Logs through LogTape: the library's records reach an application's sink, and nothing is
 * printed without one; the CLI's sink writes them (handler output with its task id) in the
 * worker's line formats; start-up errors are JSON when JSON is asked for.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { WorkerLog } from "../src/cli/worker_log.ts";
import { captureConsoleOutput } from "../src/console_capture.ts";
import { paletteFor } from "../src/cli/output.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { TaskSignals } from "../src/signals.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { TaskWorker } from "../src/worker.ts";
import { nextEvent, tempDir } from "./_helpers.ts";
import { BUN, childEnv, CLI_FROM_SOURCE, DENO, ROOT, run, start } from "./_process.ts";

const RUNTIME = "Bun" in globalThis ? "bun" : "deno";
const FIXTURES = join(ROOT, "tests/fixtures/logging");
const TEST_TIMEOUT = { timeout: 60_000 };

/** Runs a script of ours under the runtime running the tests. */
function script(path: string): string[] {
  return RUNTIME === "bun"
    ? [BUN, path]
    : [DENO, "run", "-A", `--config=${join(ROOT, "deno.json")}`, path];
}

describe("the library logs through LogTape", () => {
  const records: LogRecord[] = [];
  /** What the `echo` sink wrote with `console.info`, as a console sink would, while `echo` is on. */
  const echoed: string[] = [];
  let echo = false;
  before(async () => {
    await configure({
      reset: true,
      sinks: {
        test: (record) => void records.push(record),
        echo: (record) => echo && console.info(record.message.join("")),
      },
      loggers: [
        { category: ["aether-tasks"], sinks: ["test", "echo"], lowestLevel: "debug" },
        { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
      ],
    });
  });
  after(async () => await reset());

  it("a configured application receives ctx.log lines with the task id, name and attempt", async () => {
    const store = new InMemoryTaskStore();
    const registry = new TaskRegistry();
    registry.register("talk", (_args: unknown, ctx) => {
      ctx.log("hello {not a placeholder}", { n: 1 });
      return 1;
    });
    const worker = new TaskWorker(store, { registry, pollInterval: 10 });
    const completed = nextEvent(worker.signals.taskCompleted);
    worker.start();
    const id = await new TaskDispatcher(store, { registry }).enqueue("talk", {});
    await completed;
    await worker.stop();
    const lines = records.filter((r) => r.properties.event === "task.log");
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.deepEqual(line!.category, ["aether-tasks", "task"]);
    assert.equal(line!.level, "info");
    assert.equal(line!.message.join(""), 'hello {not a placeholder} {"n":1}');
    assert.equal(line!.properties.taskId, id);
    assert.equal(line!.properties.name, "talk");
    assert.equal(line!.properties.attempt, 1);
    assert.deepEqual((await store.get(id))!.logs, ['hello {not a placeholder} {"n":1}']);
  });

  it(
    "with captureConsoleOutput, console.* of concurrent in-process handlers goes to each one's task",
    async () => {
      const original = console.log;
      const realInfo = console.info;
      // A sink that writes with console.info inside the handler's context is not captured again.
      console.info = (...parts: unknown[]) => void echoed.push(parts.join(" "));
      echo = true;
      const restore = captureConsoleOutput();
      assert.notEqual(console.log, original);
      try {
        const store = new InMemoryTaskStore();
        const registry = new TaskRegistry();
        // Two attempts run at once and take turns: each line must land on its own task.
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let waiting = 0;
        registry.register("speak", async ({ who }: { who: string }) => {
          console.log(`first from ${who}`);
          if (++waiting === 2) release();
          await gate;
          setTimeout(() => console.warn(`later from ${who}`), 0);
          await new Promise((resolve) => setTimeout(resolve, 5));
          return who;
        });
        const worker = new TaskWorker(store, { registry, pollInterval: 10, concurrency: 2 });
        const dispatcher = new TaskDispatcher(store, { registry });
        const done = new Promise<void>((resolve) => {
          let count = 0;
          worker.signals.taskCompleted.connect(() => ++count === 2 && resolve());
        });
        const a = await dispatcher.enqueue("speak", { who: "a" });
        const b = await dispatcher.enqueue("speak", { who: "b" });
        worker.start();
        await done;
        await worker.stop();
        assert.deepEqual((await store.get(a))!.logs, ["first from a", "later from a"]);
        assert.deepEqual((await store.get(b))!.logs, ["first from b", "later from b"]);
        const warning = records.find((r) =>
          r.properties.event === "task.log" && r.properties.taskId === b && r.level === "warning"
        );
        assert.equal(warning?.message.join(""), "later from b");
        assert.deepEqual(echoed.filter((line) => line.startsWith("first")).sort(), [
          "first from a",
          "first from b",
        ]);
      } finally {
        restore();
        echo = false;
        console.info = realInfo;
      }
      assert.equal(console.log, original, "console is restored");
    },
  );

  it("a signal listener that throws is an error record under aether-tasks.signals", () => {
    const signals = new TaskSignals();
    signals.taskProgress.connect(() => {
      throw new Error("listener broke");
    });
    signals.taskProgress.emit({ taskId: "t1", progress: 1 });
    const record = records.find((r) => r.properties.event === "signals.error");
    assert.ok(record, "an error record was logged");
    assert.deepEqual(record.category, ["aether-tasks", "signals"]);
    assert.equal(record.level, "error");
    assert.match(record.message.join(""), /a taskProgress listener threw: listener broke/);
    assert.ok(record.properties.error instanceof Error);
  });
});

describe("without a LogTape configuration", () => {
  it("the library prints nothing on stdout or stderr", TEST_TIMEOUT, async () => {
    const result = await run(script(join(FIXTURES, "silent_library.ts")), { cwd: ROOT });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "done\n");
    assert.equal(result.stderr, "");
  });
});

describe("the CLI's sink", () => {
  const record = (overrides: Partial<LogRecord>): LogRecord => ({
    category: ["aether-tasks", "task"],
    level: "info",
    message: ["console line"],
    rawMessage: "console line",
    timestamp: Date.UTC(2025, 0, 31, 12),
    properties: { event: "task.log", taskId: "t-1", name: "send", queue: "default", attempt: 2 },
    ...overrides,
  });
  const capture = (format: "json" | "pretty", level: "info" | "warn" = "info") => {
    const lines: string[] = [];
    const log = new WorkerLog({
      format,
      level,
      palette: paletteFor({}, {}),
      write: (line) => void lines.push(line),
    });
    return { sink: log.sink(), lines };
  };

  it("writes a record as a JSON line with time, level, event, msg and its fields", () => {
    const { sink, lines } = capture("json");
    sink(record({ level: "warning" }));
    assert.deepEqual(JSON.parse(lines[0]!), {
      time: "2025-01-31T12:00:00.000Z",
      level: "warn",
      event: "task.log",
      msg: "console line",
      taskId: "t-1",
      name: "send",
      queue: "default",
      attempt: 2,
    });
  });

  it("writes handler output in pretty form prefixed with its task", () => {
    const { sink, lines } = capture("pretty");
    sink(record({}));
    assert.equal(lines[0], "2025-01-31T12:00:00.000Z INFO  [send t-1 #2] console line\n");
  });

  it("drops records below its level and names an error by its message", () => {
    const { sink, lines } = capture("json", "warn");
    sink(record({ level: "debug" }));
    sink(record({ level: "info" }));
    sink(record({
      category: ["aether-tasks", "pool"],
      level: "error",
      message: ["worker pool: boom"],
      properties: { event: "pool.error", error: new Error("boom") },
    }));
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!);
    assert.equal(line.event, "pool.error");
    assert.equal(line.error, "boom");
  });
});

describe("worker --log-format json", () => {
  it(
    "writes handler output (ctx.log and console.* in the pool Workers) as JSON lines with the task id, name and attempt",
    TEST_TIMEOUT,
    async () => {
      const dir = await tempDir("aether-logging-");
      try {
        const db = join(dir.path, "tasks.db");
        const handlers = join(FIXTURES, "handlers");
        const cli = CLI_FROM_SOURCE[RUNTIME];
        const enqueued = await run([
          ...cli,
          "enqueue",
          "chatty",
          '{"word":"hi"}',
          "--db",
          db,
          "--handlers",
          handlers,
        ], { cwd: dir.path });
        assert.equal(enqueued.code, 0, enqueued.stderr);
        const id = enqueued.stdout.trim();
        const worker = start([
          ...cli,
          "worker",
          "--db",
          db,
          "--handlers",
          handlers,
          "--no-admin",
          "--workers",
          "1",
          "--log-format",
          "json",
        ], { cwd: dir.path });
        await worker.stderrMatches(/"event":"task\.completed"/);
        const finished = await worker.stop();
        assert.equal(finished.code, 0, finished.stderr);
        assert.doesNotMatch(finished.stdout, /console line/, "nothing raw on stdout");
        const lines = finished.stderr.trim().split("\n").map((text) => {
          try {
            return JSON.parse(text);
          } catch {
            assert.fail(`a line that is not JSON: ${text}`);
          }
        });
        const output = lines.filter((line) => line.event === "task.log");
        assert.deepEqual(
          output.map((line) => [line.level, line.msg, line.taskId, line.name, line.attempt]),
          [
            ["info", 'ctx line hi {"n":1}', id, "chatty", 1],
            ["info", "console line hi {braces}", id, "chatty", 1],
            ["warn", "a warning", id, "chatty", 1],
            ["error", "an error line", id, "chatty", 1],
          ],
        );
        const got = await run([...cli, "get", id, "--db", db, "--json"], { cwd: dir.path });
        assert.deepEqual(JSON.parse(got.stdout).logs, [
          'ctx line hi {"n":1}',
          "console line hi {braces}",
          "a warning",
          "an error line",
        ]);
      } finally {
        await dir.remove();
      }
    },
  );

  it("writes a start-up error as one JSON line and keeps its exit code", TEST_TIMEOUT, async () => {
    const cli = CLI_FROM_SOURCE[RUNTIME];
    const cases = [
      { args: ["worker", "--log-format", "json", "--handlers", "/no/such/folder"], env: {} },
      { args: ["worker", "--log-format=json", "--concurency", "2"], env: {} },
      { args: ["worker", "--handlers", "/no/such/folder"], env: { AETHER_LOG_FORMAT: "json" } },
    ];
    for (const { args, env } of cases) {
      const result = await run([...cli, ...args], { cwd: ROOT, env: childEnv(env) });
      assert.equal(result.code, 2, result.stderr);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      const line = JSON.parse(lines[0]!);
      assert.equal(line.level, "error");
      assert.equal(line.event, "cli.error");
      assert.equal(line.exitCode, 2);
      assert.match(line.msg, /\/no\/such\/folder|--concurency; did you mean --concurrency\?/);
      assert.ok(!Number.isNaN(Date.parse(line.time)));
    }
  });
});
