/**
 * A full disk, for real: the database lives on a 2 MiB tmpfs (mounted as root, unmounted after)
 * that a filler file and tasks fill up. Writes fail with StorageFullError, HTTP answers 507 with
 * a JSON error, `/readyz` is not ready; once the filler is removed, enqueues and the worker
 * resume. Skipped where this process may not mount a tmpfs.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { createAdminHandler } from "../src/admin/handler.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { StorageFullError } from "../src/errors.ts";
import { TaskRegistry } from "../src/registry.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { TaskWorker } from "../src/worker.ts";
import { CLI_FROM_SOURCE, ROOT, run } from "./_process.ts";
import { fillDisk, mountTmpfs } from "./_tmpfs.ts";

const mounted = mountTmpfs("aether-full-", "2m");

describe("disk full", { skip: mounted === undefined ? "cannot mount a tmpfs here" : false }, () => {
  const dir = mounted!;
  const path = join(dir, "tasks.db");
  const filler = join(dir, "filler");
  let store: SqliteTaskStore;
  let dispatcher: TaskDispatcher;
  const registry = new TaskRegistry();
  const ran: number[] = [];
  registry.register("note", (args: { n: number }) => {
    ran.push(args.n);
  });
  const errors: unknown[] = [];

  before(async () => {
    store = await SqliteTaskStore.open(path);
    dispatcher = new TaskDispatcher(store, { registry });
  });

  after(async () => {
    await store?.close();
    execFileSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes fail with StorageFullError, HTTP says 507 and not ready, and all resume once space frees", async () => {
    const handler = createAdminHandler({ store, dispatcher, onError: (e) => errors.push(e) });
    const post = (n: number) =>
      handler(
        new Request("http://localhost/api/tasks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "note", args: { n, pad: "p".repeat(2000) } }),
        }),
      );
    assert.equal((await handler(new Request("http://localhost/readyz"))).status, 200);

    fillDisk(filler);
    let accepted = 0;
    let refused: Response | undefined;
    for (let n = 0; n < 10_000 && refused === undefined; n++) {
      const response = await post(n);
      if (response.status === 201 || response.status === 200) accepted++;
      else refused = response;
    }
    assert.ok(refused, "the disk filled up");
    assert.equal(refused.status, 507);
    assert.equal(refused.headers.get("content-type")?.startsWith("application/json"), true);
    assert.equal(refused.headers.get("retry-after"), "30");
    const body = await refused.json() as { error: string; details: unknown };
    assert.match(body.error, /cannot grow: its disk is full .*nothing was written/);
    assert.deepEqual(body.details, { reason: "storage-full" });
    assert.deepEqual(errors, [], "a full disk is not an unexpected error");
    await assert.rejects(
      dispatcher.enqueue("note", { n: -1, pad: "p".repeat(2000) }),
      StorageFullError,
    );

    const notReady = await handler(new Request("http://localhost/readyz"));
    assert.equal(notReady.status, 503);
    assert.match((await notReady.json() as { error: string }).error, /disk is full/);
    assert.ok(await store.storageFull() instanceof StorageFullError);

    // A worker started on the full disk runs what was accepted once space frees.
    const unexpected: unknown[] = [];
    let workerErrors = 0;
    let failed!: () => void;
    const workerFailed = new Promise<void>((resolve) => (failed = resolve));
    const worker = new TaskWorker(store, {
      registry,
      pollInterval: 20,
      onError: (error) => {
        workerErrors++;
        if (error instanceof StorageFullError) failed();
        else unexpected.push(error);
      },
    });
    worker.start();
    try {
      await workerFailed;
      assert.equal(ran.length, 0, "nothing ran while the disk was full");
      rmSync(filler);
      const ready = await handler(new Request("http://localhost/readyz"));
      assert.equal(ready.status, 200);
      assert.equal(await store.storageFull(), undefined);
      const after = await post(accepted);
      assert.equal(after.status, 201, await after.clone().text());
      const { id } = await after.json() as { id: string };
      const done = await dispatcher.waitFor(id, { timeout: 30_000 });
      assert.equal(done.status, "COMPLETED");
      assert.equal((await store.stats()).byStatus.COMPLETED, accepted + 1);
      assert.deepEqual(
        ran.sort((a, b) => a - b),
        Array.from({ length: accepted + 1 }, (_, i) => i),
      );
    } finally {
      await worker.stop();
      handler.close();
    }
  });

  it("a disk full before the database is first opened: one clear line, exit 1, and it opens once space frees", async () => {
    const fresh = join(dir, "fresh.db");
    const cli = [...CLI_FROM_SOURCE["bun" in process.versions ? "bun" : "deno"]];
    fillDisk(filler);
    try {
      const refused = await run([...cli, "migrate", "--db", fresh], { cwd: ROOT });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr.trim(),
        /^aether-tasks: The database ".*fresh\.db" cannot grow: its disk is full \(SQLite: "(disk I\/O error|database or disk is full)"\); nothing was written; free space, then try again$/,
      );
    } finally {
      rmSync(filler);
    }
    const opened = await run([...cli, "migrate", "--db", fresh], { cwd: ROOT });
    assert.equal(opened.code, 0, opened.stderr);
    const stats = await run([...cli, "stats", "--db", fresh, "--json"], { cwd: ROOT });
    assert.equal(stats.code, 0, stats.stderr);
  });
});
