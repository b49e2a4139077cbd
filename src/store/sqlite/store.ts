/**
 * The SQLite backend of the {@linkcode TaskStore} contract: one database file that several
 * processes can share (WAL mode; every write takes the write lock with `BEGIN IMMEDIATE`).
 * @module
 */

import type { JsonValue } from "../../json.ts";
import {
  PRIORITY_RANK,
  priorityOfRank,
  type TaskError,
  type TaskPriority,
  type TaskRecord,
  type TaskStatus,
} from "../../task.ts";
import {
  appendLogs,
  type ClaimRequest,
  emptyCounts,
  type LeaseRef,
  type LeaseRenewal,
  type ListQuery,
  type NewTask,
  type Outcome,
  type ProgressReport,
  type StoreEvent,
  StoreEvents,
  type TaskPage,
  type TaskStats,
  type TaskStore,
} from "../store.ts";
import {
  DEFAULT_SQLITE_LOCK_TIMEOUT_MILLIS,
  immediateTransaction,
  retryWhileBusy,
  type SqliteDriver,
  type SqlValue,
} from "./driver.ts";
import { openTaskDatabase } from "./connect.ts";
import { LISTED_PREDICATE, migrate, SCHEMA_VERSION, WAITING_PREDICATE } from "./schema.ts";

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

/** The most rows one INSERT statement writes; fewer, larger statements insert faster. */
const INSERT_CHUNK_ROWS = 32;
/** Columns an insert binds, in the order {@linkcode pushInsertParams} pushes them. */
const INSERT_COLUMNS = `id, name, queue, args, status, priority, run_at, created_at, started_at,
  completed_at, attempts, max_attempts, backoff_base_millis, backoff_multiplier,
  backoff_max_millis, backoff_jitter, timeout_millis, last_error, result,
  progress, logs, lease_expires_at, worker_id, attempt_token, cancel_requested`;
const INSERT_ROW = `(${placeholders(INSERT_COLUMNS.split(",").length)})`;
const insertSql = sqlByKey((rows: number) =>
  `INSERT INTO tasks (${INSERT_COLUMNS}) VALUES ${Array(rows).fill(INSERT_ROW).join(", ")}`
);

const GET_SQL = "SELECT * FROM tasks WHERE id = ?";

// params: workerId, leaseExpiresAt, now (started_at), now (due), ...queues, limit
const claimSql = sqlByKey((queues: number) =>
  `UPDATE tasks SET status = 'PROCESSING', attempts = attempts + 1,
    attempt_token = lower(hex(randomblob(16))), worker_id = ?, lease_expires_at = ?,
    started_at = ?
  WHERE seq IN (SELECT seq FROM tasks WHERE ${WAITING_PREDICATE} AND run_at <= ?
    AND queue IN (${placeholders(queues)}) ORDER BY priority DESC, run_at, seq LIMIT ?)
  RETURNING *`
);

/** Applies only while the outcome's claim still holds the task. */
const FENCE = "WHERE id = ? AND attempt_token = ? AND status = 'PROCESSING' RETURNING *";
/** Every applied outcome ends the attempt's lease; `worker_id` stays for the record. */
const END_ATTEMPT = "attempt_token = NULL, lease_expires_at = NULL";

// Each kind makes its own changes; then, when a cancel was requested, every kind but
// `completed` ends CANCELLED at `now` (the same rule as the in-memory store).
const FINISH_SQL = {
  // params: result, now
  completed: `UPDATE tasks SET status = 'COMPLETED', result = ?, completed_at = ?, ${END_ATTEMPT}
    ${FENCE}`,
  // params: runAt, now, error
  retry: `UPDATE tasks SET status = iif(cancel_requested, 'CANCELLED', 'RETRYING'), run_at = ?,
    completed_at = iif(cancel_requested, ?, completed_at), last_error = ?, ${END_ATTEMPT}
    ${FENCE}`,
  // params: now, error
  failed: `UPDATE tasks SET status = iif(cancel_requested, 'CANCELLED', 'FAILED'),
    completed_at = ?, last_error = ?, ${END_ATTEMPT} ${FENCE}`,
  // params: now, error or null
  cancelled: `UPDATE tasks SET status = 'CANCELLED', completed_at = ?,
    last_error = coalesce(?, last_error), ${END_ATTEMPT} ${FENCE}`,
  // params: now, now
  released: `UPDATE tasks SET status = iif(cancel_requested, 'CANCELLED', 'PENDING'), run_at = ?,
    attempts = attempts - 1, completed_at = iif(cancel_requested, ?, completed_at), ${END_ATTEMPT}
    ${FENCE}`,
} as const;

const RENEW_SQL = `UPDATE tasks SET lease_expires_at = ?
  WHERE id = ? AND attempt_token = ? AND status = 'PROCESSING' RETURNING cancel_requested`;

// INDEXED BY: without statistics the planner prefers tasks_status and sorts every PROCESSING row.
const EXPIRED_SQL = `SELECT * FROM tasks INDEXED BY tasks_lease
  WHERE status = 'PROCESSING' AND lease_expires_at < ? ORDER BY lease_expires_at, seq LIMIT ?`;

const PROGRESS_ROW_SQL =
  "SELECT seq, logs FROM tasks WHERE id = ? AND attempt_token = ? AND status = 'PROCESSING'";
const SET_PROGRESS_SQL = "UPDATE tasks SET progress = ? WHERE seq = ?";
const SET_LOGS_SQL = "UPDATE tasks SET logs = ? WHERE seq = ?";

// A waiting task is cancelled at once; a PROCESSING one is flagged and keeps running.
// params: now, id
const CANCEL_SQL = `UPDATE tasks SET
  status = iif(status = 'PROCESSING', status, 'CANCELLED'),
  completed_at = iif(status = 'PROCESSING', completed_at, ?),
  cancel_requested = iif(status = 'PROCESSING', 1, cancel_requested)
  WHERE id = ? AND status IN ('PENDING', 'SCHEDULED', 'RETRYING', 'PROCESSING') RETURNING *`;

// params: now, id
const RETRY_SQL = `UPDATE tasks SET status = 'PENDING', attempts = 0, run_at = ?,
  completed_at = NULL, started_at = NULL, result = NULL, cancel_requested = 0,
  lease_expires_at = NULL, attempt_token = NULL
  WHERE id = ? AND status IN ('FAILED', 'CANCELLED') RETURNING *`;

/** List filters as bits of a {@linkcode listSql} key. */
const LIST_BY_STATUS = 1, LIST_BY_NAME = 2, LIST_BY_QUEUE = 4, LIST_AFTER_CURSOR = 8;
/** With LIST_BY_STATUS, for a status the partial listing index holds. */
const LIST_BY_LISTED_STATUS = 16;
// params: the filters present, in this order, then limit
const listSql = sqlByKey((filters: number) => {
  const where = [
    filters & LIST_BY_STATUS && "status = ?",
    filters & LIST_BY_LISTED_STATUS && LISTED_PREDICATE,
    filters & LIST_BY_NAME && "name = ?",
    filters & LIST_BY_QUEUE && "queue = ?",
    filters & LIST_AFTER_CURSOR && "seq < ?",
  ].filter(Boolean);
  return `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY seq DESC LIMIT ?`;
});

const STATS_SQL = "SELECT queue, status, count(*) AS n FROM tasks GROUP BY queue, status";

// INDEXED BY: otherwise the planner walks every row of the statuses, not only the old ones.
// params: before, ...statuses
const pruneSql = sqlByKey((statuses: number) =>
  `DELETE FROM tasks INDEXED BY tasks_completed
  WHERE completed_at < ? AND status IN (${placeholders(statuses)})`
);

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
  };
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
  #events = new StoreEvents();
  readonly #watchIntervalMillis: number;
  #watchTimer: ReturnType<typeof setInterval> | undefined;
  #dataVersion = 0;

  private constructor(driver: SqliteDriver, watchIntervalMillis: number) {
    this.#driver = driver;
    this.#watchIntervalMillis = watchIntervalMillis;
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

  async insert(tasks: readonly NewTask[]): Promise<void> {
    if (tasks.length === 0) return;
    await this.#write((db) => {
      // Chunks of INSERT_CHUNK_ROWS rows, then halving chunks for the rest, so at most
      // log2(INSERT_CHUNK_ROWS) + 1 distinct statements are ever prepared.
      for (let start = 0; start < tasks.length;) {
        let rows = INSERT_CHUNK_ROWS;
        while (rows > tasks.length - start) rows >>= 1;
        const params: SqlValue[] = [];
        for (let i = start; i < start + rows; i++) pushInsertParams(params, tasks[i]!);
        db.run(insertSql(rows), params);
        start += rows;
      }
    });
    const earliest = new Map<string, number>();
    for (const task of tasks) {
      const runAt = earliest.get(task.queue);
      if (runAt === undefined || task.runAt < runAt) earliest.set(task.queue, task.runAt);
    }
    for (const [queue, runAt] of earliest) this.#events.emit({ type: "inserted", queue, runAt });
  }

  get(id: string): Promise<TaskRecord | null> {
    return this.#read((db) => {
      const row = db.get<TaskRow>(GET_SQL, [id]);
      return row ? rowToRecord(row) : null;
    });
  }

  async claim(request: ClaimRequest): Promise<TaskRecord[]> {
    const rows = await this.#write((db) => claimRows(db, request));
    return rows.sort(byClaimOrder).map(rowToRecord);
  }

  async finish(outcomes: readonly Outcome[]): Promise<(TaskRecord | null)[]> {
    if (outcomes.length === 0) return [];
    const rows = await this.#write((db) => outcomes.map((outcome) => finishOne(db, outcome)));
    return this.#finished(rows);
  }

  async finishAndClaim(
    outcomes: readonly Outcome[],
    request: ClaimRequest,
  ): Promise<{ finished: (TaskRecord | null)[]; claimed: TaskRecord[] }> {
    const [finishedRows, claimedRows] = await this.#write((db) =>
      [
        outcomes.map((outcome) => finishOne(db, outcome)),
        claimRows(db, request),
      ] as const
    );
    return {
      finished: this.#finished(finishedRows),
      claimed: claimedRows.sort(byClaimOrder).map(rowToRecord),
    };
  }

  /** Records of finished rows (null where the outcome was rejected); announces the applied ones. */
  #finished(rows: readonly (TaskRow | undefined)[]): (TaskRecord | null)[] {
    const records = rows.map((row) => row ? rowToRecord(row) : null);
    const ids = records.flatMap((record) => record ? [record.id] : []);
    if (ids.length > 0) this.#events.emit({ type: "finished", ids });
    return records;
  }

  async renewLeases(leases: readonly LeaseRef[], until: number): Promise<LeaseRenewal> {
    if (leases.length === 0) return { lost: [], cancelRequested: [] };
    return await this.#write((db) => {
      const renewal: LeaseRenewal = { lost: [], cancelRequested: [] };
      for (const { id, token } of leases) {
        const row = db.get<{ cancel_requested: number }>(RENEW_SQL, [until, id, token]);
        if (row === undefined) renewal.lost.push(id);
        else if (row.cancel_requested !== 0) renewal.cancelRequested.push(id);
      }
      return renewal;
    });
  }

  findExpiredLeases(now: number, limit: number): Promise<TaskRecord[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.#read((db) => db.all<TaskRow>(EXPIRED_SQL, [now, limit]).map(rowToRecord));
  }

  reportProgress(report: ProgressReport): Promise<boolean> {
    const { id, token, logs } = report;
    return this.#write((db) => {
      const row = db.get<{ seq: number; logs: string | null }>(PROGRESS_ROW_SQL, [id, token]);
      if (row === undefined) return false;
      if ("progress" in report) {
        db.run(SET_PROGRESS_SQL, [jsonOrNull(report.progress ?? null), row.seq]);
      }
      if (logs !== undefined && logs.length > 0) {
        const kept = appendLogs(row.logs === null ? [] : JSON.parse(row.logs) as string[], logs);
        db.run(SET_LOGS_SQL, [JSON.stringify(kept), row.seq]);
      }
      return true;
    });
  }

  async cancel(id: string, now: number): Promise<TaskRecord | null> {
    const row = await this.#write((db) => db.get<TaskRow>(CANCEL_SQL, [now, id]));
    if (row === undefined) return null;
    const record = rowToRecord(row);
    this.#events.emit(
      record.status === "PROCESSING"
        ? { type: "cancelRequested", id }
        : { type: "finished", ids: [id] },
    );
    return record;
  }

  async retry(id: string, now: number): Promise<TaskRecord | null> {
    const row = await this.#write((db) => db.get<TaskRow>(RETRY_SQL, [now, id]));
    if (row === undefined) return null;
    const record = rowToRecord(row);
    this.#events.emit({ type: "inserted", queue: record.queue, runAt: record.runAt });
    return record;
  }

  async list(query: ListQuery): Promise<TaskPage> {
    const { status, name, queue, limit, cursor } = query;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`limit must be an integer >= 0, got ${limit}`);
    }
    const params: SqlValue[] = [];
    let filters = 0;
    if (status !== undefined) {
      params.push(status);
      filters |= LIST_BY_STATUS;
      if (status !== "PENDING" && status !== "SCHEDULED") filters |= LIST_BY_LISTED_STATUS;
    }
    if (name !== undefined) {
      params.push(name);
      filters |= LIST_BY_NAME;
    }
    if (queue !== undefined) {
      params.push(queue);
      filters |= LIST_BY_QUEUE;
    }
    if (cursor !== undefined) {
      params.push(parseCursor(cursor));
      filters |= LIST_AFTER_CURSOR;
    }
    params.push(limit + 1);
    const rows = await this.#read((db) => db.all<TaskRow>(listSql(filters), params));
    const more = rows.length > limit;
    if (more) rows.length = limit;
    const last = rows[rows.length - 1];
    return {
      tasks: rows.map(rowToRecord),
      nextCursor: more && last !== undefined ? String(last.seq) : null,
    };
  }

  async stats(): Promise<TaskStats> {
    const rows = await this.#read((db) =>
      db.all<{ queue: string; status: TaskStatus; n: number }>(STATS_SQL)
    );
    const stats: TaskStats = { total: 0, byStatus: emptyCounts(), queues: {} };
    for (const { queue, status, n } of rows) {
      stats.total += n;
      stats.byStatus[status] += n;
      (stats.queues[queue] ??= emptyCounts())[status] += n;
    }
    return stats;
  }

  prune(before: number, statuses: readonly TaskStatus[]): Promise<number> {
    if (statuses.length === 0) return Promise.resolve(0);
    return this.#write((db) => db.run(pruneSql(statuses.length), [before, ...statuses]).changes);
  }

  listen(listener: (event: StoreEvent) => void): () => void {
    const unlisten = this.#events.listen(listener);
    this.#watch();
    return () => {
      unlisten();
      this.#watch();
    };
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      clearInterval(this.#watchTimer);
      this.#driver.close();
    }
    return Promise.resolve();
  }

  /** Polls `PRAGMA data_version` while anyone listens; it changes when another connection commits. */
  #watch(): void {
    const wanted = this.#events.size > 0 && this.#watchIntervalMillis > 0 && !this.#closed;
    if (wanted === (this.#watchTimer !== undefined)) return;
    if (!wanted) {
      clearInterval(this.#watchTimer);
      this.#watchTimer = undefined;
      return;
    }
    this.#dataVersion = this.#readDataVersion();
    this.#watchTimer = setInterval(() => {
      if (this.#closed) return;
      const version = this.#readDataVersion();
      if (version === this.#dataVersion) return;
      this.#dataVersion = version;
      this.#events.emit({ type: "changed" });
    }, this.#watchIntervalMillis);
  }

  #readDataVersion(): number {
    try {
      return this.#driver.all<{ data_version: number }>("PRAGMA data_version")[0]?.data_version ??
        0;
    } catch {
      return this.#dataVersion; // busy or closing: try again next tick
    }
  }

  /** The driver, or an error once the store is closed. */
  #open(): SqliteDriver {
    if (this.#closed) throw new Error("The SQLite task store is closed");
    return this.#driver;
  }

  /** Runs `body` in one `BEGIN IMMEDIATE` transaction, retried while the database is busy. */
  async #write<T>(body: (db: SqliteDriver) => T): Promise<T> {
    return await retryWhileBusy(this.#open(), () => {
      const db = this.#open();
      return immediateTransaction(db, () => body(db));
    });
  }

  /** Runs the read `body` outside a transaction, retried while the database is busy. */
  async #read<T>(body: (db: SqliteDriver) => T): Promise<T> {
    return await retryWhileBusy(this.#open(), () => body(this.#open()));
  }
}

/** Applies one outcome inside `finish`'s transaction; the updated row, or undefined if stale. */
/** Claims up to `request.limit` due tasks (see {@linkcode TaskStore.claim}); unsorted. */
function claimRows(db: SqliteDriver, request: ClaimRequest): TaskRow[] {
  const { workerId, queues, limit, now, leaseMillis } = request;
  if (limit <= 0 || queues.length === 0) return [];
  return db.all<TaskRow>(claimSql(queues.length), [
    workerId,
    now + leaseMillis,
    now,
    now,
    ...queues,
    limit,
  ]);
}

function finishOne(db: SqliteDriver, outcome: Outcome): TaskRow | undefined {
  const { id, token, now } = outcome;
  switch (outcome.kind) {
    case "completed":
      return db.get<TaskRow>(FINISH_SQL.completed, [jsonOrNull(outcome.result), now, id, token]);
    case "retry":
      return db.get<TaskRow>(FINISH_SQL.retry, [
        outcome.runAt,
        now,
        JSON.stringify(outcome.error),
        id,
        token,
      ]);
    case "failed":
      return db.get<TaskRow>(FINISH_SQL.failed, [now, JSON.stringify(outcome.error), id, token]);
    case "cancelled":
      return db.get<TaskRow>(FINISH_SQL.cancelled, [now, jsonOrNull(outcome.error), id, token]);
    case "released":
      return db.get<TaskRow>(FINISH_SQL.released, [now, now, id, token]);
    default:
      throw new TypeError(
        `Unknown outcome kind ${JSON.stringify((outcome as { kind: unknown }).kind)}`,
      );
  }
}

/** The seq a list cursor stands for. */
function parseCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new RangeError(
      `cursor must be the nextCursor of an earlier page, got ${JSON.stringify(cursor)}`,
    );
  }
  return Number(cursor);
}
