/**
 * The one storage contract. Every backend (in-memory, SQLite, PostgreSQL) implements it and
 * passes the shared conformance suite in `tests/store_conformance.ts`.
 *
 * Stores hold no clock: callers pass `now`. Every write that changes a claimed task is fenced by
 * its attempt token, so an outcome from a lost lease never overwrites newer state.
 *
 * Contract v3 adds unique keys on {@linkcode NewTask}, flow limits ({@linkcode FlowLimit}, with
 * `ClaimRequest.onHeldBack`), schedules and their slot ledger (`upsertSchedule` … `pruneSlots`),
 * and `TaskRecord.scheduledFor`; the conformance suite has a case for each.
 * @module
 */

import { InvalidCursorError } from "../errors.ts";
import type { JsonValue } from "../json.ts";
import { logErrorTo } from "../log.ts";
import type {
  AttemptEntry,
  AttemptEntryOutcome,
  TaskError,
  TaskPriority,
  TaskRecord,
  TaskStatus,
} from "../task.ts";

/**
 * A task ready to insert: a full record as the dispatcher built it, and optionally its unique
 * key (contract v3).
 *
 * While a stored task with the same `uniqueKey` is in one of its `uniqueStates`, the insert
 * writes nothing and returns `{ id: existingId, inserted: false }`. The store enforces this
 * itself (a partial unique index over `unique_key` where the status is one of the task's unique
 * states), so processes inserting the same key at once store one task. The dispatcher builds the
 * key (a hash of name, queue, args and the period bucket); stores compare it as opaque text.
 * `uniqueStates` always holds {@linkcode UNIQUE_REQUIRED_STATUSES} (so no status change of a
 * stored task can collide) and may add final ones. `retry`/bulk retry of a FAILED or CANCELLED
 * task clears its key (it might collide with a newer task with the key).
 */
export interface NewTask extends TaskRecord {
  uniqueKey?: string | null;
  uniqueStates?: readonly TaskStatus[] | null;
}

/** Statuses every unique task's `uniqueStates` includes (see {@linkcode NewTask}). */
export const UNIQUE_REQUIRED_STATUSES: readonly TaskStatus[] = [
  "PENDING",
  "SCHEDULED",
  "RETRYING",
  "PROCESSING",
];

/**
 * Where an insert runs. `tx` is a transaction the application owns, of the store's own kind: a
 * `postgres` transaction (`sql.begin(async (tx) => …)`) for the PostgreSQL store, the handle
 * `SqliteTaskStore.transaction` passes for the SQLite store. The insert then commits or rolls
 * back with that transaction, and listeners hear of it only after it commits.
 */
export interface InsertOptions {
  tx?: unknown;
}

/** What became of one task of an insert, in input order. */
export interface InsertResult {
  /** The id of the stored task: the new one, or the existing one a duplicate matched. */
  id: string;
  /** True when this insert wrote a new row; false when it matched an existing task. */
  inserted: boolean;
}

/** What a worker asks for when it claims. */
export interface ClaimRequest {
  workerId: string;
  /** Queues to claim from. */
  queues: readonly string[];
  /** At most this many tasks. */
  limit: number;
  now: number;
  /** The lease runs until `now + leaseMillis`. */
  leaseMillis: number;
  /**
   * Only tasks of at least this priority rank (see `PRIORITY_RANK`): a worker whose local queue
   * holds prefetched tasks claims only what would run before them.
   */
  minPriority?: number;
  /**
   * Only tasks whose name is one of these: a worker claims only what it has a handler for, so
   * during a rolling deploy old and new workers share a store and a name nobody defines stays
   * waiting (no attempt spent). Absent: any name. An empty list claims nothing.
   */
  names?: readonly string[];
  /**
   * Called (before the claim resolves) when a flow limit (see {@linkcode FlowLimit}) held back
   * due tasks of these queues: `retryAt` is the earliest time a rate window frees a start, or
   * null when only `maxRunning` holds them back (a finishing task frees a slot; listeners hear of
   * it as `finished`/`changed`).
   */
  onHeldBack?: (retryAt: number | null) => void;
}

/** `limit` starts in any window of `perMillis` (sliding, measured from the store's start times). */
export interface RateLimit {
  /** Starts allowed per window, an integer >= 1. */
  limit: number;
  /** The window in ms, an integer >= 1. */
  perMillis: number;
}

/** What a flow limit holds to; null leaves that side unlimited. */
export interface FlowLimits {
  rateLimit: RateLimit | null;
  /** At most this many PROCESSING tasks at once across every process (an integer >= 0). */
  maxRunning: number | null;
}

/**
 * A flow limit stored for a queue (`scope: "queue"`) or a task name (`scope: "task"`), global
 * across every process sharing the store (contract v3). Claims consult it in their transaction:
 * a task held back stays waiting (no attempt spent). A claim starts a task only when
 * - its queue's and its name's PROCESSING count is below `maxRunning`, and
 * - fewer than `rateLimit.limit` starts of that queue (name) have a start time later than
 *   `now - perMillis` (later in any process's clock, so a claim with an older `now` still counts
 *   starts committed with a newer one): in any window of `perMillis` at most `limit` starts.
 * A claim that a rate limit counts sets the task's `startedAt` to the claim's `now` (a later
 * {@linkcode StartMark} keeps it), so the store's start times obey the limit exactly. Queues and
 * names without a limit cost claims nothing extra.
 */
export interface FlowLimit extends FlowLimits {
  scope: "queue" | "task";
  name: string;
  updatedAt: number;
}

/** How a schedule makes up for slots missed while no scheduler ran (see {@linkcode ScheduleRecord}). */
export type CatchUpPolicy = "skip" | "latest" | "all";
/** Whether a slot fires while the previous slot's task still waits or runs. */
export type OverlapPolicy = "allow" | "skip";

/**
 * A cron schedule as stored (contract v3). The scheduler of every worker fires its slots; the
 * slot ledger (see {@linkcode TaskStore.recordSlot}) makes each slot fire once.
 */
export interface ScheduleRecord {
  /** Unique; 1-128 characters like a task name. */
  id: string;
  /** The task name enqueued at each slot. */
  task: string;
  /** A cron expression croner accepts (5 or 6 fields, or `@daily` and kin). */
  cron: string;
  /** An IANA time zone, or null for UTC. */
  timezone: string | null;
  args: JsonValue;
  /** Queue and priority of the enqueued tasks, or null for the task's defaults. */
  queue: string | null;
  priority: TaskPriority | null;
  catchUp: CatchUpPolicy;
  /** How far back `latest` and `all` look for missed slots, in ms. */
  catchUpWindowMillis: number;
  overlap: OverlapPolicy;
  /** `"code"`: from a handler module (retired when removed from code); `"api"`: `dispatcher.schedule`. */
  source: "code" | "api";
  /** A retired schedule stays listed but never fires. */
  retired: boolean;
  createdAt: number;
  updatedAt: number;
  /** The newest slot recorded (fired or skipped), or null. Slots at or before it never fire. */
  lastSlotAt: number | null;
  /** The task of the newest fired slot, or null. */
  lastTaskId: string | null;
}

/** The fields of a schedule {@linkcode TaskStore.upsertSchedule} writes. */
export type ScheduleInput = Omit<
  ScheduleRecord,
  "createdAt" | "updatedAt" | "lastSlotAt" | "lastTaskId"
>;

/** A request to fire one slot of a schedule (see {@linkcode TaskStore.recordSlot}). */
export interface SlotRequest {
  scheduleId: string;
  /** The slot's time, epoch ms. */
  slotAt: number;
  /** The task to enqueue for it (its `scheduledFor` is `slotAt`). */
  task: NewTask;
  now: number;
}

/** What became of a slot. */
export interface SlotResult {
  /**
   * - `fired`: the slot was recorded and its task inserted, in one transaction;
   * - `skipped`: the schedule's overlap policy is `skip` and its last task still waits or runs:
   *   the slot was recorded with no task;
   * - `taken`: the slot (or a later one) was already recorded, or the schedule is missing or
   *   retired: nothing was written.
   */
  outcome: "fired" | "skipped" | "taken";
  /**
   * When fired, the id the insert returned: the new task's, or (a unique task whose key is
   * taken) the existing task's, which then becomes the schedule's `lastTaskId`.
   */
  taskId: string | null;
}

/** One recorded slot (the ledger's row). */
export interface SlotRecord {
  scheduleId: string;
  slotAt: number;
  /** The task enqueued for it, or null for a skipped slot. */
  taskId: string | null;
  recordedAt: number;
}

/**
 * The end of one attempt, fenced by the token of its claim.
 * - `completed`: success, with the result.
 * - `retry`: failed with attempts left; due again at `runAt`.
 * - `failed`: failed for good.
 * - `cancelled`: stopped on request.
 * - `released`: given back unfinished without spending the attempt (graceful stop, a Worker
 *   lost for another task's fault); due again at `now`.
 * - `snoozed`: the handler asked to run again later (`ctx.snooze`): the task becomes SCHEDULED
 *   at `runAt` and the attempt is given back (`attempts` goes back down by one, so a snooze never
 *   counts against `maxAttempts`); unlike `released`, it ran, and its history entry says
 *   `snoozed`.
 *
 * When a cancel was requested while the task ran, every outcome but `completed` ends CANCELLED.
 * Every applied outcome appends an {@linkcode AttemptEntry} to the task's `attemptHistory` in
 * the same write (`expired: true` marks the entry `expired`); a rejected one appends nothing.
 */
export type Outcome =
  & {
    id: string;
    token: string;
    now: number;
    /** When the attempt began, if no {@linkcode StartMark} recorded it yet. */
    startedAt?: number;
    /** The attempt's lease expired (lease rescue): its history entry says `expired`. */
    expired?: boolean;
  }
  & (
    | { kind: "completed"; result: JsonValue | null }
    | { kind: "retry"; error: TaskError; runAt: number }
    | { kind: "failed"; error: TaskError }
    | { kind: "cancelled"; error: TaskError | null }
    | { kind: "released" }
    | { kind: "snoozed"; runAt: number }
  );

/**
 * A claimed task began to run at `at`. A claim leaves `startedAt` null: a worker that claims
 * ahead (prefetch) marks each task when it really starts, so "claimed" and "started" differ.
 * Fenced by the token like an outcome; stores write marks in the same transaction as the
 * outcomes they travel with.
 */
export interface StartMark {
  id: string;
  token: string;
  at: number;
}

/** A running task whose lease a worker renews. */
export interface LeaseRef {
  id: string;
  token: string;
}

/** What a lease renewal learned. */
export interface LeaseRenewal {
  /** Tasks whose lease is no longer this claim's (rescued, cancelled, finished elsewhere). */
  lost: string[];
  /** Tasks still held whose cancellation was requested. */
  cancelRequested: string[];
}

/** Filters shared by {@linkcode TaskStore.list}, {@linkcode TaskStore.count} and bulk actions. */
export interface TaskFilter {
  status?: TaskStatus;
  name?: string;
  queue?: string;
  /** Only tasks whose id starts with this text (lower-case hex digits and dashes). */
  idPrefix?: string;
  /** Only tasks whose args, as JSON text, contain this text. */
  argsContains?: string;
}

/** What {@linkcode TaskStore.countWaitingByName} counts. */
export interface WaitingByNameRequest {
  /** Names left out (those some live worker defines). */
  excluding: readonly string[];
  /** At most this many names (>= 1). */
  limit: number;
}

/** Waiting tasks of one name. */
export interface NameCount {
  name: string;
  waiting: number;
}

/** Filters and page of {@linkcode TaskStore.list}. */
export interface ListQuery extends TaskFilter {
  limit: number;
  /** The `nextCursor` of the previous page: an opaque string the store made. */
  cursor?: string;
}

/** One page of tasks, newest first. */
export interface TaskPage {
  tasks: TaskRecord[];
  /** Pass as `cursor` for the next page; null on the last page. Opaque: do not parse it. */
  nextCursor: string | null;
}

/**
 * One bounded step of a bulk action over the tasks a filter selects (see
 * {@linkcode TaskStore.bulk}):
 * - `retry`: FAILED or CANCELLED tasks back to PENDING with a fresh attempt budget;
 * - `cancel`: waiting tasks CANCELLED (running ones are left alone);
 * - `delete`: finished tasks (COMPLETED, FAILED, CANCELLED) removed.
 */
export interface BulkRequest {
  action: "retry" | "cancel" | "delete";
  filter: TaskFilter;
  /** Act on at most this many tasks (>= 1). */
  limit: number;
  now: number;
}

/** Finished attempts per time bucket (see {@linkcode TaskStore.history}). */
export interface HistoryPoint {
  /** Start of the bucket, epoch ms. */
  at: number;
  /** Tasks that reached COMPLETED in the bucket. */
  completed: number;
  /** Tasks that reached FAILED in the bucket. */
  failed: number;
  /** Attempts that ended in a retry in the bucket. */
  retried: number;
}

/** The minute counters {@linkcode TaskStore.history} keeps; older ones may be dropped. */
export const HISTORY_BUCKET_MILLIS = 60_000;
/** How long stores keep history counters at least (a day and an hour). */
export const HISTORY_KEEP_MILLIS = 25 * 60 * 60_000;

/** Deletes finished tasks, one bounded batch per call (see {@linkcode TaskStore.prune}). */
export interface PruneRequest {
  /** Tasks whose `completedAt` is before this time. */
  before: number;
  /** Only these statuses (final ones). */
  statuses: readonly TaskStatus[];
  /** Delete at most this many rows in this call (>= 1). */
  limit: number;
}

/** The stored state of one queue, which claims consult. */
export interface QueueState {
  name: string;
  /** A paused queue is not claimed from; enqueues into it are still accepted. */
  paused: boolean;
  /** When the state last changed, or null for a queue never changed. */
  updatedAt: number | null;
}

/** A worker process as it registered itself (see {@linkcode TaskStore.registerWorker}). */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  /** Last heartbeat. */
  lastBeatAt: number;
  queues: string[];
  concurrency: number;
  /** Free-form details (version, task names, busy count), plain JSON. */
  meta: JsonValue;
}

/** A request to hold, or keep holding, the leadership `name` (see {@linkcode TaskStore.lead}). */
export interface LeadRequest {
  /** What is led, e.g. `"maintenance"`. */
  name: string;
  /** Who asks (a worker id). */
  holder: string;
  now: number;
  /** The leadership lapses this long after the last successful `lead`. */
  ttlMillis: number;
}

/** Who holds a leadership after a {@linkcode TaskStore.lead}. */
export interface Leadership {
  name: string;
  holder: string;
  expiresAt: number;
}

/** Counts of tasks per status. */
export type StatusCounts = Record<TaskStatus, number>;

/** Counts per status, overall and per queue. */
export interface TaskStats {
  total: number;
  byStatus: StatusCounts;
  queues: Record<string, StatusCounts>;
}

/** A progress report or log lines from a running attempt. */
export interface ProgressReport {
  id: string;
  token: string;
  progress?: JsonValue;
  logs?: string[];
}

/**
 * What a store's notifier tells listeners after a commit (a PostgreSQL store also relays
 * other processes' writes through LISTEN/NOTIFY):
 * - `inserted`: tasks became waiting in `queue`; the earliest is due at `runAt`.
 * - `finished`: tasks reached a final status, or were set back to waiting.
 * - `cancelRequested`: a PROCESSING task should stop.
 * - `changed`: another process wrote to the store; what it wrote is unknown (a SQLite store
 *   notices this by polling `PRAGMA data_version`). Listeners re-read what they care about.
 */
export type StoreEvent =
  | { type: "inserted"; queue: string; runAt: number }
  | { type: "finished"; ids: string[] }
  | { type: "cancelRequested"; id: string }
  | { type: "changed" };

/** The most log lines a task keeps, and the longest line. */
export const MAX_LOG_LINES = 100;
/** Longer log lines are cut to this many characters. */
export const MAX_LOG_LINE_LENGTH = 2000;

/**
 * Wakes listeners when tasks change, in this process and (for a store several processes share)
 * in others: a contract of its own, apart from storage. The SQLite store's notifier watches
 * `PRAGMA data_version`; the PostgreSQL store's uses LISTEN/NOTIFY.
 *
 * Life cycle: it connects when the first listener subscribes and disconnects when the last one
 * leaves; `close()` ends it for good. Errors of the connection go to `onError` and are retried;
 * after a lost connection it emits `changed` once, so listeners re-read and miss nothing.
 */
export interface Notifier {
  /** Subscribes; returns the unsubscribe function. */
  listen(listener: (event: StoreEvent) => void): () => void;
  /** Tells this process's listeners (and, where the notifier reaches them, other processes'). */
  notify(event: StoreEvent): void;
  close(): Promise<void>;
}

/** The storage contract. */
export interface TaskStore {
  /** Creates or upgrades the schema; idempotent; refuses a newer schema. */
  migrate(): Promise<void>;
  /** The schema version this store writes. */
  readonly schemaVersion: number;

  /**
   * Inserts all tasks in one transaction (the caller's own when `options.tx` is given); when it
   * resolves without `tx` they are committed. Returns one result per task, in order.
   */
  insert(tasks: readonly NewTask[], options?: InsertOptions): Promise<InsertResult[]>;
  get(id: string): Promise<TaskRecord | null>;

  /**
   * Claims up to `limit` due tasks in one transaction, highest priority first, then earliest
   * `runAt`, then first inserted, skipping paused queues. Each becomes PROCESSING with
   * `attempts + 1`, the worker's id, a lease, a fresh attempt token and `startedAt` null (see
   * {@linkcode StartMark}).
   */
  claim(request: ClaimRequest): Promise<TaskRecord[]>;

  /**
   * Records start marks, then outcomes, in one transaction. Returns, per outcome, the updated
   * record, or null when the token no longer holds the task (the outcome was rejected and nothing
   * changed). A stale mark is ignored.
   */
  finish(
    outcomes: readonly Outcome[],
    started?: readonly StartMark[],
  ): Promise<(TaskRecord | null)[]>;

  /**
   * {@linkcode finish} then {@linkcode claim} in one transaction: a worker refills the slots its
   * outcomes free with one commit instead of two.
   */
  finishAndClaim(
    outcomes: readonly Outcome[],
    request: ClaimRequest,
    started?: readonly StartMark[],
  ): Promise<{ finished: (TaskRecord | null)[]; claimed: TaskRecord[] }>;

  /** Moves the lease of each held task to `until`. */
  renewLeases(leases: readonly LeaseRef[], until: number): Promise<LeaseRenewal>;

  /**
   * Of these held tasks, the ids still held by their token (PROCESSING) whose cancel was
   * requested; a read, nothing changes. A worker calls it when another process wrote to the
   * store, so a cancel reaches a running handler without waiting for the next lease renewal.
   * Optional: a worker without it learns of cancels at renewal (and from `cancelRequested`
   * events).
   */
  findCancelRequested?(leases: readonly LeaseRef[]): Promise<string[]>;

  /** PROCESSING tasks whose lease ended before `now`, at most `limit`. */
  findExpiredLeases(now: number, limit: number): Promise<TaskRecord[]>;

  /** Keeps the latest progress value and appends log lines (bounded); false if the token is stale. */
  reportProgress(report: ProgressReport): Promise<boolean>;

  /**
   * Cancels a waiting task at once, or flags a PROCESSING one (`cancelRequested`). Returns the
   * updated record, or null when the task is missing or in another status.
   */
  cancel(id: string, now: number): Promise<TaskRecord | null>;

  /**
   * Sets a FAILED or CANCELLED task back to PENDING with a fresh attempt budget. Returns the
   * updated record, or null when the task is missing or in another status.
   */
  retry(id: string, now: number): Promise<TaskRecord | null>;

  /** One page of tasks, newest first. A cursor the store did not make: {@linkcode InvalidCursorError}. */
  list(query: ListQuery): Promise<TaskPage>;
  /** How many tasks the filter selects (exact; a filter on args text scans). */
  count(filter: TaskFilter): Promise<number>;
  /**
   * Waiting tasks (PENDING, SCHEDULED, RETRYING) counted per name, leaving out the names in
   * `excluding`: most waiting first (then by name), at most `limit` names. Scans the waiting
   * tasks (no index by name): for `stats` and the dashboard, not a hot path. Optional: without
   * it, `stats` shows no unrunnable tasks.
   */
  countWaitingByName?(request: WaitingByNameRequest): Promise<NameCount[]>;
  /** Counts per status, overall and per queue, from kept counters: no scan of the table. */
  stats(): Promise<TaskStats>;
  /**
   * Finished attempts per {@linkcode HISTORY_BUCKET_MILLIS} bucket from `since` up to `until`,
   * oldest first, from counters the store keeps as outcomes commit (whole store, every process);
   * buckets with nothing are left out.
   */
  history(since: number, until: number): Promise<HistoryPoint[]>;

  /**
   * One bounded step of a bulk action: acts on at most `limit` tasks the filter selects that the
   * action applies to, in one transaction; returns how many it changed. Callers loop until it
   * returns less than `limit`.
   */
  bulk(request: BulkRequest): Promise<number>;

  /** Deletes at most `limit` finished tasks in `statuses` completed before `before`; returns how many. */
  prune(request: PruneRequest): Promise<number>;

  /** Every queue that has tasks or a stored state, by name. */
  listQueues(): Promise<QueueState[]>;
  /** Pauses or resumes a queue (creating its state); returns the new state. */
  setQueuePaused(name: string, paused: boolean, now: number): Promise<QueueState>;

  /** Registers a worker process, or refreshes its row (a heartbeat sets `lastBeatAt`). */
  registerWorker(info: WorkerInfo): Promise<void>;
  /** Sets the worker's `lastBeatAt` (and `meta` when given); false when it is not registered. */
  heartbeatWorker(id: string, now: number, meta?: JsonValue): Promise<boolean>;
  /** Removes a worker's row (on a clean stop, or once it is known to be gone). */
  removeWorker(id: string): Promise<void>;
  /** Every registered worker, oldest first. */
  listWorkers(): Promise<WorkerInfo[]>;

  /**
   * Takes the leadership `name` for `holder` when it is free or expired, or extends it when
   * `holder` already has it; in one atomic step, so of processes asking at once one wins.
   * Returns whoever holds it afterwards (compare `holder`).
   */
  lead(request: LeadRequest): Promise<Leadership>;
  /** Gives the leadership up if `holder` has it, so another can take it at once. */
  resign(name: string, holder: string): Promise<void>;

  // Contract v3: flow limits, schedules and the slot ledger.

  /**
   * Stores the limits of a queue or task name (both sides null removes them); returns what is
   * stored. Claims in every process honour it from their next transaction on.
   */
  setLimits(
    scope: FlowLimit["scope"],
    name: string,
    limits: FlowLimits,
    now: number,
  ): Promise<FlowLimit>;
  /** Every stored limit, by scope then name. */
  listLimits(): Promise<FlowLimit[]>;

  /**
   * Creates a schedule or replaces its definition (the fields of `input`), keeping `createdAt`,
   * `lastSlotAt` and `lastTaskId`; clears `retired` when `input.retired` is false.
   */
  upsertSchedule(input: ScheduleInput, now: number): Promise<ScheduleRecord>;
  /** Deletes a schedule and its ledger; returns whether it existed. */
  deleteSchedule(id: string): Promise<boolean>;
  /** Marks `source: "code"` schedules not in `keep` retired; returns their ids, sorted. */
  retireSchedules(keep: readonly string[], now: number): Promise<string[]>;
  /** Every schedule, by id. */
  listSchedules(): Promise<ScheduleRecord[]>;
  /**
   * Fires one slot in one transaction: unless the schedule is missing or retired, or its
   * `lastSlotAt` is at or after `slotAt`, or the ledger holds `(scheduleId, slotAt)`, records
   * the slot in the ledger and inserts `request.task` (or, with overlap `skip` while the
   * schedule's `lastTaskId` is waiting or PROCESSING, records the slot with no task), and moves
   * `lastSlotAt` (and `lastTaskId`). Of processes firing the same slot at once, one fires it.
   */
  recordSlot(request: SlotRequest): Promise<SlotResult>;
  /** The newest `limit` ledger rows of a schedule, newest first. */
  listSlots(scheduleId: string, limit: number): Promise<SlotRecord[]>;
  /**
   * Deletes at most `limit` ledger rows whose `slotAt` is before `before`; returns how many
   * (the schedule's `lastSlotAt` still keeps older slots from firing again).
   */
  pruneSlots(before: number, limit: number): Promise<number>;

  /** Wakes this store's listeners; `listen` is `notifier.listen`. */
  readonly notifier: Notifier;
  /** Subscribes to this store's events; returns the unsubscribe function. */
  listen(listener: (event: StoreEvent) => void): () => void;

  close(): Promise<void>;
}

/** Statuses `cancel` acts on. */
export const CANCELLABLE_STATUSES: readonly TaskStatus[] = [
  "PENDING",
  "SCHEDULED",
  "RETRYING",
  "PROCESSING",
];

/** Statuses `retry` acts on. */
export const RETRYABLE_STATUSES: readonly TaskStatus[] = ["FAILED", "CANCELLED"];

/** Statuses a bulk `cancel` acts on (running tasks are cancelled one by one). */
export const BULK_CANCELLABLE_STATUSES: readonly TaskStatus[] = [
  "PENDING",
  "SCHEDULED",
  "RETRYING",
];

/** Statuses `delete` and `prune` act on. */
export const DELETABLE_STATUSES: readonly TaskStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];

/** The statuses a bulk action applies to. */
export function bulkStatuses(action: BulkRequest["action"]): readonly TaskStatus[] {
  return action === "retry"
    ? RETRYABLE_STATUSES
    : action === "cancel"
    ? BULK_CANCELLABLE_STATUSES
    : DELETABLE_STATUSES;
}

/**
 * Makes an opaque page cursor from a store's position values. Every store encodes its position
 * with this, so {@linkcode decodeCursor} is the one place a malformed cursor is refused.
 */
export function encodeCursor(position: readonly (string | number)[]): string {
  return btoa(JSON.stringify(["c1", ...position])).replaceAll("=", "").replaceAll("+", "-")
    .replaceAll("/", "_");
}

/**
 * The position values of a cursor made by {@linkcode encodeCursor}, checked against the kinds
 * the store expects (`"number"` for an integer >= 0, `"string"`); a cursor that is not one throws
 * {@linkcode InvalidCursorError}.
 */
export function decodeCursor<const K extends readonly ("number" | "string")[]>(
  cursor: string,
  kinds: K,
): { [I in keyof K]: K[I] extends "number" ? number : string } {
  let values: unknown;
  try {
    if (typeof cursor !== "string" || cursor.length > 200) throw new Error();
    values = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    throw new InvalidCursorError(cursor);
  }
  if (
    !Array.isArray(values) || values[0] !== "c1" || values.length !== kinds.length + 1 ||
    !kinds.every((kind, i) => {
      const v = values[i + 1];
      return kind === "number" ? Number.isSafeInteger(v) && v >= 0 : typeof v === "string";
    })
  ) {
    throw new InvalidCursorError(cursor);
  }
  return values.slice(1) as { [I in keyof K]: K[I] extends "number" ? number : string };
}

/** Checks a bulk or prune `limit`: an integer >= 1. */
export function assertBatchLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be an integer >= 1, got ${String(limit)}`);
  }
}

/** Calls a bounded store step until it does less than `limit`; returns the total. */
export async function untilDone(limit: number, step: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await step();
    total += n;
    if (n < limit) return total;
  }
}

/** Keeps the last {@linkcode MAX_LOG_LINES} lines, each at most {@linkcode MAX_LOG_LINE_LENGTH}. */
export function appendLogs(existing: readonly string[], lines: readonly string[]): string[] {
  const cut = lines.map((l) =>
    l.length > MAX_LOG_LINE_LENGTH ? `${l.slice(0, MAX_LOG_LINE_LENGTH - 1)}…` : l
  );
  return [...existing, ...cut].slice(-MAX_LOG_LINES);
}

/** An empty count for each status. */
export function emptyCounts(): StatusCounts {
  return {
    PENDING: 0,
    SCHEDULED: 0,
    PROCESSING: 0,
    COMPLETED: 0,
    FAILED: 0,
    CANCELLED: 0,
    RETRYING: 0,
  };
}

/**
 * A {@linkcode Notifier} that reaches only this process's listeners, synchronously: the in-memory
 * store's, and the base the SQLite and PostgreSQL notifiers add other processes to.
 */
export class LocalNotifier implements Notifier {
  #listeners = new Set<(event: StoreEvent) => void>();
  /** Called when the first listener subscribes or the last one leaves. */
  protected onListenersChanged(): void {}

  /** How many listeners are subscribed. */
  get size(): number {
    return this.#listeners.size;
  }

  listen(listener: (event: StoreEvent) => void): () => void {
    const wrapped = (event: StoreEvent) => listener(event);
    this.#listeners.add(wrapped);
    if (this.#listeners.size === 1) this.onListenersChanged();
    return () => {
      if (this.#listeners.delete(wrapped) && this.#listeners.size === 0) {
        this.onListenersChanged();
      }
    };
  }

  notify(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        logErrorTo("store", "a store listener threw")(error);
      }
    }
  }

  close(): Promise<void> {
    this.#listeners.clear();
    this.onListenersChanged();
    return Promise.resolve();
  }
}

/**
 * What an applied outcome's {@linkcode AttemptEntry} says: `expired` for a rescued lease,
 * `cancelled` when a cancel request turns the outcome into CANCELLED, else the outcome's kind.
 * The SQL stores compute the same in their outcome statement.
 */
export function entryOutcome(outcome: Outcome, cancelRequested: boolean): AttemptEntryOutcome {
  if (outcome.expired) return "expired";
  if (cancelRequested && outcome.kind !== "completed") return "cancelled";
  return outcome.kind;
}

/** The error an applied outcome's {@linkcode AttemptEntry} keeps (null for the kinds without). */
export function entryError(outcome: Outcome): AttemptEntry["error"] {
  return outcome.kind === "retry" || outcome.kind === "failed" || outcome.kind === "cancelled"
    ? outcome.error
    : null;
}
