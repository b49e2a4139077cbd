/**
 * The PostgreSQL backend of the {@linkcode TaskStore} contract: many worker processes on many
 * hosts share one database. Claims take a batch with `FOR UPDATE SKIP LOCKED` in one statement,
 * outcomes of a batch are written in one statement, and wake-ups travel by LISTEN/NOTIFY.
 * @module
 */

import postgres, { type Options, type Sql } from "postgres";
import { type StorageFullError, StoreConnectionError } from "../../errors.ts";
import type { JsonValue } from "../../json.ts";
import type { NameCount, WaitingByNameRequest } from "../store.ts";
import {
  type AttemptEntry,
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
  DELETABLE_STATUSES,
  emptyCounts,
  encodeCursor,
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
  claimWithinLimits,
  type FlowLimitRow,
  type FlowLimitsSql,
  flowLimitsSql,
  toFlowLimit,
  writeLimits,
} from "./flow_limits.ts";
import { GroupCommit } from "../_group_commit.ts";
import { PostgresNotifier } from "./notifier.ts";
import {
  type ScheduleRow,
  type SchedulesSql,
  schedulesSql,
  type SlotRow,
  toSchedule,
  toSlot,
  upsertParams,
} from "./schedules.ts";
import { migrate, quoteIdentifier, SCHEMA_VERSION, UNIQUE_STATE_BITS } from "./schema.ts";
import { DB_NOW, pgArray, type StoreSql, storeSql } from "./sql.ts";
import { storageFullError } from "./storage_full.ts";
import {
  assertSchemaName,
  DEFAULT_PG_SCHEMA,
  describeConnectError,
  parsePostgresUrl,
} from "./url.ts";

/**
 * Whose clock judges due times and lease expiry.
 * - `"database"`: the database server's clock. Workers on hosts whose clocks differ still agree:
 *   one whose clock runs fast neither runs delayed tasks early nor takes over live leases. The
 *   `now` callers pass is then used only for durations (a retry's delay is `runAt - now`, a new
 *   task's delay is `runAt - createdAt`), and stamps (`createdAt`, `startedAt`, `completedAt`,
 *   lease ends, leadership ends) are the database's times; a lease renewal extends the lease by
 *   the length its claim asked for.
 * - `"caller"`: the `now` every call passes, as the in-memory and SQLite stores do (tests with a
 *   fake clock use this).
 */
export type PostgresClockMode = "database" | "caller";

/** Options of {@linkcode PostgresTaskStore.open}. */
export interface PostgresStoreOptions {
  /**
   * The schema holding the store's tables; created on first use. Default: the URL's `?schema=`
   * parameter, else {@linkcode DEFAULT_PG_SCHEMA} (`"aether_tasks"`).
   */
  schema?: string;
  /** Default {@linkcode DEFAULT_PG_CLOCK} (`"database"`). */
  clock?: PostgresClockMode;
  /** Connections in the store's pool. Default {@linkcode DEFAULT_PG_MAX_CONNECTIONS} (10). */
  maxConnections?: number;
  /** How long to wait for a connection, in seconds. Default {@linkcode DEFAULT_PG_CONNECT_TIMEOUT_SECONDS} (10). */
  connectTimeoutSeconds?: number;
  /** Errors of the background LISTEN connection (it keeps retrying). Default: ignored. */
  onError?: (error: unknown) => void;
}

/** The default {@linkcode PostgresStoreOptions.clock}. */
export const DEFAULT_PG_CLOCK: PostgresClockMode = "database";
/** The default {@linkcode PostgresStoreOptions.maxConnections}. */
export const DEFAULT_PG_MAX_CONNECTIONS = 10;
/** The default {@linkcode PostgresStoreOptions.connectTimeoutSeconds}. */
export const DEFAULT_PG_CONNECT_TIMEOUT_SECONDS = 10;
/** Connections of the pool that claims use (see `#claimSql`). */
const CLAIM_CONNECTIONS = 2;
/** The size of the probe row {@linkcode PostgresTaskStore.storageFull} writes (and rolls back). */
const PROBE_BYTES = 4096;
/** How many counter deltas one fold step moves. */
const FOLD_BATCH = 10_000;
/** After this many writes a store folds counters once, so deltas never pile up unread. */
const FOLD_EVERY_WRITES = 256;

/** A row of the `tasks` table; bigint columns may arrive as strings from a foreign client. */
interface TaskRow {
  seq: number | string;
  id: string;
  name: string;
  queue: string;
  args: string;
  status: TaskStatus;
  priority: number;
  run_at: number | string;
  created_at: number | string;
  started_at: number | string | null;
  completed_at: number | string | null;
  attempts: number;
  max_attempts: number;
  backoff_base_millis: number | string;
  backoff_multiplier: number;
  backoff_max_millis: number | string;
  backoff_jitter: boolean;
  timeout_millis: number | string | null;
  last_error: string | null;
  result: string | null;
  progress: string | null;
  logs: string | null;
  lease_expires_at: number | string | null;
  worker_id: string | null;
  attempt_token: string | null;
  cancel_requested: boolean;
  /** The attempt history as JSON text, or NULL before the first ended attempt. */
  attempt_history?: string | null;
  unique_key: string | null;
  unique_states: number | null;
  scheduled_for: number | string | null;
  traceparent: string | null;
  tracestate: string | null;
}

/** The priority of each rank, without a search per row. */
const PRIORITY_BY_RANK: readonly TaskPriority[] = (() => {
  const byRank: TaskPriority[] = [];
  for (const [priority, rank] of Object.entries(PRIORITY_RANK)) {
    byRank[rank] = priority as TaskPriority;
  }
  return byRank;
})();

/** Seconds to wait before reconnect attempt `n`: 50 ms doubling, at most 1 s. */
function reconnectBackoffSeconds(attempt: number): number {
  return Math.min(0.05 * 2 ** attempt, 1);
}

/** bigint as a number: epoch ms and counts fit in a double exactly. */
const BIGINT = {
  to: 20,
  from: [20],
  serialize: (x: number) => String(x),
  parse: (x: string) => Number(x),
};

const num = (x: number | string): number => typeof x === "number" ? x : Number(x);
const numOrNull = (x: number | string | null): number | null => x === null ? null : num(x);

function jsonOrNull(value: JsonValue | TaskError | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

function parseOrNull<T>(text: string | null): T | null {
  return text === null ? null : JSON.parse(text) as T;
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
    runAt: num(row.run_at),
    createdAt: num(row.created_at),
    startedAt: numOrNull(row.started_at),
    completedAt: numOrNull(row.completed_at),
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    retryConfig: {
      maxAttempts: row.max_attempts,
      baseDelayMillis: num(row.backoff_base_millis),
      backoffMultiplier: row.backoff_multiplier,
      maxDelayMillis: num(row.backoff_max_millis),
      useJitter: row.backoff_jitter,
    },
    timeoutMillis: numOrNull(row.timeout_millis),
    lastError: parseOrNull<TaskError>(row.last_error),
    result: parseOrNull<JsonValue>(row.result),
    progress: parseOrNull<JsonValue>(row.progress),
    logs: row.logs === null ? [] : JSON.parse(row.logs) as string[],
    leaseExpiresAt: numOrNull(row.lease_expires_at),
    workerId: row.worker_id,
    attemptToken: row.attempt_token,
    cancelRequested: row.cancel_requested,
    ...(row.attempt_history == null
      ? {}
      : { attemptHistory: JSON.parse(row.attempt_history) as AttemptEntry[] }),
    ...(row.scheduled_for === null ? {} : { scheduledFor: num(row.scheduled_for) }),
    ...(row.traceparent == null ? {} : traceFields(row)),
  };
}

/** The trace context a row holds, as record fields. */
function traceFields(row: TaskRow): Pick<TaskRecord, "traceparent" | "tracestate"> {
  return row.tracestate == null
    ? { traceparent: row.traceparent }
    : { traceparent: row.traceparent, tracestate: row.tracestate };
}

/**
 * The traceparent and tracestate arrays of an insert (after its scalar parameters; see
 * `insertSql`): empty when no task has a trace
 * context, which the statement's unnest pads with NULLs.
 */
function traceColumns(tasks: readonly NewTask[]): [string, string] {
  if (!tasks.some((t) => (t.traceparent ?? null) !== null)) return ["{}", "{}"];
  return [
    pgArray(tasks.map((t) => t.traceparent ?? null)),
    pgArray(tasks.map((t) => t.tracestate ?? null)),
  ];
}

/** Claim order: priority rank descending, then `run_at`, then insertion order. */
function byClaimOrder(a: TaskRow, b: TaskRow): number {
  return b.priority - a.priority || num(a.run_at) - num(b.run_at) || num(a.seq) - num(b.seq);
}

/** The insert parameters: one array per column, in the order of `storeSql().insert`. */
function insertColumns(tasks: readonly NewTask[]): string[] {
  const columns: unknown[][] = Array.from({ length: 25 }, () => new Array(tasks.length));
  tasks.forEach((t, i) => {
    const values = [
      t.id,
      t.name,
      t.queue,
      JSON.stringify(t.args),
      t.status,
      PRIORITY_RANK[t.priority],
      t.runAt,
      t.createdAt,
      t.startedAt,
      t.completedAt,
      t.attempts,
      t.maxAttempts,
      t.retryConfig.baseDelayMillis,
      t.retryConfig.backoffMultiplier,
      t.retryConfig.maxDelayMillis,
      t.retryConfig.useJitter ? 1 : 0,
      t.timeoutMillis,
      jsonOrNull(t.lastError),
      jsonOrNull(t.result),
      jsonOrNull(t.progress),
      t.logs.length === 0 ? null : JSON.stringify(t.logs),
      t.leaseExpiresAt,
      t.workerId,
      t.attemptToken,
      t.cancelRequested ? 1 : 0,
    ];
    for (let c = 0; c < values.length; c++) columns[c]![i] = values[c];
  });
  return columns.map(pgArray);
}

/** The extra insert parameters of unique keys and slots, in the order of `insertUnique`. */
function uniqueColumns(tasks: readonly NewTask[]): string[] {
  return [
    pgArray(tasks.map((t) => t.uniqueKey ?? null)),
    pgArray(tasks.map((t) => (t.uniqueKey ?? null) === null ? null : uniqueStateBits(t))),
    pgArray(tasks.map((t) => t.scheduledFor ?? null)),
  ];
}

/** The `unique_states` bitmask of a task's unique states. */
function uniqueStateBits(task: NewTask): number {
  let bits = 0;
  for (const status of task.uniqueStates ?? []) bits |= UNIQUE_STATE_BITS[status];
  return bits;
}

/**
 * How often an insert looks again for the holder of a unique key that refused it: the holder can
 * leave its unique states between the insert and the look (it completed), and the next insert
 * may then succeed. More rounds than this means the key churns without end.
 */
const UNIQUE_INSERT_ROUNDS = 10;

/**
 * The parameters of `finishCtes`: arrays of the outcomes' id, token, kind, result, error, now,
 * delay and start offset, then of the marks' id, token and time. A mark for the attempt of an
 * outcome in the same batch becomes that outcome's start (one update per row and statement).
 */
function finishColumns(
  outcomes: readonly Outcome[],
  started: readonly StartMark[],
  callerClock: boolean,
): string[] {
  const columns: unknown[][] = Array.from({ length: 9 }, () => new Array(outcomes.length));
  const marks = new Map(started.map((m) => [`${m.id} ${m.token}`, m]));
  outcomes.forEach((o, i) => {
    let result: string | null = null, error: string | null = null, delay = 0;
    switch (o.kind) {
      case "completed":
        result = jsonOrNull(o.result);
        break;
      case "retry":
        error = JSON.stringify(o.error);
        delay = o.runAt - o.now;
        break;
      case "failed":
        error = JSON.stringify(o.error);
        break;
      case "cancelled":
        error = jsonOrNull(o.error);
        break;
      case "released":
        break;
      case "snoozed":
        delay = o.runAt - o.now;
        break;
      default:
        throw new TypeError(
          `Unknown outcome kind ${JSON.stringify((o as { kind: unknown }).kind)}`,
        );
    }
    const key = `${o.id} ${o.token}`;
    const startedAt = o.startedAt ?? marks.get(key)?.at;
    marks.delete(key);
    const values = [
      o.id,
      o.token,
      o.kind,
      result,
      error,
      callerClock ? o.now : null,
      delay,
      startedAt === undefined ? null : startedAt - o.now,
      entryOutcome(o, false),
    ];
    for (let c = 0; c < values.length; c++) columns[c]![i] = values[c];
  });
  const left = [...marks.values()];
  columns.push(
    left.map((m) => m.id),
    left.map((m) => m.token),
    left.map((m) => callerClock ? m.at : null),
  );
  return columns.map(pgArray);
}

/** A transaction of the `postgres` client, as `sql.begin` passes it. */
function asTransaction(tx: unknown): Sql {
  if (
    typeof tx !== "function" || typeof (tx as { unsafe?: unknown }).unsafe !== "function"
  ) {
    throw new TypeError(
      `tx must be a transaction of the postgres client (sql.begin(async (tx) => ...)), got ${
        tx === null ? "null" : typeof tx
      }`,
    );
  }
  return tx as Sql;
}

/** Validates the options once and fills in the defaults. */
function resolveOptions(
  options: PostgresStoreOptions,
  urlSchema: string | undefined,
): Required<Omit<PostgresStoreOptions, "onError">> & {
  onError: ((error: unknown) => void) | undefined;
} {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`PostgreSQL store options must be an object, got ${String(options)}`);
  }
  const known = ["schema", "clock", "maxConnections", "connectTimeoutSeconds", "onError"];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `${key} is not a PostgreSQL store option; expected one of ${known.join(", ")}`,
      );
    }
  }
  const schema = options.schema ?? urlSchema ?? DEFAULT_PG_SCHEMA;
  assertSchemaName(schema);
  const clock = options.clock ?? DEFAULT_PG_CLOCK;
  if (clock !== "database" && clock !== "caller") {
    throw new RangeError(`clock must be "database" or "caller", got ${JSON.stringify(clock)}`);
  }
  const maxConnections = options.maxConnections ?? DEFAULT_PG_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 1000) {
    throw new RangeError(
      `maxConnections must be an integer from 1 to 1000, got ${String(maxConnections)}`,
    );
  }
  const connectTimeoutSeconds = options.connectTimeoutSeconds ??
    DEFAULT_PG_CONNECT_TIMEOUT_SECONDS;
  if (
    typeof connectTimeoutSeconds !== "number" || !(connectTimeoutSeconds > 0) ||
    connectTimeoutSeconds > 3600
  ) {
    throw new RangeError(
      `connectTimeoutSeconds must be a number from 0 to 3600, got ${String(connectTimeoutSeconds)}`,
    );
  }
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError(`onError must be a function, got ${typeof options.onError}`);
  }
  return { schema, clock, maxConnections, connectTimeoutSeconds, onError: options.onError };
}

/** Builds the WHERE conditions of a filter; pushes its parameters to `params`. */
function filterConditions(filter: TaskFilter, params: unknown[]): string[] {
  const where: string[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.status !== undefined) where.push(`status = ${param(filter.status)}`);
  if (filter.name !== undefined) where.push(`name = ${param(filter.name)}`);
  if (filter.queue !== undefined) where.push(`queue = ${param(filter.queue)}`);
  if (filter.idPrefix !== undefined) {
    where.push(`id LIKE ${param(filter.idPrefix.replace(/[\\%_]/g, "\\$&") + "%")}`);
  }
  if (filter.argsContains !== undefined) {
    where.push(`strpos(args, ${param(filter.argsContains)}) > 0`);
  }
  return where;
}

/**
 * A {@linkcode TaskStore} in a PostgreSQL schema, shared by any number of worker processes.
 *
 * @example
 * ```ts
 * const store = await PostgresTaskStore.open("postgres://app:secret@db:5432/app?schema=jobs");
 * await sql.begin(async (tx) => {
 *   await tx`insert into orders ${tx(order)}`;
 *   await dispatcher.enqueue("ship-order", { id: order.id }, { tx }); // commits with the order
 * });
 * await store.close();
 * ```
 */
export class PostgresTaskStore implements TaskStore {
  readonly #sql: Sql;
  /**
   * Two connections with `synchronous_commit = off` for claims alone: a claim does not wait for
   * its WAL flush (about a millisecond of every pickup). Losing one to a server crash is safe: the
   * task is still waiting and runs again (at least once), and the first attempt's outcome is
   * refused by the fence. Outcomes, and claims that ride with them, stay durable.
   */
  readonly #claimSql: Sql;
  readonly #q: StoreSql;
  readonly #limitsSql: FlowLimitsSql;
  readonly #schedulesSql: SchedulesSql;
  readonly #schema: string;
  readonly #callerClock: boolean;
  readonly #channel: string;
  readonly #origin = crypto.randomUUID();
  readonly #notifier: PostgresNotifier;
  readonly #display: string;
  #closed = false;
  #writes = 0;
  /** Database-clock mode: how far the worker registry's caller's clock is ahead of the database's. */
  #callerOffset = 0;
  #folding: Promise<unknown> | undefined;
  /** The error of the last write that failed for lack of space, until a write works again. */
  #storageFull: StorageFullError | undefined;
  /**
   * Concurrent inserts outside an application's transaction share one statement (one commit,
   * one WAL flush): see {@linkcode GroupCommit}.
   */
  readonly #inserts = new GroupCommit((groups: readonly (readonly NewTask[])[]) =>
    this.#insertGroups(groups)
  );

  private constructor(
    sql: Sql,
    claimSql: Sql,
    schema: string,
    clock: PostgresClockMode,
    connection: { url: string; options: Options<Record<string, never>> },
    display: string,
    onError: (error: unknown) => void,
  ) {
    this.#sql = sql;
    this.#claimSql = claimSql;
    this.#schema = schema;
    this.#q = storeSql(quoteIdentifier(schema));
    this.#limitsSql = flowLimitsSql(quoteIdentifier(schema));
    this.#schedulesSql = schedulesSql(quoteIdentifier(schema));
    this.#callerClock = clock === "caller";
    this.#channel = `${schema}_events`;
    this.#display = display;
    this.#notifier = new PostgresNotifier({
      connection,
      sql,
      channel: this.#channel,
      origin: this.#origin,
      onError,
    });
  }

  /**
   * Connects to the database at `url` (`postgres://user:password@host:port/database?schema=name`),
   * checks it answers, and migrates the schema. Bad options throw `TypeError`/`RangeError`; a URL
   * that does not parse, a host that does not answer, a refused login or a missing database throw
   * {@linkcode StoreConnectionError} with a one-line message (password masked); a schema written
   * by a newer aether-tasks throws `SchemaVersionError`.
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresTaskStore> {
    const parsed = parsePostgresUrl(url);
    const resolved = resolveOptions(options, parsed.schema);
    const password = (() => {
      try {
        return decodeURIComponent(new URL(parsed.connectUrl).password);
      } catch {
        return "";
      }
    })();
    const clientOptions: Options<Record<string, never>> = {
      max: resolved.maxConnections,
      connect_timeout: resolved.connectTimeoutSeconds,
      idle_timeout: 60,
      // The client's own default waits up to 20 s between attempts after a few failures, which
      // turns a short server restart into a long stall; retry quickly, at most 1 s apart.
      backoff: reconnectBackoffSeconds,
      onnotice: () => {},
      // Arrays go out as text (pgArray) and none come back: no type lookup per connection.
      fetch_types: false,
      types: { bigint: BIGINT } as unknown as Record<string, never>,
      connection: { application_name: "aether-tasks" },
    };
    const sql = postgres(parsed.connectUrl, clientOptions);
    const claimSql = postgres(parsed.connectUrl, {
      ...clientOptions,
      max: CLAIM_CONNECTIONS,
      connection: { ...clientOptions.connection, synchronous_commit: "off" },
    });
    const onError = resolved.onError ?? (() => {});
    const store = new PostgresTaskStore(
      sql,
      claimSql,
      resolved.schema,
      resolved.clock,
      { url: parsed.connectUrl, options: clientOptions },
      parsed.display,
      onError,
    );
    try {
      await sql.unsafe("SELECT 1");
    } catch (error) {
      await sql.end({ timeout: 0 }).catch(() => {});
      await claimSql.end({ timeout: 0 }).catch(() => {});
      throw new StoreConnectionError(
        `Cannot connect to PostgreSQL at ${parsed.display}: ${
          describeConnectError(error, password)
        }`,
        parsed.display,
      );
    }
    try {
      await store.migrate();
      await store.#notifier.start();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** The schema this store uses. */
  get schema(): string {
    return this.#schema;
  }

  /** The URL this store connected to, with its password masked. */
  get displayUrl(): string {
    return this.#display;
  }

  /** The schema version this store writes. */
  get schemaVersion(): number {
    return SCHEMA_VERSION;
  }

  get notifier(): PostgresNotifier {
    return this.#notifier;
  }

  async migrate(): Promise<void> {
    await migrate(this.#open(), this.#schema);
  }

  async insert(tasks: readonly NewTask[], options: InsertOptions = {}): Promise<InsertResult[]> {
    if (options.tx !== undefined) return await this.#guard(() => this.#insert(tasks, options));
    this.#open();
    if (tasks.length === 0) return [];
    const results = await this.#inserts.submit(tasks);
    this.#storageFull = undefined; // committed: there is space again
    return results;
  }

  /** The tasks of concurrent `insert` calls in one statement; one result list per call. */
  async #insertGroups(groups: readonly (readonly NewTask[])[]): Promise<InsertResult[][]> {
    const all = groups.length === 1 ? groups[0]! : groups.flat();
    const results = await this.#guard(() => this.#insert(all, {}));
    let at = 0;
    return groups.map((tasks) => results.slice(at, at += tasks.length));
  }

  async #insert(tasks: readonly NewTask[], options: InsertOptions): Promise<InsertResult[]> {
    const tx = options.tx === undefined ? undefined : asTransaction(options.tx);
    const sql = this.#open();
    if (tasks.length === 0) return [];
    if (tasks.some((t) => (t.uniqueKey ?? null) !== null || (t.scheduledFor ?? null) !== null)) {
      // In the application's transaction: heard only through the database, after commit.
      const { results, events } = await this.#insertUnique(
        tx ?? sql,
        tasks,
        tx ? "" : this.#origin,
      );
      if (!tx) {
        for (const event of events) this.#notifier.emitLocal(event);
        this.#wrote();
      }
      return results;
    }
    const rows = await (tx ?? sql).unsafe<{ queue: string; run_at: number | string }[]>(
      this.#q.insert,
      [
        ...insertColumns(tasks),
        !this.#callerClock,
        this.#channel,
        // In the application's transaction: heard only through the database, after commit.
        tx ? "" : this.#origin,
        ...traceColumns(tasks),
      ] as never[],
      { prepare: true },
    );
    if (!tx) {
      for (const { queue, run_at } of rows) {
        this.#notifier.emitLocal({ type: "inserted", queue, runAt: num(run_at) });
      }
      this.#wrote();
    }
    return tasks.map((task) => ({ id: task.id, inserted: true }));
  }

  /**
   * Inserts a batch with unique keys or slots on `sql` (the pool or a transaction): the tasks a
   * held key refused get the holder's id, looked up after the insert (a fresh snapshot, so a
   * holder another transaction just committed is seen). The events are for this process's
   * listeners once the insert is committed.
   */
  async #insertUnique(
    sql: Sql | postgres.TransactionSql,
    tasks: readonly NewTask[],
    origin: string,
  ): Promise<{ results: InsertResult[]; events: StoreEvent[] }> {
    const results: InsertResult[] = new Array(tasks.length);
    const events: StoreEvent[] = [];
    let pending = tasks.map((_, i) => i);
    for (let round = 1; pending.length > 0; round++) {
      if (round > UNIQUE_INSERT_ROUNDS) {
        throw new Error(
          `Cannot insert unique task ${JSON.stringify(tasks[pending[0]!]!.uniqueKey)}: its key ` +
            `was taken and freed ${UNIQUE_INSERT_ROUNDS} times during the insert; try again`,
        );
      }
      const batch = pending.map((i) => tasks[i]!);
      const rows = await sql.unsafe<
        { id: string | null; queue: string | null; run_at: number | string | null }[]
      >(
        this.#q.insertUnique,
        [
          ...insertColumns(batch),
          ...uniqueColumns(batch),
          !this.#callerClock,
          this.#channel,
          origin,
          ...traceColumns(batch),
        ] as never[],
        { prepare: true },
      );
      const inserted = new Set<string>();
      for (const row of rows) {
        if (row.id !== null) inserted.add(row.id);
        else events.push({ type: "inserted", queue: row.queue!, runAt: num(row.run_at!) });
      }
      const refused: number[] = [];
      for (const i of pending) {
        const id = tasks[i]!.id;
        if (inserted.has(id)) results[i] = { id, inserted: true };
        else refused.push(i);
      }
      if (refused.length === 0) break;
      const holders = await sql.unsafe<{ id: string; unique_key: string }[]>(
        this.#q.uniqueHolders,
        [pgArray(refused.map((i) => tasks[i]!.uniqueKey!))],
        { prepare: true },
      );
      const holderOf = new Map(holders.map((h) => [h.unique_key, h.id]));
      pending = [];
      for (const i of refused) {
        const id = holderOf.get(tasks[i]!.uniqueKey!);
        if (id === undefined) pending.push(i);
        else results[i] = { id, inserted: false };
      }
    }
    return { results, events };
  }

  async get(id: string): Promise<TaskRecord | null> {
    const [row] = await this.#query<TaskRow>(this.#q.get, [id]);
    return row ? rowToRecord(row) : null;
  }

  async claim(request: ClaimRequest): Promise<TaskRecord[]> {
    this.#open();
    const rows = await this.#guard(() => this.#claimRows(this.#claimSql, request));
    return rows.map(rowToRecord);
  }

  async finish(
    outcomes: readonly Outcome[],
    started: readonly StartMark[] = [],
  ): Promise<(TaskRecord | null)[]> {
    if (outcomes.length === 0 && started.length === 0) return [];
    const columns = finishColumns(outcomes, started, this.#callerClock);
    const rows = await this.#query<TaskRow & { outcome_token: string }>(this.#q.finish, columns);
    return this.#finished(outcomes, rows);
  }

  async finishAndClaim(
    outcomes: readonly Outcome[],
    request: ClaimRequest,
    started: readonly StartMark[] = [],
  ): Promise<{ finished: (TaskRecord | null)[]; claimed: TaskRecord[] }> {
    const { workerId, queues, limit, now, leaseMillis } = request;
    if (limit <= 0 || queues.length === 0 || request.names?.length === 0) {
      return { finished: await this.finish(outcomes, started), claimed: [] };
    }
    const rows = await this.#query<TaskRow & { finished: boolean | null; outcome_token: string }>(
      this.#q.finishAndClaim,
      [
        ...finishColumns(outcomes, started, this.#callerClock),
        pgArray(queues),
        limit,
        this.#now(now),
        leaseMillis,
        workerId,
        request.minPriority ?? 0,
        request.names === undefined ? null : pgArray(request.names),
      ],
    );
    const finished = this.#finished(outcomes, rows.filter((row) => row.finished === true));
    // A flow limit concerns the queues (the row with `finished` NULL): claim within it.
    const claimed = rows.some((row) => row.finished === null)
      ? await this.#guard(() => this.#claimLimited(request))
      : rows.filter((row) => row.finished === false).sort(byClaimOrder);
    return { finished, claimed: claimed.map(rowToRecord) };
  }

  async findCancelRequested(leases: readonly LeaseRef[]): Promise<string[]> {
    if (leases.length === 0) return [];
    const rows = await this.#query<{ id: string }>(this.#q.cancelRequested, [
      pgArray(leases.map((l) => l.id)),
      pgArray(leases.map((l) => l.token)),
    ]);
    return rows.map((row) => row.id);
  }

  async renewLeases(leases: readonly LeaseRef[], until: number): Promise<LeaseRenewal> {
    if (leases.length === 0) return { lost: [], cancelRequested: [] };
    const rows = await this.#query<{ id: string; token: string; cancel_requested: boolean }>(
      this.#q.renew,
      [
        pgArray(leases.map((l) => l.id)),
        pgArray(leases.map((l) => l.token)),
        this.#callerClock ? until : null,
      ],
    );
    const held = new Map(rows.map((r) => [`${r.id} ${r.token}`, r.cancel_requested]));
    const renewal: LeaseRenewal = { lost: [], cancelRequested: [] };
    for (const { id, token } of leases) {
      const cancel = held.get(`${id} ${token}`);
      if (cancel === undefined) renewal.lost.push(id);
      else if (cancel) renewal.cancelRequested.push(id);
    }
    return renewal;
  }

  async findExpiredLeases(now: number, limit: number): Promise<TaskRecord[]> {
    if (limit <= 0) return [];
    const rows = await this.#query<TaskRow>(this.#q.expired, [this.#now(now), limit]);
    return rows.map(rowToRecord);
  }

  async reportProgress(report: ProgressReport): Promise<boolean> {
    const { id, token, logs } = report;
    const hasProgress = "progress" in report;
    if (logs === undefined || logs.length === 0) {
      if (!hasProgress) {
        return (await this.#query(this.#q.held, [id, token])).length > 0;
      }
      const rows = await this.#query(this.#q.setProgressFenced, [
        id,
        token,
        jsonOrNull(report.progress ?? null),
      ]);
      return rows.length > 0;
    }
    return await this.#guard(() => this.#reportLogs(report, hasProgress));
  }

  /** Progress and log lines in one transaction (the logs are read, appended and written). */
  async #reportLogs(report: ProgressReport, hasProgress: boolean): Promise<boolean> {
    const { id, token, logs = [] } = report;
    return await this.#open().begin(async (tx) => {
      const [row] = await tx.unsafe<{ seq: number; logs: string | null }[]>(
        this.#q.progressRow,
        [id, token],
        { prepare: true },
      );
      if (row === undefined) return false;
      if (hasProgress) {
        await tx.unsafe(this.#q.setProgress, [row.seq, jsonOrNull(report.progress ?? null)], {
          prepare: true,
        });
      }
      const kept = appendLogs(row.logs === null ? [] : JSON.parse(row.logs) as string[], logs);
      await tx.unsafe(this.#q.setLogs, [row.seq, JSON.stringify(kept)], { prepare: true });
      return true;
    });
  }

  async cancel(id: string, now: number): Promise<TaskRecord | null> {
    const [row] = await this.#query<TaskRow>(this.#q.cancel, [
      this.#now(now),
      id,
      this.#channel,
      this.#origin,
    ]);
    if (row === undefined) return null;
    const record = rowToRecord(row);
    if (record.status === "PROCESSING") {
      this.#notifier.emitLocal({ type: "cancelRequested", id });
    } else {
      this.#notifier.emitLocal({ type: "finished", ids: [id] });
      this.#notifier.changedSoon();
    }
    return record;
  }

  async retry(id: string, now: number): Promise<TaskRecord | null> {
    const [row] = await this.#query<TaskRow>(this.#q.retry, [
      this.#now(now),
      id,
      this.#channel,
      this.#origin,
    ]);
    if (row === undefined) return null;
    const record = rowToRecord(row);
    this.#notifier.emitLocal({ type: "inserted", queue: record.queue, runAt: record.runAt });
    return record;
  }

  async list(query: ListQuery): Promise<TaskPage> {
    const { limit, cursor } = query;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`limit must be an integer >= 0, got ${limit}`);
    }
    const params: unknown[] = [];
    const where = filterConditions(query, params);
    if (cursor !== undefined) {
      const [seq] = decodeCursor(cursor, ["number"]);
      params.push(seq);
      where.push(`seq < $${params.length}`);
    }
    params.push(limit + 1);
    const rows = await this.#query<TaskRow>(
      `SELECT * FROM ${this.#table} ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    );
    const more = rows.length > limit;
    if (more) rows.length = limit;
    const last = rows[rows.length - 1];
    return {
      tasks: rows.map(rowToRecord),
      nextCursor: more && last !== undefined ? encodeCursor([num(last.seq)]) : null,
    };
  }

  async count(filter: TaskFilter): Promise<number> {
    const { name, idPrefix, argsContains } = filter;
    if (name === undefined && idPrefix === undefined && argsContains === undefined) {
      // Status and queue alone: answered from the kept counters, without a scan.
      const stats = await this.stats();
      const counts = filter.queue === undefined ? stats.byStatus : stats.queues[filter.queue];
      if (counts === undefined) return 0;
      if (filter.status !== undefined) return counts[filter.status] ?? 0;
      return Object.values(counts).reduce((a, b) => a + b, 0);
    }
    const params: unknown[] = [];
    const where = filterConditions(filter, params);
    const [row] = await this.#query<{ n: number }>(
      `SELECT count(*)::bigint AS n FROM ${this.#table} WHERE ${where.join(" AND ")}`,
      params,
    );
    return num(row?.n ?? 0);
  }

  async countWaitingByName(request: WaitingByNameRequest): Promise<NameCount[]> {
    assertBatchLimit(request.limit);
    const rows = await this.#query<{ name: string; waiting: number }>(this.#q.waitingByName, [
      pgArray(request.excluding),
      request.limit,
    ]);
    return rows.map((row) => ({ name: row.name, waiting: num(row.waiting) }));
  }

  async stats(): Promise<TaskStats> {
    await this.#fold();
    const rows = await this.#query<{ queue: string; status: TaskStatus; n: number }>(
      this.#q.stats,
      [],
    );
    const stats: TaskStats = { total: 0, byStatus: emptyCounts(), queues: {} };
    for (const { queue, status, n } of rows) {
      const count = num(n);
      stats.total += count;
      stats.byStatus[status] += count;
      (stats.queues[queue] ??= emptyCounts())[status] += count;
    }
    return stats;
  }

  async history(since: number, until: number): Promise<HistoryPoint[]> {
    const from = since - (((since % HISTORY_BUCKET_MILLIS) + HISTORY_BUCKET_MILLIS) %
      HISTORY_BUCKET_MILLIS);
    const rows = await this.#query<
      { bucket: number; completed: number; failed: number; retried: number }
    >(this.#q.history, [from, until]);
    return rows.map((r) => ({
      at: num(r.bucket),
      completed: num(r.completed),
      failed: num(r.failed),
      retried: num(r.retried),
    }));
  }

  async bulk(request: BulkRequest): Promise<number> {
    const { action, filter, limit, now } = request;
    assertBatchLimit(limit);
    const statuses = bulkStatuses(action).filter((s) =>
      filter.status === undefined || s === filter.status
    );
    if (statuses.length === 0) return 0;
    const params: unknown[] = [];
    const { status: _status, ...rest } = filter;
    const where = filterConditions(rest, params);
    params.push(pgArray(statuses));
    where.push(`status = ANY($${params.length}::text[])`);
    params.push(limit);
    const pick = `seq IN (SELECT seq FROM ${this.#table} WHERE ${
      where.join(" AND ")
    } ORDER BY seq LIMIT $${params.length} FOR UPDATE SKIP LOCKED)`;
    params.push(this.#now(now));
    const nowSql = `coalesce($${params.length}::bigint, ${DB_NOW})`;
    let sql: string;
    if (action === "retry") {
      sql = `UPDATE ${this.#table} SET status = 'PENDING', attempts = 0, run_at = ${nowSql},
        unique_key = NULL, completed_at = NULL, started_at = NULL, result = NULL,
        cancel_requested = false,
        attempt_token = NULL, lease_expires_at = NULL, lease_millis = NULL
        WHERE ${pick} RETURNING id, queue, run_at`;
    } else if (action === "cancel") {
      sql = `UPDATE ${this.#table} SET status = 'CANCELLED', completed_at = ${nowSql}
        WHERE ${pick} RETURNING id, queue, run_at`;
    } else {
      params.pop();
      sql = `DELETE FROM ${this.#table} WHERE ${pick} RETURNING id, queue, run_at`;
    }
    const rows = await this.#query<{ id: string; queue: string; run_at: number }>(sql, params);
    if (rows.length > 0) {
      if (action === "retry") {
        const earliest = new Map<string, number>();
        for (const { queue, run_at } of rows) {
          const runAt = num(run_at);
          if (!(runAt >= (earliest.get(queue) ?? Infinity))) earliest.set(queue, runAt);
        }
        for (const [queue, runAt] of earliest) {
          this.#notifier.notify({ type: "inserted", queue, runAt });
        }
      } else if (action === "cancel") {
        this.#notifier.emitLocal({ type: "finished", ids: rows.map((r) => r.id) });
        this.#notifier.changedSoon();
      }
      this.#wrote();
    }
    return rows.length;
  }

  async prune(
    request: { before: number; statuses: readonly TaskStatus[]; limit: number },
  ): Promise<number> {
    const { before, limit } = request;
    assertBatchLimit(limit);
    const statuses = request.statuses.filter((s) => DELETABLE_STATUSES.includes(s));
    if (statuses.length === 0) return 0;
    const result = await this.#query(this.#q.prune, [before, pgArray(statuses), limit]);
    if (result.count > 0) this.#wrote();
    return result.count;
  }

  async listQueues(): Promise<QueueState[]> {
    await this.#fold();
    const rows = await this.#query<{ name: string; paused: boolean; updated_at: number | null }>(
      this.#q.listQueues,
      [],
    );
    return rows.map((r) => ({
      name: r.name,
      paused: r.paused,
      updatedAt: numOrNull(r.updated_at),
    }));
  }

  async setQueuePaused(name: string, paused: boolean, now: number): Promise<QueueState> {
    const [row] = await this.#query<{ name: string; paused: boolean; updated_at: number }>(
      this.#q.setQueuePaused,
      [name, paused, this.#now(now)],
    );
    if (!paused) this.#notifier.notify({ type: "changed" });
    return { name: row!.name, paused: row!.paused, updatedAt: num(row!.updated_at) };
  }

  /**
   * Registers a worker. In database-clock mode its beat is stamped with the database's clock,
   * and the store learns the caller's clock offset from `lastBeatAt` (see {@linkcode listWorkers}).
   */
  async registerWorker(info: WorkerInfo): Promise<void> {
    const [row] = await this.#query<{ db_now: number }>(this.#q.registerWorker, [
      info.id,
      info.host,
      info.pid,
      info.startedAt,
      info.lastBeatAt,
      JSON.stringify(info.queues),
      info.concurrency,
      JSON.stringify(info.meta),
      !this.#callerClock,
    ]);
    if (row) this.#callerOffset = info.lastBeatAt - num(row.db_now);
  }

  async heartbeatWorker(id: string, now: number, meta?: JsonValue): Promise<boolean> {
    const [row] = await this.#query<{ db_now: number }>(this.#q.heartbeatWorker, [
      id,
      this.#now(now),
      meta === undefined ? null : JSON.stringify(meta),
    ]);
    if (row) this.#callerOffset = now - num(row.db_now);
    return row !== undefined;
  }

  async removeWorker(id: string): Promise<void> {
    await this.#query(this.#q.removeWorker, [id]);
  }

  /**
   * Every registered worker, oldest first. In database-clock mode the beats are database times,
   * shifted into the clock of this store's last `registerWorker`/`heartbeatWorker` caller: a
   * caller comparing `now - lastBeatAt` then measures the silence by the database's clock, so a
   * host whose clock runs fast does not take live workers for gone.
   */
  async listWorkers(): Promise<WorkerInfo[]> {
    const rows = await this.#query<{
      id: string;
      host: string;
      pid: number;
      started_at: number;
      last_beat_at: number;
      queues: string;
      concurrency: number;
      meta: string;
    }>(this.#q.listWorkers, []);
    const shift = this.#callerClock ? 0 : this.#callerOffset;
    return rows.map((r) => ({
      id: r.id,
      host: r.host,
      pid: r.pid,
      startedAt: num(r.started_at) + shift,
      lastBeatAt: num(r.last_beat_at) + shift,
      queues: JSON.parse(r.queues) as string[],
      concurrency: r.concurrency,
      meta: JSON.parse(r.meta) as JsonValue,
    }));
  }

  async lead(request: LeadRequest): Promise<Leadership> {
    const { name, holder, now, ttlMillis } = request;
    let [row] = await this.#query<{ name: string; holder: string; expires_at: number }>(
      this.#q.lead,
      [name, holder, this.#now(now), ttlMillis],
    );
    // Not ours: report who holds it (re-read: it may have lapsed or moved meanwhile).
    row ??= (await this.#query<{ name: string; holder: string; expires_at: number }>(
      this.#q.leader,
      [name],
    ))[0];
    if (row === undefined) return await this.lead(request); // resigned in between
    return { name: row.name, holder: row.holder, expiresAt: num(row.expires_at) };
  }

  async resign(name: string, holder: string): Promise<void> {
    await this.#query(this.#q.resign, [name, holder]);
  }

  // Store contract v3: flow limits, schedules and the slot ledger.

  async setLimits(
    scope: FlowLimit["scope"],
    name: string,
    limits: FlowLimits,
    now: number,
  ): Promise<FlowLimit> {
    const stored = await this.#guard(() =>
      writeLimits(this.#open(), this.#limitsSql, scope, name, limits, this.#now(now))
    );
    // A raised limit may free capacity at once: workers of every process look again.
    if (scope === "queue") this.#notifier.notify({ type: "inserted", queue: name, runAt: now });
    else this.#notifier.notify({ type: "changed" });
    return stored;
  }

  async listLimits(): Promise<FlowLimit[]> {
    return (await this.#query<FlowLimitRow>(this.#limitsSql.list, [])).map(toFlowLimit);
  }

  async upsertSchedule(input: ScheduleInput, now: number): Promise<ScheduleRecord> {
    const [row] = await this.#query<ScheduleRow>(
      this.#schedulesSql.upsert,
      upsertParams(input, this.#now(now)),
    );
    return toSchedule(row!);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return (await this.#query(this.#schedulesSql.delete, [id])).count > 0;
  }

  async retireSchedules(keep: readonly string[], now: number): Promise<string[]> {
    const rows = await this.#query<{ id: string }>(this.#schedulesSql.retire, [
      this.#now(now),
      pgArray(keep),
    ]);
    return rows.map((row) => row.id).sort();
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return (await this.#query<ScheduleRow>(this.#schedulesSql.list, [])).map(toSchedule);
  }

  /**
   * Fires a slot in one transaction that locks the schedule's row first: processes racing for
   * the slot take turns, and the later ones find `lastSlotAt` moved (`taken`).
   */
  async recordSlot(request: SlotRequest): Promise<SlotResult> {
    const { scheduleId, slotAt, task, now } = request;
    const q = this.#schedulesSql;
    const { result, events } = await this.#guard(() =>
      this.#open().begin(async (tx) => {
        const [schedule] = await tx.unsafe<
          (ScheduleRow & { slot_taken: boolean; last_active: boolean })[]
        >(q.lockForSlot, [scheduleId, slotAt], { prepare: true });
        const taken = { result: { outcome: "taken", taskId: null } as SlotResult, events: [] };
        if (
          !schedule || schedule.retired || schedule.slot_taken ||
          (schedule.last_slot_at !== null && num(schedule.last_slot_at) >= slotAt)
        ) {
          return taken;
        }
        if (schedule.overlap === "skip" && schedule.last_task_id !== null && schedule.last_active) {
          await tx.unsafe(q.record, [scheduleId, slotAt, null, this.#now(now)], { prepare: true });
          return { result: { outcome: "skipped", taskId: null } as SlotResult, events: [] };
        }
        const { results, events } = await this.#insertUnique(
          tx,
          [{ ...task, scheduledFor: slotAt }],
          this.#origin,
        );
        const taskId = results[0]!.id;
        await tx.unsafe(q.record, [scheduleId, slotAt, taskId, this.#now(now)], { prepare: true });
        return { result: { outcome: "fired", taskId } as SlotResult, events };
      })
    ) as { result: SlotResult; events: StoreEvent[] };
    for (const event of events) this.#notifier.emitLocal(event);
    if (result.outcome !== "taken") this.#wrote();
    return result;
  }

  async listSlots(scheduleId: string, limit: number): Promise<SlotRecord[]> {
    assertBatchLimit(limit);
    const rows = await this.#query<SlotRow>(this.#schedulesSql.slots, [scheduleId, limit]);
    return rows.map(toSlot);
  }

  async pruneSlots(before: number, limit: number): Promise<number> {
    assertBatchLimit(limit);
    return (await this.#query(this.#schedulesSql.pruneSlots, [before, limit])).count;
  }

  /**
   * Whether writes fail for lack of space: undefined when they work, else the
   * {@linkcode StorageFullError} of the last failed write. Once a write failed so, each call
   * tries a probe write (a row about the size of a task, inserted in a transaction that is
   * rolled back) and reports writable again when it works; an insert that commits does too.
   * (`/readyz` asks it: not ready while the disk is full.)
   */
  async storageFull(): Promise<StorageFullError | undefined> {
    if (this.#storageFull === undefined) return undefined;
    const rollback = new Error("probe done");
    try {
      await this.#open().begin(async (tx) => {
        await tx.unsafe(this.#q.probe, ["x".repeat(PROBE_BYTES)]);
        throw rollback;
      });
    } catch (error) {
      if (error === rollback) {
        this.#storageFull = undefined;
      } else {
        const full = storageFullError(error, this.#display);
        if (full === undefined) throw error;
        this.#storageFull = full;
      }
    }
    return this.#storageFull;
  }

  listen(listener: (event: StoreEvent) => void): () => void {
    return this.#notifier.listen(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#notifier.close();
    await this.#folding?.catch(() => {});
    await Promise.all([this.#sql.end({ timeout: 5 }), this.#claimSql.end({ timeout: 5 })]);
  }

  get #table(): string {
    return `${quoteIdentifier(this.#schema)}.tasks`;
  }

  /** The `now` parameter: the caller's in caller-clock mode, NULL (the database's) otherwise. */
  #now(now: number): number | null {
    return this.#callerClock ? now : null;
  }

  /** Claims on `sql` (the pool, or a transaction); rows in claim order. */
  async #claimRows(sql: Sql | postgres.TransactionSql, request: ClaimRequest): Promise<TaskRow[]> {
    const { workerId, queues, limit, now, leaseMillis } = request;
    if (limit <= 0 || queues.length === 0 || request.names?.length === 0) return [];
    const rows = await sql.unsafe<TaskRow[]>(
      this.#q.claim,
      [
        pgArray(queues),
        limit,
        this.#now(now),
        leaseMillis,
        workerId,
        request.minPriority ?? 0,
        request.names === undefined ? null : pgArray(request.names),
      ] as never[],
      { prepare: true },
    );
    this.#wrote();
    // A flow limit concerns the queues (a row of NULLs says so): claim within it.
    if (rows.some((row) => row.seq === null)) return await this.#claimLimited(request);
    return [...rows].sort(byClaimOrder);
  }

  /**
   * Claims within the flow limits concerning `request.queues` in a transaction of their own
   * (see `claimWithinLimits`), and tells `onHeldBack` (in the caller's clock) when limits held
   * tasks back. Rows in claim order.
   */
  async #claimLimited(request: ClaimRequest): Promise<TaskRow[]> {
    const result = await this.#claimSql.begin((tx) =>
      claimWithinLimits<TaskRow>(tx, this.#limitsSql, request, this.#now(request.now))
    ) as Awaited<ReturnType<typeof claimWithinLimits<TaskRow>>>;
    if (result === undefined) {
      // The limits were removed meanwhile: claim plainly (a limit set meanwhile waits a claim).
      const rows = await this.#claimSql.unsafe<TaskRow[]>(this.#q.claim, [
        pgArray(request.queues),
        request.limit,
        this.#now(request.now),
        request.leaseMillis,
        request.workerId,
        request.minPriority ?? 0,
        request.names === undefined ? null : pgArray(request.names),
      ] as never[], { prepare: true });
      return rows.filter((row) => row.seq !== null).sort(byClaimOrder);
    }
    const { rows, heldBack, retryAt, now } = result;
    if (heldBack) {
      request.onHeldBack?.(
        retryAt === null ? null : this.#callerClock ? retryAt : retryAt - now + request.now,
      );
    }
    return rows.sort(byClaimOrder);
  }

  /** Records per outcome in input order (null where rejected); announces the applied ones. */
  #finished(
    outcomes: readonly Outcome[],
    rows: readonly (TaskRow & { outcome_token: string })[],
  ): (TaskRecord | null)[] {
    const applied = new Map(rows.map((row) => [`${row.id} ${row.outcome_token}`, row]));
    const ids: string[] = [];
    const records = outcomes.map((outcome) => {
      const key = `${outcome.id} ${outcome.token}`;
      const row = applied.get(key);
      if (row === undefined) return null;
      applied.delete(key); // a second outcome for the same attempt was not applied
      ids.push(row.id);
      return rowToRecord(row);
    });
    if (ids.length > 0) {
      this.#notifier.emitLocal({ type: "finished", ids });
      this.#notifier.changedSoon();
      this.#wrote();
    }
    return records;
  }

  /** Counts a write; every {@linkcode FOLD_EVERY_WRITES} writes folds counters in the background. */
  #wrote(): void {
    if (++this.#writes % FOLD_EVERY_WRITES === 0 && this.#folding === undefined) {
      this.#folding = this.#fold().catch(() => {}).finally(() => (this.#folding = undefined));
    }
  }

  /** One bounded step folding counter deltas into the totals. */
  async #fold(): Promise<void> {
    await this.#query(this.#q.foldCounters, [
      FOLD_BATCH,
      HISTORY_KEEP_MILLIS + HISTORY_BUCKET_MILLIS,
    ]);
  }

  async #query<T = Record<string, unknown>>(
    text: string,
    params: unknown[],
  ): Promise<postgres.RowList<T[]>> {
    return await this.#guard(() =>
      this.#open().unsafe<T[]>(text, params as never[], { prepare: true })
    );
  }

  /** Runs `work`; an error saying the disk is full becomes (and is kept as) StorageFullError. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const full = storageFullError(error, this.#display);
      if (full === undefined) throw error;
      this.#storageFull = full;
      throw full;
    }
  }

  /** The pool, or an error once the store is closed. */
  #open(): Sql {
    if (this.#closed) throw new Error("The PostgreSQL task store is closed");
    return this.#sql;
  }
}
