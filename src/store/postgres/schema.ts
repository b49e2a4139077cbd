/**
 * The PostgreSQL schema as a list of migrations, kept in a schema of its own (default
 * `aether_tasks`). Applied versions are rows of `<schema>.migrations`; every step runs in one
 * transaction that holds `pg_advisory_xact_lock`, so processes starting together migrate once.
 *
 * To change the schema, append a step; never edit a step that has shipped.
 * @module
 */

import type { Sql } from "postgres";
import { SchemaVersionError } from "../../errors.ts";

/**
 * The condition of a waiting (claimable) task, exactly as the partial claim index states it; a
 * query uses that index only when its WHERE implies this. Part of migration 1: never change it.
 */
export const WAITING_PREDICATE = "status IN ('PENDING', 'SCHEDULED', 'RETRYING')";

/** The bit of each status in `tasks.unique_states` (migration 2: never change it). */
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
 * Whether a task's status is one of its unique states, exactly as the partial unique index
 * `tasks_unique` states it; `ON CONFLICT` and lookups repeat this text to use that index. Part
 * of migration 2: never change it.
 */
export const UNIQUE_STATE_PREDICATE = `(unique_states & (CASE status ${
  Object.entries(UNIQUE_STATE_BITS).map(([status, bit]) => `WHEN '${status}' THEN ${bit}`).join(" ")
} ELSE 0 END)::smallint) <> 0`;

/**
 * The migration steps; step `i` brings the schema from version `i` to `i + 1`. Each is a
 * function of the quoted schema name.
 *
 * Version 1:
 * - `tasks`: `seq` is the insertion order and the list cursor. Times are epoch ms (bigint); JSON
 *   columns hold JSON text exactly as written (text, not jsonb: no reparsing, and `argsContains`
 *   matches the text the dispatcher wrote); `priority` is the rank from `PRIORITY_RANK`.
 *   `lease_millis` is the lease length of the current claim, so a store that judges time by the
 *   database clock renews a lease by that length from the database's now. `id` is collated "C"
 *   so its unique index also serves id-prefix searches.
 * - The partial indexes keep claims, lease rescue and prune independent of how many finished
 *   rows the table holds.
 * - `status_counts` + `status_deltas`: per-(queue, status) counts without scanning `tasks`.
 *   Statement-level triggers append one delta row per (queue, status) a statement changed
 *   (append-only: concurrent writers never wait on one hot counter row); `foldCounters` moves
 *   deltas into `status_counts` in bounded steps.
 * - `history` + `history_deltas`: finished attempts per minute, appended by the finish statement
 *   and folded the same way.
 * - `queues` (per-queue state claims consult), `leaders` (leadership rows with a TTL), and
 *   `workers` (the worker registry; UNLOGGED: it is rebuilt by heartbeats after a crash).
 */
export const MIGRATIONS: readonly ((schema: string) => string)[] = [
  (s) => `
  CREATE TABLE ${s}.tasks (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    name text NOT NULL,
    queue text NOT NULL,
    args text NOT NULL,
    status text NOT NULL,
    priority smallint NOT NULL,
    run_at bigint NOT NULL,
    created_at bigint NOT NULL,
    started_at bigint,
    completed_at bigint,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    backoff_base_millis bigint NOT NULL,
    backoff_multiplier double precision NOT NULL,
    backoff_max_millis bigint NOT NULL,
    backoff_jitter boolean NOT NULL,
    timeout_millis bigint,
    last_error text,
    result text,
    progress text,
    logs text,
    lease_expires_at bigint,
    lease_millis bigint,
    worker_id text,
    attempt_token text,
    cancel_requested boolean NOT NULL DEFAULT false
  );
  CREATE INDEX tasks_claim ON ${s}.tasks (queue, priority DESC, run_at, seq)
    WHERE ${WAITING_PREDICATE};
  CREATE INDEX tasks_lease ON ${s}.tasks (lease_expires_at, seq) WHERE status = 'PROCESSING';
  CREATE INDEX tasks_status ON ${s}.tasks (status, seq)
    WHERE status NOT IN ('PENDING', 'SCHEDULED');
  CREATE INDEX tasks_completed ON ${s}.tasks (completed_at) WHERE completed_at IS NOT NULL;

  CREATE TABLE ${s}.status_counts (
    queue text NOT NULL,
    status text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (queue, status)
  );
  CREATE TABLE ${s}.status_deltas (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    status text NOT NULL,
    delta bigint NOT NULL
  );
  CREATE FUNCTION ${s}.count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO ${s}.status_deltas (queue, status, delta)
      SELECT queue, status, count(*) FROM new_rows GROUP BY queue, status;
    RETURN NULL;
  END $$;
  CREATE FUNCTION ${s}.count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO ${s}.status_deltas (queue, status, delta)
      SELECT queue, status, sum(d) FROM (
        SELECT queue, status, -1 AS d FROM old_rows
        UNION ALL SELECT queue, status, 1 FROM new_rows
      ) changed GROUP BY queue, status HAVING sum(d) <> 0;
    RETURN NULL;
  END $$;
  CREATE FUNCTION ${s}.count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO ${s}.status_deltas (queue, status, delta)
      SELECT queue, status, -count(*) FROM old_rows GROUP BY queue, status;
    RETURN NULL;
  END $$;
  CREATE TRIGGER tasks_count_inserted AFTER INSERT ON ${s}.tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.count_inserted();
  CREATE TRIGGER tasks_count_updated AFTER UPDATE ON ${s}.tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ${s}.count_updated();
  CREATE TRIGGER tasks_count_deleted AFTER DELETE ON ${s}.tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.count_deleted();

  CREATE TABLE ${s}.history (
    bucket bigint PRIMARY KEY,
    completed bigint NOT NULL,
    failed bigint NOT NULL,
    retried bigint NOT NULL
  );
  CREATE TABLE ${s}.history_deltas (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket bigint NOT NULL,
    completed bigint NOT NULL,
    failed bigint NOT NULL,
    retried bigint NOT NULL
  );

  CREATE TABLE ${s}.queues (
    name text PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false,
    updated_at bigint
  );
  CREATE TABLE ${s}.leaders (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at bigint NOT NULL
  );
  CREATE UNLOGGED TABLE ${s}.workers (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at bigint NOT NULL,
    last_beat_at bigint NOT NULL,
    queues text NOT NULL,
    concurrency integer NOT NULL,
    meta text NOT NULL
  );
  `,
  // Version 2 (store contract v3): unique tasks, flow limits, schedules and their slot ledger.
  // - `unique_states` is a bitmask of UNIQUE_STATE_BITS; the partial unique index holds a task
  //   only while its status is one of its unique states, so a second task with the key cannot be
  //   stored then, whichever process inserts it (tasks without a key, nearly all, stay out of
  //   the index). Inserts name the index's predicate in `ON CONFLICT`.
  // - `flow_limits` holds the limits (tiny, usually empty; claims lock its rows FOR UPDATE, so
  //   limited claims of one scope take turns across processes). `flow_starts` logs the starts of
  //   rate-limited scopes, one row per claim: `at` never decreases and `cum` is the starts so
  //   far, so the starts of a window are two index seeks however high the rate.
  // - A slot's ledger row is written in the same transaction as the task it enqueues, under a
  //   lock of its schedule's row; the primary key makes two schedulers fire a slot once.
  (s) => `
  ALTER TABLE ${s}.tasks ADD COLUMN unique_key text, ADD COLUMN unique_states smallint,
    ADD COLUMN scheduled_for bigint;
  CREATE UNIQUE INDEX tasks_unique ON ${s}.tasks (unique_key)
    WHERE unique_key IS NOT NULL AND ${UNIQUE_STATE_PREDICATE};
  CREATE TABLE ${s}.flow_limits (
    scope text NOT NULL,
    name text NOT NULL,
    rate_limit integer,
    rate_per_millis bigint,
    max_running integer,
    updated_at bigint NOT NULL,
    PRIMARY KEY (scope, name)
  );
  CREATE TABLE ${s}.flow_starts (
    scope text NOT NULL,
    name text NOT NULL,
    at bigint NOT NULL,
    cum bigint NOT NULL,
    PRIMARY KEY (scope, name, at, cum)
  );
  CREATE TABLE ${s}.schedules (
    id text PRIMARY KEY,
    task text NOT NULL,
    cron text NOT NULL,
    timezone text,
    args text NOT NULL,
    queue text,
    priority text,
    catch_up text NOT NULL,
    catch_up_window_millis bigint NOT NULL,
    overlap text NOT NULL,
    source text NOT NULL,
    retired boolean NOT NULL DEFAULT false,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    last_slot_at bigint,
    last_task_id text
  );
  CREATE TABLE ${s}.schedule_slots (
    schedule_id text NOT NULL,
    slot_at bigint NOT NULL,
    task_id text,
    recorded_at bigint NOT NULL,
    PRIMARY KEY (schedule_id, slot_at)
  );
  CREATE INDEX schedule_slots_at ON ${s}.schedule_slots (slot_at);
  `,
  // Attempt history (`TaskRecord.attemptHistory`): a JSON text array the finish statement
  // appends each ended attempt to (NULL until the first). A nullable column without a default
  // is added without rewriting the table.
  (s) => `
  ALTER TABLE ${s}.tasks ADD COLUMN attempt_history text;
  `,
  // Version 4: the W3C trace context of the span that enqueued a task (OpenTelemetry), NULL for
  // a task enqueued without one. Nullable columns without a default rewrite no row.
  (s) => `
  ALTER TABLE ${s}.tasks ADD COLUMN traceparent text;
  ALTER TABLE ${s}.tasks ADD COLUMN tracestate text;
  `,
];

/** The newest schema version this code knows and writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** `"name"`: a schema name quoted as an identifier (names are checked to be plain already). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The advisory lock key of a schema's migrations: one per schema name. */
function lockKey(schema: string): string {
  return `aether-tasks migrate ${schema}`;
}

/**
 * The schema's version: the highest applied migration, 0 when the schema or its `migrations`
 * table does not exist yet.
 */
export async function readSchemaVersion(sql: Sql, schema: string): Promise<number> {
  const table = `${quoteIdentifier(schema)}.migrations`;
  const [found] = await sql.unsafe<{ exists: boolean }[]>(
    "SELECT to_regclass($1) IS NOT NULL AS exists",
    [table],
  );
  if (!found?.exists) return 0;
  const [row] = await sql.unsafe<{ version: number | null }[]>(
    `SELECT max(version) AS version FROM ${table}`,
  );
  return row?.version ?? 0;
}

/**
 * Applies the missing migration steps in one transaction under an advisory lock on the schema
 * name, re-reading the version once the lock is held, so processes migrating at the same time
 * apply each step once and the others find it done. Idempotent. Throws
 * {@linkcode SchemaVersionError} when the schema is newer than {@linkcode SCHEMA_VERSION}.
 */
export async function migrate(sql: Sql, schema: string): Promise<void> {
  const refuseNewer = (found: number) => {
    if (found > SCHEMA_VERSION) throw new SchemaVersionError(found, SCHEMA_VERSION);
    return found;
  };
  if (refuseNewer(await readSchemaVersion(sql, schema)) === SCHEMA_VERSION) return;
  const s = quoteIdentifier(schema);
  await sql.begin(async (tx) => {
    await tx.unsafe("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [lockKey(schema)]);
    // Under the lock, so concurrent openers never race on CREATE ... IF NOT EXISTS either.
    await tx.unsafe(`SET LOCAL client_min_messages = warning`);
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.unsafe(
      `CREATE TABLE IF NOT EXISTS ${s}.migrations (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const [row] = await tx.unsafe<{ version: number | null }[]>(
      `SELECT max(version) AS version FROM ${s}.migrations`,
    );
    for (let version = refuseNewer(row?.version ?? 0); version < SCHEMA_VERSION; version++) {
      await tx.unsafe(MIGRATIONS[version]!(s));
      await tx.unsafe(`INSERT INTO ${s}.migrations (version) VALUES ($1)`, [version + 1]);
    }
  });
}
