/**
 * The generated bad-input suite: fast-check makes enqueue input with one thing wrong — a field
 * out of range or of the wrong type, an unknown or inherited key, args that break the schema or
 * the limits — and sends it through every front: the library, `POST /api/tasks` (the handler with
 * no socket), NDJSON import and the CLI (`runCli` in this process). Each case must get a clear
 * error naming the field (an EnqueueInputError / 4xx / exit 2), write nothing, and leave the
 * front serving. The seed is fixed, so a failure reproduces; fast-check prints the case.
 */

import "../src/adapter/bun/plugin.ts";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import * as v from "valibot";
import { type AdminHandler, createAdminHandler } from "../src/admin/handler.ts";
import { importTasks } from "../src/cli/bulk_import.ts";
import { runCli } from "../src/cli/run.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { MAX_DELAY_MILLIS, MAX_TIMEOUT_MILLIS, parseEnqueueRequest } from "../src/enqueue_input.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { tempDir } from "./_helpers.ts";

/** Fixed, so CI runs the same cases every time. Change it to explore new ones. */
const SEED = 20261201;
const RUNS = { library: 120, http: 120, httpRaw: 60, agree: 60, ndjson: 60, cli: 40 };
const HANDLERS = join(import.meta.dirname!, "fixtures", "cli", "handlers");
const PROTOTYPE_KEYS = ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"];

/** One bad enqueue input and the words its error must contain. */
interface BadCase {
  /** The request as JSON inputs spell it: name, args and the options flat beside them. */
  request: Record<string, unknown>;
  /** The field the error must name, as JSON inputs spell it. */
  field: string;
}

// --- Generators -------------------------------------------------------------------------------

const notAString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);
const junkText = fc.string({ maxLength: 30 });
const badName = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "a b",
    "-lead",
    "x".repeat(129),
    "é",
    "a\nb",
    "a@b",
    "../x",
    "__proto__",
  ),
  notAString,
);
const badPriority = fc.oneof(
  fc.constantFrom(...PROTOTYPE_KEYS, "URGENT", "", "hihg", "LOW ", "1"),
  junkText.filter((t) => !["LOW", "NORMAL", "HIGH", "CRITICAL"].includes(t.trim().toUpperCase())),
  notAString,
);
const outOfRangeMillis = (max: number, min: number) =>
  fc.oneof(
    fc.double({ min: max + 1, max: 1e308, noNaN: true }),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }),
    fc.constantFrom(2 ** 53 + 10, 1e308, -1, -0.6),
  );
const badDurationText = fc.oneof(
  fc.constantFrom("soon", "30", "1e308", "5 minutes", "-5s", "1y", "Infinity", "", "999999999999d"),
  junkText.filter((t) => !/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t.trim()) && t.trim() !== "0"),
);
const badDelay = fc.oneof(
  outOfRangeMillis(MAX_DELAY_MILLIS, 0),
  badDurationText,
  fc.constant("3651d"),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const badTimeout = fc.oneof(
  outOfRangeMillis(MAX_TIMEOUT_MILLIS, 1),
  badDurationText.filter((t) => t.trim().toLowerCase() !== "none"),
  fc.constantFrom(0, "0", "366d", "nothing", false, true),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 1 }),
);
const badAttempts = fc.oneof(
  fc.integer({ min: 1001 }),
  fc.integer({ max: 0 }),
  fc.double({ min: 1.01, max: 999.99, noNaN: true }).filter((n) => !Number.isInteger(n)),
  fc.constantFrom(1e300, "0", "three", "3.5", "", "1001", null, true),
);
const badQueue = badName;
const unknownKey = fc.oneof(
  fc.constantFrom(...PROTOTYPE_KEYS, "prio", "delays", "max_attempts", "retry", "tx"),
  fc.string({ minLength: 1, maxLength: 12 }).filter((k) =>
    !["name", "args", "priority", "delay", "queue", "timeout", "retryConfig", "maxAttempts"]
      .includes(k)
  ),
);
const badRetryConfig = fc.oneof(
  fc.record({ field: fc.constant("retryConfig.maxAttempts"), value: badAttempts }),
  fc.record({
    field: fc.constant("retryConfig.backoffMultiplier"),
    value: fc.oneof(fc.double({ min: 100.5, max: 1e300, noNaN: true }), fc.constantFrom(0.5, -1)),
  }),
  fc.record({
    field: fc.constant("retryConfig.baseDelayMillis"),
    value: outOfRangeMillis(365 * 86_400_000, 0),
  }),
  fc.record({
    field: fc.constant("retryConfig.useJitter"),
    value: fc.constantFrom("yes", 1, null),
  }),
  fc.record({ field: fc.constantFrom(...PROTOTYPE_KEYS, "retries"), value: fc.integer() }).map((
    { field, value },
  ) => ({ field: `retryConfig.${field}`, value })),
);
/** Args that break the "add" task's schema ({ a: number, b: number }) or the JSON limits. */
const badArgs = fc.oneof(
  fc.record({ a: fc.string(), b: fc.integer() }),
  fc.record({ a: fc.integer() }),
  fc.constantFrom(null, 5, "text", [1, 2]),
  fc.integer({ min: 65, max: 3000 }).map((depth) => {
    let value: unknown = { a: 1, b: 2 };
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  }),
);

/** A valid request to "add", then one thing made wrong. */
const badCase: fc.Arbitrary<BadCase> = fc.oneof(
  badName.map((name) => ({ request: { name, args: { a: 1, b: 2 } }, field: "name" })),
  fc.constantFrom("nope", "ad", "toString", "constructor", "hasOwnProperty").map((name) => ({
    request: { name, args: {} },
    field: "Unknown task",
  })),
  badPriority.map((priority) => ({ request: addWith({ priority }), field: "priority" })),
  badDelay.map((delay) => ({ request: addWith({ delay }), field: "delay" })),
  badTimeout.map((timeout) => ({ request: addWith({ timeout }), field: "timeout" })),
  badAttempts.map((maxAttempts) => ({ request: addWith({ maxAttempts }), field: "maxAttempts" })),
  badQueue.map((queue) => ({ request: addWith({ queue }), field: "queue" })),
  fc.record({ key: unknownKey, value: fc.jsonValue({ maxDepth: 1 }) }).map(({ key, value }) => ({
    request: addWith(JSON.parse(`{${JSON.stringify(key)}: ${JSON.stringify(value ?? null)}}`)),
    field: JSON.stringify(key),
  })),
  badRetryConfig.map(({ field, value }) => ({
    request: addWith({
      retryConfig: JSON.parse(`{${JSON.stringify(field.slice(12))}: ${JSON.stringify(value)}}`),
    }),
    field: PROTOTYPE_KEYS.includes(field.slice(12)) || field.endsWith("retries")
      ? JSON.stringify(field.slice(12))
      : field,
  })),
  badArgs.map((args) => ({ request: { name: "add", args }, field: "args" })),
);

function addWith(fields: Record<string, unknown>): Record<string, unknown> {
  return { name: "add", args: { a: 1, b: 2 }, ...fields };
}

/** The library's form of a request: name, args, and the options (maxAttempts under retryConfig). */
function libraryForm(request: Record<string, unknown>) {
  const { name, args, maxAttempts, ...options } = request;
  if (Object.hasOwn(request, "maxAttempts")) {
    options.retryConfig = { maxAttempts };
  }
  return { name: name as string, args, options };
}

function libraryField(field: string): string {
  return field === "maxAttempts" ? "retryConfig.maxAttempts" : field;
}

// --- The suite --------------------------------------------------------------------------------

describe("generated bad input is refused on every front, naming the field, writing nothing", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: SqliteTaskStore;
  let dispatcher: TaskDispatcher;
  let handler: AdminHandler;
  const unexpected: unknown[] = [];
  let total = 0;

  before(async () => {
    dir = await tempDir("aether-bad-input-");
    store = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
    await store.migrate();
    const registry = new TaskRegistry();
    registry.register("add", ({ a, b }: { a: number; b: number }) => a + b, {
      schema: v.object({ a: v.number(), b: v.number() }),
    });
    dispatcher = new TaskDispatcher(store, { registry });
    handler = createAdminHandler({ store, dispatcher, onError: (e) => unexpected.push(e) });
  });
  after(async () => {
    handler.close();
    await store.close();
    await dir.remove();
    console.log(`bad-input suite: ${total} generated cases`);
  });

  const rows = async () => (await store.stats()).total;

  it(`the library: ${RUNS.library} cases`, async () => {
    const before = await rows();
    await fc.assert(
      fc.asyncProperty(badCase, async ({ request, field }) => {
        total++;
        const { name, args, options } = libraryForm(request);
        const error = await dispatcher.enqueue(name, args, options as never).then(
          () => assert.fail("accepted"),
          (e: unknown) => e as Error,
        );
        assert.ok(error instanceof Error, String(error));
        assert.ok(
          error.message.includes(libraryField(field)),
          `${error.message} does not name ${field}`,
        );
        assert.equal(await rows(), before, "nothing is written");
      }),
      { seed: SEED, numRuns: RUNS.library },
    );
    // Still serving.
    await dispatcher.enqueue("add", { a: 1, b: 2 });
    assert.equal(await rows(), before + 1);
  });

  const post = (body: string) =>
    handler(
      new Request("http://localhost/api/tasks", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }),
    );

  it(`POST /api/tasks: ${RUNS.http} cases`, async () => {
    const before = await rows();
    await fc.assert(
      fc.asyncProperty(badCase, async ({ request, field }) => {
        total++;
        const response = await post(JSON.stringify(request));
        const body = await response.json() as { error: string };
        assert.equal(response.status, 400, body.error);
        assert.ok(body.error.includes(field), `${body.error} does not name ${field}`);
        assert.equal(await rows(), before, "nothing is written");
      }),
      { seed: SEED, numRuns: RUNS.http },
    );
    assert.deepEqual(unexpected, [], "no 500");
    assert.equal((await post(JSON.stringify({ name: "add", args: { a: 1, b: 2 } }))).status, 201);
    assert.equal(await rows(), before + 1);
  });

  it(`any request to the admin API: ${RUNS.httpRaw} cases, never a 500`, async () => {
    const before = await rows();
    const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS");
    const path = fc.oneof(
      fc.constantFrom(
        "/api/tasks",
        "/api/tasks/x",
        "/api/tasks/%E0%A4%A/cancel",
        "/api/tasks/abc/wait",
        "/api/stats",
        "/api/events",
        "/metrics",
        "/readyz",
        "/healthz",
        "/",
      ),
      fc.webPath(),
    );
    const query = fc.oneof(
      fc.constant(""),
      fc.constantFrom(
        "?limit=0",
        "?limit=1001",
        "?limit=1e308",
        "?status=toString",
        "?status=__proto__",
        "?cursor=%00",
        "?cursor=zz",
        "?timeout=1e308",
        "?timeout=30d",
        "?timeout=-1",
        "?constructor=1",
      ),
      fc.webQueryParameters().map((q) => `?${q}`),
    );
    const host = fc.oneof(
      fc.constantFrom("localhost", "localhost:7070", "127.0.0.1", "[::1]:1"),
      fc.constantFrom("localhost:7070@evil", "localhost%00.evil.com", "localhost:99999", "évil"),
      fc.domain(),
    );
    const body = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 50 }),
      fc.jsonValue({ maxDepth: 3 }).map((j) => JSON.stringify(j)),
      fc.uint8Array({ maxLength: 40 }),
      fc.integer({ min: 1000, max: 150_000 }).map((n) =>
        `{"name":"add","args":${"[".repeat(n)}${"]".repeat(n)}}`
      ),
    );
    const contentType = fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      "text/plain",
      "",
    );
    await fc.assert(
      fc.asyncProperty(
        method,
        path,
        query,
        host,
        body,
        contentType,
        async (method, path, query, host, body, type) => {
          total++;
          const hasBody = method !== "GET" && method !== "HEAD" && body !== undefined;
          const headers: Record<string, string> = { host };
          if (type) headers["content-type"] = type;
          let request: Request;
          try {
            request = new Request(`http://localhost${path}${query}`, {
              method,
              headers,
              ...(hasBody ? { body } : {}),
            });
          } catch {
            return; // Not a request a client could send.
          }
          const response = await handler(request);
          assert.ok(response.status < 500, `${response.status} for ${method} ${path}${query}`);
          await response.body?.cancel();
        },
      ),
      { seed: SEED, numRuns: RUNS.httpRaw },
    );
    assert.deepEqual(unexpected, [], "no unexpected error reached onError");
    assert.equal(await rows(), before, "nothing is written");
    const health = await handler(new Request("http://localhost/healthz"));
    assert.equal(health.status, 200);
  });

  it(`the library, NDJSON and HTTP agree on what they accept: ${RUNS.agree} cases`, async () => {
    const good: Record<string, fc.Arbitrary<unknown>> = {
      priority: fc.constantFrom("low", "HIGH", " Critical ", "normal"),
      delay: fc.constantFrom(0, 250, "30s", "1h30m", "0"),
      timeout: fc.constantFrom("none", "NONE", null, 1000, "5m"),
      maxAttempts: fc.constantFrom(1, "3", 1000),
      queue: fc.constantFrom("default", "q-1", "a.b/c"),
    };
    const bad: Record<string, fc.Arbitrary<unknown>> = {
      priority: badPriority,
      delay: badDelay,
      timeout: badTimeout,
      maxAttempts: badAttempts,
      queue: badQueue,
    };
    const field = fc.constantFrom(...Object.keys(good));
    const input = field.chain((name) =>
      fc.record({ name: fc.constant(name), value: fc.oneof(good[name]!, bad[name]!) })
    );
    let accepted = 0;
    const before = await rows();
    await fc.assert(
      fc.asyncProperty(input, async ({ name, value }) => {
        total++;
        const request = addWith({ [name]: value });
        const { args, options } = libraryForm(request);
        let library = true;
        try {
          dispatcher.validate("add", args, options as never);
        } catch {
          library = false;
        }
        let ndjson = true;
        try {
          parseEnqueueRequest(JSON.parse(JSON.stringify(request)));
        } catch {
          ndjson = false;
        }
        const response = await post(JSON.stringify(request));
        await response.body?.cancel();
        if (response.status === 201) accepted++;
        assert.deepEqual(
          { library, ndjson, http: response.status === 201 },
          { library, ndjson: library, http: library },
          `${name}: ${JSON.stringify(value)}`,
        );
      }),
      { seed: SEED, numRuns: RUNS.agree },
    );
    assert.equal(await rows(), before + accepted);
  });

  it(`NDJSON import: ${RUNS.ndjson} generated lines and raw junk, each rejected by line`, async () => {
    const before = await rows();
    const cases = fc.sample(badCase, { seed: SEED, numRuns: RUNS.ndjson });
    const junk = [
      "{not json",
      "[1, 2]",
      "null",
      '"name"',
      `{"name":"add","args":${"[".repeat(200_000)}${"]".repeat(200_000)}}`,
      '{"name":"add","__proto__":{"priority":"HIGH"}}',
    ];
    const lines = [...cases.map((c) => JSON.stringify(c.request)), ...junk];
    const path = join(dir.path, "bad.ndjson");
    await writeFile(path, lines.join("\n") + "\n");
    const summary = await importTasks(dispatcher, path, { defaults: {}, progress: false });
    total += lines.length;
    assert.equal(summary.accepted, 0);
    assert.equal(summary.rejected.length, lines.length);
    cases.forEach(({ field }, i) => {
      const problem = summary.rejected[i]!.problem;
      assert.equal(summary.rejected[i]!.line, i + 1);
      assert.ok(problem.includes(field), `line ${i + 1}: ${problem} does not name ${field}`);
    });
    assert.match(summary.rejected.at(-2)!.problem, /args is nested more than 64 levels/);
    assert.match(summary.rejected.at(-1)!.problem, /Unknown field "__proto__"/);
    assert.equal(await rows(), before, "nothing is written");
  });

  it(`the CLI's enqueue with bad flags: ${RUNS.cli} cases, exit 2 naming the flag`, async () => {
    const db = join(dir.path, "cli.db");
    const env = { NO_COLOR: "1", AETHER_DB: db, AETHER_HANDLERS: HANDLERS };
    assert.equal((await captured(() => runCli(["enqueue", "add", '{"a":1,"b":2}'], env))).code, 0);
    const flag = fc.oneof(
      badPriority.filter((p) => typeof p === "string").map((p) => ["--priority", p, "--priority"]),
      fc.oneof(badDurationText, fc.constantFrom("3651d", "1e308")).map((
        d,
      ) => ["--delay", d, "--delay"]),
      fc.oneof(badDurationText.filter((t) => t.trim().toLowerCase() !== "none"), fc.constant("0"))
        .map((t) => ["--timeout", t, "--timeout"]),
      fc.constantFrom("0", "1001", "1e300", "three", "-1", "2.5").map((
        n,
      ) => ["--max-attempts", n, "--max-attempts"]),
      fc.constantFrom("a b", "", "x".repeat(129), "-q").map((q) => ["--queue", q, "--queue"]),
      fc.constantFrom("--toString", "--constructor", "--__proto__", "--prio", "--hasOwnProperty")
        .map((f) => [f, "x", f]),
      fc.constantFrom("{not json", "", "[1,").map((args) => ["ARGS", args, "ARGS_JSON"]),
      fc.integer({ min: 65, max: 50_000 }).map((depth) => [
        "ARGS",
        `${"[".repeat(depth)}${"]".repeat(depth)}`,
        "args is nested more than 64 levels deep",
      ]),
      fc.constantFrom('{"a":"x","b":1}', '{"a":1}', "[]").map((args) => [
        "ARGS",
        args,
        'Invalid arguments for task "add"',
      ]),
    );
    await fc.assert(
      fc.asyncProperty(flag, async ([name, value, label]) => {
        total++;
        const argv = name === "ARGS"
          ? ["enqueue", "add", value!]
          : ["enqueue", "add", '{"a":1,"b":2}', `${name}=${value}`];
        const { code, stderr } = await captured(() => runCli(argv, env));
        assert.equal(code, 2, stderr);
        assert.ok(stderr.includes(label!), `${stderr} does not name ${label}`);
        assert.equal(stderr.trim().split("\n").length, 1, "one line");
      }),
      { seed: SEED, numRuns: RUNS.cli },
    );
    const check = await SqliteTaskStore.open(db);
    assert.equal((await check.stats()).total, 1, "only the first, good enqueue was written");
    await check.close();
    assert.equal((await captured(() => runCli(["enqueue", "add", '{"a":1,"b":2}'], env))).code, 0);
  });

  it("one page limit: list --limit and GET /api/tasks?limit= refuse 0 and 1001 alike", async () => {
    const env = { NO_COLOR: "1", AETHER_DB: join(dir.path, "tasks.db") };
    for (const limit of ["0", "1001"]) {
      const { code, stderr } = await captured(() => runCli(["list", "--limit", limit], env));
      const response = await handler(new Request(`http://localhost/api/tasks?limit=${limit}`));
      const { error } = await response.json() as { error: string };
      assert.equal(code, 2);
      assert.equal(response.status, 400);
      assert.equal(stderr.trim(), `aether-tasks: --${error}`);
    }
  });
});

/** Runs `run` with the process's stdout and stderr captured. */
async function captured(
  run: () => Promise<number>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: "", stderr: "" };
  const streams = { stdout: process.stdout, stderr: process.stderr } as const;
  const originals = { stdout: streams.stdout.write, stderr: streams.stderr.write };
  for (const name of ["stdout", "stderr"] as const) {
    streams[name].write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      out[name] += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof streams.stdout.write;
  }
  try {
    return { code: await run(), ...out };
  } finally {
    streams.stdout.write = originals.stdout;
    streams.stderr.write = originals.stderr;
  }
}
