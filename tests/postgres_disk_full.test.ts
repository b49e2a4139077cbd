/**
 * PostgreSQL on a full disk: the error mapping (SQLSTATE 53100 and 53000 become
 * StorageFullError, other errors stay as they are), then for real: the store's `tasks` table on
 * a tablespace on a 4 MiB tmpfs (mounted as root, unmounted after) that a filler file fills up.
 * Enqueues answer 507, `/readyz` is not ready; once the filler is removed both recover. The real
 * part is skipped where this process may not mount a tmpfs or the server is not on this host.
 * Needs `AETHER_TEST_PG_URL`.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import postgres from "postgres";
import { createAdminHandler } from "../src/admin/handler.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { StorageFullError } from "../src/errors.ts";
import { TaskRegistry } from "../src/registry.ts";
import { storageFullError } from "../src/store/postgres/storage_full.ts";
import { PostgresTaskStore } from "../src/store/postgres/store.ts";
import { dropSchema, freshSchema, requirePgUrl } from "./_postgres.ts";
import { fillDisk, mountTmpfs } from "./_tmpfs.ts";

const url = requirePgUrl();

describe("PostgreSQL disk-full errors", () => {
  const display = "postgres://app:***@db:5432/app";

  it("disk_full (53100) and insufficient_resources (53000) become StorageFullError", () => {
    const cause = Object.assign(
      new Error('could not extend file "base/5/16384": No space left on device'),
      { code: "53100" },
    );
    const full = storageFullError(cause, display);
    assert.ok(full instanceof StorageFullError);
    assert.equal(full.path, display);
    assert.equal(full.cause, cause);
    assert.equal(
      full.message,
      `The database "${display}" cannot grow: its disk is full (PostgreSQL: could not extend ` +
        `file "base/5/16384": No space left on device (SQLSTATE 53100)); nothing was written; ` +
        `free space, then try again`,
    );
    const generic = storageFullError({ code: "53000", message: "out of resources" }, display);
    assert.ok(generic instanceof StorageFullError);
    assert.match(generic.message, /SQLSTATE 53000/);
  });

  it("other errors, other resource errors and non-errors are left alone", () => {
    for (const code of ["53200", "53300", "53400", "23505", "57P01", "53100 "]) {
      assert.equal(storageFullError({ code, message: "x" }, display), undefined, code);
    }
    for (const value of [undefined, null, "53100", 53100, new Error("disk full")]) {
      assert.equal(storageFullError(value, display), undefined, String(value));
    }
  });
});

/** A tmpfs of `size` owned by the `postgres` user; undefined when that is not possible. */
function mountPostgresTmpfs(size: string): string | undefined {
  try {
    const uid = execFileSync("id", ["-u", "postgres"]).toString().trim();
    const gid = execFileSync("id", ["-g", "postgres"]).toString().trim();
    return mountTmpfs("aether-pg-full-", size, `mode=0700,uid=${uid},gid=${gid}`);
  } catch {
    return undefined;
  }
}

const mounted = url === undefined ? undefined : mountPostgresTmpfs("4m");

describe("PostgreSQL on a full disk", {
  skip: mounted === undefined ? "cannot mount a tmpfs here" : false,
}, () => {
  const dir = mounted!;
  const filler = join(dir, "filler");
  const schema = freshSchema("full");
  const tablespace = `aether_full_${process.pid}`;
  let admin: postgres.Sql;
  let store: PostgresTaskStore;
  let onHost = true;

  before(async () => {
    admin = postgres(url!, { max: 1, onnotice: () => {} });
    store = await PostgresTaskStore.open(url!, { schema });
    try {
      await admin.unsafe(`CREATE TABLESPACE ${tablespace} LOCATION '${dir}'`);
    } catch {
      onHost = false; // the server runs elsewhere (or may not): nothing to test here
      return;
    }
    // The task rows and their indexes live on the small disk; the WAL and counters do not.
    await admin.unsafe(`ALTER TABLE "${schema}".tasks SET TABLESPACE ${tablespace}`);
    const indexes = await admin.unsafe<{ indexname: string }[]>(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'tasks'`,
      [schema],
    );
    for (const { indexname } of indexes) {
      await admin.unsafe(`ALTER INDEX "${schema}"."${indexname}" SET TABLESPACE ${tablespace}`);
    }
  });

  after(async () => {
    await store?.close();
    await dropSchema(url!, schema);
    await admin?.unsafe(`DROP TABLESPACE IF EXISTS ${tablespace}`).catch(() => {});
    await admin?.end({ timeout: 1 });
    execFileSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("enqueues answer 507 and /readyz 503 while the disk is full; both recover once space frees", async (t) => {
    if (!onHost) return t.skip("the PostgreSQL server cannot use a folder of this host");
    const registry = new TaskRegistry();
    registry.register("note", () => {});
    const dispatcher = new TaskDispatcher(store, { registry });
    const errors: unknown[] = [];
    const handler = createAdminHandler({ store, dispatcher, onError: (e) => errors.push(e) });
    const post = (n: number) =>
      handler(
        new Request("http://localhost/api/tasks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "note", args: { n, pad: "p".repeat(2000) } }),
        }),
      );
    try {
      assert.equal((await handler(new Request("http://localhost/readyz"))).status, 200);
      fillDisk(filler);
      let refused: Response | undefined;
      for (let n = 0; n < 10_000 && refused === undefined; n++) {
        const response = await post(n);
        if (response.status !== 201 && response.status !== 200) refused = response;
      }
      assert.ok(refused, "the disk filled up");
      assert.equal(refused.status, 507, await refused.clone().text());
      assert.equal(refused.headers.get("retry-after"), "30");
      const body = await refused.json() as { error: string; details: unknown };
      assert.match(body.error, /cannot grow: its disk is full \(PostgreSQL: .*SQLSTATE 53100/);
      assert.ok(!body.error.includes("\n"), "one line");
      assert.deepEqual(body.details, { reason: "storage-full" });
      assert.deepEqual(errors, [], "a full disk is not an unexpected error");
      await assert.rejects(
        dispatcher.enqueue("note", { pad: "p".repeat(2000) }),
        StorageFullError,
      );

      const notReady = await handler(new Request("http://localhost/readyz"));
      assert.equal(notReady.status, 503);
      assert.match((await notReady.json() as { error: string }).error, /disk is full/);
      assert.ok(await store.storageFull() instanceof StorageFullError);

      rmSync(filler);
      assert.equal((await handler(new Request("http://localhost/readyz"))).status, 200);
      assert.equal(await store.storageFull(), undefined);
      const again = await post(-1);
      assert.equal(again.status, 201, await again.clone().text());
    } finally {
      handler.close();
    }
  });
});
