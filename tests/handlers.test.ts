/**
 * Handler modules: `defineTask`, loading a folder, and the example handlers in `handlers/`.
 */

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import * as v from "valibot";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { InvalidArgumentsError } from "../src/errors.ts";
import { defineTask, isDefinedTask } from "../src/handlers/define.ts";
import { HandlerLoadError, listHandlerFiles, loadHandlers } from "../src/handlers/load.ts";
import { WorkerPool } from "../src/pool/pool.ts";
import { parseArgs, type TaskContext, type TaskDefinition, TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { TaskWorker } from "../src/worker.ts";
import { tempDir } from "./_helpers.ts";

const examplesDir = fileURLToPath(new URL("../handlers", import.meta.url));
const badHandlers = (name: string) =>
  fileURLToPath(new URL(`./fixtures/bad_handlers/${name}`, import.meta.url));

/** A context for calling a handler directly; records progress and log lines. */
function context(overrides: Partial<TaskContext> = {}) {
  const logs: string[] = [];
  const progress: unknown[] = [];
  const ctx: TaskContext = {
    taskId: "0190f5a4-7c1e-7000-8000-000000000001",
    name: "test",
    queue: "default",
    attempt: 1,
    maxAttempts: 1,
    signal: new AbortController().signal,
    scheduledFor: null,
    traceparent: null,
    progress: (value) => {
      progress.push(value);
      return Promise.resolve();
    },
    log: (...parts) => void logs.push(parts.join(" ")),
    fail: (reason) => {
      throw reason instanceof Error ? reason : new Error(reason);
    },
    snooze: (duration) => {
      throw new Error(`snoozed for ${duration}`);
    },
    ...overrides,
  };
  return { ctx, logs, progress };
}

/** Parses `args` as the runtime would, then runs the handler. */
async function runDirect(
  definition: TaskDefinition,
  args: unknown,
  ctx = context().ctx,
): Promise<unknown> {
  return await definition.run(parseArgs(definition, args), ctx);
}

async function loadError(dir: string): Promise<HandlerLoadError> {
  const error = await loadHandlers(dir).then(
    () => assert.fail(`${dir} should not load`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof HandlerLoadError, String(error));
  return error;
}

describe("defineTask", () => {
  it("makes a definition whose run sees the args the schema outputs", async () => {
    const definition = defineTask({
      name: "typed",
      args: v.object({ n: v.number(), unit: v.optional(v.string(), "ms") }),
      run: ({ n, unit }) => {
        const count: number = n;
        // @ts-expect-error the schema says n is a number
        const wrong: string = n;
        return `${count + 1} ${unit}${wrong === undefined ? "" : ""}`;
      },
      timeout: 1_000,
      priority: "HIGH",
    });
    assert.ok(isDefinedTask(definition));
    assert.deepEqual([definition.timeout, definition.priority, definition.queue], [
      1_000,
      "HIGH",
      "default",
    ]);
    assert.equal(await runDirect(definition, { n: 1 }), "2 ms");
    assert.throws(() => parseArgs(definition, { n: "1" }), InvalidArgumentsError);
  });

  it("refuses a bad option when the module loads, naming the task", () => {
    assert.throws(
      () => defineTask({ name: "bad", timeout: -5, run: () => null }),
      /The timeout of task "bad" must be an integer of milliseconds from 1 to 31536000000 \(365 days\) or null, got -5/,
    );
    assert.throws(() => defineTask({ name: "has space", run: () => null }), /Task name must be/);
    assert.equal(isDefinedTask({ name: "plain", run: () => null }), false);
  });
});

describe("loadHandlers", () => {
  it("loads the example handlers", async () => {
    const definitions = await loadHandlers(examplesDir);
    assert.deepEqual(definitions.map((d) => [d.name, d.queue]), [
      ["csv-report", "default"],
      ["post-webhook", "webhooks"],
      ["send-email", "email"],
    ]);
  });

  it("loads only the folder's own .ts and .js files not starting with _ or .", async () => {
    const dir = badHandlers("filtered");
    assert.deepEqual((await listHandlerFiles(dir)).map((f) => f.slice(dir.length + 1)), [
      "also_kept.js",
      "kept.ts",
    ]);
    assert.deepEqual((await loadHandlers(dir)).map((d) => d.name), ["also-kept", "kept"]);
  });

  it("names the file and the problem when a module cannot load", async () => {
    const cases: [folder: string, file: string, problem: RegExp][] = [
      [
        "no_default",
        "named_only.ts",
        /^it has no default export; write `export default defineTask/,
      ],
      [
        "not_defined",
        "plain.ts",
        /^its default export is an object, not a task made by defineTask\(\)/,
      ],
      [
        "invalid_option",
        "wrong_priority.ts",
        /The priority of task "wrong-priority" must be one of .*got "URGENT"/,
      ],
      [
        "bad_cron",
        "nightly.ts",
        /schedule "nightly": cron "0 25 \* \* \*" is not a valid cron expression/,
      ],
      [
        "bad_timezone",
        "nightly.ts",
        /schedule "nightly": timezone must be an IANA time zone .*"Europe\/Atlantis"/,
      ],
      [
        "throws_on_load",
        "top_level.ts",
        /^the module failed to load: cannot start without a license key$/,
      ],
    ];
    for (const [folder, file, problem] of cases) {
      const error = await loadError(badHandlers(folder));
      assert.equal(error.file, join(badHandlers(folder), file), folder);
      assert.match(error.problem, problem, folder);
      assert.equal(error.message, `Cannot load handler ${error.file}: ${error.problem}`);
    }
  });

  it("names both files when two define the same task", async () => {
    const error = await loadError(badHandlers("duplicate"));
    assert.equal(error.file, join(badHandlers("duplicate"), "second.ts"));
    assert.equal(
      error.problem,
      `it defines task "twice", which ${join(badHandlers("duplicate"), "first.ts")} defines too`,
    );
  });

  it("names a file whose imports fail, or that does not parse", async () => {
    const cases: [file: string, source: string, problem: RegExp][] = [
      ["missing.ts", 'import { gone } from "./_gone.ts";\nexport default gone;\n', /_gone\.ts/],
      ["oops.ts", 'export default { name: "oops", run: () => { return 1 +; } };\n', /./],
    ];
    for (const [file, source, problem] of cases) {
      const dir = await tempDir();
      try {
        await writeFile(join(dir.path, file), source);
        const error = await loadError(dir.path);
        assert.equal(error.file, join(dir.path, file));
        assert.match(error.problem, /^the module failed to load: /);
        assert.match(error.problem, problem);
      } finally {
        await dir.remove();
      }
    }
  });

  it("names a handlers folder that is missing or not a folder", async () => {
    const missing = await loadError("./no/such/folder");
    assert.match(missing.message, /no\/such\/folder: the handlers folder cannot be read: /);
    const file = await loadError(join(examplesDir, "csv_report.ts"));
    assert.equal(file.problem, "it is not a folder");
  });
});

describe("example handlers", () => {
  let definitions: Map<string, TaskDefinition>;
  before(async () => {
    definitions = new Map((await loadHandlers(examplesDir)).map((d) => [d.name, d]));
  });
  const example = (name: string) => definitions.get(name)!;

  describe("send-email", () => {
    it("renders the template and writes the message to the outbox, named after the task", async () => {
      const outbox = await tempDir();
      try {
        const { ctx, logs } = context();
        const result = await runDirect(example("send-email"), {
          to: "ada@example.com",
          template: "welcome",
          data: { name: "Ada", account: "ada-01" },
          outbox: outbox.path,
        }, ctx) as { path: string; bytes: number };
        assert.equal(result.path, join(outbox.path, `${ctx.taskId}.eml`));
        assert.deepEqual(await readdir(outbox.path), [`${ctx.taskId}.eml`]);
        const message = await readFile(result.path, "utf8");
        assert.equal(result.bytes, new TextEncoder().encode(message).length);
        assert.match(
          message,
          /^From: noreply@example\.com\r\nTo: ada@example\.com\r\nSubject: Welcome, Ada!\r\n/,
        );
        assert.match(message, /\r\n\r\nHello Ada,\r\n\r\nyour account ada-01 is ready\./);
        assert.deepEqual(logs, ["wrote welcome email to ada@example.com"]);
      } finally {
        await outbox.remove();
      }
    });

    it("uses $AETHER_OUTBOX without an outbox arg, and encodes a non-ASCII subject", async () => {
      const outbox = await tempDir();
      const saved = process.env.AETHER_OUTBOX;
      process.env.AETHER_OUTBOX = outbox.path;
      try {
        const result = await runDirect(example("send-email"), {
          to: "zoe@example.com",
          template: "receipt",
          data: { name: "Zoë", amount: "12.50 €", number: 42 },
        }) as { path: string };
        assert.ok(result.path.startsWith(outbox.path));
        const message = await readFile(result.path, "utf8");
        assert.match(message, /\r\nSubject: Your receipt 42\r\n/);
        assert.match(message, /we received 12\.50 € for order 42/);
      } finally {
        if (saved === undefined) delete process.env.AETHER_OUTBOX;
        else process.env.AETHER_OUTBOX = saved;
        await outbox.remove();
      }
      const { ctx } = context();
      const dir = await tempDir();
      try {
        await runDirect(example("send-email"), {
          to: "zoe@example.com",
          template: "welcome",
          data: { name: "Zoë", account: "z" },
          outbox: dir.path,
        }, ctx);
        const message = await readFile(join(dir.path, `${ctx.taskId}.eml`), "utf8");
        assert.match(message, /\r\nSubject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=\r\n/);
      } finally {
        await dir.remove();
      }
    });

    it("refuses line breaks in addresses and missing template data", async () => {
      assert.throws(
        () =>
          parseArgs(example("send-email"), {
            to: "a@example.com\r\nBcc: x@evil.test",
            template: "welcome",
            data: {},
          }),
        InvalidArgumentsError,
      );
      await assert.rejects(
        runDirect(example("send-email"), {
          to: "a@example.com",
          template: "welcome",
          data: { name: "A" },
        }),
        /The template needs data\.account/,
      );
    });
  });

  describe("csv-report", () => {
    it("quotes fields, neutralises formulas and adds totals", async () => {
      const { ctx, logs } = context();
      const result = await runDirect(example("csv-report"), {
        columns: [{ key: "item", label: "Item" }, { key: "qty", label: "Qty" }, { key: "note" }],
        rows: [
          { item: "Widget, large", qty: 2, note: 'say "hi"' },
          { item: '=HYPERLINK("x")', qty: 3, note: null },
          { item: "Gadget", qty: 1.5, note: "two\nlines" },
        ],
        totals: ["qty"],
      }, ctx) as { csv: string; rows: number; totals: Record<string, number> };
      assert.equal(
        result.csv,
        [
          "Item,Qty,note",
          '"Widget, large",2,"say ""hi"""',
          `"'=HYPERLINK(""x"")",3,`,
          'Gadget,1.5,"two\nlines"',
          "Total,6.5,",
          "",
        ].join("\r\n"),
      );
      assert.deepEqual([result.rows, result.totals], [3, { qty: 6.5 }]);
      assert.deepEqual(logs, ["built a report of 3 rows"]);
    });

    it("refuses totals of a column the report does not have", () => {
      assert.throws(
        () =>
          parseArgs(example("csv-report"), { columns: [{ key: "a" }], rows: [], totals: ["b"] }),
        /totals must name columns of the report/,
      );
    });
  });

  describe("post-webhook, through the pool, against a local server", () => {
    let server: Server;
    let base: string;
    const received: { headers: IncomingMessage["headers"]; body: string }[] = [];
    let pool: WorkerPool;
    let worker: TaskWorker;
    let dispatcher: TaskDispatcher;
    const savedSecret = process.env.AETHER_WEBHOOK_SECRET;

    before(async () => {
      server = createServer((request, response) => {
        let body = "";
        request.on("data", (chunk) => (body += chunk));
        request.on("end", () => {
          received.push({ headers: request.headers, body });
          if (request.url === "/ok") response.writeHead(202).end("accepted");
          else if (request.url === "/fail") response.writeHead(500).end("database down");
          // "/hang": never answers.
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      process.env.AETHER_WEBHOOK_SECRET = "s3cret";
      pool = await WorkerPool.start({ handlersDir: examplesDir, size: 1, graceMillis: 100 });
      const registry = new TaskRegistry();
      for (const definition of pool.definitions) registry.add(definition);
      const store = new InMemoryTaskStore();
      worker = new TaskWorker(store, { executor: pool, queues: ["webhooks"] });
      dispatcher = new TaskDispatcher(store, { registry });
      worker.start();
    });

    after(async () => {
      await worker.stop({ graceMillis: 0 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      if (savedSecret === undefined) delete process.env.AETHER_WEBHOOK_SECRET;
      else process.env.AETHER_WEBHOOK_SECRET = savedSecret;
    });

    const post = async (path: string, extra: Record<string, unknown> = {}) =>
      await dispatcher.waitFor(
        await dispatcher.enqueue("post-webhook", {
          url: `${base}${path}`,
          payload: { order: 7 },
          ...extra,
        }, {
          retryConfig: { maxAttempts: 1 },
        }),
        { timeout: 10_000 },
      );

    it("posts the payload as JSON, signed, and completes on a 2xx answer", async () => {
      received.length = 0;
      const task = await post("/ok", { headers: { "x-tenant": "acme" } });
      assert.equal(task.status, "COMPLETED");
      assert.deepEqual({ ...(task.result as object), millis: 0 }, {
        status: 202,
        millis: 0,
        response: "accepted",
      });
      const [request] = received;
      assert.equal(request?.body, '{"order":7}');
      assert.equal(request?.headers["content-type"], "application/json");
      assert.equal(request?.headers["idempotency-key"], task.id);
      assert.equal(request?.headers["x-tenant"], "acme");
      assert.match(String(request?.headers["x-aether-signature"]), /^sha256=[0-9a-f]{64}$/);
      assert.match(task.logs[0] ?? "", new RegExp(`^POST ${base}/ok -> 202 in \\d+ ms$`));
    });

    it("fails the attempt on an error status, with the status in the error", async () => {
      const task = await post("/fail");
      assert.equal(task.status, "FAILED");
      assert.equal(
        task.lastError?.message,
        "The webhook answered 500 Internal Server Error: database down",
      );
    });

    it("gives up after timeoutMillis when the server does not answer", async () => {
      const started = performance.now();
      const task = await post("/hang", { timeoutMillis: 150 });
      assert.equal(task.status, "FAILED");
      assert.match(task.lastError!.message, /timed out|aborted/i);
      assert.ok(performance.now() - started < 5_000);
    });
  });
});
