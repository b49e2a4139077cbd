/**
 * Unique tasks on every front: `POST /api/tasks` with `"unique"` answers the existing id and
 * `"duplicate": true`; NDJSON import lines say which were duplicates; the `enqueue` command's
 * `--unique*` flags print the existing id and that it was a duplicate, and refuse bad values with
 * one line naming the flag (exit 2).
 */

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createAdminHandler } from "../src/admin/handler.ts";
import { importTasks, type LineResult } from "../src/cli/bulk_import.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { tempDir } from "./_helpers.ts";
import { childEnv, CLI_FROM_SOURCE, ROOT, run } from "./_process.ts";

const RUNTIME = "Bun" in globalThis ? "bun" : "deno";
const TEST_TIMEOUT = { timeout: 60_000 };

function setup() {
  const store = new InMemoryTaskStore();
  const registry = new TaskRegistry();
  registry.register("sync", () => {});
  const dispatcher = new TaskDispatcher(store, { registry });
  const handler = createAdminHandler({ store, dispatcher, onError: (e) => assert.fail(String(e)) });
  const post = async (body: unknown) => {
    const response = await handler(
      new Request("http://localhost/api/tasks", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );
    return {
      status: response.status,
      location: response.headers.get("location"),
      body: await response.json() as { id: string; duplicate: boolean; error?: string },
    };
  };
  return { store, dispatcher, handler, post };
}

describe("POST /api/tasks with unique", () => {
  it("answers 201 with duplicate: false, then 200 with the same id and duplicate: true", async () => {
    const { handler, post } = setup();
    const body = { name: "sync", args: { account: 7 }, unique: {} };
    const first = await post(body);
    assert.equal(first.status, 201);
    assert.equal(first.body.duplicate, false);
    const second = await post(body);
    assert.equal(second.status, 200);
    assert.deepEqual(second.body, { id: first.body.id, duplicate: true });
    assert.equal(second.location, `/api/tasks/${first.body.id}`);
    const other = await post({ ...body, args: { account: 8 } });
    assert.equal(other.status, 201, "other args are another task");
    handler.close();
  });

  it("honours key and by, also for requests committed in one group", async () => {
    const { handler, post } = setup();
    const unique = { key: "customer-1", by: ["name"] };
    const answers = await Promise.all([
      post({ name: "sync", args: { n: 1 }, unique }),
      post({ name: "sync", args: { n: 2 }, unique }),
      post({ name: "sync", args: { n: 3 }, unique: { ...unique, key: "customer-2" } }),
    ]);
    assert.deepEqual(answers.map((a) => a.body.duplicate), [false, true, false]);
    assert.equal(answers[1]!.body.id, answers[0]!.body.id);
    assert.notEqual(answers[2]!.body.id, answers[0]!.body.id);
    handler.close();
  });

  it("refuses a bad unique option with 400 naming the field", async () => {
    const { handler, post } = setup();
    const answer = await post({ name: "sync", unique: { by: ["colour"] } });
    assert.equal(answer.status, 400);
    assert.match(answer.body.error!, /unique\.by must list one or more of name, queue, args/);
    handler.close();
  });
});

describe("NDJSON import with unique", () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir("aether-unique-")));
  after(async () => await dir.remove());

  it("marks the lines that matched a unique task as duplicates, with its id", async () => {
    const { dispatcher, store } = setup();
    const existing = await dispatcher.enqueue("sync", { n: 0 }, { unique: {} });
    const path = join(dir.path, "tasks.ndjson");
    await writeFile(
      path,
      [
        { name: "sync", args: { n: 0 }, unique: {} },
        { name: "sync", args: { n: 1 }, unique: {} },
        { name: "sync", args: { n: 1 }, unique: {} },
        { name: "sync", args: { n: 1 } },
      ].map((line) => JSON.stringify(line)).join("\n"),
    );
    const results: LineResult[] = [];
    const summary = await importTasks(dispatcher, path, {
      defaults: {},
      progress: false,
      onResults: (batch) => void results.push(...batch),
    });
    assert.equal(summary.accepted, 4);
    assert.equal(summary.duplicates, 2);
    assert.deepEqual(results[0], { line: 1, id: existing, duplicate: true });
    assert.ok(!("duplicate" in results[1]!));
    assert.deepEqual(results[2], {
      line: 3,
      id: (results[1] as { id: string }).id,
      duplicate: true,
    });
    assert.ok(!("duplicate" in results[3]!), "a line without unique is always added");
    assert.equal((await store.list({ limit: 10 })).tasks.length, 3);
  });

  it("applies unique defaults (the --unique flags) to lines that do not set it", async () => {
    const { dispatcher } = setup();
    const path = join(dir.path, "defaults.ndjson");
    await writeFile(path, `{"name":"sync","args":{"n":5}}\n{"name":"sync","args":{"n":5}}\n`);
    const summary = await importTasks(dispatcher, path, {
      defaults: { unique: {} },
      progress: false,
    });
    assert.equal(summary.duplicates, 1);
  });
});

describe("enqueue --unique", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let db: string;
  const handlers = join(ROOT, "tests/fixtures/cli/handlers");
  const cli = (args: readonly string[]) =>
    run([...CLI_FROM_SOURCE[RUNTIME], ...args, "--db", db, "--handlers", handlers], {
      cwd: dir.path,
      env: childEnv(),
    });
  before(async () => {
    dir = await tempDir("aether-unique-cli-");
    db = join(dir.path, "tasks.db");
  });
  after(async () => await dir.remove());

  it(
    "prints the existing id and that it was a duplicate, in JSON and as text",
    TEST_TIMEOUT,
    async () => {
      const first = await cli(["enqueue", "add", '{"a":1,"b":2}', "--unique", "--json"]);
      assert.equal(first.code, 0, first.stderr);
      const { id, duplicate } = JSON.parse(first.stdout);
      assert.equal(duplicate, false);
      const second = await cli(["enqueue", "add", '{"a":1,"b":2}', "--unique", "--json"]);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout), { id, duplicate: true });
      const text = await cli(["enqueue", "add", '{"b":2,"a":1}', "--unique"]);
      assert.equal(text.code, 0, text.stderr);
      assert.equal(text.stdout, `${id}\n`);
      assert.match(
        text.stderr,
        new RegExp(`^Duplicate: unique task ${id} already exists; nothing was added\n$`),
      );
      const plain = await cli(["enqueue", "add", '{"a":1,"b":2}', "--json"]);
      assert.equal(JSON.parse(plain.stdout).duplicate, false, "without --unique a task is added");
    },
  );

  it(
    "--unique-key, --unique-by, --unique-period and --unique-states shape the key",
    TEST_TIMEOUT,
    async () => {
      const flags = ["--unique-key", "acct-9", "--unique-by", "name", "--unique-period", "1h"];
      const a = await cli(["enqueue", "add", '{"a":5,"b":5}', ...flags, "--json"]);
      const b = await cli(["enqueue", "add", '{"a":6,"b":6}', ...flags, "--json"]);
      assert.equal(a.code, 0, a.stderr);
      assert.deepEqual(JSON.parse(b.stdout), { id: JSON.parse(a.stdout).id, duplicate: true });
      const otherKey = await cli([
        "enqueue",
        "add",
        '{"a":6,"b":6}',
        "--unique-key",
        "acct-10",
        "--unique-by",
        "name",
        "--json",
      ]);
      assert.equal(JSON.parse(otherKey.stdout).duplicate, false);
      const states = await cli([
        "enqueue",
        "add",
        '{"a":7,"b":7}',
        "--unique-states",
        "completed",
        "--json",
      ]);
      assert.equal(states.code, 0, states.stderr);
      assert.equal(JSON.parse(states.stdout).duplicate, false);
    },
  );

  it("refuses bad values with one line naming the flag, exit 2", TEST_TIMEOUT, async () => {
    const cases: [string[], RegExp][] = [
      [
        ["--unique-by", "name,colour"],
        /--unique-by must list one or more of name, queue, args, got .*colour/,
      ],
      [["--unique-by", ""], /--unique-by must list one or more/],
      [["--unique-period", "0"], /--unique-period must be at least 1ms, got "0"/],
      [["--unique-period", "soon"], /--unique-period/],
      [["--unique-states", "DONE"], /--unique-states must list statuses of .*, got "DONE"$/m],
      [["--unique-key", ""], /--unique-key must be a text of 1 to 1000 characters/],
    ];
    for (const [flags, message] of cases) {
      const result = await cli(["enqueue", "add", '{"a":1,"b":1}', ...flags]);
      assert.equal(result.code, 2, `${flags.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    }
  });
});
