/**
 * The task model: statuses, priorities and the record every store keeps.
 *
 * Times are epoch milliseconds (numbers), so records are plain JSON.
 * @module
 */

import type { RetryConfig } from "./retry.ts";
import type { JsonValue } from "./json.ts";

/** The life-cycle states of a task. */
export const TaskStatus = {
  /** Waiting to run, due now. */
  PENDING: "PENDING",
  /** Enqueued with a delay; becomes claimable when `runAt` is reached. */
  SCHEDULED: "SCHEDULED",
  /** Claimed by a worker that holds its lease. */
  PROCESSING: "PROCESSING",
  /** Finished successfully; `result` holds the handler's return value. */
  COMPLETED: "COMPLETED",
  /** Out of attempts (or failed permanently); `lastError` says why. */
  FAILED: "FAILED",
  /** Cancelled before or while running. */
  CANCELLED: "CANCELLED",
  /** Failed with attempts left; runs again at `runAt`. */
  RETRYING: "RETRYING",
} as const;
/** One of {@linkcode TaskStatus}. */
export type TaskStatus = typeof TaskStatus[keyof typeof TaskStatus];

/** Every status, in life-cycle order. */
export const TASK_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);

/** Statuses a task never leaves by itself (only `retry` brings FAILED/CANCELLED back). */
export const FINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  TaskStatus.COMPLETED,
  TaskStatus.FAILED,
  TaskStatus.CANCELLED,
]);

/** Statuses from which a task can be claimed once due. */
export const WAITING_STATUSES: readonly TaskStatus[] = [
  TaskStatus.PENDING,
  TaskStatus.SCHEDULED,
  TaskStatus.RETRYING,
];

/** Task priorities; a higher one is claimed first. */
export const TaskPriority = {
  LOW: "LOW",
  NORMAL: "NORMAL",
  HIGH: "HIGH",
  CRITICAL: "CRITICAL",
} as const;
/** One of {@linkcode TaskPriority}. */
export type TaskPriority = typeof TaskPriority[keyof typeof TaskPriority];

/** The rank of each priority, as stores sort by it (higher first). */
export const PRIORITY_RANK: Readonly<Record<TaskPriority, number>> = {
  LOW: 0,
  NORMAL: 1,
  HIGH: 2,
  CRITICAL: 3,
};

/** The priority of a rank stored by a backend. */
export function priorityOfRank(rank: number): TaskPriority {
  const found = (Object.keys(PRIORITY_RANK) as TaskPriority[]).find((p) =>
    PRIORITY_RANK[p] === rank
  );
  if (!found) throw new RangeError(`Unknown priority rank ${rank}`);
  return found;
}

/** The error kept on a task after a failed attempt. */
export interface TaskError {
  message: string;
  stack?: string;
}

/** A task as stored. */
export interface TaskRecord {
  /** Unique and time-sortable (UUIDv7). */
  id: string;
  name: string;
  queue: string;
  args: JsonValue;
  status: TaskStatus;
  priority: TaskPriority;
  /** When the task is due (for PENDING: its enqueue time). */
  runAt: number;
  createdAt: number;
  /** Start of the latest attempt. */
  startedAt: number | null;
  completedAt: number | null;
  /** Attempts started so far, including a running one. */
  attempts: number;
  maxAttempts: number;
  retryConfig: RetryConfig;
  /** How long one attempt may run, or null for no limit. */
  timeoutMillis: number | null;
  lastError: TaskError | null;
  result: JsonValue | null;
  /** The last value the handler reported with `ctx.progress`. */
  progress: JsonValue | null;
  /** The last log lines of the handler (bounded). */
  logs: string[];
  /** Set while PROCESSING: the lease a worker holds. */
  leaseExpiresAt: number | null;
  workerId: string | null;
  /** A new random token for each claim; outcomes must present it. */
  attemptToken: string | null;
  /** A cancel was requested while the task was PROCESSING. */
  cancelRequested: boolean;
  /**
   * For a task a schedule enqueued: the slot it runs for (epoch ms; `ctx.scheduledFor`). Stores
   * leave it out for other tasks. Contract v3.
   */
  scheduledFor?: number | null;
  /**
   * The W3C `traceparent` of the span that enqueued the task (OpenTelemetry, when a tracer
   * provider is registered); each attempt's span links to it. Stores leave it out when absent.
   */
  traceparent?: string | null;
  /** The W3C `tracestate` that came with {@linkcode traceparent}, when there was one. */
  tracestate?: string | null;
  /**
   * The ended attempts, oldest first, at most {@linkcode MAX_ATTEMPT_HISTORY} (the oldest are
   * dropped). Stores write an entry in the same statement as the outcome that ends an attempt
   * (a stale outcome adds none), and leave the field out while no attempt has ended.
   */
  attemptHistory?: AttemptEntry[];
}

/** The most entries {@linkcode TaskRecord.attemptHistory} keeps: 20 (the oldest are dropped). */
export const MAX_ATTEMPT_HISTORY = 20;

/**
 * How an attempt ended, as its history entry says:
 * - `completed`, `retry`, `failed`, `cancelled`, `released`, `snoozed`: the outcome the worker
 *   wrote (`cancelled` too when a cancel request turned another outcome into CANCELLED);
 * - `expired`: its lease ran out (the lease rescuer, or a worker found gone, took it back).
 */
export type AttemptEntryOutcome =
  | "completed"
  | "retry"
  | "failed"
  | "cancelled"
  | "released"
  | "snoozed"
  | "expired";

/** One ended attempt in {@linkcode TaskRecord.attemptHistory}. */
export interface AttemptEntry {
  /** The attempt's number (1 for the first); a released or snoozed attempt's number runs again. */
  attempt: number;
  /** When the handler began, or null when the attempt ended before it started (prefetched). */
  startedAt: number | null;
  endedAt: number;
  outcome: AttemptEntryOutcome;
  /** The worker that held it. */
  workerId: string | null;
  /** The error of a failed, retried, expired (or cancelled with an error) attempt; else null. */
  error: TaskError | null;
}

/** What a new task needs; {@linkcode newTaskRecord} fills in the rest. */
export type NewTaskFields = Pick<
  TaskRecord,
  | "id"
  | "name"
  | "queue"
  | "args"
  | "status"
  | "priority"
  | "runAt"
  | "createdAt"
  | "retryConfig"
  | "timeoutMillis"
>;

/** A task that has never run: no attempts, lease, error, result, progress or logs. */
export function newTaskRecord(fields: NewTaskFields): TaskRecord {
  return {
    ...fields,
    startedAt: null,
    completedAt: null,
    attempts: 0,
    maxAttempts: fields.retryConfig.maxAttempts,
    lastError: null,
    result: null,
    progress: null,
    logs: [],
    leaseExpiresAt: null,
    workerId: null,
    attemptToken: null,
    cancelRequested: false,
  };
}
