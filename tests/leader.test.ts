/**
 * Leader election: one leader among several electors on one store, takeover after the TTL,
 * immediate takeover after a resign, on the in-memory and SQLite stores; and two real processes
 * on one SQLite file that agree on one leader.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, it } from "node:test";
import { LeaderElector, type LeadershipEvent } from "../src/leader.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import type { TaskStore } from "../src/store/store.ts";
import { FakeClock, tempDir } from "./_helpers.ts";

const BACKENDS: [string, () => Promise<{ store: TaskStore; cleanup?: () => Promise<void> }>][] = [
  ["memory", () => Promise.resolve({ store: new InMemoryTaskStore() })],
  ["sqlite", async () => {
    const dir = await tempDir("aether-leader-");
    const store = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
    return { store, cleanup: dir.remove };
  }],
];

for (const [backend, open] of BACKENDS) {
  describe(`LeaderElector on ${backend}`, () => {
    let store: TaskStore;
    let cleanup: (() => Promise<void>) | undefined;
    let clock: FakeClock;
    const electors: LeaderElector[] = [];
    const elector = (holder: string, ttlMillis = 10_000) => {
      const e = new LeaderElector(store, { holder, ttlMillis, clock });
      electors.push(e);
      return e;
    };

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
      clock = new FakeClock();
    });
    afterEach(async () => {
      await Promise.all(electors.splice(0).map((e) => e.stop()));
      await store.close();
      await cleanup?.();
    });

    it("of several electors bidding on one store, exactly one leads", async () => {
      const all = ["a", "b", "c", "d"].map((h) => elector(h));
      const won = await Promise.all(all.map((e) => e.runOnce()));
      assert.equal(won.filter(Boolean).length, 1);
      // Renewals keep the same leader.
      clock.advance(3000);
      const again = await Promise.all(all.map((e) => e.runOnce()));
      assert.deepEqual(again, won);
      assert.deepEqual(all.map((e) => e.isLeader), won);
    });

    it("a leader that stops renewing is replaced once its TTL has run out, not before", async () => {
      const a = elector("a");
      const b = elector("b");
      const lost: LeadershipEvent[] = [];
      a.lost.connect((event) => lost.push(event));
      assert.equal(await a.runOnce(), true);
      assert.equal(await b.runOnce(), false);
      clock.advance(9_999);
      assert.equal(await b.runOnce(), false, "the TTL has not run out");
      assert.equal(a.isLeader, true);
      clock.advance(1);
      assert.equal(a.isLeader, false, "a knows its own leadership lapsed");
      assert.equal(await b.runOnce(), true, "b takes over after the TTL");
      assert.equal(await a.runOnce(), false, "a's next bid finds b leading");
      assert.deepEqual(lost, [{ name: "maintenance", holder: "a" }]);
    });

    it("a leader that resigns on stop is replaced at the next bid", async () => {
      const a = elector("a");
      const b = elector("b");
      const gained: string[] = [];
      b.gained.connect(({ holder }) => gained.push(holder));
      assert.equal(await a.runOnce(), true);
      assert.equal(await b.runOnce(), false);
      await a.stop();
      await a.stop();
      assert.equal(a.isLeader, false);
      assert.equal(await a.runOnce(), false, "a stopped elector does not bid");
      assert.equal(await b.runOnce(), true, "no TTL to wait for after a resign");
      assert.deepEqual(gained, ["b"]);
    });

    it("leaderships of different names are independent", async () => {
      const a = new LeaderElector(store, { holder: "a", name: "maintenance", clock });
      const b = new LeaderElector(store, { holder: "b", name: "cron", clock });
      electors.push(a, b);
      assert.deepEqual(await Promise.all([a.runOnce(), b.runOnce()]), [true, true]);
    });
  });
}

describe("LeaderElector options", () => {
  const store = new InMemoryTaskStore();
  it("bad options are refused with their name and value", () => {
    assert.throws(() => new LeaderElector(store, { holder: "" }), /holder .*non-empty/);
    assert.throws(() => new LeaderElector(store, { holder: "a", ttlMillis: 0 }), /ttlMillis .*0/);
    assert.throws(
      () => new LeaderElector(store, { holder: "a", ttlMillis: 1000, interval: 1000 }),
      /interval must be shorter than ttlMillis \(1000\), got 1000/,
    );
    assert.throws(() => new LeaderElector(store, { holder: "a", name: "" }), /name .*non-empty/);
  });
  it("a store error counts as leading only until the TTL of the last renewal", async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    let fail = false;
    const flaky = new InMemoryTaskStore();
    const lead = flaky.lead.bind(flaky);
    flaky.lead = (request) => fail ? Promise.reject(new Error("disk I/O error")) : lead(request);
    const a = new LeaderElector(flaky, {
      holder: "a",
      ttlMillis: 1000,
      clock,
      onError: (e) => errors.push(e),
    });
    assert.equal(await a.runOnce(), true);
    fail = true;
    clock.advance(500);
    assert.equal(await a.runOnce(), true, "still within the TTL of the last renewal");
    clock.advance(500);
    assert.equal(await a.runOnce(), false);
    assert.equal(errors.length, 2);
  });
});

describe("leader election across processes", () => {
  it("two processes on one SQLite file agree on one leader; the other takes over when it dies", {
    timeout: 60_000,
  }, async () => {
    const dir = await tempDir("aether-leader-proc-");
    const db = join(dir.path, "tasks.db");
    const init = await SqliteTaskStore.open(db);
    await init.migrate();
    const fixture = new URL("./fixtures/elector_process.ts", import.meta.url).pathname;
    const children: ReturnType<typeof spawn>[] = [];
    const start = (holder: string) => {
      const child = spawn(
        process.execPath,
        "Bun" in globalThis ? [fixture] : ["run", "-A", fixture],
        {
          env: { ...process.env, AETHER_DB: db, HOLDER: holder },
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      children.push(child);
      const lines: string[] = [];
      const waiters: (() => void)[] = [];
      createInterface({ input: child.stdout! }).on("line", (line) => {
        lines.push(line);
        for (const w of waiters.splice(0)) w();
      });
      /** Resolves once a line equal to `text` was printed. */
      const line = (text: string): Promise<void> =>
        lines.includes(text)
          ? Promise.resolve()
          : new Promise((resolve) => waiters.push(() => line(text).then(resolve)));
      return { child, line, lines };
    };
    try {
      const a = start("a");
      const b = start("b");
      await Promise.all([a.line("bid"), b.line("bid")]);
      const leaders = [a, b].filter((p) => p.lines.includes("gained"));
      assert.equal(leaders.length, 1, `one leader: a ${a.lines}, b ${b.lines}`);
      const leader = leaders[0]!;
      const other = leader === a ? b : a;
      // Many bids later, still one leader and no change.
      await Promise.all([a.line("bid 20"), b.line("bid 20")]);
      assert.ok(!other.lines.includes("gained"), "no second leader while the first lives");
      leader.child.kill("SIGKILL");
      await other.line("gained");
    } finally {
      for (const child of children) child.kill("SIGKILL");
      await init.close();
      await dir.remove();
    }
  });
});
