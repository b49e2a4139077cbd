/**
 * The SQL of the PostgreSQL store, one text per operation, for one schema.
 *
 * Time: every statement that needs "now" takes it as `coalesce($n::bigint, DB_NOW)`. A store
 * judging time by the caller's clock passes the caller's `now`; one judging it by the database's
 * clock passes NULL, so due checks, leases and stamps all use the database server's clock.
 * @module
 */

import { MAX_ATTEMPT_HISTORY } from "../../task.ts";
import { UNIQUE_STATE_PREDICATE, WAITING_PREDICATE } from "./schema.ts";

/**
 * An array parameter as PostgreSQL array text (`{"a","b",NULL}`), for a `$n::type[]` parameter.
 * The store sends arrays as text itself instead of leaving it to the client, whose array
 * serializers exist only after a per-connection type lookup (`fetch_types`), and which a
 * transaction of the application's own client may not have.
 */
export function pgArray(values: readonly unknown[]): string {
  let text = "{";
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) text += ",";
    text += v === null || v === undefined
      ? "NULL"
      : typeof v === "string"
      ? `"${v.replace(/[\\"]/g, "\\$&")}"`
      : String(v);
  }
  return text + "}";
}

/** The database's clock in epoch ms, fixed for the statement. */
export const DB_NOW = "floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint";

/** `now` as a statement sees it: the parameter, or the database's clock when it is NULL. */
const now = (param: string) => `coalesce(${param}::bigint, ${DB_NOW})`;

/** Every applied outcome ends the attempt's lease; `worker_id` stays for the record. */
const END_ATTEMPT = "attempt_token = NULL, lease_expires_at = NULL, lease_millis = NULL";

/**
 * The claim as three CTEs, `lim`, `due` and `claimed`, with its seven parameters numbered from
 * `first`: queues, limit, now, lease ms, worker id, minimum priority rank, names (NULL: any name;
 * see `ClaimRequest.names`; a filter on the rows the index scan yields, in the same order). A
 * claimed task is not started: `started_at` stays NULL until a start mark or its outcome records
 * when it ran. When a flow limit concerns these queues (`lim.limited`; `flow_limits` is tiny,
 * nearly always empty, so the look costs nothing) this claim takes nothing: the store then claims
 * through `claimWithinLimits` (flow_limits.ts), which takes the limits' locks.
 */
function claimCtes(s: string, first: number): string {
  const [queues, limit, at, lease, worker, minPriority, names] = [0, 1, 2, 3, 4, 5, 6].map((i) =>
    `$${first + i}`
  );
  return `lim AS (
      SELECT EXISTS (SELECT 1 FROM ${s}.flow_limits l
        WHERE l.scope = 'task' OR l.name = ANY(${queues}::text[])) AS limited
    ), due AS (
      SELECT p.seq, p.priority, p.run_at
      FROM (SELECT DISTINCT name FROM unnest(${queues}::text[]) AS q(name)
        WHERE NOT EXISTS (SELECT 1 FROM ${s}.queues WHERE queues.name = q.name AND paused)
          AND NOT (SELECT limited FROM lim)) q
      CROSS JOIN LATERAL (
        SELECT t.seq, t.priority, t.run_at FROM ${s}.tasks t
        WHERE t.queue = q.name AND t.${WAITING_PREDICATE} AND t.run_at <= ${now(at!)}
          AND t.priority >= ${minPriority}::smallint
          AND (${names}::text[] IS NULL OR t.name = ANY(${names}::text[]))
        ORDER BY t.priority DESC, t.run_at, t.seq
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) p
      ORDER BY p.priority DESC, p.run_at, p.seq
      LIMIT ${limit}
    ), claimed AS (
      UPDATE ${s}.tasks t SET status = 'PROCESSING', attempts = t.attempts + 1,
        attempt_token = gen_random_uuid()::text, worker_id = ${worker},
        lease_expires_at = ${now(at!)} + ${lease}::bigint, lease_millis = ${lease}::bigint,
        started_at = NULL
      FROM due WHERE t.seq = due.seq
      RETURNING t.*
    )`;
}

/**
 * A start a rate limit counted at claim (`started_at` set by the claim, and a rate limit on the
 * task's queue or name): a start mark or an outcome keeps that time (see `FlowLimit`). Plain
 * claims leave `started_at` NULL, so the look into `flow_limits` runs only for rated ones.
 */
const ratedStart = (s: string) =>
  `(t.started_at IS NOT NULL AND EXISTS (SELECT 1 FROM ${s}.flow_limits l
  WHERE l.rate_limit IS NOT NULL AND ((l.scope = 'queue' AND l.name = t.queue)
    OR (l.scope = 'task' AND l.name = t.name))))`;

/**
 * Start marks, then the outcomes of a batch, as CTEs ending in `done` (the updated rows, with
 * the `now` used and the outcome's token). Each kind makes its own changes; when a cancel was
 * requested, every kind but `completed` ends CANCELLED (the in-memory store's rule). Also
 * appends the minute counters of `history`, and each applied outcome's entry to the row's
 * `attempt_history` (the oldest dropped beyond MAX_ATTEMPT_HISTORY). Parameters $1-$9: arrays of
 * the outcomes' id, token, kind, result, error, now, delay (retry, snoozed: runAt - now), start
 * offset (startedAt - now, or NULL) and history outcome (`expired` or the kind; the statement
 * turns it into `cancelled` when a cancel request does); $10-$12: arrays of the marks' id, token
 * and time (NULL: the database's now). The caller folds a mark into the outcome of the same
 * attempt, so no row is updated twice.
 */
function finishCtes(s: string): string {
  return `marked AS (
      UPDATE ${s}.tasks t SET started_at = CASE WHEN ${ratedStart(s)} THEN t.started_at
        ELSE ${now("m.at")} END
      FROM unnest($10::text[], $11::text[], $12::bigint[]) AS m(id, token, at)
      WHERE t.id = m.id AND t.attempt_token = m.token AND t.status = 'PROCESSING'
      RETURNING t.seq
    ), o AS (
      SELECT o.id, o.token, o.kind, o.result, o.error, ${now("o.now")} AS now, o.delay,
        o.started_offset, o.entry
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
        $7::bigint[], $8::bigint[], $9::text[])
        AS o(id, token, kind, result, error, now, delay, started_offset, entry)
    ), done AS (
      UPDATE ${s}.tasks t SET
        status = CASE
          WHEN o.kind = 'completed' THEN 'COMPLETED'
          WHEN o.kind = 'cancelled' OR t.cancel_requested THEN 'CANCELLED'
          WHEN o.kind = 'retry' THEN 'RETRYING'
          WHEN o.kind = 'failed' THEN 'FAILED'
          WHEN o.kind = 'snoozed' THEN 'SCHEDULED'
          ELSE 'PENDING' END,
        result = CASE WHEN o.kind = 'completed' THEN o.result ELSE t.result END,
        completed_at = CASE WHEN o.kind IN ('completed', 'failed', 'cancelled')
          OR t.cancel_requested THEN o.now ELSE t.completed_at END,
        last_error = CASE WHEN o.kind IN ('retry', 'failed') THEN o.error
          WHEN o.kind = 'cancelled' THEN coalesce(o.error, t.last_error) ELSE t.last_error END,
        run_at = CASE WHEN o.kind IN ('retry', 'snoozed') THEN o.now + o.delay
          WHEN o.kind = 'released' THEN o.now ELSE t.run_at END,
        attempts = CASE WHEN o.kind IN ('released', 'snoozed') THEN t.attempts - 1
          ELSE t.attempts END,
        started_at = CASE WHEN o.started_offset IS NULL OR ${ratedStart(s)} THEN t.started_at
          ELSE o.now + o.started_offset END,
        attempt_history = (CASE
          WHEN jsonb_array_length(coalesce(t.attempt_history::jsonb, '[]')) >= ${MAX_ATTEMPT_HISTORY}
          THEN t.attempt_history::jsonb - 0 ELSE coalesce(t.attempt_history::jsonb, '[]') END
          || jsonb_build_array(jsonb_build_object('attempt', t.attempts,
            'startedAt', CASE WHEN o.started_offset IS NULL THEN t.started_at
              ELSE o.now + o.started_offset END,
            'endedAt', o.now,
            'outcome', CASE WHEN o.entry <> 'expired' AND o.kind <> 'completed'
              AND t.cancel_requested THEN 'cancelled' ELSE o.entry END,
            'workerId', t.worker_id, 'error', o.error::jsonb)))::text,
        ${END_ATTEMPT}
      FROM o
      WHERE t.id = o.id AND t.attempt_token = o.token AND t.status = 'PROCESSING'
      RETURNING t.*, o.now AS finished_at, o.token AS outcome_token
    ), counted AS (
      INSERT INTO ${s}.history_deltas (bucket, completed, failed, retried)
      SELECT finished_at - finished_at % 60000,
        count(*) FILTER (WHERE status = 'COMPLETED'),
        count(*) FILTER (WHERE status = 'FAILED'),
        count(*) FILTER (WHERE status = 'RETRYING')
      FROM done WHERE status IN ('COMPLETED', 'FAILED', 'RETRYING') GROUP BY 1
    )`;
}

/** The insert statement of `storeSql`: plain, or with unique keys and slots (see there). */
function insertSql(s: string, unique: boolean): string {
  // The unique variant has three more arrays ($26-$28); the scalar parameters follow them, then
  // the trace context arrays (plain $29-$30, unique $32-$33; empty arrays when no task has one).
  const p = (n: number) => `$${unique ? n + 3 : n}`;
  const extraColumns = unique ? ", unique_key, unique_states, scheduled_for" : "";
  const extraArrays = unique ? ", $26::text[], $27::smallint[], $28::bigint[]" : "";
  // The same predicate text as the partial unique index `tasks_unique`, so it is inferred.
  const onConflict = unique
    ? `ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND ${UNIQUE_STATE_PREDICATE}
      DO NOTHING
      RETURNING id, queue, run_at, status`
    : "RETURNING queue, run_at, status";
  return `WITH ins AS (
      INSERT INTO ${s}.tasks (id, name, queue, args, status, priority, run_at, created_at,
        started_at, completed_at, attempts, max_attempts, backoff_base_millis,
        backoff_multiplier, backoff_max_millis, backoff_jitter, timeout_millis, last_error,
        result, progress, logs, lease_expires_at, worker_id, attempt_token,
        cancel_requested, traceparent, tracestate${extraColumns})
      SELECT id, name, queue, args, status, priority,
        CASE WHEN ${p(26)}::boolean THEN ${DB_NOW} + (run_at - created_at) ELSE run_at END,
        CASE WHEN ${p(26)}::boolean THEN ${DB_NOW} ELSE created_at END,
        started_at, completed_at, attempts, max_attempts, backoff_base_millis,
        backoff_multiplier, backoff_max_millis, backoff_jitter <> 0, timeout_millis, last_error,
        result, progress, logs, lease_expires_at, worker_id, attempt_token,
        cancel_requested <> 0, traceparent, tracestate${extraColumns}
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[],
        $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::integer[], $12::integer[],
        $13::bigint[], $14::double precision[], $15::bigint[], $16::smallint[], $17::bigint[],
        $18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[], $23::text[],
        $24::text[], $25::smallint[], ${p(29)}::text[], ${p(30)}::text[]${extraArrays})
        WITH ORDINALITY AS u(id, name, queue, args,
        status, priority, run_at, created_at, started_at, completed_at, attempts, max_attempts,
        backoff_base_millis, backoff_multiplier, backoff_max_millis, backoff_jitter,
        timeout_millis, last_error, result, progress, logs, lease_expires_at, worker_id,
        attempt_token, cancel_requested, traceparent, tracestate${extraColumns}, ord)
      ORDER BY ord
      ${onConflict}
    ), earliest AS (
      SELECT queue, min(run_at) AS run_at FROM ins WHERE ${WAITING_PREDICATE} GROUP BY queue
    )
    SELECT ${unique ? "NULL AS id, " : ""}queue, run_at, pg_notify(${p(27)}, json_build_object(
      't', 'i', 'o', ${p(28)}::text, 'q', queue, 'r', run_at)::text) IS NULL AS notified
    FROM earliest${unique ? "\n    UNION ALL SELECT id, NULL, NULL, NULL FROM ins" : ""}`;
}

/** All statement texts of a store on schema `s` (already quoted). */
export function storeSql(s: string) {
  return {
    /**
     * Inserts a batch from one array per column in one statement (booleans travel as 0/1: the
     * client would send a boolean array as one boolean) and tells other processes
     * (one NOTIFY per queue, sent when the transaction commits).
     * In database-clock mode ($26) created_at is the database's now and run_at keeps its
     * distance from created_at. Returns the earliest run_at per queue. $29/$30 (traceparent,
     * tracestate) are empty arrays when no task has a trace context: unnest pads them with NULLs.
     */
    insert: insertSql(s, false),
    /**
     * `insert` for a batch with unique keys or slots: three more arrays (unique key, unique
     * states bitmask, scheduled_for) as $26-$28, then $29-$31 as `insert`'s $26-$28. A task
     * whose key a stored task (or an earlier one of the batch) holds in its unique states is
     * left out (`ON CONFLICT … DO NOTHING`: a concurrent insert of the key waits for the first
     * to commit, then does nothing). Rows with an `id` are the inserted tasks; rows with a
     * `queue` the earliest run_at per queue.
     */
    insertUnique: insertSql(s, true),
    /** The stored tasks holding these keys in their unique states. Params: keys. */
    uniqueHolders: `SELECT id, unique_key FROM ${s}.tasks
      WHERE unique_key = ANY($1::text[]) AND unique_key IS NOT NULL AND ${UNIQUE_STATE_PREDICATE}`,

    get: `SELECT * FROM ${s}.tasks WHERE id = $1`,

    /**
     * The probe write of `storageFull`: a finished row about the size of a task, in a
     * transaction the store rolls back (so no one ever sees it). Params: args text.
     */
    probe: `INSERT INTO ${s}.tasks (id, name, queue, args, status, priority, run_at, created_at,
        max_attempts, backoff_base_millis, backoff_multiplier, backoff_max_millis, backoff_jitter)
      VALUES ('aether-tasks-probe-' || gen_random_uuid(), 'aether-tasks-probe',
        'aether-tasks-probe', $1, 'COMPLETED', 0, 0, 0, 1, 0, 1, 0, false)`,

    /**
     * Claims in one statement. Per queue (paused ones left out), the index `tasks_claim` yields
     * due waiting rows already in claim order; SKIP LOCKED passes over rows another claim is
     * taking, so concurrent workers never wait on each other. Params: queues, limit, now,
     * lease ms, worker id, minimum priority. A row of NULLs (no `seq`) says a flow limit
     * concerns these queues (see `claimCtes`).
     */
    claim: `WITH ${claimCtes(s, 1)} SELECT * FROM claimed
      UNION ALL SELECT (NULL::${s}.tasks).* FROM lim WHERE limited`,

    /**
     * Records start marks and a batch of outcomes in one statement, each fenced by its token: a
     * row changes only while `status = 'PROCESSING'` and the token still matches. Params: see
     * `finishCtes` (data-modifying CTEs always run, so marks are written with no outcomes too).
     */
    finish: `WITH ${finishCtes(s)} SELECT * FROM done`,

    /**
     * `finish` then `claim` as one statement (one round trip, one commit). Both parts see the
     * rows as they were before the statement: the claim takes waiting rows, the finish
     * PROCESSING ones, so they never touch the same row. `finished` tells the parts apart
     * (NULL: the row that says a flow limit concerns the queues).
     * Params: those of `finish`, then those of `claim` from $13.
     */
    finishAndClaim: `WITH ${finishCtes(s)}, ${claimCtes(s, 13)}
      SELECT true AS finished, * FROM done
      UNION ALL SELECT false, *, NULL::bigint, NULL::text FROM claimed
      UNION ALL SELECT NULL, (NULL::${s}.tasks).*, NULL, NULL FROM lim WHERE limited`,

    /** Waiting tasks per name, leaving some names out (a scan of the waiting rows). Params: names, limit. */
    waitingByName: `SELECT name, count(*)::bigint AS waiting FROM ${s}.tasks
      WHERE ${WAITING_PREDICATE} AND NOT (name = ANY($1::text[]))
      GROUP BY name ORDER BY waiting DESC, name LIMIT $2`,

    /** Held tasks whose cancel was requested. Params: ids, tokens. */
    cancelRequested: `SELECT t.id FROM ${s}.tasks t
      JOIN unnest($1::text[], $2::text[]) AS l(id, token) ON t.id = l.id
      WHERE t.attempt_token = l.token AND t.status = 'PROCESSING' AND t.cancel_requested`,

    /** Params: ids, tokens, until (NULL: the claim's lease length from the database's now). */
    renew:
      `UPDATE ${s}.tasks t SET lease_expires_at = coalesce($3::bigint, ${DB_NOW} + t.lease_millis)
      FROM unnest($1::text[], $2::text[]) AS l(id, token)
      WHERE t.id = l.id AND t.attempt_token = l.token AND t.status = 'PROCESSING'
      RETURNING t.id, l.token, t.cancel_requested`,

    expired: `SELECT * FROM ${s}.tasks
      WHERE status = 'PROCESSING' AND lease_expires_at < ${now("$1")}
      ORDER BY lease_expires_at, seq LIMIT $2`,

    progressRow: `SELECT seq, logs FROM ${s}.tasks
      WHERE id = $1 AND attempt_token = $2 AND status = 'PROCESSING' FOR UPDATE`,
    held: `SELECT seq FROM ${s}.tasks
      WHERE id = $1 AND attempt_token = $2 AND status = 'PROCESSING'`,
    setProgress: `UPDATE ${s}.tasks SET progress = $2 WHERE seq = $1`,
    setLogs: `UPDATE ${s}.tasks SET logs = $2 WHERE seq = $1`,
    setProgressFenced: `UPDATE ${s}.tasks SET progress = $3
      WHERE id = $1 AND attempt_token = $2 AND status = 'PROCESSING' RETURNING seq`,

    /**
     * A waiting task is cancelled at once; a PROCESSING one is flagged, keeps running, and its
     * worker (in any process) hears of it by NOTIFY. Params: now, id, channel, origin.
     */
    cancel: `WITH c AS (
      UPDATE ${s}.tasks SET
        status = CASE WHEN status = 'PROCESSING' THEN status ELSE 'CANCELLED' END,
        completed_at = CASE WHEN status = 'PROCESSING' THEN completed_at ELSE ${now("$1")} END,
        cancel_requested = cancel_requested OR status = 'PROCESSING'
      WHERE id = $2 AND status IN ('PENDING', 'SCHEDULED', 'RETRYING', 'PROCESSING')
      RETURNING *
    ), n AS (
      SELECT pg_notify($3, json_build_object('t', 'x', 'o', $4::text, 'id', id)::text)
      FROM c WHERE status = 'PROCESSING'
    )
    SELECT c.*, (SELECT count(*) FROM n) AS notified FROM c`,

    /** Params: now, id, channel, origin. A retried task gives up its unique key (see `NewTask`). */
    retry: `WITH r AS (
      UPDATE ${s}.tasks SET status = 'PENDING', attempts = 0, run_at = ${now("$1")},
        unique_key = NULL, completed_at = NULL, started_at = NULL, result = NULL, cancel_requested = false,
        ${END_ATTEMPT}
      WHERE id = $2 AND status IN ('FAILED', 'CANCELLED') RETURNING *
    ), n AS (
      SELECT pg_notify($3, json_build_object('t', 'i', 'o', $4::text, 'q', queue, 'r', run_at)::text)
      FROM r
    )
    SELECT r.*, (SELECT count(*) FROM n) AS notified FROM r`,

    /**
     * Moves at most $1 counter deltas into the totals (SKIP LOCKED: concurrent folds take
     * different rows) and drops history buckets more than $2 ms older than the newest one (no
     * clock involved). Returns how many deltas moved.
     */
    foldCounters: `WITH moved AS (
      DELETE FROM ${s}.status_deltas WHERE id IN (
        SELECT id FROM ${s}.status_deltas ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING queue, status, delta
    ), summed AS (
      INSERT INTO ${s}.status_counts AS c (queue, status, n)
      SELECT queue, status, sum(delta) FROM moved GROUP BY queue, status
      ON CONFLICT (queue, status) DO UPDATE SET n = c.n + EXCLUDED.n
    ), moved_history AS (
      DELETE FROM ${s}.history_deltas WHERE id IN (
        SELECT id FROM ${s}.history_deltas ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING bucket, completed, failed, retried
    ), summed_history AS (
      INSERT INTO ${s}.history AS h (bucket, completed, failed, retried)
      SELECT bucket, sum(completed), sum(failed), sum(retried) FROM moved_history
      GROUP BY bucket
      ON CONFLICT (bucket) DO UPDATE SET completed = h.completed + EXCLUDED.completed,
        failed = h.failed + EXCLUDED.failed, retried = h.retried + EXCLUDED.retried
    ), old AS (
      DELETE FROM ${s}.history WHERE bucket < (SELECT max(bucket) FROM ${s}.history) - $2::bigint
    )
    SELECT (SELECT count(*) FROM moved) + (SELECT count(*) FROM moved_history) AS moved`,

    /** Counts from the folded totals plus the deltas not yet folded: no scan of `tasks`. */
    stats: `SELECT queue, status, sum(n)::bigint AS n FROM (
      SELECT queue, status, n FROM ${s}.status_counts
      UNION ALL SELECT queue, status, delta FROM ${s}.status_deltas
    ) c GROUP BY queue, status HAVING sum(n) <> 0`,

    history: `SELECT bucket, sum(completed)::bigint AS completed, sum(failed)::bigint AS failed,
      sum(retried)::bigint AS retried FROM (
      SELECT bucket, completed, failed, retried FROM ${s}.history
      UNION ALL SELECT bucket, completed, failed, retried FROM ${s}.history_deltas
    ) h WHERE bucket >= $1 AND bucket <= $2 GROUP BY bucket ORDER BY bucket`,

    /** Params: before, statuses, limit. */
    prune: `DELETE FROM ${s}.tasks WHERE seq IN (
      SELECT seq FROM ${s}.tasks WHERE completed_at < $1 AND status = ANY($2::text[])
      ORDER BY completed_at LIMIT $3 FOR UPDATE SKIP LOCKED)`,

    listQueues: `SELECT name, bool_or(paused) AS paused, max(updated_at) AS updated_at FROM (
      SELECT name, paused, updated_at FROM ${s}.queues
      UNION ALL SELECT queue, false, NULL FROM (
        SELECT queue FROM (
          SELECT queue, n FROM ${s}.status_counts
          UNION ALL SELECT queue, delta FROM ${s}.status_deltas
        ) c GROUP BY queue HAVING sum(n) <> 0
      ) with_tasks
    ) q GROUP BY name ORDER BY name`,

    /** Params: name, paused, now. */
    setQueuePaused: `INSERT INTO ${s}.queues AS q (name, paused, updated_at)
      VALUES ($1, $2, ${now("$3")})
      ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = EXCLUDED.updated_at
      RETURNING name, paused, updated_at`,

    /**
     * Params: id, host, pid, started_at, last_beat_at, queues, concurrency, meta, database-clock
     * mode. In database-clock mode the beat is the database's now (and the start keeps its
     * distance to the beat); the database's now is returned either way, so the store learns how
     * far the caller's clock is from it.
     */
    registerWorker: `INSERT INTO ${s}.workers AS w
      (id, host, pid, started_at, last_beat_at, queues, concurrency, meta)
      VALUES ($1, $2, $3,
        CASE WHEN $9::boolean THEN ${DB_NOW} - ($5::bigint - $4::bigint) ELSE $4::bigint END,
        CASE WHEN $9::boolean THEN ${DB_NOW} ELSE $5::bigint END, $6, $7, $8)
      ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
        started_at = EXCLUDED.started_at, last_beat_at = EXCLUDED.last_beat_at,
        queues = EXCLUDED.queues, concurrency = EXCLUDED.concurrency, meta = EXCLUDED.meta
      RETURNING ${DB_NOW} AS db_now`,
    /** Params: id, now (NULL: the database's), meta or NULL. */
    heartbeatWorker: `UPDATE ${s}.workers SET last_beat_at = ${now("$2")},
      meta = coalesce($3, meta)
      WHERE id = $1 RETURNING ${DB_NOW} AS db_now`,
    removeWorker: `DELETE FROM ${s}.workers WHERE id = $1`,
    listWorkers: `SELECT * FROM ${s}.workers ORDER BY started_at, id`,

    /**
     * Takes or extends a leadership in one atomic statement: the row is written only when it is
     * free, expired, or already this holder's. Params: name, holder, now, ttl ms.
     */
    lead: `INSERT INTO ${s}.leaders AS l (name, holder, expires_at)
      VALUES ($1, $2, ${now("$3")} + $4::bigint)
      ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
      WHERE l.holder = EXCLUDED.holder OR l.expires_at <= ${now("$3")}
      RETURNING name, holder, expires_at`,
    leader: `SELECT name, holder, expires_at FROM ${s}.leaders WHERE name = $1`,
    resign: `DELETE FROM ${s}.leaders WHERE name = $1 AND holder = $2`,
  };
}

/** The statement texts of one schema. */
export type StoreSql = ReturnType<typeof storeSql>;
