/**
 * Schedules and the slot ledger in the SQLite store: the SQL and row mapping. The store runs
 * these inside its own transactions (see `SqliteTaskStore.recordSlot`).
 * @module
 */

import type { JsonValue } from "../../json.ts";
import type { ScheduleInput, ScheduleRecord, SlotRecord } from "../store.ts";
import type { TaskPriority } from "../../task.ts";
import type { SqlValue } from "./driver.ts";

/** A row of `schedules`. */
export interface ScheduleRow {
  id: string;
  task: string;
  cron: string;
  timezone: string | null;
  args: string;
  queue: string | null;
  priority: string | null;
  catch_up: ScheduleRecord["catchUp"];
  catch_up_window_millis: number;
  overlap: ScheduleRecord["overlap"];
  source: ScheduleRecord["source"];
  retired: number;
  created_at: number;
  updated_at: number;
  last_slot_at: number | null;
  last_task_id: string | null;
}

// params: id, task, cron, timezone, args, queue, priority, catch_up, catch_up_window_millis,
// overlap, source, retired, now (created_at and updated_at)
export const UPSERT_SCHEDULE_SQL = `INSERT INTO schedules (id, task, cron, timezone, args, queue,
    priority, catch_up, catch_up_window_millis, overlap, source, retired, created_at, updated_at)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
  ON CONFLICT (id) DO UPDATE SET task = excluded.task, cron = excluded.cron,
    timezone = excluded.timezone, args = excluded.args, queue = excluded.queue,
    priority = excluded.priority, catch_up = excluded.catch_up,
    catch_up_window_millis = excluded.catch_up_window_millis, overlap = excluded.overlap,
    source = excluded.source, retired = excluded.retired, updated_at = excluded.updated_at
  RETURNING *`;
export const DELETE_SCHEDULE_SQL = "DELETE FROM schedules WHERE id = ?";
export const DELETE_SLOTS_SQL = "DELETE FROM schedule_slots WHERE schedule_id = ?";
// params: now, JSON array of ids to keep
export const RETIRE_SQL = `UPDATE schedules SET retired = 1, updated_at = ?
  WHERE source = 'code' AND retired = 0 AND id NOT IN (SELECT value FROM json_each(?))
  RETURNING id`;
export const SCHEDULES_SQL = "SELECT * FROM schedules ORDER BY id";
export const SCHEDULE_SQL = "SELECT * FROM schedules WHERE id = ?";
export const SLOT_EXISTS_SQL =
  "SELECT 1 AS found FROM schedule_slots WHERE schedule_id = ? AND slot_at = ?";
// A task of the previous slot still waiting or running (overlap "skip").
export const LAST_TASK_ACTIVE_SQL = `SELECT 1 AS found FROM tasks WHERE id = ?
  AND status IN ('PENDING', 'SCHEDULED', 'RETRYING', 'PROCESSING')`;
// params: schedule_id, slot_at, task_id, recorded_at
export const RECORD_SLOT_SQL =
  "INSERT INTO schedule_slots (schedule_id, slot_at, task_id, recorded_at) VALUES (?, ?, ?, ?)";
// params: slot_at, task_id (null keeps the last one), id
export const ADVANCE_SQL = `UPDATE schedules SET last_slot_at = ?,
  last_task_id = coalesce(?, last_task_id) WHERE id = ?`;
export const SLOTS_SQL = `SELECT schedule_id, slot_at, task_id, recorded_at FROM schedule_slots
  WHERE schedule_id = ? ORDER BY slot_at DESC LIMIT ?`;
export const PRUNE_SLOTS_SQL = `DELETE FROM schedule_slots WHERE (schedule_id, slot_at) IN
  (SELECT schedule_id, slot_at FROM schedule_slots WHERE slot_at < ? LIMIT ?)`;

/** The parameters of {@linkcode UPSERT_SCHEDULE_SQL}. */
export function upsertParams(input: ScheduleInput, now: number): SqlValue[] {
  return [
    input.id,
    input.task,
    input.cron,
    input.timezone,
    JSON.stringify(input.args),
    input.queue,
    input.priority,
    input.catchUp,
    input.catchUpWindowMillis,
    input.overlap,
    input.source,
    input.retired ? 1 : 0,
    now,
  ];
}

/** The record of a row. */
export function toSchedule(row: ScheduleRow): ScheduleRecord {
  return {
    id: row.id,
    task: row.task,
    cron: row.cron,
    timezone: row.timezone,
    args: JSON.parse(row.args) as JsonValue,
    queue: row.queue,
    priority: row.priority as TaskPriority | null,
    catchUp: row.catch_up,
    catchUpWindowMillis: row.catch_up_window_millis,
    overlap: row.overlap,
    source: row.source,
    retired: row.retired !== 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastSlotAt: row.last_slot_at,
    lastTaskId: row.last_task_id,
  };
}

/** The record of a ledger row. */
export function toSlot(
  row: { schedule_id: string; slot_at: number; task_id: string | null; recorded_at: number },
): SlotRecord {
  return {
    scheduleId: row.schedule_id,
    slotAt: row.slot_at,
    taskId: row.task_id,
    recordedAt: row.recorded_at,
  };
}
