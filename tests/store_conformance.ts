/**
 * The store conformance suite: every TaskStore backend runs these same tests.
 * Call `storeConformance(name, open)` from a backend's test file.
 */

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { Outcome, ScheduleInput, StoreEvent, TaskStore } from "../src/store/store.ts";
import { MAX_LOG_LINES } from "../src/store/store.ts";
import { InvalidCursorError } from "../src/errors.ts";
import { MAX_ATTEMPT_HISTORY, type TaskRecord, type TaskStatus } from "../src/task.ts";
import { DEFAULT_RETRY_CONFIG } from "../src/retry.ts";
import { makeTask } from "./_helpers.ts";

const T0 = 1_700_000_000_000;
const LEASE = 30_000;

export function storeConformance(
  backend: string,
  open: () => Promise<{ store: TaskStore; cleanup?: () => Promise<void> }>,
  /** `contractV3: false` leaves out the v3 cases (unique keys, flow limits, schedules). */
  options: { contractV3?: boolean } = {},
): void {
  describe(`TaskStore conformance: ${backend}`, () => {
    let store: TaskStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
      await cleanup?.();
    });

    const claim = (limit = 10, now = T0, queues = ["default"], workerId = "w1") =>
      store.claim({ workerId, queues, limit, now, leaseMillis: LEASE });
    const finishOne = async (outcome: Outcome) => (await store.finish([outcome]))[0] ?? null;
    const finishAll = (tasks: TaskRecord[], now: number) =>
      store.finish(tasks.map((t) => ({
        kind: "completed" as const,
        id: t.id,
        token: t.attemptToken!,
        now,
        result: null,
      })));
    const insertClaimed = async (overrides: Partial<TaskRecord> = {}) => {
      const task = makeTask(overrides);
      await store.insert([task]);
      const [claimed] = await claim(1, task.runAt, [task.queue]);
      assert.ok(claimed, "the inserted task is claimed");
      return claimed;
    };

    it("insert then get returns every field as written", async () => {
      const task = makeTask({
        args: { to: "a@b.c", nested: [1, { x: null }], unicode: "ü ✓" },
        priority: "HIGH",
        queue: "mail",
        status: "SCHEDULED",
        runAt: T0 + 5000,
        maxAttempts: 5,
        retryConfig: {
          maxAttempts: 5,
          baseDelayMillis: 10,
          backoffMultiplier: 3,
          maxDelayMillis: 99,
          useJitter: false,
        },
        timeoutMillis: 1234,
      });
      await store.insert([task]);
      assert.deepEqual(await store.get(task.id), task);
    });

    it("get of an unknown id is null", async () => {
      assert.equal(await store.get("00000000-0000-7000-8000-000000000000"), null);
    });

    it("a batch with a duplicate id is refused whole", async () => {
      const first = makeTask();
      await store.insert([first]);
      const fresh = makeTask();
      await assert.rejects(store.insert([fresh, { ...makeTask(), id: first.id }]));
      assert.equal(await store.get(fresh.id), null);
    });

    it("claims by priority, then due time, then insertion order", async () => {
      const low = makeTask({ priority: "LOW" });
      const normalLate = makeTask({ runAt: T0 - 10 });
      const normalEarly = makeTask({ runAt: T0 - 20 });
      const normalEarly2 = makeTask({ runAt: T0 - 20 });
      const critical = makeTask({ priority: "CRITICAL" });
      const high = makeTask({ priority: "HIGH" });
      await store.insert([low, normalLate, normalEarly, normalEarly2, critical, high]);
      const claimed = await claim(10);
      assert.deepEqual(
        claimed.map((t) => t.id),
        [critical.id, high.id, normalEarly.id, normalEarly2.id, normalLate.id, low.id],
      );
    });

    it("a claim marks tasks PROCESSING with a lease, worker id, fresh token and counted attempt", async () => {
      const task = makeTask();
      await store.insert([task]);
      const [claimed] = await claim(1, T0 + 7, ["default"], "worker-a");
      assert.ok(claimed);
      assert.equal(claimed.status, "PROCESSING");
      assert.equal(claimed.attempts, 1);
      assert.equal(claimed.workerId, "worker-a");
      assert.equal(claimed.leaseExpiresAt, T0 + 7 + LEASE);
      assert.equal(claimed.startedAt, null, "claimed, not yet started");
      assert.equal(typeof claimed.attemptToken, "string");
      assert.deepEqual(await store.get(task.id), claimed);
    });

    it("claims respect the limit, due time and queues, and never hand out a task twice", async () => {
      const due = [makeTask(), makeTask(), makeTask()];
      const later = makeTask({ status: "SCHEDULED", runAt: T0 + 1000 });
      const otherQueue = makeTask({ queue: "other" });
      await store.insert([...due, later, otherQueue]);
      assert.equal((await claim(2)).length, 2);
      assert.equal((await claim(5)).length, 1);
      assert.equal((await claim(5)).length, 0);
      const [atDue] = await claim(5, T0 + 1000);
      assert.equal(atDue?.id, later.id);
      const [other] = await claim(5, T0, ["other", "default"]);
      assert.equal(other?.id, otherQueue.id);
    });

    it("each claim gets a distinct attempt token", async () => {
      const task = await insertClaimed();
      await finishOne({ kind: "released", id: task.id, token: task.attemptToken!, now: T0 });
      const [again] = await claim(1);
      assert.ok(again?.attemptToken);
      assert.notEqual(again.attemptToken, task.attemptToken);
    });

    it("completed stores the result and clears the lease", async () => {
      const task = await insertClaimed();
      const result = { rows: [1, 2, 3], ok: true };
      const done = await finishOne({
        kind: "completed",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 5,
        result,
      });
      assert.equal(done?.status, "COMPLETED");
      assert.deepEqual(done?.result, result);
      assert.equal(done?.completedAt, T0 + 5);
      assert.equal(done?.attemptToken, null);
      assert.equal(done?.leaseExpiresAt, null);
      assert.deepEqual(await store.get(task.id), done);
    });

    it("a null result is kept as null", async () => {
      const task = await insertClaimed();
      const done = await finishOne({
        kind: "completed",
        id: task.id,
        token: task.attemptToken!,
        now: T0,
        result: null,
      });
      assert.equal(done?.result, null);
      assert.equal(done?.status, "COMPLETED");
    });

    it("an outcome with a stale token is rejected and changes nothing", async () => {
      const task = await insertClaimed();
      const before = await store.get(task.id);
      assert.equal(
        await finishOne({
          kind: "completed",
          id: task.id,
          token: "not-the-token",
          now: T0,
          result: 1,
        }),
        null,
      );
      assert.deepEqual(await store.get(task.id), before);
      await finishOne({
        kind: "completed",
        id: task.id,
        token: task.attemptToken!,
        now: T0,
        result: 1,
      });
      assert.equal(
        await finishOne({
          kind: "failed",
          id: task.id,
          token: task.attemptToken!,
          now: T0,
          error: { message: "late" },
        }),
        null,
        "a second outcome for the same attempt is rejected",
      );
      assert.equal((await store.get(task.id))?.status, "COMPLETED");
    });

    it("retry makes the task RETRYING, due at runAt, and the next claim counts another attempt", async () => {
      const task = await insertClaimed();
      const error = { message: "boom", stack: "Error: boom\n  at x" };
      const retrying = await finishOne({
        kind: "retry",
        id: task.id,
        token: task.attemptToken!,
        now: T0,
        error,
        runAt: T0 + 1000,
      });
      assert.equal(retrying?.status, "RETRYING");
      assert.equal(retrying?.runAt, T0 + 1000);
      assert.deepEqual(retrying?.lastError, error);
      assert.equal((await claim(1, T0 + 999)).length, 0);
      const [again] = await claim(1, T0 + 1000);
      assert.equal(again?.attempts, 2);
    });

    it("failed is final and keeps the error", async () => {
      const task = await insertClaimed();
      const failed = await finishOne({
        kind: "failed",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 3,
        error: { message: "bad" },
      });
      assert.equal(failed?.status, "FAILED");
      assert.equal(failed?.completedAt, T0 + 3);
      assert.deepEqual(failed?.lastError, { message: "bad" });
      assert.equal((await claim(1, T0 + 10_000_000)).length, 0);
    });

    it("released gives the task back without spending the attempt", async () => {
      const task = await insertClaimed();
      const released = await finishOne({
        kind: "released",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 9,
      });
      assert.equal(released?.status, "PENDING");
      assert.equal(released?.attempts, 0);
      assert.equal(released?.runAt, T0 + 9);
      assert.equal((await claim(1, T0 + 9)).length, 1);
    });

    it("finish applies a batch of outcomes and rejects only the stale ones", async () => {
      await store.insert([makeTask(), makeTask(), makeTask()]);
      const [a, b, c] = await claim(3);
      const results = await store.finish([
        { kind: "completed", id: a!.id, token: a!.attemptToken!, now: T0, result: "a" },
        { kind: "completed", id: b!.id, token: "stale", now: T0, result: "b" },
        { kind: "failed", id: c!.id, token: c!.attemptToken!, now: T0, error: { message: "c" } },
      ]);
      assert.deepEqual(results.map((r) => r?.status ?? null), ["COMPLETED", null, "FAILED"]);
    });

    it("finishAndClaim records outcomes, then claims into the freed slots, in one go", async () => {
      await store.insert([makeTask(), makeTask(), makeTask({ priority: "HIGH", runAt: T0 + 5 })]);
      const [a, b] = await claim(2);
      const { finished, claimed } = await store.finishAndClaim([
        { kind: "completed", id: a!.id, token: a!.attemptToken!, now: T0, result: "a" },
        { kind: "completed", id: b!.id, token: "stale", now: T0, result: "b" },
      ], { workerId: "w2", queues: ["default"], limit: 2, now: T0 + 5, leaseMillis: LEASE });
      assert.deepEqual(finished.map((t) => t?.status ?? null), ["COMPLETED", null]);
      assert.equal(claimed.length, 1, "only the third task was waiting");
      assert.equal(claimed[0]?.workerId, "w2");
      assert.equal(claimed[0]?.priority, "HIGH");
      assert.equal((await store.get(b!.id))?.status, "PROCESSING");
    });

    it("cancel ends a waiting task at once and refuses final ones", async () => {
      const pending = makeTask();
      const scheduled = makeTask({ status: "SCHEDULED", runAt: T0 + 50 });
      await store.insert([pending, scheduled]);
      assert.equal((await store.cancel(pending.id, T0 + 1))?.status, "CANCELLED");
      const cancelled = await store.cancel(scheduled.id, T0 + 2);
      assert.equal(cancelled?.status, "CANCELLED");
      assert.equal(cancelled?.completedAt, T0 + 2);
      assert.equal(await store.cancel(pending.id, T0), null, "already cancelled");
      assert.equal(await store.cancel("00000000-0000-7000-8000-000000000000", T0), null);
      assert.equal((await claim(5, T0 + 100)).length, 0, "cancelled tasks are not claimed");
    });

    it("cancel of a PROCESSING task flags it; its next outcome ends CANCELLED", async () => {
      const task = await insertClaimed();
      const flagged = await store.cancel(task.id, T0);
      assert.equal(flagged?.status, "PROCESSING");
      assert.equal(flagged?.cancelRequested, true);
      const renewal = await store.renewLeases(
        [{ id: task.id, token: task.attemptToken! }],
        T0 + LEASE,
      );
      assert.deepEqual(renewal, { lost: [], cancelRequested: [task.id] });
      const ended = await finishOne({
        kind: "retry",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 1,
        error: { message: "aborted" },
        runAt: T0 + 10,
      });
      assert.equal(ended?.status, "CANCELLED");
      assert.equal(ended?.completedAt, T0 + 1);
    });

    it("a task that completes despite a cancel request stays COMPLETED", async () => {
      const task = await insertClaimed();
      await store.cancel(task.id, T0);
      const done = await finishOne({
        kind: "completed",
        id: task.id,
        token: task.attemptToken!,
        now: T0,
        result: 7,
      });
      assert.equal(done?.status, "COMPLETED");
    });

    it("retry brings FAILED and CANCELLED tasks back with a fresh budget, and refuses others", async () => {
      const task = await insertClaimed();
      await finishOne({
        kind: "failed",
        id: task.id,
        token: task.attemptToken!,
        now: T0,
        error: { message: "x" },
      });
      const again = await store.retry(task.id, T0 + 50);
      assert.equal(again?.status, "PENDING");
      assert.equal(again?.attempts, 0);
      assert.equal(again?.runAt, T0 + 50);
      assert.equal(again?.completedAt, null);
      assert.equal(await store.retry(task.id, T0), null, "a PENDING task cannot be retried");
      await store.cancel(task.id, T0);
      assert.equal((await store.retry(task.id, T0 + 60))?.status, "PENDING");
      assert.equal(await store.retry("00000000-0000-7000-8000-000000000000", T0), null);
      const [claimed] = await claim(1, T0 + 60);
      assert.equal(claimed?.attempts, 1);
    });

    it("renewLeases extends held leases and reports lost ones", async () => {
      const task = await insertClaimed();
      const renewal = await store.renewLeases(
        [{ id: task.id, token: task.attemptToken! }, { id: task.id, token: "stale" }],
        T0 + 99_000,
      );
      assert.deepEqual(renewal, { lost: [task.id], cancelRequested: [] });
      assert.equal((await store.get(task.id))?.leaseExpiresAt, T0 + 99_000);
    });

    it("findExpiredLeases lists PROCESSING tasks whose lease ended, oldest first", async () => {
      const a = await insertClaimed();
      const b = await insertClaimed({ runAt: T0 + 10 });
      assert.equal((await store.findExpiredLeases(T0 + LEASE, 10)).length, 0);
      const expired = await store.findExpiredLeases(T0 + LEASE + 11, 10);
      assert.deepEqual(expired.map((t) => t.id), [a.id, b.id]);
      assert.equal((await store.findExpiredLeases(T0 + LEASE + 11, 1)).length, 1);
    });

    it("reportProgress keeps the latest value and a bounded log, fenced by the token", async () => {
      const task = await insertClaimed();
      const ref = { id: task.id, token: task.attemptToken! };
      assert.equal(await store.reportProgress({ ...ref, progress: { done: 1, of: 3 } }), true);
      assert.equal(await store.reportProgress({ ...ref, logs: ["one", "two"] }), true);
      assert.equal(await store.reportProgress({ ...ref, progress: 0.5, logs: ["three"] }), true);
      let stored = await store.get(task.id);
      assert.equal(stored?.progress, 0.5);
      assert.deepEqual(stored?.logs, ["one", "two", "three"]);
      assert.equal(await store.reportProgress({ id: task.id, token: "stale", progress: 1 }), false);
      const many = Array.from({ length: MAX_LOG_LINES + 5 }, (_, i) => `line ${i}`);
      await store.reportProgress({ ...ref, logs: many });
      stored = await store.get(task.id);
      assert.equal(stored?.logs.length, MAX_LOG_LINES);
      assert.equal(stored?.logs.at(-1), `line ${MAX_LOG_LINES + 4}`);
    });

    it("list filters by status, name and queue and pages newest first", async () => {
      const tasks = Array.from(
        { length: 7 },
        (_, i) => makeTask({ name: i % 2 ? "odd" : "even", queue: i < 5 ? "default" : "q2" }),
      );
      await store.insert(tasks);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ limit: 3, ...(cursor ? { cursor } : {}) });
        assert.ok(page.tasks.length <= 3);
        seen.push(...page.tasks.map((t) => t.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      assert.deepEqual(seen, tasks.map((t) => t.id).reverse());
      const exact = await store.list({ limit: 7 });
      assert.equal(exact.nextCursor, null, "no further page when the page is exactly full");
      assert.deepEqual((await store.list({ limit: 10, name: "odd" })).tasks.length, 3);
      assert.deepEqual((await store.list({ limit: 10, queue: "q2" })).tasks.length, 2);
      await store.cancel(tasks[0]!.id, T0);
      const cancelled = await store.list({ limit: 10, status: "CANCELLED" });
      assert.deepEqual(cancelled.tasks.map((t) => t.id), [tasks[0]!.id]);
    });

    it("stats counts tasks per status overall and per queue", async () => {
      await store.insert([
        makeTask(),
        makeTask(),
        makeTask({ queue: "q2", status: "SCHEDULED", runAt: T0 + 1 }),
      ]);
      const [claimed] = await claim(1);
      await finishOne({
        kind: "completed",
        id: claimed!.id,
        token: claimed!.attemptToken!,
        now: T0,
        result: null,
      });
      const stats = await store.stats();
      assert.equal(stats.total, 3);
      assert.equal(stats.byStatus.PENDING, 1);
      assert.equal(stats.byStatus.COMPLETED, 1);
      assert.equal(stats.byStatus.SCHEDULED, 1);
      assert.equal(stats.byStatus.FAILED, 0);
      assert.equal(stats.queues.default?.COMPLETED, 1);
      assert.equal(stats.queues.q2?.SCHEDULED, 1);
    });

    it("prune deletes only final tasks of the given statuses finished before the cut-off", async () => {
      await store.insert([makeTask(), makeTask(), makeTask()]);
      const [a, b] = await claim(2);
      await store.finish([
        { kind: "completed", id: a!.id, token: a!.attemptToken!, now: T0 + 10, result: null },
        {
          kind: "failed",
          id: b!.id,
          token: b!.attemptToken!,
          now: T0 + 20,
          error: { message: "x" },
        },
      ]);
      const prune = (before: number, statuses: TaskStatus[], limit = 100) =>
        store.prune({ before, statuses, limit });
      assert.equal(await prune(T0 + 15, ["COMPLETED", "FAILED"]), 1);
      assert.equal(await store.get(a!.id), null);
      assert.equal(await prune(T0 + 100, ["COMPLETED"]), 0);
      assert.equal(await prune(T0 + 100, ["FAILED"]), 1);
      assert.equal((await store.stats()).total, 1);
    });

    it("prune deletes at most limit rows per call", async () => {
      await store.insert(Array.from({ length: 7 }, () => makeTask()));
      await finishAll(await claim(7), T0 + 1);
      const step = () => store.prune({ before: T0 + 2, statuses: ["COMPLETED"], limit: 3 });
      assert.deepEqual([await step(), await step(), await step(), await step()], [3, 3, 1, 0]);
      await assert.rejects(
        store.prune({ before: T0, statuses: ["COMPLETED"], limit: 0 }),
        RangeError,
      );
    });

    it("start marks and an outcome's startedAt record when a claimed task began, fenced", async () => {
      await store.insert([makeTask(), makeTask()]);
      const [a, b] = await claim(2);
      await store.finish([], [
        { id: a!.id, token: a!.attemptToken!, at: T0 + 3 },
        { id: b!.id, token: "stale", at: T0 + 3 },
      ]);
      assert.equal((await store.get(a!.id))?.startedAt, T0 + 3);
      assert.equal((await store.get(b!.id))?.startedAt, null);
      const [done] = await store.finish([{
        kind: "completed",
        id: b!.id,
        token: b!.attemptToken!,
        now: T0 + 9,
        startedAt: T0 + 4,
        result: null,
      }]);
      assert.deepEqual([done?.startedAt, done?.completedAt], [T0 + 4, T0 + 9]);
      await store.insert([makeTask()]);
      const { claimed } = await store.finishAndClaim(
        [],
        { workerId: "w1", queues: ["default"], limit: 1, now: T0, leaseMillis: LEASE },
        [{ id: a!.id, token: a!.attemptToken!, at: T0 + 5 }],
      );
      assert.equal(claimed.length, 1);
      assert.equal((await store.get(a!.id))?.startedAt, T0 + 5);
    });

    it("a claim with minPriority takes only tasks of at least that rank", async () => {
      const low = makeTask({ priority: "LOW" });
      const critical = makeTask({ priority: "CRITICAL" });
      const high = makeTask({ priority: "HIGH" });
      await store.insert([low, critical, high]);
      const claimed = await store.claim({
        workerId: "w1",
        queues: ["default"],
        limit: 10,
        now: T0,
        leaseMillis: LEASE,
        minPriority: 2,
      });
      assert.deepEqual(claimed.map((t) => t.id), [critical.id, high.id]);
      assert.deepEqual((await claim(10)).map((t) => t.id), [low.id]);
    });

    it("insert returns one result per task, in order", async () => {
      const tasks = [makeTask(), makeTask(), makeTask()];
      assert.deepEqual(
        await store.insert(tasks),
        tasks.map((t) => ({ id: t.id, inserted: true })),
      );
      assert.deepEqual(await store.insert([]), []);
    });

    it("list cursors are opaque strings the store made; anything else is refused", async () => {
      await store.insert(Array.from({ length: 5 }, () => makeTask()));
      const first = await store.list({ limit: 2 });
      assert.equal(typeof first.nextCursor, "string");
      assert.doesNotMatch(first.nextCursor!, /^\d+$/, "not a bare row number");
      const second = await store.list({ limit: 2, cursor: first.nextCursor! });
      assert.equal(second.tasks.length, 2);
      assert.ok(second.tasks.every((t) => !first.tasks.some((f) => f.id === t.id)));
      for (const bad of ["12", "abc", "", "eyJ4IjoxfQ", "W10", first.nextCursor!.slice(0, -2)]) {
        await assert.rejects(store.list({ limit: 2, cursor: bad }), InvalidCursorError, bad);
      }
    });

    it("list and count filter by id prefix and by args text", async () => {
      const tasks = [
        makeTask({ args: { to: "ann@example.com" } }),
        makeTask({ args: { to: "bob@example.com" } }),
        makeTask({ args: { to: "ann@other.org" }, name: "other" }),
      ];
      await store.insert(tasks);
      const one = tasks[1]!;
      const byPrefix = await store.list({ idPrefix: one.id.slice(0, 30), limit: 10 });
      assert.deepEqual(byPrefix.tasks.map((t) => t.id), [one.id]);
      assert.equal((await store.list({ idPrefix: one.id, limit: 10 })).tasks.length, 1);
      assert.equal((await store.list({ idPrefix: "ffffffff", limit: 10 })).tasks.length, 0);
      const ann = await store.list({ argsContains: "ann@", limit: 10 });
      assert.deepEqual(new Set(ann.tasks.map((t) => t.id)), new Set([tasks[0]!.id, tasks[2]!.id]));
      assert.equal(await store.count({ argsContains: "ann@" }), 2);
      assert.equal(await store.count({ argsContains: "ann@", name: "other" }), 1);
      assert.equal(await store.count({ status: "PENDING", queue: "default" }), 3);
      assert.equal(await store.count({ status: "FAILED" }), 0);
      assert.equal(await store.count({}), 3);
    });

    it("bulk acts on at most limit tasks the filter selects and the action fits", async () => {
      await store.insert([
        ...Array.from({ length: 5 }, () => makeTask({ name: "a" })),
        makeTask({ name: "b" }),
      ]);
      const claimed = await claim(4);
      await store.finish(claimed.map((t) => ({
        kind: "failed" as const,
        id: t.id,
        token: t.attemptToken!,
        now: T0 + 1,
        error: { message: "x" },
      })));
      const bulk = (action: "retry" | "cancel" | "delete", filter = {}, limit = 100) =>
        store.bulk({ action, filter, limit, now: T0 + 2 });
      assert.equal(await bulk("retry", { name: "a" }, 3), 3);
      assert.equal(await store.count({ status: "FAILED" }), 1);
      assert.equal(await store.count({ status: "PENDING" }), 5);
      assert.equal(await bulk("cancel", { name: "b" }), 1);
      assert.equal(await store.count({ status: "CANCELLED" }), 1);
      assert.equal(await bulk("delete"), 2, "the FAILED and the CANCELLED task");
      assert.equal(await bulk("delete"), 0, "nothing finished is left");
      assert.equal((await store.stats()).total, 4);
      assert.equal(await bulk("cancel", {}, 100), 4);
      await assert.rejects(bulk("retry", {}, 0), RangeError);
    });

    it("stats, kept as counters, always equal a recount of the rows", async () => {
      const recount = async () => {
        const counts: Record<string, number> = {};
        for (const t of (await store.list({ limit: 1000 })).tasks) {
          const key = `${t.queue}/${t.status}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
        return counts;
      };
      const fromStats = async () => {
        const counts: Record<string, number> = {};
        const stats = await store.stats();
        let total = 0;
        for (const [queue, byStatus] of Object.entries(stats.queues)) {
          for (const [status, n] of Object.entries(byStatus)) {
            if (n) counts[`${queue}/${status}`] = n;
            total += n;
          }
        }
        assert.equal(stats.total, total);
        return counts;
      };
      const check = async (step: string) =>
        assert.deepEqual(await fromStats(), await recount(), step);
      let random = 42;
      const next = (n: number) => (random = (random * 1103515245 + 12345) % 2147483648) % n;
      for (let round = 0; round < 12; round++) {
        const queue = ["default", "q2"][next(2)]!;
        await store.insert(
          Array.from(
            { length: 1 + next(4) },
            () => makeTask({ queue, status: next(3) ? "PENDING" : "SCHEDULED", runAt: T0 }),
          ),
        );
        await check(`insert ${round}`);
        const claimed = await claim(1 + next(4), T0, ["default", "q2"]);
        await check(`claim ${round}`);
        const kinds = ["completed", "failed", "retry", "released", "cancelled"] as const;
        await store.finish(claimed.map((t): Outcome => {
          const base = { id: t.id, token: t.attemptToken!, now: T0 + round };
          const kind = kinds[next(kinds.length)]!;
          if (kind === "completed") return { ...base, kind, result: null };
          if (kind === "retry") return { ...base, kind, runAt: T0, error: { message: "r" } };
          if (kind === "released") return { ...base, kind };
          return { ...base, kind, error: { message: "e" } };
        }));
        await check(`finish ${round}`);
        const some = (await store.list({ limit: 1000 })).tasks;
        const pick = some[next(some.length)]!;
        await store.cancel(pick.id, T0 + round);
        await store.retry(some[next(some.length)]!.id, T0 + round);
        await check(`cancel and retry ${round}`);
        await store.bulk({ action: "retry", filter: { queue }, limit: 2, now: T0 });
        await store.prune({ before: T0 + round, statuses: ["COMPLETED"], limit: 2 });
        await check(`bulk and prune ${round}`);
      }
    });

    it("history counts finished attempts per minute", async () => {
      await store.insert(Array.from({ length: 4 }, () => makeTask()));
      const [a, b, c, d] = await claim(4);
      const minute = T0 - (T0 % 60_000);
      await store.finish([
        { kind: "completed", id: a!.id, token: a!.attemptToken!, now: minute + 1, result: null },
        { kind: "completed", id: b!.id, token: b!.attemptToken!, now: minute + 2, result: null },
        {
          kind: "failed",
          id: c!.id,
          token: c!.attemptToken!,
          now: minute + 60_001,
          error: { message: "x" },
        },
        {
          kind: "retry",
          id: d!.id,
          token: d!.attemptToken!,
          now: minute + 60_002,
          runAt: T0,
          error: { message: "x" },
        },
      ]);
      assert.deepEqual(await store.history(minute, minute + 120_000), [
        { at: minute, completed: 2, failed: 0, retried: 0 },
        { at: minute + 60_000, completed: 0, failed: 1, retried: 1 },
      ]);
      assert.deepEqual(await store.history(minute + 60_000, minute + 120_000), [
        { at: minute + 60_000, completed: 0, failed: 1, retried: 1 },
      ]);
    });

    it("a paused queue is not claimed from until resumed; enqueues are still accepted", async () => {
      const paused = await store.setQueuePaused("q2", true, T0);
      assert.deepEqual(paused, { name: "q2", paused: true, updatedAt: T0 });
      const task = makeTask({ queue: "q2" });
      await store.insert([task, makeTask()]);
      assert.deepEqual((await claim(10, T0, ["default", "q2"])).map((t) => t.queue), ["default"]);
      assert.deepEqual(await store.listQueues(), [
        { name: "default", paused: false, updatedAt: null },
        { name: "q2", paused: true, updatedAt: T0 },
      ]);
      await store.setQueuePaused("q2", false, T0 + 1);
      assert.deepEqual((await claim(10, T0, ["q2"])).map((t) => t.id), [task.id]);
      assert.equal((await store.listQueues()).find((q) => q.name === "q2")?.paused, false);
    });

    it("keeps a registry of worker processes with heartbeats", async () => {
      const info = {
        id: "w-1",
        host: "h1",
        pid: 42,
        startedAt: T0,
        lastBeatAt: T0,
        queues: ["default"],
        concurrency: 4,
        meta: { version: "x" },
      };
      await store.registerWorker(info);
      await store.registerWorker({ ...info, id: "w-2", startedAt: T0 + 1, lastBeatAt: T0 + 1 });
      assert.equal(await store.heartbeatWorker("w-1", T0 + 5, { busy: 2 }), true);
      assert.equal(await store.heartbeatWorker("nobody", T0 + 5), false);
      const workers = await store.listWorkers();
      assert.deepEqual(workers.map((w) => w.id), ["w-1", "w-2"]);
      assert.deepEqual(workers[0], { ...info, lastBeatAt: T0 + 5, meta: { busy: 2 } });
      await store.removeWorker("w-1");
      assert.deepEqual((await store.listWorkers()).map((w) => w.id), ["w-2"]);
    });

    it("one holder leads at a time; it extends, resigns, or loses it when it lapses", async () => {
      const lead = (holder: string, now: number) =>
        store.lead({ name: "maintenance", holder, now, ttlMillis: 1000 });
      assert.deepEqual(await lead("a", T0), {
        name: "maintenance",
        holder: "a",
        expiresAt: T0 + 1000,
      });
      assert.equal((await lead("b", T0 + 10)).holder, "a");
      assert.equal((await lead("a", T0 + 500)).expiresAt, T0 + 1500);
      assert.equal((await lead("b", T0 + 1499)).holder, "a");
      assert.equal((await lead("b", T0 + 1500)).holder, "b", "a lapsed");
      await store.resign("maintenance", "a");
      assert.equal((await lead("a", T0 + 1600)).holder, "b", "a cannot resign b's leadership");
      await store.resign("maintenance", "b");
      assert.equal((await lead("a", T0 + 1601)).holder, "a");
      assert.equal(
        (await store.lead({ name: "other", holder: "b", now: T0, ttlMillis: 5 })).holder,
        "b",
      );
    });

    it("the notifier and listen deliver the same events", async () => {
      const viaNotifier: StoreEvent[] = [];
      const viaListen: StoreEvent[] = [];
      const off = [
        store.notifier.listen((e) => viaNotifier.push(e)),
        store.listen((e) => viaListen.push(e)),
      ];
      await store.insert([makeTask()]);
      await new Promise((resolve) => setTimeout(resolve, 0));
      off.forEach((f) => f());
      assert.deepEqual(viaNotifier, [{ type: "inserted", queue: "default", runAt: T0 }]);
      assert.deepEqual(viaListen, viaNotifier);
    });

    it("announces inserts, finishes and cancel requests to listeners", async () => {
      const events: StoreEvent[] = [];
      const unlisten = store.listen((e) => events.push(e));
      const a = makeTask({ runAt: T0 + 5, status: "SCHEDULED" });
      const b = makeTask({ runAt: T0 + 2, status: "SCHEDULED" });
      await store.insert([a, b]);
      await store.cancel(a.id, T0);
      const [claimed] = await claim(1, T0 + 10);
      await store.cancel(claimed!.id, T0);
      await finishOne({
        kind: "completed",
        id: claimed!.id,
        token: claimed!.attemptToken!,
        now: T0,
        result: null,
      });
      await new Promise((resolve) => setTimeout(resolve, 0));
      unlisten();
      assert.deepEqual(events, [
        { type: "inserted", queue: "default", runAt: T0 + 2 },
        { type: "finished", ids: [a.id] },
        { type: "cancelRequested", id: b.id },
        { type: "finished", ids: [b.id] },
      ]);
    });

    it("claims still find due work among many finished tasks", async () => {
      const done = Array.from({ length: 2000 }, () => makeTask());
      await store.insert(done);
      for (let left = done.length; left > 0;) {
        const claimed = await claim(500);
        left -= claimed.length;
        await store.finish(
          claimed.map((t) => ({
            kind: "completed" as const,
            id: t.id,
            token: t.attemptToken!,
            now: T0,
            result: null,
          })),
        );
      }
      const fresh = makeTask({ priority: "LOW" });
      await store.insert([fresh]);
      assert.deepEqual((await claim(10)).map((t) => t.id), [fresh.id]);
    });

    // Claims by task name (rolling deploys: a worker claims only what it has a handler for).
    describe("claims by task name", () => {
      const claimNames = (names: readonly string[] | undefined, limit = 10, queues = ["default"]) =>
        store.claim({
          workerId: "w1",
          queues,
          limit,
          now: T0,
          leaseMillis: LEASE,
          ...(names === undefined ? {} : { names }),
        });

      it("a claim with names takes only tasks of those names; the others stay waiting unspent", async () => {
        const a = makeTask({ name: "resize" });
        const b = makeTask({ name: "email" });
        const c = makeTask({ name: "resize" });
        const d = makeTask({ name: "report", priority: "CRITICAL" });
        await store.insert([a, b, c, d]);
        const claimed = await claimNames(["resize", "email"]);
        assert.deepEqual(claimed.map((t) => t.id), [a.id, b.id, c.id]);
        const left = await store.get(d.id);
        assert.equal(left?.status, "PENDING");
        assert.equal(left?.attempts, 0);
        assert.deepEqual((await claimNames(["resize"])).map((t) => t.id), []);
        assert.deepEqual((await claimNames(undefined)).map((t) => t.id), [d.id]);
      });

      it("an empty list of names claims nothing; names absent claims any name", async () => {
        const a = makeTask({ name: "resize" });
        await store.insert([a]);
        assert.deepEqual(await claimNames([]), []);
        assert.equal((await store.get(a.id))?.status, "PENDING");
        assert.deepEqual((await claimNames(undefined)).map((t) => t.id), [a.id]);
      });

      it("a task of another name ahead in line does not hold back the tasks a claim can take", async () => {
        const blockers = Array.from(
          { length: 5 },
          () => makeTask({ name: "other", priority: "HIGH" }),
        );
        const mine = Array.from({ length: 3 }, () => makeTask({ name: "mine", queue: "q2" }));
        const low = makeTask({ name: "mine", priority: "LOW" });
        await store.insert([...blockers, ...mine, low]);
        const claimed = await claimNames(["mine"], 3, ["default", "q2"]);
        assert.deepEqual(claimed.map((t) => t.id), mine.map((t) => t.id));
        assert.deepEqual((await claimNames(["mine"], 3, ["default", "q2"])).map((t) => t.id), [
          low.id,
        ]);
        assert.equal(await store.count({ status: "PENDING", name: "other" }), 5);
      });

      it("finishAndClaim's claim honours names", async () => {
        const first = makeTask({ name: "mine" });
        await store.insert([first]);
        const [held] = await claimNames(["mine"]);
        const other = makeTask({ name: "other" });
        const next = makeTask({ name: "mine" });
        await store.insert([other, next]);
        const { finished, claimed } = await store.finishAndClaim(
          [{ kind: "completed", id: held!.id, token: held!.attemptToken!, now: T0, result: null }],
          {
            workerId: "w1",
            queues: ["default"],
            limit: 5,
            now: T0,
            leaseMillis: LEASE,
            names: ["mine"],
          },
        );
        assert.equal(finished[0]?.status, "COMPLETED");
        assert.deepEqual(claimed.map((t) => t.id), [next.id]);
        const empty = await store.finishAndClaim([], {
          workerId: "w1",
          queues: ["default"],
          limit: 5,
          now: T0,
          leaseMillis: LEASE,
          names: [],
        });
        assert.deepEqual(empty.claimed, []);
        assert.equal((await store.get(other.id))?.status, "PENDING");
      });

      if (options.contractV3 === false) return;

      it("names and a task name's flow limit combine: each holds back what it should", async () => {
        await store.setLimits("task", "limited", { rateLimit: null, maxRunning: 1 }, T0);
        const l1 = makeTask({ name: "limited" });
        const l2 = makeTask({ name: "limited" });
        const free = makeTask({ name: "free" });
        const foreign = makeTask({ name: "foreign" });
        await store.insert([l1, l2, free, foreign]);
        const claimed = await claimNames(["limited", "free"]);
        assert.deepEqual(claimed.map((t) => t.id), [l1.id, free.id]);
        assert.equal((await store.get(l2.id))?.status, "PENDING");
        assert.equal((await store.get(foreign.id))?.status, "PENDING");
      });
    });

    it("findCancelRequested reads which held tasks have a cancel requested, fenced by token", async () => {
      const find = store.findCancelRequested?.bind(store);
      assert.ok(find, "the store reads cancel flags");
      const [a, b] = [makeTask({ name: "a" }), makeTask({ name: "b" })];
      await store.insert([a, b]);
      const [ca, cb] = await claim(2);
      const leases = [ca!, cb!].map((t) => ({ id: t.id, token: t.attemptToken! }));
      assert.deepEqual(await find(leases), []);
      await store.cancel(cb!.id, T0 + 1);
      assert.deepEqual(await find(leases), [cb!.id]);
      assert.deepEqual(await find([{ id: cb!.id, token: "not-the-token" }]), []);
      assert.deepEqual(await find([]), []);
      assert.equal((await store.get(cb!.id))?.status, "PROCESSING", "a read changes nothing");
    });

    it("countWaitingByName counts waiting tasks per name, most first, leaving out the excluded names", async () => {
      const count = store.countWaitingByName?.bind(store);
      assert.ok(count, "the store counts waiting tasks per name");
      await store.insert([
        makeTask({ name: "resize" }),
        makeTask({ name: "resize", status: "SCHEDULED", runAt: T0 + 60_000 }),
        makeTask({ name: "resize", queue: "other" }),
        makeTask({ name: "email" }),
        makeTask({ name: "pdf" }),
        makeTask({ name: "pdf" }),
        makeTask({ name: "known" }),
      ]);
      const [running] = await claim(1); // the first resize: PROCESSING is not waiting
      assert.equal(running?.name, "resize");
      assert.deepEqual(await count({ excluding: ["known"], limit: 10 }), [
        { name: "pdf", waiting: 2 },
        { name: "resize", waiting: 2 },
        { name: "email", waiting: 1 },
      ]);
      assert.deepEqual(await count({ excluding: [], limit: 2 }), [
        { name: "pdf", waiting: 2 },
        { name: "resize", waiting: 2 },
      ]);
      await assert.rejects(count({ excluding: [], limit: 0 }), RangeError);
    });

    it("a task's trace context is stored, claimed and kept; a task without one has none", async () => {
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      const tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
      // Mixed in one batch: runs with and without a context go in different statements.
      const both = makeTask({ traceparent, tracestate });
      const parentOnly = makeTask({ traceparent });
      const none = makeTask();
      const alsoBoth = makeTask({ traceparent, tracestate });
      await store.insert([both, parentOnly, none, alsoBoth]);
      for (const task of [both, parentOnly, none, alsoBoth]) {
        assert.deepEqual(await store.get(task.id), task);
      }
      const none2 = await store.get(none.id);
      assert.equal(none2?.traceparent ?? null, null);
      assert.equal(none2?.tracestate ?? null, null);
      const claimed = new Map((await claim(10)).map((t) => [t.id, t]));
      assert.equal(claimed.get(both.id)?.traceparent, traceparent);
      assert.equal(claimed.get(both.id)?.tracestate, tracestate);
      assert.equal(claimed.get(parentOnly.id)?.tracestate ?? null, null);
      assert.equal(claimed.get(none.id)?.traceparent ?? null, null);
      const [retried] = await store.finish([{
        kind: "retry",
        id: both.id,
        token: claimed.get(both.id)!.attemptToken!,
        now: T0,
        error: { message: "again" },
        runAt: T0,
      }]);
      assert.equal(retried?.traceparent, traceparent, "a retry keeps the producer's context");
      if (options.contractV3 === false) return;
      const unique = { ...makeTask({ traceparent, tracestate }), uniqueKey: "traced" };
      await store.insert([unique]);
      assert.equal((await store.get(unique.id))?.traceparent, traceparent);
    });

    if (options.contractV3 === false) return;

    // Contract v3: unique tasks.
    const DEFAULT_UNIQUE: TaskStatus[] = ["PENDING", "SCHEDULED", "RETRYING", "PROCESSING"];
    const uniqueTask = (key: string, overrides: Partial<TaskRecord> = {}) => ({
      ...makeTask(overrides),
      uniqueKey: key,
      uniqueStates: DEFAULT_UNIQUE,
    });

    it("a unique task is stored once while it waits or runs; a duplicate returns its id", async () => {
      const first = uniqueTask("k1");
      const [a] = await store.insert([first]);
      assert.deepEqual(a, { id: first.id, inserted: true });
      const [b] = await store.insert([uniqueTask("k1")]);
      assert.deepEqual(b, { id: first.id, inserted: false });
      const [claimed] = await claim(1);
      assert.equal(claimed?.id, first.id);
      assert.deepEqual((await store.insert([uniqueTask("k1")]))[0], {
        id: first.id,
        inserted: false,
      });
      await finishAll([claimed!], T0 + 1);
      // COMPLETED is not one of the unique states: the key is free again.
      const again = uniqueTask("k1");
      assert.deepEqual((await store.insert([again]))[0], { id: again.id, inserted: true });
      assert.equal(await store.count({}), 2);
      assert.equal((await store.stats()).total, 2);
    });

    it("duplicates within one batch collapse to the first; other keys and plain tasks insert", async () => {
      const a = uniqueTask("k"), b = uniqueTask("k"), c = makeTask(), d = uniqueTask("other");
      const results = await store.insert([a, b, c, d]);
      assert.deepEqual(results, [
        { id: a.id, inserted: true },
        { id: a.id, inserted: false },
        { id: c.id, inserted: true },
        { id: d.id, inserted: true },
      ]);
      assert.equal(await store.get(b.id), null);
      assert.equal((await store.stats()).byStatus.PENDING, 3);
    });

    it("unique states may add final ones: a COMPLETED task then still holds its key", async () => {
      const first = {
        ...uniqueTask("k2"),
        uniqueStates: [...DEFAULT_UNIQUE, "COMPLETED" as const],
      };
      await store.insert([first]);
      await finishAll(await claim(1), T0 + 1);
      assert.deepEqual((await store.insert([uniqueTask("k2")]))[0], {
        id: first.id,
        inserted: false,
      });
    });

    it("retrying a failed unique task gives up its key, so it never collides", async () => {
      const first = uniqueTask("k3");
      await store.insert([first]);
      const [claimed] = await claim(1);
      await finishOne({
        kind: "failed",
        id: first.id,
        token: claimed!.attemptToken!,
        now: T0,
        error: { message: "x" },
      });
      const second = uniqueTask("k3");
      assert.equal((await store.insert([second]))[0]?.inserted, true);
      assert.equal((await store.retry(first.id, T0 + 1))?.status, "PENDING");
      const third = uniqueTask("k3");
      assert.deepEqual((await store.insert([third]))[0], { id: second.id, inserted: false });
    });

    // Contract v3: flow limits.
    const startsOf = async () => (await store.list({ limit: 1000, status: "PROCESSING" })).tasks;

    it("maxRunning of a queue caps PROCESSING tasks across claims; held tasks stay waiting", async () => {
      await store.setLimits("queue", "default", { rateLimit: null, maxRunning: 2 }, T0);
      await store.insert(Array.from({ length: 5 }, () => makeTask()));
      let held: (number | null)[] = [];
      const request = (workerId: string) => ({
        workerId,
        queues: ["default"],
        limit: 10,
        now: T0,
        leaseMillis: LEASE,
        onHeldBack: (at: number | null) => held.push(at),
      });
      const first = await store.claim(request("w1"));
      assert.equal(first.length, 2);
      assert.deepEqual(held, [null]);
      held = [];
      assert.equal((await store.claim(request("w2"))).length, 0);
      assert.deepEqual(held, [null]);
      const waiting = (await store.list({ limit: 10, status: "PENDING" })).tasks;
      assert.equal(waiting.length, 3);
      assert.ok(waiting.every((t) => t.attempts === 0), "no attempt spent on held tasks");
      await finishAll(first.slice(0, 1), T0 + 1);
      assert.equal((await store.claim(request("w2"))).length, 1);
    });

    it("a rate limit allows limit starts per sliding window and says when the next frees", async () => {
      await store.setLimits("queue", "default", {
        rateLimit: { limit: 3, perMillis: 1000 },
        maxRunning: null,
      }, T0);
      await store.insert(Array.from({ length: 10 }, () => makeTask()));
      const held: (number | null)[] = [];
      const at = (now: number) =>
        store.claim({
          workerId: "w",
          queues: ["default"],
          limit: 10,
          now,
          leaseMillis: LEASE,
          onHeldBack: (t) => held.push(t),
        });
      assert.equal((await at(T0)).length, 2 + 1);
      assert.deepEqual(held, [T0 + 1000]);
      assert.equal((await at(T0 + 500)).length, 0);
      assert.equal((await at(T0 + 999)).length, 0);
      assert.equal((await at(T0 + 1000)).length, 3);
      // A claim with an older clock still counts starts a newer clock committed.
      assert.equal((await at(T0 + 900)).length, 0);
      const started = await startsOf();
      assert.equal(started.length, 6);
      // The start the limit counted is the task's start time; a later start mark keeps it.
      assert.deepEqual(started.map((t) => t.startedAt).sort(), [
        T0,
        T0,
        T0,
        T0 + 1000,
        T0 + 1000,
        T0 + 1000,
      ]);
      const one = started[0]!;
      await store.finish([], [{ id: one.id, token: one.attemptToken!, at: one.startedAt! + 77 }]);
      assert.equal((await store.get(one.id))?.startedAt, one.startedAt);
      const two = started[1]!;
      const [done] = await store.finish([{
        kind: "completed",
        id: two.id,
        token: two.attemptToken!,
        now: T0 + 2000,
        startedAt: two.startedAt! + 99,
        result: null,
      }]);
      assert.equal(done?.startedAt, two.startedAt);
    });

    it("limits by task name hold across queues; other names and queues are not held", async () => {
      await store.setLimits("task", "slow", { rateLimit: null, maxRunning: 1 }, T0);
      await store.insert([
        makeTask({ name: "slow", queue: "a", priority: "HIGH" }),
        makeTask({ name: "slow", queue: "b", priority: "HIGH" }),
        makeTask({ name: "fast", queue: "a" }),
        makeTask({ name: "fast", queue: "b" }),
      ]);
      const claimed = await claim(10, T0, ["a", "b"]);
      assert.deepEqual(claimed.map((t) => t.name).sort(), ["fast", "fast", "slow"]);
      assert.equal((await claim(10, T0, ["a", "b"])).length, 0);
    });

    it("setLimits stores, lists and removes limits; limits validate nothing themselves", async () => {
      const stored = await store.setLimits("queue", "mail", {
        rateLimit: { limit: 10, perMillis: 1000 },
        maxRunning: 5,
      }, T0);
      assert.deepEqual(stored, {
        scope: "queue",
        name: "mail",
        rateLimit: { limit: 10, perMillis: 1000 },
        maxRunning: 5,
        updatedAt: T0,
      });
      await store.setLimits("task", "x", { rateLimit: null, maxRunning: 0 }, T0);
      assert.deepEqual((await store.listLimits()).map((l) => [l.scope, l.name]), [
        ["queue", "mail"],
        ["task", "x"],
      ]);
      await store.setLimits("queue", "mail", { rateLimit: null, maxRunning: null }, T0 + 1);
      assert.deepEqual((await store.listLimits()).map((l) => l.name), ["x"]);
    });

    it("a queue without limits claims as before while another queue is limited", async () => {
      await store.setLimits("queue", "limited", { rateLimit: null, maxRunning: 0 }, T0);
      await store.insert([makeTask({ queue: "limited" }), makeTask(), makeTask()]);
      assert.equal((await claim(10, T0, ["default"])).length, 2);
      assert.equal((await claim(10, T0, ["limited", "default"])).length, 0);
    });

    // Contract v3: schedules and the slot ledger.
    const scheduleInput = (id: string, overrides: Partial<ScheduleInput> = {}): ScheduleInput => ({
      id,
      task: "test-task",
      cron: "* * * * *",
      timezone: null,
      args: { n: 1 },
      queue: null,
      priority: null,
      catchUp: "skip",
      catchUpWindowMillis: 86_400_000,
      overlap: "allow",
      source: "api",
      retired: false,
      ...overrides,
    });
    const slot = (scheduleId: string, slotAt: number, now = slotAt) =>
      store.recordSlot({ scheduleId, slotAt, now, task: makeTask({ createdAt: now, runAt: now }) });

    it("upsertSchedule creates and replaces a schedule, keeping its slot state", async () => {
      const created = await store.upsertSchedule(scheduleInput("s1"), T0);
      assert.deepEqual(created, {
        ...scheduleInput("s1"),
        createdAt: T0,
        updatedAt: T0,
        lastSlotAt: null,
        lastTaskId: null,
      });
      const fired = await slot("s1", T0 + 60_000);
      const updated = await store.upsertSchedule(
        scheduleInput("s1", { cron: "0 * * * *", timezone: "Europe/Berlin", args: { n: 2 } }),
        T0 + 5,
      );
      assert.equal(updated.cron, "0 * * * *");
      assert.equal(updated.timezone, "Europe/Berlin");
      assert.deepEqual(updated.args, { n: 2 });
      assert.equal(updated.createdAt, T0);
      assert.equal(updated.updatedAt, T0 + 5);
      assert.equal(updated.lastSlotAt, T0 + 60_000);
      assert.equal(updated.lastTaskId, fired.taskId);
      assert.deepEqual((await store.listSchedules()).map((s) => s.id), ["s1"]);
    });

    it("a slot fires once: its task is inserted with scheduledFor, a second record is taken", async () => {
      await store.upsertSchedule(scheduleInput("s"), T0);
      const at = T0 + 60_000;
      const [first, second] = await Promise.all([slot("s", at), slot("s", at)]);
      const outcomes = [first!.outcome, second!.outcome].sort();
      assert.deepEqual(outcomes, ["fired", "taken"]);
      const fired = first!.outcome === "fired" ? first! : second!;
      const task = await store.get(fired.taskId!);
      assert.equal(task?.scheduledFor, at);
      assert.equal(await store.count({}), 1);
      // An earlier slot than the last recorded never fires.
      assert.equal((await slot("s", at - 60_000)).outcome, "taken");
      assert.deepEqual(
        (await store.listSlots("s", 10)).map((s) => [s.slotAt, s.taskId]),
        [[at, fired.taskId]],
      );
      const [claimed] = await claim(1, at);
      assert.equal(claimed?.scheduledFor, at);
    });

    it("a slot whose unique task's key is taken records the existing task", async () => {
      await store.upsertSchedule(scheduleInput("u"), T0);
      const first = uniqueTask("slot-key");
      await store.insert([first]);
      const fired = await store.recordSlot({
        scheduleId: "u",
        slotAt: T0 + 60_000,
        now: T0 + 60_000,
        task: uniqueTask("slot-key", { createdAt: T0 + 60_000 }),
      });
      assert.deepEqual(fired, { outcome: "fired", taskId: first.id });
      assert.equal(await store.count({}), 1);
      assert.equal((await store.listSchedules())[0]?.lastTaskId, first.id);
    });

    it("overlap skip records the slot with no task while the last task waits or runs", async () => {
      await store.upsertSchedule(scheduleInput("o", { overlap: "skip" }), T0);
      const one = await slot("o", T0 + 60_000);
      assert.equal(one.outcome, "fired");
      const two = await slot("o", T0 + 120_000);
      assert.deepEqual(two, { outcome: "skipped", taskId: null });
      const [claimed] = await claim(1, T0 + 120_000);
      assert.equal((await slot("o", T0 + 180_000)).outcome, "skipped");
      await finishAll([claimed!], T0 + 200_000);
      assert.equal((await slot("o", T0 + 240_000)).outcome, "fired");
      assert.deepEqual(
        (await store.listSlots("o", 10)).map((s) => s.taskId === null),
        [false, true, true, false],
      );
    });

    it("retired and deleted schedules never fire; retire keeps api schedules and those in code", async () => {
      await store.upsertSchedule(scheduleInput("code-a", { source: "code" }), T0);
      await store.upsertSchedule(scheduleInput("code-b", { source: "code" }), T0);
      await store.upsertSchedule(scheduleInput("api"), T0);
      assert.deepEqual(await store.retireSchedules(["code-a"], T0 + 1), ["code-b"]);
      assert.equal((await slot("code-b", T0 + 60_000)).outcome, "taken");
      assert.equal((await slot("code-a", T0 + 60_000)).outcome, "fired");
      assert.equal((await slot("api", T0 + 60_000)).outcome, "fired");
      // Upserting it again from code brings it back.
      await store.upsertSchedule(scheduleInput("code-b", { source: "code" }), T0 + 2);
      assert.equal((await slot("code-b", T0 + 120_000)).outcome, "fired");
      assert.equal(await store.deleteSchedule("api"), true);
      assert.equal(await store.deleteSchedule("api"), false);
      assert.equal((await slot("api", T0 + 120_000)).outcome, "taken");
      assert.deepEqual(await store.listSlots("api", 10), []);
      assert.equal(await store.count({}), 3);
    });

    it("pruneSlots deletes old ledger rows in bounded steps; old slots still never refire", async () => {
      await store.upsertSchedule(scheduleInput("p"), T0);
      for (let i = 1; i <= 5; i++) await slot("p", T0 + i * 60_000);
      assert.equal(await store.pruneSlots(T0 + 4 * 60_000, 2), 2);
      assert.equal(await store.pruneSlots(T0 + 4 * 60_000, 2), 1);
      assert.equal(await store.pruneSlots(T0 + 4 * 60_000, 2), 0);
      assert.deepEqual((await store.listSlots("p", 10)).map((s) => s.slotAt), [
        T0 + 5 * 60_000,
        T0 + 4 * 60_000,
      ]);
      assert.equal((await slot("p", T0 + 60_000)).outcome, "taken");
    });
  });

  describe(`TaskStore conformance, handler controls: ${backend}`, () => {
    let store: TaskStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
      await cleanup?.();
    });

    const claimOne = async (now: number, workerId = "w1") => {
      const [task] = await store.claim({
        workerId,
        queues: ["default"],
        limit: 1,
        now,
        leaseMillis: LEASE,
      });
      return task;
    };
    const finishOne = async (outcome: Outcome) => (await store.finish([outcome]))[0] ?? null;
    const held = async (now = T0, workerId = "w1") => {
      const task = makeTask({ retryConfig: { ...DEFAULT_RETRY_CONFIG, maxAttempts: 5 } });
      await store.insert([task]);
      const claimed = await claimOne(now, workerId);
      assert.ok(claimed?.attemptToken, "the inserted task is claimed");
      return claimed;
    };

    it("snoozed makes the task SCHEDULED at runAt without spending the attempt", async () => {
      const task = await held();
      assert.equal(task.attempts, 1);
      const snoozed = await finishOne({
        kind: "snoozed",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 10,
        startedAt: T0 + 1,
        runAt: T0 + 600_000,
      });
      assert.equal(snoozed?.status, "SCHEDULED");
      assert.equal(snoozed?.runAt, T0 + 600_000);
      assert.equal(snoozed?.attempts, 0, "the snoozed attempt is given back");
      assert.equal(snoozed?.attemptToken, null);
      assert.equal(snoozed?.leaseExpiresAt, null);
      assert.equal(snoozed?.completedAt, null);
      assert.deepEqual(snoozed?.attemptHistory, [{
        attempt: 1,
        startedAt: T0 + 1,
        endedAt: T0 + 10,
        outcome: "snoozed",
        workerId: "w1",
        error: null,
      }]);
      assert.deepEqual(await store.get(task.id), snoozed);
      const stale = await finishOne({
        kind: "snoozed",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 20,
        runAt: T0 + 5,
      });
      assert.equal(stale, null, "a second snooze of the same attempt is refused");
      assert.deepEqual(await store.get(task.id), snoozed, "and changes nothing");
      assert.equal(await claimOne(T0 + 599_999), undefined, "not due before runAt");
      const again = await claimOne(T0 + 600_000);
      assert.equal(again?.id, task.id);
      assert.equal(again?.attempts, 1, "the next run is attempt 1 again");
      assert.equal((await store.stats()).byStatus.PROCESSING, 1);
    });

    it("a snooze of a task whose cancel was requested ends it CANCELLED", async () => {
      const task = await held();
      await store.cancel(task.id, T0 + 1);
      const done = await finishOne({
        kind: "snoozed",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 2,
        runAt: T0 + 60_000,
      });
      assert.equal(done?.status, "CANCELLED");
      assert.equal(done?.completedAt, T0 + 2);
      assert.equal(done?.attemptHistory?.at(-1)?.outcome, "cancelled");
    });

    it("each applied outcome appends an attempt entry; a stale one appends none", async () => {
      const task = await held(T0, "w1");
      assert.equal(task.attemptHistory, undefined, "no entry before an attempt ends");
      await store.finish([], [{ id: task.id, token: task.attemptToken!, at: T0 + 5 }]);
      const error = { message: "boom", stack: "Error: boom\n  at x" };
      const retrying = await finishOne({
        kind: "retry",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + 50,
        error,
        runAt: T0 + 1000,
      });
      assert.deepEqual(retrying?.attemptHistory, [
        {
          attempt: 1,
          startedAt: T0 + 5,
          endedAt: T0 + 50,
          outcome: "retry",
          workerId: "w1",
          error,
        },
      ]);
      assert.equal(
        await finishOne({
          kind: "completed",
          id: task.id,
          token: task.attemptToken!,
          now: T0 + 60,
          result: 1,
        }),
        null,
        "the old token is stale",
      );
      assert.equal((await store.get(task.id))?.attemptHistory?.length, 1);
      const second = await claimOne(T0 + 1000, "w2");
      const done = await finishOne({
        kind: "completed",
        id: task.id,
        token: second!.attemptToken!,
        now: T0 + 1100,
        result: { ok: true },
      });
      assert.deepEqual(done?.attemptHistory?.[1], {
        attempt: 2,
        startedAt: null,
        endedAt: T0 + 1100,
        outcome: "completed",
        workerId: "w2",
        error: null,
      });
      assert.deepEqual((await store.get(task.id))?.attemptHistory, done?.attemptHistory);
    });

    it("failed, cancelled and released attempts are kept with their outcome", async () => {
      const failing = await held();
      const failed = await finishOne({
        kind: "failed",
        id: failing.id,
        token: failing.attemptToken!,
        now: T0 + 1,
        error: { message: "permanent" },
      });
      assert.deepEqual(
        failed?.attemptHistory?.map((e) => [e.outcome, e.error?.message ?? null]),
        [["failed", "permanent"]],
      );
      const releasing = await held();
      const released = await finishOne({
        kind: "released",
        id: releasing.id,
        token: releasing.attemptToken!,
        now: T0 + 2,
      });
      assert.deepEqual(released?.attemptHistory?.map((e) => [e.attempt, e.outcome]), [
        [1, "released"],
      ]);
      const cancelling = await held();
      const cancelled = await finishOne({
        kind: "cancelled",
        id: cancelling.id,
        token: cancelling.attemptToken!,
        now: T0 + 3,
        error: { message: "stopped" },
      });
      assert.deepEqual(cancelled?.attemptHistory?.map((e) => [e.outcome, e.error]), [
        ["cancelled", { message: "stopped" }],
      ]);
    });

    it("an outcome marked expired records the attempt as expired", async () => {
      const task = await held();
      const rescued = await finishOne({
        kind: "retry",
        id: task.id,
        token: task.attemptToken!,
        now: T0 + LEASE + 1,
        error: { message: "Lease expired" },
        runAt: T0 + LEASE + 1001,
        expired: true,
      });
      assert.equal(rescued?.status, "RETRYING");
      assert.deepEqual(rescued?.attemptHistory?.map((e) => [e.outcome, e.error?.message]), [
        ["expired", "Lease expired"],
      ]);
    });

    it(`the history keeps the newest ${MAX_ATTEMPT_HISTORY} entries, oldest first`, async () => {
      const task = await held();
      const total = MAX_ATTEMPT_HISTORY + 5;
      for (let i = 1; i <= total; i++) {
        const claimed = i === 1 ? task : await claimOne(T0 + i * 10);
        assert.ok(claimed);
        const done = await finishOne({
          kind: "released",
          id: task.id,
          token: claimed.attemptToken!,
          now: T0 + i * 10,
        });
        assert.equal(done?.attemptHistory?.length, Math.min(i, MAX_ATTEMPT_HISTORY));
      }
      const history = (await store.get(task.id))?.attemptHistory ?? [];
      assert.deepEqual(
        history.map((e) => e.endedAt),
        Array.from({ length: MAX_ATTEMPT_HISTORY }, (_, i) => T0 + (i + 6) * 10),
      );
    });
  });
}
