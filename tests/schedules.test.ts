/** Cron schedules: the scheduler's policies with an injected clock, on memory, SQLite and PostgreSQL. */

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { join } from "node:path";
import * as v from "valibot";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { defineTask } from "../src/handlers/define.ts";
import { TaskRegistry } from "../src/registry.ts";
import { cronOf, dueSlots, nextFireTimes, parseSchedule } from "../src/schedule.ts";
import { Scheduler } from "../src/scheduler.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import { TaskSignals } from "../src/signals.ts";
import { TaskWorker } from "../src/worker.ts";
import { FakeClock, tempDir } from "./_helpers.ts";
import { openPgStore, pgUrl } from "./_postgres.ts";

const MINUTE = 60_000;
/** 2026-01-01T00:00:00Z */
const T0 = Date.UTC(2026, 0, 1);

const backends: [string, () => Promise<{ store: TaskStore; cleanup: () => Promise<void> }>][] = [
  ["memory", () => Promise.resolve({ store: new InMemoryTaskStore(), cleanup: async () => {} })],
  ["sqlite", async () => {
    const dir = await tempDir();
    const store = await SqliteTaskStore.open(join(dir.path, "t.db"));
    return { store, cleanup: dir.remove };
  }],
  // PostgreSQL when a test server is configured (`npm test` starts one).
  ...(pgUrl === undefined ? [] : [
    ["postgres", () => openPgStore(pgUrl!)] as [string, () => ReturnType<typeof openPgStore>],
  ]),
];

for (const [backend, open] of backends) {
  describe(`schedules on ${backend}`, () => {
    let store: TaskStore;
    let cleanup: () => Promise<void>;
    let clock: FakeClock;
    let registry: TaskRegistry;
    let dispatcher: TaskDispatcher;
    const scheduler = () => new Scheduler(store, { registry, clock, refreshInterval: 1 });

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      clock = new FakeClock(T0);
      registry = new TaskRegistry();
      registry.register("report", () => "ok", {
        schema: v.object({ kind: v.optional(v.string()) }),
      });
      dispatcher = new TaskDispatcher(store, { registry, clock });
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    const tasks = async () =>
      (await store.list({ limit: 1000 })).tasks.sort((a, b) =>
        (a.scheduledFor ?? 0) - (b.scheduledFor ?? 0)
      );

    it("each slot fires once, with scheduledFor, however many schedulers run", async () => {
      await dispatcher.schedule("every-minute", { task: "report", cron: "* * * * *" });
      const a = scheduler(), b = scheduler();
      for (let i = 1; i <= 3; i++) {
        clock.time = T0 + i * MINUTE;
        await Promise.all([a.runOnce(), b.runOnce(), a.runOnce()]);
      }
      assert.deepEqual((await tasks()).map((t) => t.scheduledFor), [
        T0 + MINUTE,
        T0 + 2 * MINUTE,
        T0 + 3 * MINUTE,
      ]);
      const [listed] = await dispatcher.listSchedules();
      assert.equal(listed?.lastSlotAt, T0 + 3 * MINUTE);
      assert.equal(listed?.nextRunAt, T0 + 4 * MINUTE);
    });

    it("catch-up skip fires none of the missed slots, only the next", async () => {
      await dispatcher.schedule("s", { task: "report", cron: "*/5 * * * *" });
      clock.time = T0 + 12 * MINUTE; // two slots missed, the newest 2 minutes ago
      const pass = await scheduler().runOnce();
      assert.deepEqual([pass.fired, pass.nextAt], [0, T0 + 15 * MINUTE]);
      clock.time = T0 + 15 * MINUTE + 5;
      assert.equal((await scheduler().runOnce()).fired, 1);
      assert.deepEqual((await tasks()).map((t) => t.scheduledFor), [T0 + 15 * MINUTE]);
    });

    it("catch-up latest fires the most recent missed slot once", async () => {
      await dispatcher.schedule("s", { task: "report", cron: "* * * * *", catchUp: "latest" });
      clock.time = T0 + 10 * MINUTE + 30_000;
      assert.equal((await scheduler().runOnce()).fired, 1);
      assert.equal((await scheduler().runOnce()).fired, 0);
      assert.deepEqual((await tasks()).map((t) => t.scheduledFor), [T0 + 10 * MINUTE]);
    });

    it("catch-up all fires every missed slot within the window, oldest first", async () => {
      await dispatcher.schedule("s", {
        task: "report",
        cron: "*/10 * * * *",
        catchUp: "all",
        catchUpWindow: "1h",
      });
      clock.time = T0 + 3 * 60 * MINUTE; // 18 slots since creation, 7 within the last hour
      assert.equal((await scheduler().runOnce()).fired, 7);
      const times = (await tasks()).map((t) => t.scheduledFor);
      assert.deepEqual(times, [120, 130, 140, 150, 160, 170, 180].map((m) => T0 + m * MINUTE));
    });

    it("overlap skip records a skipped slot while the previous task waits", async () => {
      await dispatcher.schedule("s", { task: "report", cron: "* * * * *", overlap: "skip" });
      const s = scheduler();
      clock.time = T0 + MINUTE;
      assert.equal((await s.runOnce()).fired, 1);
      clock.time = T0 + 2 * MINUTE;
      assert.deepEqual([(await s.runOnce()).skipped], [1]);
      const slots = await store.listSlots("s", 10);
      assert.deepEqual(slots.map((x) => [x.slotAt, x.taskId === null]), [
        [T0 + 2 * MINUTE, true],
        [T0 + MINUTE, false],
      ]);
      assert.equal((await tasks()).length, 1);
    });

    it("a schedule in a zone fires at its local time", async () => {
      await dispatcher.schedule("berlin", {
        task: "report",
        cron: "0 3 * * *",
        timezone: "Europe/Berlin",
        args: { kind: "daily" },
      });
      clock.time = Date.UTC(2026, 0, 1, 2, 0, 5); // 03:00:05 in Berlin (CET)
      assert.equal((await scheduler().runOnce()).fired, 1);
      const [task] = await tasks();
      assert.equal(task?.scheduledFor, Date.UTC(2026, 0, 1, 2));
      assert.deepEqual(task?.args, { kind: "daily" });
    });

    for (
      const [name, from, expected] of [
        // Spring forward (2026-03-29): 02:00 does not exist; croner fires at 03:00 CEST, once.
        ["spring forward", Date.UTC(2026, 2, 28, 12), [
          Date.UTC(2026, 2, 29, 1),
          Date.UTC(2026, 2, 30, 0),
        ]],
        // Fall back (2026-10-25): 02:00 happens twice; croner fires at the first, once.
        ["fall back", Date.UTC(2026, 9, 24, 12), [
          Date.UTC(2026, 9, 25, 0),
          Date.UTC(2026, 9, 26, 1),
        ]],
      ] as const
    ) {
      it(`0 2 * * * in Europe/Berlin fires once across the ${name} day`, async () => {
        clock.time = from;
        await dispatcher.schedule("dst", {
          task: "report",
          cron: "0 2 * * *",
          timezone: "Europe/Berlin",
        });
        const s = scheduler();
        // Walk two days in 15-minute steps, as a scheduler waking often would.
        for (let t = from; t <= from + 2 * 86_400_000; t += 15 * MINUTE) {
          clock.time = t;
          await s.runOnce();
        }
        assert.deepEqual((await tasks()).map((t) => t.scheduledFor), [...expected]);
      });
    }

    it("bad input is refused where it is written, naming the schedule; nothing is written", async () => {
      const cases: [Parameters<TaskDispatcher["schedule"]>[1], RegExp][] = [
        [
          { task: "report", cron: "61 * * * *" },
          /schedule "bad": cron "61 \* \* \* \*" is not a valid cron/,
        ],
        [
          { task: "report", cron: "* * * * *", timezone: "Mars/Base" },
          /schedule "bad": timezone must be an IANA time zone.*Mars\/Base/,
        ],
        [{ task: "report", cron: "" }, /schedule "bad": cron must be a cron expression/],
        [
          { task: "report", cron: "* * * * *", catchUp: "some" as "all" },
          /catchUp must be "skip", "latest" or "all", got "some"/,
        ],
        [
          { task: "report", cron: "* * * * *", overlap: "no" as "skip" },
          /overlap must be "allow" or "skip"/,
        ],
        [
          { task: "report", cron: "* * * * *", catchUpWindow: "0s" },
          /catchUpWindow must be at least 1ms/,
        ],
        [{ task: "report", cron: "* * * * *", args: { kind: 5 } as never }, /args\.kind/],
      ];
      for (const [options, message] of cases) {
        await assert.rejects(dispatcher.schedule("bad", options), message);
      }
      await assert.rejects(
        dispatcher.schedule("x", { task: "nope", cron: "* * * * *" }),
        /nope/,
      );
      assert.deepEqual(await store.listSchedules(), []);
    });

    it("unschedule deletes a schedule; it never fires again", async () => {
      await dispatcher.schedule("s", { task: "report", cron: "* * * * *" });
      assert.equal(await dispatcher.unschedule("s"), true);
      clock.time = T0 + MINUTE;
      assert.equal((await scheduler().runOnce()).fired, 0);
      assert.equal(await dispatcher.unschedule("s"), false);
    });

    it("a worker upserts the schedules of its definitions and retires those removed from code", async () => {
      const withCron = new TaskRegistry();
      withCron.add(defineTask({
        name: "nightly",
        cron: "0 3 * * *",
        timezone: "Europe/Berlin",
        run: (_args, ctx) => ctx.scheduledFor,
      }));
      withCron.add(defineTask({
        name: "twice",
        schedules: [{ id: "twice-am", cron: "0 6 * * *" }, { cron: "0 18 * * *" }],
        run: () => null,
      }));
      const start = async (registry: TaskRegistry) => {
        const worker = new TaskWorker(store, { registry, clock, retention: false });
        worker.start();
        // stop() waits for the start-up, which writes the schedules before the first claim.
        await worker.stop({ graceMillis: 0 });
      };
      await start(withCron);
      assert.deepEqual((await store.listSchedules()).map((s) => [s.id, s.source, s.retired]), [
        ["nightly", "code", false],
        ["twice-am", "code", false],
        ["twice:1", "code", false],
      ]);
      await dispatcher.schedule("api-one", { task: "report", cron: "* * * * *" });
      const fewer = new TaskRegistry();
      fewer.add(
        defineTask({
          name: "twice",
          schedules: [{ id: "twice-am", cron: "0 7 * * *" }],
          run: () => null,
        }),
      );
      fewer.add(defineTask({ name: "nightly", run: () => null }));
      await start(fewer);
      assert.deepEqual(
        (await store.listSchedules()).map((s) => [s.id, s.retired, s.cron]),
        [
          ["api-one", false, "* * * * *"],
          ["nightly", true, "0 3 * * *"],
          ["twice-am", false, "0 7 * * *"],
          ["twice:1", true, "0 18 * * *"],
        ],
      );
    });

    it("the handler sees the slot it runs for as ctx.scheduledFor", async () => {
      const seen: (number | null)[] = [];
      const reg = new TaskRegistry();
      reg.register("tick", (_args, ctx) => void seen.push(ctx.scheduledFor));
      const d = new TaskDispatcher(store, { registry: reg, clock });
      await d.schedule("tick", { task: "tick", cron: "* * * * *" });
      clock.time = T0 + MINUTE;
      await new Scheduler(store, { registry: reg, clock }).runOnce();
      await d.enqueue("tick");
      const signals = new TaskSignals();
      let done!: () => void;
      const twoDone = new Promise<void>((resolve) => (done = resolve));
      signals.taskCompleted.connect(() => seen.length === 2 && done());
      const worker = new TaskWorker(store, {
        registry: reg,
        clock,
        signals,
        retention: false,
        scheduler: false,
      });
      worker.start();
      await twoDone;
      await worker.stop();
      assert.deepEqual(seen.sort(), [T0 + MINUTE, null].sort());
    });
  });
}

describe("schedule expressions", () => {
  it("nextFireTimes lists the next fire times without a store", () => {
    assert.deepEqual(nextFireTimes("0 */6 * * *", null, T0, 3), [
      T0 + 6 * 60 * MINUTE,
      T0 + 12 * 60 * MINUTE,
      T0 + 18 * 60 * MINUTE,
    ]);
  });

  it("dueSlots bounds catch-up all by MAX_CATCH_UP_SLOTS", () => {
    const slots = dueSlots(
      cronOf("* * * * * *", null),
      {
        catchUp: "all",
        catchUpWindowMillis: 86_400_000,
      },
      0,
      86_400_000,
    );
    assert.equal(slots.length, 1000);
  });

  it("defineTask refuses a bad cron or zone, naming the task's schedule", () => {
    assert.throws(
      () => defineTask({ name: "t", cron: "* * *", run: () => null }),
      /schedule "t": cron "\* \* \*" is not a valid cron expression/,
    );
    assert.throws(
      () => defineTask({ name: "t", cron: "* * * * *", timezone: "Nowhere/City", run: () => null }),
      /schedule "t": timezone must be an IANA time zone/,
    );
    assert.throws(
      () =>
        defineTask({
          name: "t",
          cron: "* * * * *",
          args: v.object({ n: v.number() }),
          run: () => null,
        }),
      /schedule "t": .*args\.n/,
    );
    assert.throws(
      () => parseSchedule("bad id!", { task: "x", cron: "* * * * *" }, "api"),
      /Schedule id/,
    );
  });
});
