/**
 * The one enqueue parser: accepted forms, ranges, own-property lookups, and the limits on args
 * (depth, size, unreadable values), through the parser and through the dispatcher.
 */

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import * as v from "valibot";
import { createAdminHandler } from "../src/admin/handler.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import {
  EnqueueInputError,
  MAX_DELAY_MILLIS,
  MAX_TIMEOUT_MILLIS,
  parseEnqueueOptions,
  parseEnqueueRequest,
} from "../src/enqueue_input.ts";
import { InvalidArgumentsError } from "../src/errors.ts";
import { findNonJson, MAX_JSON_BYTES, MAX_JSON_DEPTH } from "../src/json.ts";
import { TaskRegistry } from "../src/registry.ts";
import { nominalBackoff, resolveRetryConfig } from "../src/retry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { FakeClock } from "./_helpers.ts";

const DAY = 86_400_000;
const PROTOTYPE_KEYS = ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"];

/** Asserts `run` throws an EnqueueInputError for `field` whose message matches `message`. */
function refuses(run: () => unknown, field: string, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof EnqueueInputError, String(error));
    assert.equal(error.field, field);
    assert.match(error.message, message);
    return true;
  });
}

describe("enqueue input: accepted forms", () => {
  it("priorities in any case, durations as ms or text, timeout none or null", () => {
    assert.deepEqual(
      parseEnqueueOptions({ priority: "high", delay: "1h30m", timeout: "NONE", queue: "q" }),
      { priority: "HIGH", delay: 5_400_000, timeout: null, queue: "q" },
    );
    assert.deepEqual(parseEnqueueOptions({ delay: 250, timeout: null }), {
      delay: 250,
      timeout: null,
    });
    assert.deepEqual(parseEnqueueOptions({ timeout: "30d" }), { timeout: 30 * DAY });
    assert.deepEqual(parseEnqueueOptions({ delay: "0" }), { delay: 0 });
    assert.deepEqual(parseEnqueueOptions({ delay: 1.6 }), { delay: 2 }, "rounded to whole ms");
  });

  it("maxAttempts as an integer or a text of digits, short or under retryConfig", () => {
    assert.deepEqual(parseEnqueueRequest({ name: "t", maxAttempts: "3" }).options, {
      retryConfig: { maxAttempts: 3 },
    });
    assert.deepEqual(
      parseEnqueueRequest({ name: "t", retryConfig: { maxAttempts: 5, baseDelayMillis: "2s" } })
        .options,
      { retryConfig: { maxAttempts: 5, baseDelayMillis: 2000 } },
    );
    refuses(
      () => parseEnqueueRequest({ name: "t", maxAttempts: 2, retryConfig: { maxAttempts: 3 } }),
      "maxAttempts",
      /give maxAttempts or retryConfig.maxAttempts, not both/,
    );
  });

  it("a request without args gets {}; a text of digits without a unit is refused", () => {
    assert.deepEqual(parseEnqueueRequest({ name: "send-email" }), {
      name: "send-email",
      args: {},
      options: {},
    });
    refuses(() => parseEnqueueOptions({ delay: "30" }), "delay", /delay must be a duration/);
  });
});

describe("enqueue input: ranges", () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "delay 1e308",
      { delay: 1e308 },
      "delay",
      /delay must be a duration from 0 to 10 years.*got 1e\+308/,
    ],
    ["delay 2^53+10", { delay: 2 ** 53 + 10 }, "delay", /delay must be .*got 9007199254741002/],
    ["delay past 10 years", { delay: MAX_DELAY_MILLIS + 1 }, "delay", /10 years/],
    ["delay 3651d", { delay: "3651d" }, "delay", /10 years.*got "3651d"/],
    ["delay -1", { delay: -1 }, "delay", /got -1/],
    ["delay null", { delay: null }, "delay", /got null/],
    ["delay Infinity", { delay: Infinity }, "delay", /got Infinity/],
    ["timeout 1e308", { timeout: 1e308 }, "timeout", /timeout must be a duration from 1ms to 365d/],
    ["timeout 0", { timeout: 0 }, "timeout", /timeout must be .*got 0/],
    ["timeout 366d", { timeout: "366d" }, "timeout", /365d.*got "366d"/],
    ["timeout past the max", { timeout: MAX_TIMEOUT_MILLIS + 1 }, "timeout", /365d/],
    ["priority null", { priority: null }, "priority", /priority must be one of .*got null/],
    ["priority 3", { priority: 3 }, "priority", /got 3/],
    ["queue of 129 characters", { queue: "q".repeat(129) }, "queue", /1-128 characters/],
    ["queue with a space", { queue: "a b" }, "queue", /queue must be a queue name/],
    [
      "maxAttempts 1e300",
      { retryConfig: { maxAttempts: 1e300 } },
      "retryConfig.maxAttempts",
      /retryConfig.maxAttempts must be an integer from 1 to 1000, got 1e\+300/,
    ],
    ["maxAttempts 0", { retryConfig: { maxAttempts: 0 } }, "retryConfig.maxAttempts", /got 0/],
    ["maxAttempts 1001", { retryConfig: { maxAttempts: 1001 } }, "retryConfig.maxAttempts", /1001/],
    ["maxAttempts 2.5", { retryConfig: { maxAttempts: 2.5 } }, "retryConfig.maxAttempts", /2.5/],
    [
      "baseDelayMillis 366d",
      { retryConfig: { baseDelayMillis: 366 * DAY } },
      "retryConfig.baseDelayMillis",
      /from 0 to 365d/,
    ],
    [
      "maxDelayMillis -1",
      { retryConfig: { maxDelayMillis: -1 } },
      "retryConfig.maxDelayMillis",
      /from 0 to 365d/,
    ],
    [
      "backoffMultiplier 101",
      { retryConfig: { backoffMultiplier: 101 } },
      "retryConfig.backoffMultiplier",
      /a number from 1 to 100, got 101/,
    ],
    [
      "useJitter 'yes'",
      { retryConfig: { useJitter: "yes" } },
      "retryConfig.useJitter",
      /true or false/,
    ],
    ["retryConfig null", { retryConfig: null }, "retryConfig", /an object of retry options/],
  ];
  for (const [title, options, field, message] of cases) {
    it(`refuses ${title}, naming the field, the value and the range`, () => {
      refuses(() => parseEnqueueOptions(options), field, message);
    });
  }

  it("accepts the edges of each range", () => {
    assert.deepEqual(parseEnqueueOptions({ delay: MAX_DELAY_MILLIS }), { delay: MAX_DELAY_MILLIS });
    assert.deepEqual(parseEnqueueOptions({ delay: "3650d" }), { delay: MAX_DELAY_MILLIS });
    assert.deepEqual(parseEnqueueOptions({ timeout: 1 }), { timeout: 1 });
    assert.deepEqual(parseEnqueueOptions({ timeout: "365d" }), { timeout: MAX_TIMEOUT_MILLIS });
    assert.deepEqual(
      parseEnqueueOptions({ retryConfig: { maxAttempts: 1000, backoffMultiplier: 100 } }),
      { retryConfig: { maxAttempts: 1000, backoffMultiplier: 100 } },
    );
    assert.deepEqual(parseEnqueueOptions({ queue: "q".repeat(128) }), { queue: "q".repeat(128) });
  });

  it("registered retry configs have the same ranges, and a huge backoff stays at the cap", () => {
    assert.throws(() => resolveRetryConfig({ maxAttempts: 1e300 }), /from 1 to 1000/);
    assert.throws(() => resolveRetryConfig({ backoffMultiplier: 1e9 }), /from 1 to 100/);
    const config = resolveRetryConfig({ maxAttempts: 1000, backoffMultiplier: 100 });
    assert.equal(nominalBackoff(config, 999), config.maxDelayMillis);
    assert.equal(nominalBackoff({ ...config, baseDelayMillis: 0 }, 999), 0);
  });
});

describe("enqueue input: own properties only", () => {
  for (const key of PROTOTYPE_KEYS) {
    it(`priority "${key}" is refused`, () => {
      refuses(() => parseEnqueueOptions({ priority: key }), "priority", /must be one of LOW/);
    });
  }

  it("inherited names are not fields, retry options or registry entries", () => {
    for (const key of PROTOTYPE_KEYS) {
      const line = JSON.parse(`{"name": "t", ${JSON.stringify(key)}: 1}`);
      refuses(() => parseEnqueueRequest(line), key, /Unknown field/);
      const retry = JSON.parse(`{${JSON.stringify(key)}: 1}`);
      refuses(
        () => parseEnqueueOptions({ retryConfig: retry }),
        `retryConfig.${key}`,
        /Unknown field .* of retryConfig/,
      );
      assert.throws(() => resolveRetryConfig(retry), /is not a retry option/);
      assert.throws(() => new TaskRegistry().get(key), /Unknown task/);
    }
  });

  for (const backend of ["memory", "sqlite"] as const) {
    it(`queues called "constructor" and "toString" are counted as their own (${backend})`, async () => {
      const store = backend === "memory"
        ? new InMemoryTaskStore()
        : await SqliteTaskStore.open(":memory:");
      await store.migrate();
      const registry = new TaskRegistry();
      registry.register("toString", () => {});
      const dispatcher = new TaskDispatcher(store, { registry });
      await dispatcher.enqueue("toString", {}, { queue: "constructor" });
      await dispatcher.enqueue("toString", {}, { queue: "toString" });
      const { queues } = await dispatcher.stats();
      assert.deepEqual(Object.keys(queues).sort(), ["constructor", "toString"]);
      assert.equal(queues["constructor"]?.PENDING, 1);
      assert.equal(queues["toString"]?.PENDING, 1);
      assert.equal(typeof Object.prototype.toString, "function");
      assert.equal(Object.hasOwn(Object.prototype.toString, "PENDING"), false);
      await store.close();
    });
  }

  it("a getter that throws is reported as unreadable, without its stack", () => {
    const options = {
      get priority(): string {
        throw new Error("boom\n  at secret.ts:1");
      },
    };
    refuses(() => parseEnqueueOptions(options), "", /Enqueue options could not be read: boom at/);
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    refuses(() => parseEnqueueOptions(revoked.proxy), "", /could not be read/);
  });
});

describe("enqueue input through the dispatcher", () => {
  let store: InMemoryTaskStore;
  let dispatcher: TaskDispatcher;

  beforeEach(() => {
    store = new InMemoryTaskStore();
    const registry = new TaskRegistry();
    registry.register("noop", () => {});
    registry.register("typed", () => {}, { schema: v.object({ a: v.number() }) });
    dispatcher = new TaskDispatcher(store, { registry, clock: new FakeClock() });
  });

  const nested = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = { a: value };
    return value;
  };

  it(`args nested ${MAX_JSON_DEPTH} deep are fine; one more, or 200,000, is a clear error`, async () => {
    await dispatcher.enqueue("noop", nested(MAX_JSON_DEPTH));
    for (const depth of [MAX_JSON_DEPTH + 1, 200_000]) {
      await assert.rejects(dispatcher.enqueue("noop", nested(depth)), (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentsError);
        assert.match(error.message, /args is nested more than 64 levels deep \(at args\.a\.a/);
        return true;
      });
    }
    assert.equal((await dispatcher.stats()).total, 1);
  });

  it("args larger than 1 MiB as JSON are refused, a bit less is fine", async () => {
    await dispatcher.enqueue("noop", { s: "x".repeat(MAX_JSON_BYTES - 100) });
    await assert.rejects(
      dispatcher.enqueue("noop", { s: "x".repeat(MAX_JSON_BYTES) }),
      /args is larger than 1048576 bytes as JSON/,
    );
    await assert.rejects(
      dispatcher.enqueue("noop", { s: "é".repeat(MAX_JSON_BYTES / 2) }),
      /larger than 1048576 bytes/,
      "counted in UTF-8 bytes",
    );
    await assert.rejects(
      dispatcher.enqueue("noop", new Array(MAX_JSON_BYTES).fill(0)),
      /larger than 1048576 bytes/,
    );
    assert.equal((await dispatcher.stats()).total, 1);
  });

  it("args with a getter or proxy that throws say where: args could not be read at …", async () => {
    const args = {
      user: {
        get email(): string {
          throw new Error("no access");
        },
      },
    };
    await assert.rejects(
      dispatcher.enqueue("noop", args),
      /args could not be read at args\.user: no access/,
    );
    const trap = new Proxy({}, {
      ownKeys() {
        throw new TypeError("trap");
      },
    });
    await assert.rejects(
      dispatcher.enqueue("typed", { a: 1, b: trap }),
      /args could not be read at args\.b: trap/,
    );
    assert.equal((await dispatcher.stats()).total, 0);
  });

  it("absurd options are refused with the field and the range; nothing is written", async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ delay: 1e308 }, /delay must be a duration from 0 to 10 years/],
      [{ delay: 2 ** 53 + 10 }, /delay must be/],
      [{ retryConfig: { maxAttempts: 1e300 } }, /retryConfig\.maxAttempts .* 1 to 1000/],
      [{ timeout: 1e308 }, /timeout must be a duration from 1ms to 365d/],
      [{ priority: null }, /priority must be one of/],
      [{ priority: "toString" }, /priority must be one of/],
      [{ priority: "__proto__" }, /priority must be one of/],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(dispatcher.enqueue("noop", {}, options as never), message);
    }
    assert.equal((await dispatcher.stats()).total, 0);
  });

  it("the results and progress of handlers have the same limits", () => {
    assert.match(findNonJson(nested(100), "result") ?? "", /result is nested more than 64/);
    assert.match(
      findNonJson("x".repeat(MAX_JSON_BYTES), "progress") ?? "",
      /progress is larger than 1048576 bytes/,
    );
    assert.equal(findNonJson({ ok: [1, "a", null, { b: true }] }, "result"), null);
  });
});

describe("the fronts take the same forms (the cases of issue 11)", () => {
  it(`POST /api/tasks takes "timeout": "none", any-case priorities and "maxAttempts": "3"`, async () => {
    const store = new InMemoryTaskStore();
    const registry = new TaskRegistry();
    registry.register("noop", () => {});
    const dispatcher = new TaskDispatcher(store, { registry });
    const handler = createAdminHandler({ store, dispatcher });
    const post = (json: unknown) =>
      handler(
        new Request("http://localhost/api/tasks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        }),
      );
    const created = await post({
      name: "noop",
      timeout: "none",
      priority: "high",
      maxAttempts: "3",
      delay: "5m",
    });
    assert.equal(created.status, 201);
    const { id } = await created.json() as { id: string };
    const task = await dispatcher.getTask(id);
    assert.deepEqual(
      [task?.timeoutMillis, task?.priority, task?.maxAttempts, task?.status],
      [null, "HIGH", 3, "SCHEDULED"],
    );
    // The same line through the NDJSON parser and the library's options give the same task.
    assert.deepEqual(
      parseEnqueueRequest({ name: "noop", timeout: "none", priority: "high", maxAttempts: "3" })
        .options,
      { timeout: null, priority: "HIGH", retryConfig: { maxAttempts: 3 } },
    );
    const refused = await post({ name: "noop", delay: "250" });
    assert.equal(refused.status, 400);
    assert.deepEqual(await refused.json(), {
      error: 'delay must be a duration from 0 to 10 years, as ms or a duration such as "30s", ' +
        '"5m" or "1h30m", got "250"',
      details: {
        field: "delay",
        expected: 'a duration from 0 to 10 years, as ms or a duration such as "30s", "5m" or ' +
          '"1h30m"',
      },
    });
    await assert.rejects(dispatcher.enqueue("noop", {}, { delay: "250" as never }), /got "250"/);
    handler.close();
  });
});
