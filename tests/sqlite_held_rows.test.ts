/**
 * The SQLite store writes a completion of a task it claimed without `RETURNING *`, building the
 * record from the claimed row: the record it returns must be exactly what the database holds.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { HeldRows, MAX_HELD_ROWS } from "../src/store/sqlite/held_rows.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskRecord } from "../src/task.ts";
import { makeTask, tempDir } from "./_helpers.ts";

const T0 = 1_700_000_000_000;
const LEASE = 30_000;

describe("SqliteTaskStore completions of held tasks", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let store: SqliteTaskStore;
  const others: SqliteTaskStore[] = [];

  beforeEach(async () => {
    dir = await tempDir("aether-held-");
    store = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
  });
  afterEach(async () => {
    for (const other of others.splice(0)) await other.close();
    await store.close();
    await dir.remove();
  });

  const claimOne = async (args: TaskRecord["args"] = { n: 1 }): Promise<TaskRecord> => {
    await store.insert([makeTask({ args, runAt: T0, createdAt: T0 })]);
    const [claimed] = await store.claim({
      workerId: "w1",
      queues: ["default"],
      limit: 1,
      now: T0,
      leaseMillis: LEASE,
    });
    assert.ok(claimed?.attemptToken);
    return claimed;
  };
  const complete = (task: TaskRecord, now: number, extra: { startedAt?: number } = {}) => ({
    kind: "completed" as const,
    id: task.id,
    token: task.attemptToken!,
    now,
    result: { ok: true },
    ...extra,
  });

  it("a completion after a start mark in an earlier commit returns the stored record", async () => {
    const task = await claimOne();
    await store.finish([], [{ id: task.id, token: task.attemptToken!, at: T0 + 3 }]);
    const [done] = await store.finish([complete(task, T0 + 9)]);
    assert.equal(done?.startedAt, T0 + 3);
    assert.deepEqual(done, await store.get(task.id));
  });

  it("a start mark and a completion in one commit return the stored record", async () => {
    const task = await claimOne();
    const [done] = await store.finish([complete(task, T0 + 9)], [
      { id: task.id, token: task.attemptToken!, at: T0 + 4 },
    ]);
    assert.equal(done?.startedAt, T0 + 4);
    assert.deepEqual(done, await store.get(task.id));
  });

  it("a completion carrying its start returns the stored record", async () => {
    const task = await claimOne();
    const [done] = await store.finish([complete(task, T0 + 9, { startedAt: T0 + 5 })]);
    assert.equal(done?.status, "COMPLETED");
    assert.equal(done?.startedAt, T0 + 5);
    assert.deepEqual(done?.result, { ok: true });
    assert.deepEqual(done, await store.get(task.id));
  });

  it("progress and logs written while held are in the completed record", async () => {
    const task = await claimOne();
    const token = task.attemptToken!;
    assert.equal(await store.reportProgress({ id: task.id, token, progress: { step: 2 } }), true);
    assert.equal(await store.reportProgress({ id: task.id, token, logs: ["a", "b"] }), true);
    const [done] = await store.finish([complete(task, T0 + 9)]);
    assert.deepEqual(done?.progress, { step: 2 });
    assert.deepEqual(done?.logs, ["a", "b"]);
    assert.deepEqual(done, await store.get(task.id));
  });

  it("a cancel requested over another connection shows in the completed record", async () => {
    const task = await claimOne();
    const other = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
    others.push(other);
    assert.equal((await other.cancel(task.id, T0 + 2))?.cancelRequested, true);
    const [done] = await store.finish([complete(task, T0 + 9)]);
    assert.equal(done?.status, "COMPLETED");
    assert.equal(done?.cancelRequested, true);
    assert.deepEqual(done, await store.get(task.id));
  });

  it("a completion with a stale token is rejected and changes nothing", async () => {
    const task = await claimOne();
    // Another connection gives the task back and claims it again: this store's row is stale.
    const other = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
    others.push(other);
    const token = task.attemptToken!;
    assert.equal(
      (await other.finish([{ kind: "released", id: task.id, token, now: T0 }]))[0]?.status,
      "PENDING",
    );
    const [again] = await other.claim({
      workerId: "w2",
      queues: ["default"],
      limit: 1,
      now: T0 + 1,
      leaseMillis: LEASE,
    });
    assert.ok(again?.attemptToken && again.attemptToken !== token);
    const [late] = await store.finish([complete(task, T0 + 9)]);
    assert.equal(late, null);
    assert.deepEqual(await store.get(task.id), again);
  });

  it("a task claimed by another store instance completes with the stored record", async () => {
    const other = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
    others.push(other);
    await store.insert([makeTask({ runAt: T0, createdAt: T0 })]);
    const [task] = await other.claim({
      workerId: "w1",
      queues: ["default"],
      limit: 1,
      now: T0,
      leaseMillis: LEASE,
    });
    const [done] = await store.finish([complete(task!, T0 + 9)]);
    assert.equal(done?.status, "COMPLETED");
    assert.deepEqual(done, await store.get(task!.id));
  });
});

describe("HeldRows", () => {
  const row = (id: string, token = "t") => ({
    id,
    attempt_token: token,
    started_at: null,
    progress: null,
    logs: null,
  });

  it("gives a row back once, and only for its token", () => {
    const held = new HeldRows();
    held.add([row("a"), row("b")]);
    assert.equal(held.take("a", "other"), undefined);
    assert.equal(held.take("a", "t"), undefined, "a wrong token drops the row");
    assert.equal(held.take("b", "t")?.id, "b");
    assert.equal(held.take("b", "t"), undefined);
    assert.equal(held.size, 0);
  });

  it(`keeps at most ${MAX_HELD_ROWS} rows, forgetting the oldest`, () => {
    const held = new HeldRows();
    held.add(Array.from({ length: MAX_HELD_ROWS + 10 }, (_, i) => row(`r${i}`)));
    assert.equal(held.size, MAX_HELD_ROWS);
    assert.equal(held.peek("r9", "t"), undefined);
    assert.equal(held.peek("r10", "t")?.id, "r10");
  });
});
