/**
 * The SQLite schema as a list of migrations. The database's version is kept in
 * `PRAGMA user_version`: 0 for an empty file, N once the first N steps ran.
 *
 * To change the schema, append a step; never edit a step that has shipped.
 * @module
 */

import { ReadOnlyDatabaseError, SchemaVersionError } from "../../errors.ts";
import { immediateTransaction, retryWhileBusy, type SqliteDriver } from "./driver.ts";
import { checkOwnership, markOurs, referenceSchemas } from "./ownership.ts";

/**
 * The condition of a waiting (claimable) task, exactly as the partial claim index states it; a
 * query uses that index only when its WHERE repeats this text. Written with OR rather than
 * `status IN (…)`: SQLite evaluates a constant IN list of more than two values through a
 * temporary table built once per statement execution, which made every insert about 20% slower.
 * Part of migration 1: never change it.
 */
export const WAITING_PREDICATE =
  "(status = 'PENDING' OR status = 'SCHEDULED' OR status = 'RETRYING')";

/**
 * The condition of the `(status, seq)` listing index. New tasks (PENDING, SCHEDULED) stay out of
 * it, so an insert updates one index fewer (bulk inserts about 40% faster); listing those two
 * statuses walks the claim index instead. A list query repeats this text to use the index.
 * Part of migration 1: never change it.
 */
export const LISTED_PREDICATE = "(status <> 'PENDING' AND status <> 'SCHEDULED')";

/** The bit of each status in `tasks.unique_states` (migration 3: never change it). */
export const UNIQUE_STATE_BITS = {
  PENDING: 1,
  SCHEDULED: 2,
  PROCESSING: 4,
  RETRYING: 8,
  COMPLETED: 16,
  FAILED: 32,
  CANCELLED: 64,
} as const;

/**
 * Whether a task's status is one of its unique states, as the partial unique index states it; a
 * lookup repeats this text to use that index. Part of migration 3: never change it.
 */
export const UNIQUE_STATE_PREDICATE = `(unique_states & (CASE status ${
  Object.entries(UNIQUE_STATE_BITS).map(([status, bit]) => `WHEN '${status}' THEN ${bit}`).join(" ")
} ELSE 0 END)) <> 0`;

/**
 * The migration steps; step `i` brings the schema from version `i` to `i + 1`.
 *
 * Version 1: the `tasks` table. `seq` is the insertion order and the list cursor (AUTOINCREMENT,
 * so a pruned seq is never reused). Times are epoch ms; JSON columns hold JSON text; `priority`
 * holds the rank from `PRIORITY_RANK`; the retry config is four small columns beside
 * `max_attempts` (rows stay narrow, which keeps bulk inserts fast); `logs` is NULL until a handler
 * logs. The partial indexes keep claims, lease rescue and prune
 * independent of how many finished rows the table holds.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    args TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    backoff_base_millis INTEGER NOT NULL,
    backoff_multiplier REAL NOT NULL,
    backoff_max_millis INTEGER NOT NULL,
    backoff_jitter INTEGER NOT NULL,
    timeout_millis INTEGER,
    last_error TEXT,
    result TEXT,
    progress TEXT,
    logs TEXT,
    lease_expires_at INTEGER,
    worker_id TEXT,
    attempt_token TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX tasks_claim ON tasks (queue, priority DESC, run_at, seq) WHERE ${WAITING_PREDICATE};
  CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE status = 'PROCESSING';
  CREATE INDEX tasks_status ON tasks (status, seq) WHERE ${LISTED_PREDICATE};
  CREATE INDEX tasks_completed ON tasks (completed_at) WHERE completed_at IS NOT NULL;
  `,
  // Version 2 (store contract v2): counters, so `stats()` reads a few rows instead of scanning
  // `tasks` (the store adds each transaction's changes per queue and status in that
  // transaction); minute counters of finished attempts for `history()`; per-queue state that
  // claims consult; the registry of worker processes; leaderships with a lease.
  `
  CREATE TABLE task_counts (
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (queue, status)
  ) WITHOUT ROWID;
  INSERT INTO task_counts (queue, status, n)
    SELECT queue, status, count(*) FROM tasks GROUP BY queue, status;
  CREATE TABLE task_history (
    at INTEGER PRIMARY KEY,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_beat_at INTEGER NOT NULL,
    queues TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    meta TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE leaders (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // Version 3: the UDP ports of processes listening for wake-ups (see `wake.ts`).
  `
  CREATE TABLE listeners (
    port INTEGER NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    PRIMARY KEY (host, port)
  ) WITHOUT ROWID;
  `,
  // Version 4 (store contract v3): unique tasks, flow limits, schedules and their slot ledger.
  // `unique_states` is a bitmask of UNIQUE_STATE_BITS; the partial unique index holds a task
  // only while its status is one of its unique states, so a second task with the key cannot be
  // stored then (tasks without a key, nearly all, stay out of it: inserts pay one test).
  // `flow_starts` logs the starts of rate-limited queues and names, one row per claim: `at` (never
  // below the previous row's, so it is monotonic) and `cum`, the starts so far; the starts of a
  // sliding window are then two seeks of its one B-tree (`at` and `cum` grow together), however
  // high the rate. A slot's ledger row is written in the same transaction as
  // the task it enqueues; the primary key makes two schedulers racing for it fire it once.
  `
  ALTER TABLE tasks ADD COLUMN unique_key TEXT;
  ALTER TABLE tasks ADD COLUMN unique_states INTEGER;
  ALTER TABLE tasks ADD COLUMN scheduled_for INTEGER;
  CREATE UNIQUE INDEX tasks_unique ON tasks (unique_key)
    WHERE unique_key IS NOT NULL AND ${UNIQUE_STATE_PREDICATE};
  CREATE TABLE flow_limits (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    rate_limit INTEGER,
    rate_per_millis INTEGER,
    max_running INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
  ) WITHOUT ROWID;
  CREATE TABLE flow_starts (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    at INTEGER NOT NULL,
    cum INTEGER NOT NULL,
    PRIMARY KEY (scope, name, at, cum)
  ) WITHOUT ROWID;
  CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT,
    args TEXT NOT NULL,
    queue TEXT,
    priority TEXT,
    catch_up TEXT NOT NULL,
    catch_up_window_millis INTEGER NOT NULL,
    overlap TEXT NOT NULL,
    source TEXT NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_slot_at INTEGER,
    last_task_id TEXT
  ) WITHOUT ROWID;
  CREATE TABLE schedule_slots (
    schedule_id TEXT NOT NULL,
    slot_at INTEGER NOT NULL,
    task_id TEXT,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, slot_at)
  ) WITHOUT ROWID;
  CREATE INDEX schedule_slots_at ON schedule_slots (slot_at);
  `,
  // Version 5: the attempt history (`TaskRecord.attemptHistory`), a JSON array the outcome's
  // UPDATE appends to with json_insert (NULL until the first attempt ends). Adding a nullable
  // column rewrites no row.
  `
  ALTER TABLE tasks ADD COLUMN attempt_history TEXT;
  `,
  // Version 6: the W3C trace context of the span that enqueued a task (OpenTelemetry), NULL for
  // a task enqueued without one. Adding nullable columns rewrites no row.
  `
  ALTER TABLE tasks ADD COLUMN traceparent TEXT;
  ALTER TABLE tasks ADD COLUMN tracestate TEXT;
  `,
];

/** The newest schema version this code knows and writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** The database's schema version (`PRAGMA user_version`). */
export function readSchemaVersion(driver: SqliteDriver): number {
  return driver.get<{ user_version: number }>("PRAGMA user_version")?.user_version ?? 0;
}

/**
 * Applies the missing migration steps, each in its own `BEGIN IMMEDIATE` transaction that
 * re-reads the version first, so processes migrating one file at the same time apply each step
 * once. The first transaction also checks, under the write lock, that the database is ours
 * ({@linkcode checkOwnership}) and marks it ({@linkcode markOurs}); a database of ours from before
 * the mark is marked even when its schema is current. Idempotent. Throws
 * {@linkcode SchemaVersionError} when the database is newer than {@linkcode SCHEMA_VERSION},
 * `ForeignDatabaseError` when it is not ours, `ReadOnlyDatabaseError` on a read-only connection.
 */
export async function migrate(driver: SqliteDriver): Promise<void> {
  if (driver.readOnly) {
    throw new ReadOnlyDatabaseError(
      driver.path,
      "it was opened read-only, so it cannot be migrated",
    );
  }
  const references = await referenceSchemas(MIGRATIONS);
  const refuseNewer = (found: number) => {
    if (found > SCHEMA_VERSION) throw new SchemaVersionError(found, SCHEMA_VERSION);
    return found;
  };
  let version = refuseNewer(await retryWhileBusy(driver, () => readSchemaVersion(driver)));
  let marked = await retryWhileBusy(driver, () => checkOwnership(driver, references)) === "ours";
  while (version < SCHEMA_VERSION || !marked) {
    version = await retryWhileBusy(driver, () =>
      immediateTransaction(driver, () => {
        const ownership = checkOwnership(driver, references);
        const found = refuseNewer(readSchemaVersion(driver));
        if (ownership !== "ours") markOurs(driver);
        if (found >= SCHEMA_VERSION) return found;
        driver.exec(MIGRATIONS[found]!);
        driver.exec(`PRAGMA user_version = ${found + 1}`);
        return found + 1;
      }));
    marked = true;
  }
}
