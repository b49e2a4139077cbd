/**
 * The shapes of the admin API's answers, as the dashboard reads them.
 * @module
 */

import type { TaskStats } from "../../store/store.ts";
import type { TaskRecord } from "../../task.ts";

export type Task = Omit<TaskRecord, "attemptToken">;
export type Stats = TaskStats & {
  pool: { size: number; busy: number; crashes: number; recycles: number } | null;
};
export interface QueueRow {
  name: string;
  paused: boolean;
  rateLimit: { limit: number; perMillis: number } | null;
  maxRunning: number | null;
}
export interface Schedule {
  id: string;
  cron: string;
  timezone: string | null;
  retired: boolean;
  lastSlotAt: number | null;
  nextRunAt: number | null;
}
/** One entry of a task's attempt history, when the store records it. */
export interface Attempt {
  attempt: number;
  startedAt: number | null;
  endedAt: number | null;
  outcome: string | null;
  workerId: string | null;
  error: { message: string } | string | null;
}
export type Filter = Partial<
  Record<"status" | "name" | "queue" | "idPrefix" | "argsContains", string>
>;
export type BulkAction = "retry" | "cancel" | "delete";
