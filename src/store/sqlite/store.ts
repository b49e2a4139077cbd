/**
 * The SQLite backend of the {@linkcode TaskStore} contract: one database file that several
 * processes can share (WAL mode; every write takes the write lock with `BEGIN IMMEDIATE`).
 * @module
 */

import { hostname } from "node:os";
import type { JsonValue } from "../../json.ts";
import type { NameCount, WaitingByNameRequest } from "../store.ts";
import {
  type AttemptEntry,
  MAX_ATTEMPT_HISTORY,
  PRIORITY_RANK,
  priorityOfRank,
  type TaskError,
  type TaskPriority,
  type TaskRecord,
  type TaskStatus,
} from "../../task.ts";
import {
  appendLogs,
  assertBatchLimit,
  type BulkRequest,
  bulkStatuses,
  type ClaimRequest,
  decodeCursor,
  emptyCounts,
  encodeCursor,
  entryError,
  entryOutcome,
  type FlowLimit,
  type FlowLimits,
  HISTORY_BUCKET_MILLIS,
  HISTORY_KEEP_MILLIS,
  type HistoryPoint,
  type InsertOptions,
  type InsertResult,
  type Leadership,
  type LeadRequest,
  type LeaseRef,
  type LeaseRenewal,
  type ListQuery,
  type NewTask,
  type Outcome,
  type ProgressReport,
  type PruneRequest,
  type QueueState,
  type ScheduleInput,
  type ScheduleRecord,
  type SlotRecord,
  type SlotRequest,
  type SlotResult,
  type StartMark,
  type StoreEvent,
  type TaskFilter,
  type TaskPage,
  type TaskStats,
  type TaskStore,
  type WorkerInfo,
} from "../store.ts";
import {
  DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
  immediateTransaction,
  retryWhileBusy,
  type SqliteDriver,
  type SqlValue,
} from "./driver.ts";
import { openTaskDatabase } from "./connect.ts";
import { GroupCommit } from "../_group_commit.ts";
import { DataVersionNotifier } from "./notifier.ts";
import {
  LISTED_PREDICATE,
  migrate,
  SCHEMA_VERSION,
  UNIQUE_STATE_BITS,
  UNIQUE_STATE_PREDICATE,
  WAITING_PREDICATE,
} from "./schema.ts";
import {
  type FlowLimitRow,
  type FlowLimitStateRow,
  LIMITS_SQL,
  LIMITS_STATE_SQL,
  pickWithinLimits,
  toFlowLimit,
  writeLimits,
} from "./flow_limits.ts";
import {
  ADVANCE_SQL,
  DELETE_SCHEDULE_SQL,
  DELETE_SLOTS_SQL,
  LAST_TASK_ACTIVE_SQL,
  PRUNE_SLOTS_SQL,
  RECORD_SLOT_SQL,
  RETIRE_SQL,
  SCHEDULE_SQL,
  type ScheduleRow,
  SCHEDULES_SQL,
  SLOT_EXISTS_SQL,
  SLOTS_SQL,
  toSchedule,
  toSlot,
  UPSERT_SCHEDULE_SQL,
  upsertParams,
} from "./schedules.ts";
import { Tally } from "./tally.ts";
import { HeldRows } from "./held_rows.ts";
import { WalKeeper } from "./wal_keeper.ts";
import { StorageFullError } from "../../errors.ts";

/**
 * How durable a commit is once its promise resolves.
 * - `"normal"`: `PRAGMA synchronous=NORMAL`. A commit survives a crash of the process; after a
 *   power loss or OS crash the last commits may be lost (the database stays consistent). Fast.
 * - `"full"`: `PRAGMA synchronous=FULL`. Each commit waits for fsync, so it survives a power
 *   loss too; writes of one task at a time become over ten times slower; batched writes much less so.
 */
export type SqliteDurability = "normal" | "full";

/** Options of {@linkcode SqliteTaskStore.open}. */
export interface SqliteStoreOptions {
  /** Default {@linkcode DEFAULT_SQLITE_DURABILITY} (`"normal"`). */
  durability?: SqliteDurability;
  /**
   * How long one statement waits for another connection's write lock before SQLite reports the
   * database busy (`PRAGMA busy_timeout`), in ms; at most `lockTimeoutMillis`. The wait blocks
   * the thread; an operation still busy after it is retried with asynchronous pauses until
   * `lockTimeoutMillis`. Default {@linkcode DEFAULT_SQLITE_BUSY_TIMEOUT_MILLIS} (5000).
   */
  busyTimeoutMillis?: number;
  /**
   * How long an operation (opening included) waits in total for a lock another connection holds
   * before it fails with `DatabaseLockedError`, which names the processes holding it when the OS
   * tells (Linux). Default {@linkcode DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS} (5000).
   */
  lockTimeoutMillis?: number;
  /**
   * Open an existing database read-only: nothing is written (no migration, no journal mode), a
   * read-only file or folder is fine, and every write fails with `ReadOnlyDatabaseError`. A
   * database with an older schema is refused with `MigrationNeededError`. Default false.
   */
  readOnly?: boolean;
  /**
   * While anyone listens (a running worker, a `waitFor`), how often to check whether another
   * process committed (`PRAGMA data_version`), in ms; a change wakes listeners with a `changed`
   * event, so a task enqueued by another process starts within about this long instead of the
   * worker's poll interval. 0 turns it off. Default {@linkcode DEFAULT_SQLITE_WATCH_INTERVAL_MILLIS} (10).
   * While the UDP wake-up channel listens (processes on this host wake each other by datagram),
   * polls that find no change slow down to `DATA_VERSION_IDLE_INTERVAL_MILLIS` (250 ms; see
   * `notifier.ts`), and the first change seen brings the poll back to this interval.
   */
  watchIntervalMillis?: number;
}

/** The default {@linkcode SqliteStoreOptions.durability}. */
export const DEFAULT_SQLITE_DURABILITY: SqliteDurability = "normal";
/** The default {@linkcode SqliteStoreOptions.busyTimeoutMillis}. */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MILLIS = 5000;
/** The default {@linkcode SqliteStoreOptions.lockTimeoutMillis}. */
export { DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS } from "./driver.ts";
/** The default {@linkcode SqliteStoreOptions.watchIntervalMillis}. */
export const DEFAULT_SQLITE_WATCH_INTERVAL_MILLIS = 10;

/** A row of the `tasks` table. */
interface TaskRow {
  seq: number;
  id: string;
  name: string;
  queue: string;
  args: string;
  status: TaskStatus;
  priority: number;
  run_at: number;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  attempts: number;
  max_attempts: number;
  backoff_base_millis: number;
  backoff_multiplier: number;
  backoff_max_millis: number;
  backoff_jitter: number;
  timeout_millis: number | null;
  last_error: string | null;
  result: string | null;
  progress: string | null;
  logs: string | null;
  lease_expires_at: number | null;
  worker_id: string | null;
  attempt_token: string | null;
  cancel_requested: number;
  unique_key: string | null;
  unique_states: number | null;
  scheduled_for: number | null;
  /** Migration 5: the attempt history, a JSON array, or NULL before the first ended attempt. */
  attempt_history?: string | null;
  traceparent: string | null;
  tracestate: string | null;
}

/** Builds each SQL text once per key (a count of rows, queues, …) and reuses it afterwards. */
function sqlByKey<K>(build: (key: K) => string): (key: K) => string {
  const built = new Map<K, string>();
  return (key) => {
    let sql = built.get(key);
    if (sql === undefined) built.set(key, sql = build(key));
    return sql;
  };
}

/** `?, ?, ?` for `n` parameters. */
function placeholders(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

/**
 * The most rows one INSERT statement writes; fewer, larger statements insert faster (128: ~10%
 * less CPU per bulk-inserted task than 32; 512 was no better). 25 parameters a row stay far
 * below SQLite's 32,766.
 */
const INSERT_CHUNK_ROWS = 128;
/** Columns an insert binds, in the order {@linkcode pushInsertParams} pushes them. */
const INSERT_COLUMNS = `id, name, queue, args, status, priority, run_at, created_at, started_at,
  completed_at, attempts, max_attempts, backoff_base_millis, backoff_multiplier,
  backoff_max_millis, backoff_jitter, timeout_millis, last_error, result,
  progress, logs, lease_expires_at, worker_id, attempt_token, cancel_requested`;
const INSERT_ROW = `(${placeholders(INSERT_COLUMNS.split(",").length)})`;
const insertSql = sqlByKey((rows: number) =>
  `INSERT INTO tasks (${INSERT_COLUMNS}) VALUES ${Array(rows).fill(INSERT_ROW).join(", ")}`
);

// Tasks with a trace context bind two more columns, in statements of their own, so inserts of
// tasks without one bind exactly what they did before tracing existed.
const TRACED_ROW = `(${placeholders(INSERT_COLUMNS.split(",").length + 2)})`;
const insertTracedSql = sqlByKey((rows: number) =>
  `INSERT INTO tasks (${INSERT_COLUMNS}, traceparent, tracestate) VALUES ${
    Array(rows).fill(TRACED_ROW).join(", ")
  }`
);

// A task with a unique key or a slot goes in alone, after a look for a duplicate.
const INSERT_ONE_SQL = `INSERT INTO tasks (${INSERT_COLUMNS}, unique_key, unique_states,
  scheduled_for, traceparent, tracestate) VALUES (${
  placeholders(INSERT_COLUMNS.split(",").length + 5)
})`;
// The same predicate text as the partial unique index, so the lookup uses it.
const DUPLICATE_SQL = `SELECT id FROM tasks WHERE unique_key = ? AND unique_key IS NOT NULL
  AND ${UNIQUE_STATE_PREDICATE}`;

const GET_SQL = "SELECT * FROM tasks WHERE id = ?";

// The claim picks rows first (their status before the claim feeds the counters), then takes
// them by seq. Paused queues are skipped here, so every process honours a pause at its next claim.
// A claim with `names` filters the index scan's rows by name (the row is read for its status
// anyway), so it walks the same partial index `tasks_claim` in the same order.
// params: now (due), minPriority, ...queues, [JSON array of names,] limit
const pickText = (queues: number, byName: boolean) =>
  `SELECT seq, status FROM tasks WHERE ${WAITING_PREDICATE} AND run_at <= ? AND priority >= ?
    AND queue IN (${placeholders(queues)})
    AND queue NOT IN (SELECT name FROM queues WHERE paused = 1)
    ${byName ? "AND name IN (SELECT value FROM json_each(?))" : ""}
    ORDER BY priority DESC, run_at, seq LIMIT ?`;
const pickSql = sqlByKey((queues: number) => pickText(queues, false));
const pickByNameSql = sqlByKey((queues: number) => pickText(queues, true));
// Claimed is not started: a start mark sets started_at when the task runs.
// params: workerId, leaseExpiresAt, JSON array of seqs
const TAKE_SQL = `UPDATE tasks SET status = 'PROCESSING', attempts = attempts + 1,
    attempt_token = lower(hex(randomblob(16))), worker_id = ?, lease_expires_at = ?,
    started_at = NULL
  WHERE seq IN (SELECT value FROM json_each(?))`;
// The same for tasks whose start a rate limit counts: started_at is that time (see FlowLimit).
// params: workerId, leaseExpiresAt, now, JSON array of seqs
const TAKE_RATED_SQL = `UPDATE tasks SET status = 'PROCESSING', attempts = attempts + 1,
    attempt_token = lower(hex(randomblob(16))), worker_id = ?, lease_expires_at = ?,
    started_at = ?
  WHERE seq IN (SELECT value FROM json_each(?))`;
// The rows a take just updated, read back by seq in the same transaction (every picked seq was
// waiting, so the take updated each): about 15% cheaper per claimed task than RETURNING *,
// which buffers every row before handing back the first. params: JSON array of seqs
const TAKEN_SQL = "SELECT * FROM tasks WHERE seq IN (SELECT value FROM json_each(?))";
// params: at, id, token
// A claim of a rate-limited queue or name sets started_at to the time the limit counted (see
// FlowLimit), and a mark keeps it; otherwise the mark sets it. (flow_limits is tiny, nearly
// always empty.)
const MARK_STARTED_SQL = `UPDATE tasks SET started_at = iif(started_at IS NOT NULL AND EXISTS
    (SELECT 1 FROM flow_limits l WHERE l.rate_limit IS NOT NULL
      AND ((l.scope = 'queue' AND l.name = tasks.queue) OR (l.scope = 'task' AND l.name = tasks.name))),
    started_at, ?)
  WHERE id = ? AND attempt_token = ? AND status = 'PROCESSING'`;

/** Applies only while the outcome's claim still holds the task. */
const FENCE = "WHERE id = ? AND attempt_token = ? AND status = 'PROCESSING' RETURNING *";
/**
 * Every applied outcome ends the attempt's lease (`worker_id` stays for the record) and records
 * its start when neither a start mark nor a rate-limited claim did. Its parameter (startedAt or
 * null) precedes the fence's.
 */
const END_ATTEMPT =
  "attempt_token = NULL, lease_expires_at = NULL, started_at = coalesce(started_at, ?)";
/**
 * Every applied outcome appends its attempt's entry to `attempt_history` (a JSON array, NULL
 * until the first), dropping the oldest beyond MAX_ATTEMPT_HISTORY: in the outcome's own UPDATE,
 * no read in JS. SET expressions see the row as it was, so `attempts`, `worker_id` and
 * `started_at` are the attempt's. Parameters (see {@linkcode historyParams}): startedAt or null,
 * now, the outcome name if a cancel was requested, the outcome name otherwise, the error or null.
 */
const APPEND_HISTORY = `attempt_history = json_insert(
    iif(json_array_length(attempt_history) >= ${MAX_ATTEMPT_HISTORY},
      json_remove(attempt_history, '$[0]'), coalesce(attempt_history, '[]')),
    '$[#]', json_object('attempt', attempts, 'startedAt', coalesce(started_at, ?), 'endedAt', ?,
      'outcome', iif(cancel_requested, ?, ?), 'workerId', worker_id, 'error', json(?)))`;

// Each kind makes its own changes; then, when a cancel was requested, every kind but
// `completed` ends CANCELLED at `now` (the same rule as the in-memory store).
const FINISH_SQL = {
  // params: result, now
  completed: `UPDATE tasks SET status = 'COMPLETED', result = ?, completed_at = ?,
    ${APPEND_HISTORY}, ${END_ATTEMPT} ${FENCE}`,
  // params: runAt, now, error
  retry: `UPDATE tasks SET status = iif(cancel_requested, 'CANCELLED', 'RETRYING'), run_at = ?,
    completed_at = iif(cancel_requested, ?, completed_at), last_error = ?, ${APPEND_HISTORY},
    ${END_ATTEMPT} ${FENCE}`,
  // params: now, error
  failed: `UPDATE tasks SET status = iif(cancel_requested, 'CANCELLED', 'FAILED'),
    completed_at = ?, last_error = ?, ${APPEND_HISTORY}, ${END_ATTEMPT} ${FENCE}`,
  // params: now, error or null
  cancelled: `UPDATE tasks SET status = 'CANCELLED', completed_at = ?,
    last_error = coalesce(?, last_error), ${APPEND_HISTORY}, ${END_ATTEMPT} ${FENCE}`,
  // params: now, now
  released: `UPDATE tasks SET status = iif(cancel_requested, 'CANCELLED', 'PENDING'), run_at = ?,
    attempts = attempts - 1, completed_at = iif(cancel_requested, ?, completed_at),
    ${APPEND_HISTORY}, ${END_ATTEMPT} ${FENCE}`,
  // params: runAt, now (as released, but SCHEDULED at runAt: the handler snoozed)
  snoozed: `UPDATE tasks SET status = iif(cancel_requested, 'CANCELLED', 'SCHEDULED'),
    run_at = ?, attempts = attempts - 1, completed_at = iif(cancel_requested, ?, completed_at),
    ${APPEND_HISTORY}, ${END_ATTEMPT} ${FENCE}`,
} as const;

// Held tasks (by id, then token) whose cancel was requested; the id lookup uses its unique index.
// params: JSON array of [id, token] pairs
const CANCEL_REQUESTED_SQL = `SELECT t.id FROM json_each(?) AS l
  JOIN tasks t ON t.id = l.value ->> 0
  WHERE t.attempt_token = l.value ->> 1 AND t.status = 'PROCESSING' AND t.cancel_requested = 1`;
// A scan of the waiting rows (the claim index has no name). params: JSON array of names, limit
const WAITING_BY_NAME_SQL = `SELECT name, count(*) AS waiting FROM tasks INDEXED BY tasks_claim
  WHERE ${WAITING_PREDICATE} AND name NOT IN (SELECT value FROM json_each(?))
  GROUP BY name ORDER BY waiting DESC, name LIMIT ?`;
// A completed outcome of a task whose claimed row this store holds (see held_rows.ts): no
// RETURNING (it costs more than the update), and only while no cancel was requested, the one
// column another connection may have changed since the claim. params: result, now, startedAt,
// history (see APPEND_HISTORY), seq, token
const COMPLETE_HELD_SQL = `UPDATE tasks SET status = 'COMPLETED', result = ?, completed_at = ?,
    ${APPEND_HISTORY}, ${END_ATTEMPT}
  WHERE seq = ? AND attempt_token = ? AND status = 'PROCESSING' AND cancel_requested = 0`;

const RENEW_SQL = `UPDATE tasks SET lease_expires_at = ?
  WHERE id = ? AND attempt_token = ? AND status = 'PROCESSING' RETURNING cancel_requested`;

// INDEXED BY: without statistics the planner prefers tasks_status and sorts every PROCESSING row.
const EXPIRED_SQL = `SELECT * FROM tasks INDEXED BY tasks_lease
  WHERE status = 'PROCESSING' AND lease_expires_at < ? ORDER BY lease_expires_at, seq LIMIT ?`;

const PROGRESS_ROW_SQL =
  "SELECT seq, logs FROM tasks WHERE id = ? AND attempt_token = ? AND status = 'PROCESSING'";
const SET_PROGRESS_SQL = "UPDATE tasks SET progress = ? WHERE seq = ?";
const SET_LOGS_SQL = "UPDATE tasks SET logs = ? WHERE seq = ?";

const STATUS_SQL = "SELECT seq, queue, status FROM tasks WHERE id = ?";

// A waiting task is cancelled at once; a PROCESSING one is flagged and keeps running.
// params: now, seq
const CANCEL_SQL = `UPDATE tasks SET
  status = iif(status = 'PROCESSING', status, 'CANCELLED'),
  completed_at = iif(status = 'PROCESSING', completed_at, ?),
  cancel_requested = iif(status = 'PROCESSING', 1, cancel_requested)
  WHERE seq = ? AND status IN ('PENDING', 'SCHEDULED', 'RETRYING', 'PROCESSING') RETURNING *`;

// params: now, JSON array of seqs
// A retried task gives up its unique key: a newer task may hold the key now.
const RETRY_SQL = `UPDATE tasks SET status = 'PENDING', attempts = 0, run_at = ?,
  unique_key = NULL, completed_at = NULL, started_at = NULL, result = NULL, cancel_requested = 0,
  lease_expires_at = NULL, attempt_token = NULL
  WHERE seq IN (SELECT value FROM json_each(?)) AND status IN ('FAILED', 'CANCELLED')
  RETURNING *`;
// params: now, JSON array of seqs
const BULK_CANCEL_SQL = `UPDATE tasks SET status = 'CANCELLED', completed_at = ?
  WHERE seq IN (SELECT value FROM json_each(?)) AND ${WAITING_PREDICATE} RETURNING id`;
// params: JSON array of seqs
const BULK_DELETE_SQL = `DELETE FROM tasks WHERE seq IN (SELECT value FROM json_each(?))`;

/** Filters as bits of a {@linkcode filterWhere} key. */
const BY_STATUS = 1, BY_NAME = 2, BY_QUEUE = 4, AFTER_CURSOR = 8, BY_ID_PREFIX = 32;
const BY_ARGS_TEXT = 64;
/** With BY_STATUS, for a status the partial listing index holds. */
const BY_LISTED_STATUS = 16;
/**
 * The WHERE clause of a filter key; its parameters in this order: status, name, queue, id prefix
 * (low and high bound), args text, cursor seq.
 */
function filterWhere(filters: number): string {
  const where = [
    filters & BY_STATUS && "status = ?",
    filters & BY_LISTED_STATUS && LISTED_PREDICATE,
    filters & BY_NAME && "name = ?",
    filters & BY_QUEUE && "queue = ?",
    // A range, so the unique index on id serves it.
    filters & BY_ID_PREFIX && "id >= ? AND id < ?",
    filters & BY_ARGS_TEXT && "instr(args, ?) > 0",
    filters & AFTER_CURSOR && "seq < ?",
  ].filter(Boolean);
  return where.length ? `WHERE ${where.join(" AND ")}` : "";
}
// params: the filter's, then limit
const listSql = sqlByKey((filters: number) =>
  `SELECT * FROM tasks ${filterWhere(filters)} ORDER BY seq DESC LIMIT ?`
);
// params: the filter's
const countSql = sqlByKey((filters: number) =>
  `SELECT count(*) AS n FROM tasks ${filterWhere(filters)}`
);
// params: the filter's, then the action's statuses, then limit
const bulkPickSql = sqlByKey(([filters, statuses]: readonly [number, number]) =>
  `SELECT seq, queue, status FROM tasks ${filterWhere(filters) || "WHERE 1"}
    AND status IN (${placeholders(statuses)}) ORDER BY seq LIMIT ?`
);

const STATS_SQL = "SELECT queue, status, n FROM task_counts WHERE n <> 0";
// params: queue or null, status or null
const COUNTED_SQL = `SELECT coalesce(sum(n), 0) AS n FROM task_counts
  WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR status = ?2)`;
// params: since (bucket start), until
const HISTORY_SQL =
  "SELECT at, completed, failed, retried FROM task_history WHERE at >= ? AND at < ? ORDER BY at";
const TRIM_HISTORY_SQL = "DELETE FROM task_history WHERE at < ?";

// INDEXED BY: otherwise the planner walks every row of the statuses, not only the old ones.
// params: before, ...statuses, limit
const pruneSql = sqlByKey((statuses: number) =>
  `DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks INDEXED BY tasks_completed
    WHERE completed_at < ? AND status IN (${placeholders(statuses)}) LIMIT ?)
  RETURNING queue, status`
);

const QUEUES_SQL = `SELECT q.name, coalesce(s.paused, 0) AS paused, s.updated_at
  FROM (SELECT queue AS name FROM task_counts WHERE n <> 0 UNION SELECT name FROM queues) q
  LEFT JOIN queues s ON s.name = q.name ORDER BY q.name`;
// params: name, paused, now
const SET_PAUSED_SQL = `INSERT INTO queues (name, paused, updated_at) VALUES (?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at
  RETURNING name, paused, updated_at`;

const REGISTER_WORKER_SQL = `INSERT OR REPLACE INTO workers
  (id, host, pid, started_at, last_beat_at, queues, concurrency, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
const BEAT_SQL = "UPDATE workers SET last_beat_at = ? WHERE id = ?";
const BEAT_META_SQL = "UPDATE workers SET last_beat_at = ?, meta = ? WHERE id = ?";
const REMOVE_WORKER_SQL = "DELETE FROM workers WHERE id = ?";
const WORKERS_SQL = "SELECT * FROM workers ORDER BY started_at, id";

// Takes a free or expired leadership, or extends one the holder has. params: name, holder,
// expires_at, now
const LEAD_SQL = `INSERT INTO leaders (name, holder, expires_at) VALUES (?1, ?2, ?3)
  ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
  WHERE leaders.holder = excluded.holder OR leaders.expires_at <= ?4`;
const LEADER_SQL = "SELECT name, holder, expires_at FROM leaders WHERE name = ?";
const RESIGN_SQL = "DELETE FROM leaders WHERE name = ? AND holder = ?";

const REGISTER_LISTENER_SQL = "INSERT OR REPLACE INTO listeners (port, host, pid) VALUES (?, ?, ?)";
const FORGET_LISTENER_SQL = "DELETE FROM listeners WHERE host = ? AND port = ?";
const LISTENERS_SQL = "SELECT port, pid FROM listeners WHERE host = ?";
// The storage probe: a row about the size of a task, written and deleted in one committed
// transaction, so it needs free pages (or room for the WAL) as an insert does, and leaves nothing.
const PROBE_INSERT_SQL = "INSERT INTO leaders (name, holder, expires_at) VALUES (?, ?, 0)";
const PROBE_DELETE_SQL = "DELETE FROM leaders WHERE name = ?";
const PROBE_NAME = "aether-tasks:storage-probe";
const PROBE_BYTES = 8192;

/** The priority of each rank, without a search per row. */
const PRIORITY_BY_RANK: readonly TaskPriority[] = (() => {
  const byRank: TaskPriority[] = [];
  for (const [priority, rank] of Object.entries(PRIORITY_RANK)) {
    byRank[rank] = priority as TaskPriority;
  }
  return byRank;
})();

/** JSON text for a nullable JSON column: SQL NULL for null. */
function jsonOrNull(value: JsonValue | TaskError | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

/** Parses a nullable JSON column: null for SQL NULL. */
function parseOrNull<T>(text: string | null): T | null {
  return text === null ? null : JSON.parse(text) as T;
}

/** Appends the insert parameters of `task` (see {@linkcode INSERT_COLUMNS}) to `params`. */
function pushInsertParams(params: SqlValue[], task: NewTask): void {
  params.push(
    task.id,
    task.name,
    task.queue,
    JSON.stringify(task.args),
    task.status,
    PRIORITY_RANK[task.priority],
    task.runAt,
    task.createdAt,
    task.startedAt,
    task.completedAt,
    task.attempts,
    task.maxAttempts,
    task.retryConfig.baseDelayMillis,
    task.retryConfig.backoffMultiplier,
    task.retryConfig.maxDelayMillis,
    task.retryConfig.useJitter ? 1 : 0,
    task.timeoutMillis,
    jsonOrNull(task.lastError),
    jsonOrNull(task.result),
    jsonOrNull(task.progress),
    task.logs.length === 0 ? null : JSON.stringify(task.logs),
    task.leaseExpiresAt,
    task.workerId,
    task.attemptToken,
    task.cancelRequested ? 1 : 0,
  );
}

/** The record a row holds. */
function rowToRecord(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    name: row.name,
    queue: row.queue,
    args: JSON.parse(row.args) as JsonValue,
    status: row.status,
    priority: PRIORITY_BY_RANK[row.priority] ?? priorityOfRank(row.priority),
    runAt: row.run_at,
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    retryConfig: {
      maxAttempts: row.max_attempts,
      baseDelayMillis: row.backoff_base_millis,
      backoffMultiplier: row.backoff_multiplier,
      maxDelayMillis: row.backoff_max_millis,
      useJitter: row.backoff_jitter !== 0,
    },
    timeoutMillis: row.timeout_millis,
    lastError: parseOrNull<TaskError>(row.last_error),
    result: parseOrNull<JsonValue>(row.result),
    progress: parseOrNull<JsonValue>(row.progress),
    logs: row.logs === null ? [] : JSON.parse(row.logs) as string[],
    leaseExpiresAt: row.lease_expires_at,
    workerId: row.worker_id,
    attemptToken: row.attempt_token,
    cancelRequested: row.cancel_requested !== 0,
    ...(row.scheduled_for === null ? {} : { scheduledFor: row.scheduled_for }),
    ...(row.attempt_history == null
      ? {}
      : { attemptHistory: JSON.parse(row.attempt_history) as AttemptEntry[] }),
    ...(row.traceparent === null ? {} : traceFields(row)),
  };
}

/** The trace context a row holds, as record fields. */
function traceFields(row: TaskRow): Pick<TaskRecord, "traceparent" | "tracestate"> {
  return row.tracestate === null
    ? { traceparent: row.traceparent }
    : { traceparent: row.traceparent, tracestate: row.tracestate };
}

/** Claim order: priority rank descending, then `run_at`, then insertion order. */
function byClaimOrder(a: TaskRow, b: TaskRow): number {
  return b.priority - a.priority || a.run_at - b.run_at || a.seq - b.seq;
}

/** Validates the options once and fills in the defaults. */
function resolveOptions(options: SqliteStoreOptions): Required<SqliteStoreOptions> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`SQLite store options must be an object, got ${String(options)}`);
  }
  const known = [
    "durability",
    "busyTimeoutMillis",
    "lockTimeoutMillis",
    "readOnly",
    "watchIntervalMillis",
  ];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `${key} is not a SQLite store option; expected one of ${known.join(", ")}`,
      );
    }
  }
  const durability = options.durability ?? DEFAULT_SQLITE_DURABILITY;
  if (durability !== "normal" && durability !== "full") {
    throw new RangeError(
      `durability must be "normal" or "full", got ${JSON.stringify(durability)}`,
    );
  }
  const millis = (name: keyof SqliteStoreOptions, fallback: number): number => {
    const value = options[name] ?? fallback;
    if (typeof value !== "number") {
      throw new TypeError(`${name} must be a number, got ${String(value)}`);
    }
    if (!Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
      throw new RangeError(`${name} must be an integer from 0 to ${2 ** 31 - 1}, got ${value}`);
    }
    return value;
  };
  const busyTimeoutMillis = millis("busyTimeoutMillis", DEFAULT_SQLITE_BUSY_TIMEOUT_MILLIS);
  const lockTimeoutMillis = millis("lockTimeoutMillis", DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS);
  const readOnly = options.readOnly ?? false;
  if (typeof readOnly !== "boolean") {
    throw new TypeError(`readOnly must be a boolean, got ${String(readOnly)}`);
  }
  const watchIntervalMillis = options.watchIntervalMillis ?? DEFAULT_SQLITE_WATCH_INTERVAL_MILLIS;
  if (
    typeof watchIntervalMillis !== "number" || !Number.isInteger(watchIntervalMillis) ||
    watchIntervalMillis < 0
  ) {
    throw new RangeError(
      `watchIntervalMillis must be an integer >= 0, got ${String(watchIntervalMillis)}`,
    );
  }
  return { durability, busyTimeoutMillis, lockTimeoutMillis, readOnly, watchIntervalMillis };
}

/**
 * A {@linkcode TaskStore} in one SQLite file, shared safely by several processes: every write is
 * one `BEGIN IMMEDIATE` transaction, and a write that finds the database busy longer than
 * `busyTimeoutMillis` is retried instead of failing.
 *
 * @example
 * ```ts
 * const store = await SqliteTaskStore.open("data/tasks.db", { durability: "full" });
 * const page = await store.list({ limit: 20 });
 * await store.close();
 * ```
 */
export class SqliteTaskStore implements TaskStore {
  #driver: SqliteDriver;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly notifier: DataVersionNotifier;
  /** Keeps the WAL bounded while anyone listens (a worker); none in memory or read-only. */
  readonly #walKeeper: WalKeeper | undefined;
  /** The last write that failed for lack of space, until an insert or a probe succeeds. */
  #storageFull: StorageFullError | undefined;
  /** The application's transaction while one is open: other work on the connection waits. */
  #transaction: { tx: SqliteTransaction; done: Promise<void>; events: StoreEvent[] } | undefined;
  /** Rows of tasks this store claimed and has not finished: completions skip `RETURNING *`. */
  readonly #held = new HeldRows<TaskRow>();
  readonly #inserts = new GroupCommit((groups: readonly (readonly NewTask[])[]) =>
    this.#insertGroups(groups)
  );

  private constructor(driver: SqliteDriver, watchIntervalMillis: number) {
    this.#driver = driver;
    const onDisk = driver.path !== ":memory:" && driver.path !== "";
    this.#walKeeper = onDisk && !driver.readOnly ? new WalKeeper(driver) : undefined;
    this.notifier = new DataVersionNotifier(driver, watchIntervalMillis, {
      register: async ({ port, host, pid }) => {
        await this.#write((db) => db.run(REGISTER_LISTENER_SQL, [port, host, pid]));
      },
      unregister: async (port) => {
        await this.#write((db) => db.run(FORGET_LISTENER_SQL, [hostname(), port]));
      },
      peers: (host) =>
        this.#read((db) =>
          db.all<{ port: number; pid: number }>(LISTENERS_SQL, [host]).map(({ port, pid }) => ({
            port,
            pid,
          }))
        ),
      forget: async (ports) => {
        const host = hostname();
        await this.#write((db) =>
          ports.forEach((port) => db.run(FORGET_LISTENER_SQL, [host, port]))
        );
      },
    });
  }

  /**
   * Opens (creating if needed) the database at `path` (or `":memory:"`), sets WAL mode and the
   * pragmas the options ask for, and migrates the schema; with `readOnly`, opens an existing
   * database without writing anything. A file that is not an aether-tasks database is refused
   * unchanged. Throws a `TypeError`/`RangeError` for a bad option, `ForeignDatabaseError` for a
   * file that is not ours, `ReadOnlyDatabaseError` when a writable open finds the file or its
   * folder read-only, `MigrationNeededError` when a read-only open finds an older schema,
   * `SchemaVersionError` when the file was written by a newer aether-tasks,
   * `DatabaseLockedError` when another connection holds a lock past `lockTimeoutMillis`, and an
   * `Error` naming the path when the file cannot be opened.
   */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteTaskStore> {
    const { watchIntervalMillis, ...database } = resolveOptions(options);
    const driver = await openTaskDatabase(path, database);
    return new SqliteTaskStore(driver, watchIntervalMillis);
  }

  /** The schema version this store writes. */
  get schemaVersion(): number {
    return SCHEMA_VERSION;
  }

  async migrate(): Promise<void> {
    await migrate(this.#open());
  }

  /**
   * Runs `body` in one `BEGIN IMMEDIATE` transaction on the store's own connection, so an
   * application that keeps its tables in the same file can write them and enqueue atomically:
   * pass `{ tx }` to `enqueue`/`insert`. Commits when `body` resolves, rolls back when it throws;
   * tasks enqueued in it run only once it committed. While it is open, the store's other work
   * (a worker's claims in this process) waits, so keep it short, and inside it use only `tx` and
   * `{ tx }` inserts: awaiting another call on this store there would wait for itself.
   *
   * @example
   * ```ts
   * await store.transaction(async (tx) => {
   *   tx.run("INSERT INTO orders (id, total) VALUES (?, ?)", [orderId, 42]);
   *   await dispatcher.enqueue("ship-order", { orderId }, { tx });
   * });
   * ```
   */
  async transaction<T>(body: (tx: SqliteTransaction) => Promise<T> | T): Promise<T> {
    while (this.#transaction) await this.#transaction.done;
    const db = this.#open();
    let end!: () => void;
    const tx = new SqliteTransaction(db);
    const open = { tx, done: new Promise<void>((resolve) => (end = resolve)), events: [] };
    // Taken before the first await, so work started after this call waits for it.
    this.#transaction = open;
    try {
      await retryWhileBusy(db, () => db.run("BEGIN IMMEDIATE"));
      const result = await body(tx);
      db.run("COMMIT");
      // The application may have written rows this store holds: forget them all.
      this.#held.clear();
      tx.ended = true;
      this.#transaction = undefined;
      end();
      for (const event of open.events) this.notifier.notify(event);
      return result;
    } catch (error) {
      if (error instanceof StorageFullError) this.#storageFull = error;
      tx.ended = true;
      if (db.inTransaction) {
        try {
          db.run("ROLLBACK");
        } catch {
          // SQLite already rolled back.
        }
      }
      this.#transaction = undefined;
      end();
      throw error;
    }
  }

  async insert(tasks: readonly NewTask[], options: InsertOptions = {}): Promise<InsertResult[]> {
    if (tasks.length === 0) return [];
    if (options.tx === undefined) return await this.#inserts.submit(tasks);
    const open = this.#transaction;
    if (!(options.tx instanceof SqliteTransaction) || open?.tx !== options.tx || open.tx.ended) {
      throw new TypeError(
        "tx must be the open transaction SqliteTaskStore.transaction passed to its callback",
      );
    }
    const results = writeTasks(this.#driver, tasks);
    open.events.push(...insertedEvents(tasks.filter((_, i) => results[i]?.inserted)));
    return results;
  }

  /** Inserts the groups of concurrent `insert` calls in one transaction (see GroupCommit). */
  async #insertGroups(groups: readonly (readonly NewTask[])[]): Promise<InsertResult[][]> {
    const results = await this.#write((db) => groups.map((tasks) => writeTasks(db, tasks)));
    this.#storageFull = undefined;
    const inserted = groups.flatMap((tasks, g) => tasks.filter((_, i) => results[g]![i]?.inserted));
    for (const event of insertedEvents(inserted)) this.notifier.notify(event);
    return results;
  }

  get(id: string): Promise<TaskRecord | null> {
    return this.#read((db) => {
      const row = db.get<TaskRow>(GET_SQL, [id]);
      return row ? rowToRecord(row) : null;
    });
  }

  async claim(request: ClaimRequest): Promise<TaskRecord[]> {
    const rows = await this.#write((db) => {
      const tally = new Tally();
      const claimed = claimRows(db, request, tally);
      tally.apply(db);
      return claimed;
    });
    this.#held.add(rows);
    return rows.sort(byClaimOrder).map(rowToRecord);
  }

  async finish(
    outcomes: readonly Outcome[],
    started: readonly StartMark[] = [],
  ): Promise<(TaskRecord | null)[]> {
    if (outcomes.length === 0 && started.length === 0) return [];
    const held = this.#held;
    const rows = await this.#write((db) => {
      markStarted(db, started, held);
      const tally = new Tally();
      const finished = outcomes.map((outcome) => finishOne(db, outcome, tally, held));
      tally.apply(db);
      return finished;
    });
    return this.#finished(rows);
  }

  async finishAndClaim(
    outcomes: readonly Outcome[],
    request: ClaimRequest,
    started: readonly StartMark[] = [],
  ): Promise<{ finished: (TaskRecord | null)[]; claimed: TaskRecord[] }> {
    const held = this.#held;
    const [finishedRows, claimedRows] = await this.#write((db) => {
      markStarted(db, started, held);
      const tally = new Tally();
      const done = [
        outcomes.map((outcome) => finishOne(db, outcome, tally, held)),
        claimRows(db, request, tally),
      ] as const;
      tally.apply(db);
      return done;
    });
    this.#held.add(claimedRows);
    return {
      finished: this.#finished(finishedRows),
      claimed: claimedRows.sort(byClaimOrder).map(rowToRecord),
    };
  }

  /** Records of finished rows (null where the outcome was rejected); announces the applied ones. */
  #finished(rows: readonly (TaskRow | undefined)[]): (TaskRecord | null)[] {
    const records = rows.map((row) => row ? rowToRecord(row) : null);
    const ids = records.flatMap((record) => record ? [record.id] : []);
    if (ids.length > 0) this.notifier.notify({ type: "finished", ids });
    return records;
  }

  async renewLeases(leases: readonly LeaseRef[], until: number): Promise<LeaseRenewal> {
    if (leases.length === 0) return { lost: [], cancelRequested: [] };
    return await this.#write((db) => {
      const renewal: LeaseRenewal = { lost: [], cancelRequested: [] };
      for (const { id, token } of leases) {
        const row = db.get<{ cancel_requested: number }>(RENEW_SQL, [until, id, token]);
        if (row === undefined) {
          renewal.lost.push(id);
          this.#held.drop(id);
        } else if (row.cancel_requested !== 0) renewal.cancelRequested.push(id);
      }
      return renewal;
    });
  }

  findCancelRequested(leases: readonly LeaseRef[]): Promise<string[]> {
    if (leases.length === 0) return Promise.resolve([]);
    return this.#read((db) =>
      db.all<{ id: string }>(CANCEL_REQUESTED_SQL, [
        JSON.stringify(leases.map((l) => [l.id, l.token])),
      ])
        .map((row) => row.id)
    );
  }

  findExpiredLeases(now: number, limit: number): Promise<TaskRecord[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.#read((db) => db.all<TaskRow>(EXPIRED_SQL, [now, limit]).map(rowToRecord));
  }

  async reportProgress(report: ProgressReport): Promise<boolean> {
    const { id, token, logs } = report;
    const changes: { progress?: string | null; logs?: string } = {};
    const held = await this.#write((db) => {
      const row = db.get<{ seq: number; logs: string | null }>(PROGRESS_ROW_SQL, [id, token]);
      if (row === undefined) return false;
      if ("progress" in report) {
        changes.progress = jsonOrNull(report.progress ?? null);
        db.run(SET_PROGRESS_SQL, [changes.progress, row.seq]);
      }
      if (logs !== undefined && logs.length > 0) {
        const kept = appendLogs(row.logs === null ? [] : JSON.parse(row.logs) as string[], logs);
        changes.logs = JSON.stringify(kept);
        db.run(SET_LOGS_SQL, [changes.logs, row.seq]);
      }
      return true;
    });
    // The held row follows what was committed.
    const row = held ? this.#held.peek(id, token) : undefined;
    if (row) Object.assign(row, changes);
    return held;
  }

  async cancel(id: string, now: number): Promise<TaskRecord | null> {
    const row = await this.#write((db) => {
      const before = db.get<StatusRow>(STATUS_SQL, [id]);
      if (!before) return undefined;
      const after = db.get<TaskRow>(CANCEL_SQL, [now, before.seq]);
      if (after) {
        const tally = new Tally();
        tally.move(after.queue, before.status, after.status);
        tally.apply(db);
      }
      return after;
    });
    if (row === undefined) return null;
    const record = rowToRecord(row);
    this.notifier.notify(
      record.status === "PROCESSING"
        ? { type: "cancelRequested", id }
        : { type: "finished", ids: [id] },
    );
    return record;
  }

  async retry(id: string, now: number): Promise<TaskRecord | null> {
    const row = await this.#write((db) => {
      const before = db.get<StatusRow>(STATUS_SQL, [id]);
      if (!before) return undefined;
      const [after] = db.all<TaskRow>(RETRY_SQL, [now, JSON.stringify([before.seq])]);
      if (after) {
        const tally = new Tally();
        tally.move(after.queue, before.status, after.status);
        tally.apply(db);
      }
      return after;
    });
    if (row === undefined) return null;
    const record = rowToRecord(row);
    this.notifier.notify({ type: "inserted", queue: record.queue, runAt: record.runAt });
    return record;
  }

  async list(query: ListQuery): Promise<TaskPage> {
    const { limit, cursor } = query;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`limit must be an integer >= 0, got ${limit}`);
    }
    const [filters, params] = filterParams(query);
    let key = filters;
    if (cursor !== undefined) {
      params.push(decodeCursor(cursor, ["number"] as const)[0]);
      key |= AFTER_CURSOR;
    }
    params.push(limit + 1);
    const rows = await this.#read((db) => db.all<TaskRow>(listSql(key), params));
    const more = rows.length > limit;
    if (more) rows.length = limit;
    const last = rows[rows.length - 1];
    return {
      tasks: rows.map(rowToRecord),
      nextCursor: more && last !== undefined ? encodeCursor([last.seq]) : null,
    };
  }

  async count(filter: TaskFilter): Promise<number> {
    const { name, idPrefix, argsContains } = filter;
    if (name === undefined && idPrefix === undefined && argsContains === undefined) {
      // Status and queue alone: the counters answer without a scan.
      return await this.#read((db) =>
        db.get<{ n: number }>(COUNTED_SQL, [filter.queue ?? null, filter.status ?? null])?.n ?? 0
      );
    }
    const [filters, params] = filterParams(filter);
    return await this.#read((db) => db.get<{ n: number }>(countSql(filters), params)?.n ?? 0);
  }

  async countWaitingByName(request: WaitingByNameRequest): Promise<NameCount[]> {
    assertBatchLimit(request.limit);
    return await this.#read((db) =>
      db.all<NameCount>(WAITING_BY_NAME_SQL, [JSON.stringify(request.excluding), request.limit])
        .map(({ name, waiting }) => ({ name, waiting }))
    );
  }

  async stats(): Promise<TaskStats> {
    const rows = await this.#read((db) =>
      db.all<{ queue: string; status: TaskStatus; n: number }>(STATS_SQL)
    );
    const stats: TaskStats = { total: 0, byStatus: emptyCounts(), queues: {} };
    for (const { queue, status, n } of rows) {
      stats.total += n;
      stats.byStatus[status] += n;
      // Own keys only: a queue may be called "constructor" or "toString".
      const counts = Object.hasOwn(stats.queues, queue)
        ? stats.queues[queue]!
        : (stats.queues[queue] = emptyCounts());
      counts[status] += n;
    }
    return stats;
  }

  history(since: number, until: number): Promise<HistoryPoint[]> {
    const from = since - (since % HISTORY_BUCKET_MILLIS);
    return this.#read((db) =>
      db.all<HistoryPoint>(HISTORY_SQL, [from, until]).map((
        { at, completed, failed, retried },
      ) => ({
        at,
        completed,
        failed,
        retried,
      }))
    );
  }

  async bulk(request: BulkRequest): Promise<number> {
    const { action, filter, limit, now } = request;
    assertBatchLimit(limit);
    const statuses = bulkStatuses(action);
    const [filters, params] = filterParams(filter);
    params.push(...statuses, limit);
    const { changed, events } = await this.#write((db) => {
      const picked = db.all<StatusRow & { queue: string }>(
        bulkPickSql([filters, statuses.length]),
        params,
      );
      const seqs = JSON.stringify(picked.map((row) => row.seq));
      const tally = new Tally();
      const events: StoreEvent[] = [];
      if (action === "delete") {
        db.run(BULK_DELETE_SQL, [seqs]);
        for (const row of picked) tally.count(row.queue, row.status, -1);
      } else if (action === "cancel") {
        const ids = db.all<{ id: string }>(BULK_CANCEL_SQL, [now, seqs]).map((row) => row.id);
        for (const row of picked) tally.move(row.queue, row.status, "CANCELLED");
        if (ids.length) events.push({ type: "finished", ids });
      } else {
        const rows = db.all<TaskRow>(RETRY_SQL, [now, seqs]);
        for (const row of picked) tally.move(row.queue, row.status, "PENDING");
        events.push(...insertedEvents(rows.map(rowToRecord)));
      }
      tally.apply(db);
      return { changed: picked.length, events };
    });
    for (const event of events) this.notifier.notify(event);
    return changed;
  }

  async prune(request: PruneRequest): Promise<number> {
    const { before, statuses, limit } = request;
    assertBatchLimit(limit);
    if (statuses.length === 0) return 0;
    return await this.#write((db) => {
      const rows = db.all<{ queue: string; status: TaskStatus }>(pruneSql(statuses.length), [
        before,
        ...statuses,
        limit,
      ]);
      const tally = new Tally();
      for (const row of rows) tally.count(row.queue, row.status, -1);
      tally.apply(db);
      db.run(TRIM_HISTORY_SQL, [before - HISTORY_KEEP_MILLIS]);
      return rows.length;
    });
  }

  listQueues(): Promise<QueueState[]> {
    return this.#read((db) =>
      db.all<{ name: string; paused: number; updated_at: number | null }>(QUEUES_SQL).map(
        toQueueState,
      )
    );
  }

  async setQueuePaused(name: string, paused: boolean, now: number): Promise<QueueState> {
    const row = await this.#write((db) =>
      db.get<{ name: string; paused: number; updated_at: number | null }>(SET_PAUSED_SQL, [
        name,
        paused ? 1 : 0,
        now,
      ])!
    );
    if (!paused) this.notifier.notify({ type: "inserted", queue: name, runAt: now });
    return toQueueState(row);
  }

  async registerWorker(info: WorkerInfo): Promise<void> {
    await this.#write((db) =>
      db.run(REGISTER_WORKER_SQL, [
        info.id,
        info.host,
        info.pid,
        info.startedAt,
        info.lastBeatAt,
        JSON.stringify(info.queues),
        info.concurrency,
        JSON.stringify(info.meta),
      ])
    );
  }

  heartbeatWorker(id: string, now: number, meta?: JsonValue): Promise<boolean> {
    return this.#write((db) =>
      (meta === undefined
        ? db.run(BEAT_SQL, [now, id])
        : db.run(BEAT_META_SQL, [now, JSON.stringify(meta), id])).changes > 0
    );
  }

  async removeWorker(id: string): Promise<void> {
    await this.#write((db) => db.run(REMOVE_WORKER_SQL, [id]));
  }

  listWorkers(): Promise<WorkerInfo[]> {
    return this.#read((db) => db.all<WorkerRow>(WORKERS_SQL).map(toWorkerInfo));
  }

  lead(request: LeadRequest): Promise<Leadership> {
    const { name, holder, now, ttlMillis } = request;
    return this.#write((db) => {
      db.run(LEAD_SQL, [name, holder, now + ttlMillis, now]);
      const row = db.get<{ name: string; holder: string; expires_at: number }>(LEADER_SQL, [name])!;
      return { name: row.name, holder: row.holder, expiresAt: row.expires_at };
    });
  }

  async resign(name: string, holder: string): Promise<void> {
    await this.#write((db) => db.run(RESIGN_SQL, [name, holder]));
  }

  async setLimits(
    scope: FlowLimit["scope"],
    name: string,
    limits: FlowLimits,
    now: number,
  ): Promise<FlowLimit> {
    const stored = await this.#write((db) => writeLimits(db, scope, name, limits, now));
    // A raised limit may free capacity at once.
    if (scope === "queue") this.notifier.notify({ type: "inserted", queue: name, runAt: now });
    else this.notifier.notify({ type: "changed" });
    return stored;
  }

  listLimits(): Promise<FlowLimit[]> {
    return this.#read((db) => db.all<FlowLimitRow>(LIMITS_SQL).map(toFlowLimit));
  }

  upsertSchedule(input: ScheduleInput, now: number): Promise<ScheduleRecord> {
    return this.#write((db) =>
      toSchedule(db.get<ScheduleRow>(UPSERT_SCHEDULE_SQL, upsertParams(input, now))!)
    );
  }

  deleteSchedule(id: string): Promise<boolean> {
    return this.#write((db) => {
      db.run(DELETE_SLOTS_SQL, [id]);
      return db.run(DELETE_SCHEDULE_SQL, [id]).changes > 0;
    });
  }

  retireSchedules(keep: readonly string[], now: number): Promise<string[]> {
    return this.#write((db) =>
      db.all<{ id: string }>(RETIRE_SQL, [now, JSON.stringify(keep)]).map((row) => row.id).sort()
    );
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return this.#read((db) => db.all<ScheduleRow>(SCHEDULES_SQL).map(toSchedule));
  }

  async recordSlot(request: SlotRequest): Promise<SlotResult> {
    const { scheduleId, slotAt, task, now } = request;
    const result = await this.#write((db): SlotResult => {
      const schedule = db.get<ScheduleRow>(SCHEDULE_SQL, [scheduleId]);
      if (
        !schedule || schedule.retired !== 0 ||
        (schedule.last_slot_at !== null && schedule.last_slot_at >= slotAt) ||
        db.get(SLOT_EXISTS_SQL, [scheduleId, slotAt]) !== undefined
      ) {
        return { outcome: "taken", taskId: null };
      }
      if (
        schedule.overlap === "skip" && schedule.last_task_id !== null &&
        db.get(LAST_TASK_ACTIVE_SQL, [schedule.last_task_id]) !== undefined
      ) {
        db.run(RECORD_SLOT_SQL, [scheduleId, slotAt, null, now]);
        db.run(ADVANCE_SQL, [slotAt, null, scheduleId]);
        return { outcome: "skipped", taskId: null };
      }
      const tally = new Tally();
      const [inserted] = insertRows(db, [{ ...task, scheduledFor: slotAt }], tally);
      tally.apply(db);
      db.run(RECORD_SLOT_SQL, [scheduleId, slotAt, inserted!.id, now]);
      db.run(ADVANCE_SQL, [slotAt, inserted!.id, scheduleId]);
      return { outcome: "fired", taskId: inserted!.id };
    });
    if (result.outcome === "fired") {
      this.notifier.notify({ type: "inserted", queue: task.queue, runAt: task.runAt });
    }
    return result;
  }

  listSlots(scheduleId: string, limit: number): Promise<SlotRecord[]> {
    assertBatchLimit(limit);
    return this.#read((db) =>
      db.all<{ schedule_id: string; slot_at: number; task_id: string | null; recorded_at: number }>(
        SLOTS_SQL,
        [scheduleId, limit],
      ).map(toSlot)
    );
  }

  pruneSlots(before: number, limit: number): Promise<number> {
    assertBatchLimit(limit);
    return this.#write((db) => db.run(PRUNE_SLOTS_SQL, [before, limit]).changes);
  }

  listen(listener: (event: StoreEvent) => void): () => void {
    const unlisten = this.notifier.listen(listener);
    if (!this.#closed) this.#walKeeper?.start();
    return () => {
      unlisten();
      if (this.notifier.size === 0) void this.#walKeeper?.stop();
    };
  }

  /**
   * Whether writes fail for lack of space: undefined when they work, else the
   * {@linkcode StorageFullError} of the last failed write. Once a write failed so, each call
   * tries a small probe write (a row about the size of a task, written and deleted in one
   * transaction) and reports writable again when it commits; an insert that commits does too.
   * (`/readyz` asks it: not ready while the disk is full.)
   */
  async storageFull(): Promise<StorageFullError | undefined> {
    if (this.#storageFull === undefined) return undefined;
    try {
      await this.#write((db) => {
        db.run(PROBE_INSERT_SQL, [PROBE_NAME, "x".repeat(PROBE_BYTES)]);
        db.run(PROBE_DELETE_SQL, [PROBE_NAME]);
      });
      this.#storageFull = undefined;
    } catch (error) {
      if (!(error instanceof StorageFullError)) throw error;
    }
    return this.#storageFull;
  }

  /** @internal The WAL keeper, for tests that drive it with `runOnce()`. */
  get walKeeper(): WalKeeper | undefined {
    return this.#walKeeper;
  }

  async close(): Promise<void> {
    if (this.#closed || this.#closing) return await this.#closing;
    void this.#walKeeper?.stop(); // synchronous: clears its timer
    this.#held.clear();
    // The notifier first: it removes its wake-up row through this store.
    this.#closing = this.notifier.close().finally(() => {
      this.#closed = true;
      this.#driver.close();
    });
    await this.#closing;
  }

  /** The driver, or an error once the store is closed. */
  #open(): SqliteDriver {
    if (this.#closed) throw new Error("The SQLite task store is closed");
    return this.#driver;
  }

  /** Waits while the application's transaction holds the connection. */
  async #idle(): Promise<void> {
    while (this.#transaction) await this.#transaction.done;
  }

  /** Runs `body` in one `BEGIN IMMEDIATE` transaction, retried while the database is busy. */
  async #write<T>(body: (db: SqliteDriver) => T): Promise<T> {
    if (this.#transaction) await this.#idle();
    try {
      return await retryWhileBusy(this.#open(), () => {
        const db = this.#open();
        return immediateTransaction(db, () => body(db));
      });
    } catch (error) {
      if (error instanceof StorageFullError) this.#storageFull = error;
      throw error;
    }
  }

  /** Runs the read `body` outside a transaction, retried while the database is busy. */
  async #read<T>(body: (db: SqliteDriver) => T): Promise<T> {
    if (this.#transaction) await this.#idle();
    return await retryWhileBusy(this.#open(), () => body(this.#open()));
  }
}

/**
 * The application's handle on a transaction of {@linkcode SqliteTaskStore.transaction}: its
 * statements run on the store's connection inside that transaction. Valid only until the
 * callback settles.
 */
export class SqliteTransaction {
  /** Set once the transaction committed or rolled back. */
  ended = false;
  readonly #db: SqliteDriver;

  /** @internal Made by {@linkcode SqliteTaskStore.transaction}. */
  constructor(db: SqliteDriver) {
    this.#db = db;
  }

  /** Runs a statement for its effect; `changes` counts the rows it wrote. */
  run(sql: string, params: readonly SqlValue[] = []): { changes: number } {
    return this.#live().run(sql, params);
  }

  /** All rows of a query. */
  all<T>(sql: string, params: readonly SqlValue[] = []): T[] {
    return this.#live().all<T>(sql, params);
  }

  /** The first row of a query, or undefined. */
  get<T>(sql: string, params: readonly SqlValue[] = []): T | undefined {
    return this.#live().get<T>(sql, params);
  }

  #live(): SqliteDriver {
    if (this.ended) {
      throw new Error("The transaction has ended; run statements inside its callback");
    }
    return this.#db;
  }
}

interface StatusRow {
  seq: number;
  status: TaskStatus;
}

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  started_at: number;
  last_beat_at: number;
  queues: string;
  concurrency: number;
  meta: string;
}

function toWorkerInfo(row: WorkerRow): WorkerInfo {
  return {
    id: row.id,
    host: row.host,
    pid: row.pid,
    startedAt: row.started_at,
    lastBeatAt: row.last_beat_at,
    queues: JSON.parse(row.queues) as string[],
    concurrency: row.concurrency,
    meta: JSON.parse(row.meta) as JsonValue,
  };
}

function toQueueState(
  row: { name: string; paused: number; updated_at: number | null },
): QueueState {
  return { name: row.name, paused: row.paused !== 0, updatedAt: row.updated_at };
}

/** Writes tasks in the caller's transaction, with their counters; one result per task. */
function writeTasks(db: SqliteDriver, tasks: readonly NewTask[]): InsertResult[] {
  const tally = new Tally();
  const results = insertRows(db, tasks, tally);
  tally.apply(db);
  return results;
}

/** One `inserted` event per queue, with the earliest due time. */
function insertedEvents(tasks: readonly Pick<TaskRecord, "queue" | "runAt">[]): StoreEvent[] {
  const earliest = new Map<string, number>();
  for (const task of tasks) {
    const runAt = earliest.get(task.queue);
    if (runAt === undefined || task.runAt < runAt) earliest.set(task.queue, task.runAt);
  }
  return [...earliest].map(([queue, runAt]) => ({ type: "inserted", queue, runAt }));
}

/** The {@linkcode filterWhere} key and parameters of a filter. */
function filterParams(filter: TaskFilter): [number, SqlValue[]] {
  const params: SqlValue[] = [];
  let filters = 0;
  const { status, name, queue, idPrefix, argsContains } = filter;
  if (status !== undefined) {
    params.push(status);
    filters |= BY_STATUS;
    if (status !== "PENDING" && status !== "SCHEDULED") filters |= BY_LISTED_STATUS;
  }
  if (name !== undefined) {
    params.push(name);
    filters |= BY_NAME;
  }
  if (queue !== undefined) {
    params.push(queue);
    filters |= BY_QUEUE;
  }
  if (idPrefix !== undefined) {
    // Ids hold only hex digits and dashes, all below "~".
    params.push(idPrefix, `${idPrefix}~`);
    filters |= BY_ID_PREFIX;
  }
  if (argsContains !== undefined) {
    params.push(argsContains);
    filters |= BY_ARGS_TEXT;
  }
  return [filters, params];
}

/** Claims up to `request.limit` due tasks (see {@linkcode TaskStore.claim}); unsorted. */
function claimRows(db: SqliteDriver, request: ClaimRequest, tally: Tally): TaskRow[] {
  const { workerId, queues, limit, now, leaseMillis, names } = request;
  if (limit <= 0 || queues.length === 0 || names?.length === 0) return [];
  const take = (picked: readonly StatusRow[], rated = false) => {
    const seqs = JSON.stringify(picked.map((row) => row.seq));
    if (rated) db.run(TAKE_RATED_SQL, [workerId, now + leaseMillis, now, seqs]);
    else db.run(TAKE_SQL, [workerId, now + leaseMillis, seqs]);
    const rows = db.all<TaskRow>(TAKEN_SQL, [seqs]);
    const before = new Map(picked.map((row) => [row.seq, row.status]));
    for (const row of rows) tally.move(row.queue, before.get(row.seq)!, "PROCESSING");
    return rows;
  };
  // Flow limits: a small table, nearly always empty; without a limit on these queues (or on a
  // task name) the plain pick below runs unchanged.
  const limits = db.all<FlowLimitStateRow>(LIMITS_STATE_SQL, [now]).filter((row) =>
    row.scope === "task"
      ? names === undefined || names.includes(row.name)
      : queues.includes(row.name)
  );
  if (limits.length > 0) {
    const taken: TaskRow[] = [];
    const { heldBack, retryAt } = pickWithinLimits(
      db,
      limits,
      { queues, limit, now, minPriority: request.minPriority ?? 0, ...(names ? { names } : {}) },
      (rows, rated) => taken.push(...take(rows as unknown as StatusRow[], rated)),
    );
    if (heldBack) request.onHeldBack?.(retryAt);
    return taken;
  }
  const picked = db.all<StatusRow>(
    (names ? pickByNameSql : pickSql)(queues.length),
    names
      ? [now, request.minPriority ?? 0, ...queues, JSON.stringify(names), limit]
      : [now, request.minPriority ?? 0, ...queues, limit],
  );
  if (picked.length === 0) return [];
  return take(picked);
}

/**
 * Inserts tasks inside the caller's transaction, in order: runs of plain tasks in multi-row
 * statements, a task with a unique key or a slot alone after a look for a duplicate (which the
 * partial unique index also refuses, whatever the caller does). One result per task.
 */
function insertRows(db: SqliteDriver, tasks: readonly NewTask[], tally: Tally): InsertResult[] {
  const results: InsertResult[] = [];
  // Chunks of INSERT_CHUNK_ROWS rows, then halving chunks for the rest, so at most
  // log2(INSERT_CHUNK_ROWS) + 1 distinct statements are ever prepared.
  const insertRun = (from: number, to: number, traced: boolean) => {
    for (let start = from; start < to;) {
      let rows = INSERT_CHUNK_ROWS;
      while (rows > to - start) rows >>= 1;
      const params: SqlValue[] = [];
      for (let i = start; i < start + rows; i++) {
        const task = tasks[i]!;
        pushInsertParams(params, task);
        if (traced) params.push(task.traceparent ?? null, task.tracestate ?? null);
        tally.count(task.queue, task.status, 1);
        results.push({ id: task.id, inserted: true });
      }
      db.run(traced ? insertTracedSql(rows) : insertSql(rows), params);
      start += rows;
    }
  };
  // Runs of tasks with and without a trace context (a batch enqueue has one or the other).
  const insertPlain = (from: number, to: number) => {
    for (let start = from; start < to;) {
      const traced = (tasks[start]!.traceparent ?? null) !== null;
      let end = start + 1;
      while (end < to && ((tasks[end]!.traceparent ?? null) !== null) === traced) end++;
      insertRun(start, end, traced);
      start = end;
    }
  };
  let plainFrom = 0;
  for (let i = 0; i < tasks.length; i++) {
    const task = tasks[i]!;
    const uniqueKey = task.uniqueKey ?? null;
    if (uniqueKey === null && task.scheduledFor == null) continue;
    insertPlain(plainFrom, i);
    plainFrom = i + 1;
    if (uniqueKey !== null) {
      const existing = db.get<{ id: string }>(DUPLICATE_SQL, [uniqueKey]);
      if (existing) {
        results.push({ id: existing.id, inserted: false });
        continue;
      }
    }
    const params: SqlValue[] = [];
    pushInsertParams(params, task);
    params.push(
      uniqueKey,
      uniqueKey === null ? null : uniqueStateBits(task.uniqueStates ?? []),
      task.scheduledFor ?? null,
      task.traceparent ?? null,
      task.tracestate ?? null,
    );
    db.run(INSERT_ONE_SQL, params);
    tally.count(task.queue, task.status, 1);
    results.push({ id: task.id, inserted: true });
  }
  insertPlain(plainFrom, tasks.length);
  return results;
}

/** The `unique_states` bitmask of a list of statuses. */
function uniqueStateBits(statuses: readonly TaskStatus[]): number {
  let bits = 0;
  for (const status of statuses) bits |= UNIQUE_STATE_BITS[status];
  return bits;
}

/**
 * Records start marks inside a write's transaction (stale ones change nothing). A held row whose
 * `started_at` was null takes the mark's time at once: should the transaction roll back, the
 * completion still writes that time (it passes the held `started_at` to `coalesce`), so row and
 * record agree either way. A held row whose `started_at` was set (a rate-limited claim, where the
 * mark may keep it) is dropped from the held rows.
 */
function markStarted(
  db: SqliteDriver,
  started: readonly StartMark[],
  held: HeldRows<TaskRow>,
): void {
  for (const { id, token, at } of started) {
    if (db.run(MARK_STARTED_SQL, [at, id, token]).changes === 0) continue;
    const row = held.peek(id, token);
    if (row?.started_at === null) row.started_at = at;
    else if (row) held.drop(id);
  }
}

/**
 * Applies one outcome inside `finish`'s transaction; the updated row, or undefined if stale. A
 * completion of a held row is one plain update, its row built from the held one; anything else,
 * or a fast update that did not apply (a cancel was requested, or the token is stale), takes the
 * `RETURNING *` statement of its kind.
 */
function finishOne(
  db: SqliteDriver,
  outcome: Outcome,
  tally: Tally,
  held: HeldRows<TaskRow>,
): TaskRow | undefined {
  const before = held.take(outcome.id, outcome.token);
  if (before !== undefined && outcome.kind === "completed") {
    const result = jsonOrNull(outcome.result);
    // The held start (a mark's, or a rate-limited claim's) is what the row holds, or what the
    // coalesce below writes.
    const startedAt = before.started_at ?? outcome.startedAt ?? null;
    const params = [
      result,
      outcome.now,
      ...historyParams(outcome, startedAt),
      startedAt,
      before.seq,
      outcome.token,
    ];
    if (db.run(COMPLETE_HELD_SQL, params).changes === 1) {
      tally.move(before.queue, "PROCESSING", "COMPLETED");
      tally.ended("COMPLETED", outcome.now);
      // The held row is ours alone now (taken out, and the claim's record was a copy): update it
      // in place to what the row holds.
      before.status = "COMPLETED";
      before.result = result;
      before.completed_at = outcome.now;
      before.started_at = startedAt;
      before.attempt_history = appendedHistory(before, outcome, startedAt);
      before.attempt_token = null;
      before.lease_expires_at = null;
      return before;
    }
  }
  const row = applyOutcome(db, outcome);
  if (row) {
    tally.move(row.queue, "PROCESSING", row.status);
    tally.ended(row.status, outcome.now);
  }
  return row;
}

function applyOutcome(db: SqliteDriver, outcome: Outcome): TaskRow | undefined {
  const { id, token, now } = outcome;
  const started = outcome.startedAt ?? null;
  const end = [...historyParams(outcome, started), started, id, token];
  switch (outcome.kind) {
    case "completed":
      return db.get<TaskRow>(FINISH_SQL.completed, [jsonOrNull(outcome.result), now, ...end]);
    case "retry":
      return db.get<TaskRow>(FINISH_SQL.retry, [
        outcome.runAt,
        now,
        JSON.stringify(outcome.error),
        ...end,
      ]);
    case "failed":
      return db.get<TaskRow>(FINISH_SQL.failed, [now, JSON.stringify(outcome.error), ...end]);
    case "cancelled":
      return db.get<TaskRow>(FINISH_SQL.cancelled, [now, jsonOrNull(outcome.error), ...end]);
    case "released":
      return db.get<TaskRow>(FINISH_SQL.released, [now, now, ...end]);
    case "snoozed":
      return db.get<TaskRow>(FINISH_SQL.snoozed, [outcome.runAt, now, ...end]);
    default:
      throw new TypeError(
        `Unknown outcome kind ${JSON.stringify((outcome as { kind: unknown }).kind)}`,
      );
  }
}

/** The parameters of {@linkcode APPEND_HISTORY} for an outcome. */
/**
 * The `attempt_history` text a completion of the held row `before` leaves (what APPEND_HISTORY
 * writes, for the record built from the held row; no cancel was requested, or it would not
 * apply).
 */
function appendedHistory(before: TaskRow, outcome: Outcome, startedAt: number | null): string {
  const history = before.attempt_history == null
    ? []
    : JSON.parse(before.attempt_history) as AttemptEntry[];
  if (history.length >= MAX_ATTEMPT_HISTORY) history.shift();
  history.push({
    attempt: before.attempts,
    startedAt: before.started_at ?? startedAt,
    endedAt: outcome.now,
    outcome: entryOutcome(outcome, false),
    workerId: before.worker_id,
    error: entryError(outcome),
  });
  return JSON.stringify(history);
}

function historyParams(outcome: Outcome, started: number | null): SqlValue[] {
  return [
    started,
    outcome.now,
    entryOutcome(outcome, true),
    entryOutcome(outcome, false),
    jsonOrNull(entryError(outcome)),
  ];
}
