import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { GroupCommit } from "../src/store/_group_commit.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { makeTask, tempDir } from "./_helpers.ts";

describe("GroupCommit", () => {
  it("items submitted together share one commit, and each gets its own result", async () => {
    const commits: number[][] = [];
    const group = new GroupCommit((items: readonly number[]) => {
      commits.push([...items]);
      return Promise.resolve(items.map((n) => n * 10));
    });
    const results = await Promise.all([1, 2, 3, 4].map((n) => group.submit(n)));
    assert.deepEqual(results, [10, 20, 30, 40]);
    assert.deepEqual(commits, [[1, 2, 3, 4]]);
  });

  it("items submitted while a commit runs go in the next one", async () => {
    const commits: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const group = new GroupCommit(async (items: readonly number[]) => {
      commits.push([...items]);
      if (commits.length === 1) await gate;
      return items;
    });
    const first = group.submit(1);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const later = [group.submit(2), group.submit(3)];
    release();
    assert.deepEqual(await Promise.all([first, ...later]), [1, 2, 3]);
    assert.deepEqual(commits, [[1], [2, 3]]);
  });

  it("when a group fails, each item is tried alone: only the bad one fails", async () => {
    const group = new GroupCommit((items: readonly number[]) =>
      items.includes(13)
        ? Promise.reject(new Error(`13 is refused`))
        : Promise.resolve(items.map((n) => -n))
    );
    const settled = await Promise.allSettled([12, 13, 14].map((n) => group.submit(n)));
    assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.equal((settled[0] as PromiseFulfilledResult<number>).value, -12);
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /13 is refused/);
  });
});

describe("SqliteTaskStore group-committed inserts", () => {
  it("concurrent inserts are all committed; a bad one fails alone", async () => {
    const dir = await tempDir("aether-group-");
    const store = await SqliteTaskStore.open(join(dir.path, "t.db"), { durability: "full" });
    try {
      const existing = makeTask();
      await store.insert([existing]);
      const tasks = Array.from({ length: 50 }, () => makeTask());
      const calls = tasks.map((task, i) =>
        store.insert([i === 25 ? { ...task, id: existing.id } : task])
      );
      const settled = await Promise.allSettled(calls);
      assert.equal(settled.filter((s) => s.status === "rejected").length, 1);
      assert.equal(settled[25]!.status, "rejected");
      assert.equal((await store.stats()).total, 50);
      for (const [i, task] of tasks.entries()) {
        if (i !== 25) assert.ok(await store.get(task.id), `task ${i} committed`);
      }
    } finally {
      await store.close();
      await dir.remove();
    }
  });
});
