/**
 * Schedules and the slot ledger in the PostgreSQL store: the SQL and row mapping. The store runs
 * a slot's statements in one transaction (see `PostgresTaskStore.recordSlot`).
 *
 * Time: statements that stamp take `coalesce($n::bigint, DB_NOW)`, as the rest of the store.
 * @module
 */

import type { JsonValue } from "../../json.ts";
import type { TaskPriority } from "../../task.ts";
import type { ScheduleInput, ScheduleRecord, SlotRecord } from "../store.ts";
import { DB_NOW } from "./sql.ts";

/** A row of `schedules`; bigint columns may arrive as strings from a foreign client. */
export interface ScheduleRow {
  id: string;
  task: string;
  cron: string;
  timezone: string | null;
  args: string;
  queue: string | null;
  priority: string | null;
  catch_up: ScheduleRecord["catchUp"];
  catch_up_window_millis: number | string;
  overlap: ScheduleRecord["overlap"];
  source: ScheduleRecord["source"];
  retired: boolean;
  created_at: number | string;
  updated_at: number | string;
  last_slot_at: number | string | null;
  last_task_id: string | null;
}

/** A row of `schedule_slots`. */
export interface SlotRow {
  schedule_id: string;
  slot_at: number | string;
  task_id: string | null;
  recorded_at: number | string;
}

/** The statement texts of schedules on schema `s` (already quoted). */
export function schedulesSql(s: string) {
  const now = (param: string) => `coalesce(${param}::bigint, ${DB_NOW})`;
  return {
    /**
     * Params: id, task, cron, timezone, args, queue, priority, catch_up, catch_up_window_millis,
     * overlap, source, retired, now (created_at and updated_at).
     */
    upsert: `INSERT INTO ${s}.schedules AS sc (id, task, cron, timezone, args, queue, priority,
        catch_up, catch_up_window_millis, overlap, source, retired, created_at, updated_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, ${now("$13")}, ${now("$13")})
      ON CONFLICT (id) DO UPDATE SET task = EXCLUDED.task, cron = EXCLUDED.cron,
        timezone = EXCLUDED.timezone, args = EXCLUDED.args, queue = EXCLUDED.queue,
        priority = EXCLUDED.priority, catch_up = EXCLUDED.catch_up,
        catch_up_window_millis = EXCLUDED.catch_up_window_millis, overlap = EXCLUDED.overlap,
        source = EXCLUDED.source, retired = EXCLUDED.retired, updated_at = EXCLUDED.updated_at
      RETURNING *`,
    /** Deletes a schedule and its ledger. Params: id. */
    delete: `WITH slots AS (DELETE FROM ${s}.schedule_slots WHERE schedule_id = $1)
      DELETE FROM ${s}.schedules WHERE id = $1`,
    /** Params: now, ids to keep. */
    retire: `UPDATE ${s}.schedules SET retired = true, updated_at = ${now("$1")}
      WHERE source = 'code' AND NOT retired AND id <> ALL($2::text[])
      RETURNING id`,
    list: `SELECT * FROM ${s}.schedules ORDER BY id`,
    /**
     * The schedule of a slot, locked: processes firing its slots take turns, and each reads
     * `last_slot_at` as the previous one committed it. Also whether the ledger holds the slot
     * and whether the last task still waits or runs. Params: id, slot time.
     */
    lockForSlot: `SELECT sc.*,
      EXISTS (SELECT 1 FROM ${s}.schedule_slots WHERE schedule_id = sc.id AND slot_at = $2)
        AS slot_taken,
      EXISTS (SELECT 1 FROM ${s}.tasks t WHERE t.id = sc.last_task_id
        AND t.status IN ('PENDING', 'SCHEDULED', 'RETRYING', 'PROCESSING')) AS last_active
      FROM ${s}.schedules sc WHERE sc.id = $1 FOR UPDATE`,
    /**
     * Records a slot and moves the schedule's `last_slot_at` (and `last_task_id`, unless NULL).
     * Params: schedule id, slot time, task id or NULL, now.
     */
    record: `WITH slot AS (
      INSERT INTO ${s}.schedule_slots (schedule_id, slot_at, task_id, recorded_at)
      VALUES ($1, $2, $3, ${now("$4")})
    )
    UPDATE ${s}.schedules SET last_slot_at = $2, last_task_id = coalesce($3, last_task_id)
      WHERE id = $1`,
    /** Params: schedule id, limit. */
    slots: `SELECT schedule_id, slot_at, task_id, recorded_at FROM ${s}.schedule_slots
      WHERE schedule_id = $1 ORDER BY slot_at DESC LIMIT $2`,
    /** Params: before, limit. */
    pruneSlots: `DELETE FROM ${s}.schedule_slots WHERE (schedule_id, slot_at) IN (
      SELECT schedule_id, slot_at FROM ${s}.schedule_slots WHERE slot_at < $1
      ORDER BY slot_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  };
}

/** The statement texts of schedules on one schema. */
export type SchedulesSql = ReturnType<typeof schedulesSql>;

const num = (x: number | string): number => typeof x === "number" ? x : Number(x);

/** The parameters of the `upsert` statement; `now` NULL is the database's clock. */
export function upsertParams(input: ScheduleInput, now: number | null): unknown[] {
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
    input.retired,
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
    catchUpWindowMillis: num(row.catch_up_window_millis),
    overlap: row.overlap,
    source: row.source,
    retired: row.retired,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    lastSlotAt: row.last_slot_at === null ? null : num(row.last_slot_at),
    lastTaskId: row.last_task_id,
  };
}

/** The record of a ledger row. */
export function toSlot(row: SlotRow): SlotRecord {
  return {
    scheduleId: row.schedule_id,
    slotAt: num(row.slot_at),
    taskId: row.task_id,
    recordedAt: num(row.recorded_at),
  };
}
