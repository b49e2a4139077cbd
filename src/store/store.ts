/**
 * The one storage contract. Every backend (in-memory, SQLite, PostgreSQL) implements it and
 * passes the shared conformance suite in `tests/store_conformance.ts`.
 *
 * Stores hold no clock: callers pass `now`. Every write that changes a claimed task is fenced by
 * its attempt token, so an outcome from a lost lease never overwrites newer state.
 * @module
 */

import type { JsonValue } from "../json.ts";
import type { TaskError, TaskRecord, TaskStatus } from "../task.ts";

/** A task ready to insert: a full record as the dispatcher built it. */
export type NewTask = TaskRecord;

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
}

/**
 * The end of one attempt, fenced by the token of its claim.
 * - `completed`: success, with the result.
 * - `retry`: failed with attempts left; due again at `runAt`.
 * - `failed`: failed for good.
 * - `cancelled`: stopped on request.
 * - `released`: given back unfinished without spending the attempt (graceful stop, a Worker
 *   lost for another task's fault); due again at `now`.
 *
 * When a cancel was requested while the task ran, every outcome but `completed` ends CANCELLED.
 */
export type Outcome =
  & { id: string; token: string; now: number }
  & (
    | { kind: "completed"; result: JsonValue | null }
    | { kind: "retry"; error: TaskError; runAt: number }
    | { kind: "failed"; error: TaskError }
    | { kind: "cancelled"; error: TaskError | null }
    | { kind: "released" }
  );

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

/** Filters for {@linkcode TaskStore.list}. */
export interface ListQuery {
  status?: TaskStatus;
  name?: string;
  queue?: string;
  limit: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

/** One page of tasks, newest first. */
export interface TaskPage {
  tasks: TaskRecord[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
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
 * What a store tells listeners in its process after a commit (a PostgreSQL store also relays
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

/** The storage contract. */
export interface TaskStore {
  /** Creates or upgrades the schema; idempotent; refuses a newer schema. */
  migrate(): Promise<void>;
  /** The schema version this store writes. */
  readonly schemaVersion: number;

  /** Inserts all tasks in one transaction; when it resolves they are committed. */
  insert(tasks: readonly NewTask[]): Promise<void>;
  get(id: string): Promise<TaskRecord | null>;

  /**
   * Claims up to `limit` due tasks in one transaction, highest priority first, then earliest
   * `runAt`, then first inserted. Each becomes PROCESSING with `attempts + 1`, the worker's id,
   * a lease and a fresh attempt token.
   */
  claim(request: ClaimRequest): Promise<TaskRecord[]>;

  /**
   * Records outcomes in one transaction. Returns, per outcome, the updated record, or null when
   * the token no longer holds the task (the outcome was rejected and nothing changed).
   */
  finish(outcomes: readonly Outcome[]): Promise<(TaskRecord | null)[]>;

  /**
   * {@linkcode finish} then {@linkcode claim} in one transaction: a worker refills the slots its
   * outcomes free with one commit instead of two.
   */
  finishAndClaim(
    outcomes: readonly Outcome[],
    request: ClaimRequest,
  ): Promise<{ finished: (TaskRecord | null)[]; claimed: TaskRecord[] }>;

  /** Moves the lease of each held task to `until`. */
  renewLeases(leases: readonly LeaseRef[], until: number): Promise<LeaseRenewal>;

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

  list(query: ListQuery): Promise<TaskPage>;
  stats(): Promise<TaskStats>;

  /** Deletes tasks in `statuses` that completed before `before`; returns how many. */
  prune(before: number, statuses: readonly TaskStatus[]): Promise<number>;

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

/** A small synchronous event hub stores use for {@linkcode TaskStore.listen}. */
export class StoreEvents {
  #listeners = new Set<(event: StoreEvent) => void>();

  /** How many listeners are subscribed. */
  get size(): number {
    return this.#listeners.size;
  }

  listen(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        console.error("aether-tasks: a store listener threw:", error);
      }
    }
  }
}
