/**
 * How tasks look on a terminal: a row of `list`, the fields of `get`, the counts of `stats`.
 * @module
 */

import type { StatusCounts, TaskStats } from "../store/store.ts";
import { type AttemptEntry, TASK_STATUSES, type TaskRecord } from "../task.ts";
import { formatDuration } from "../duration.ts";
import { formatFields, formatTable, paintStatus, type Palette } from "./output.ts";

/** An epoch-ms time as UTC ISO text without milliseconds, or `-`. */
export function formatTime(millis: number | null): string {
  return millis === null ? "-" : new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A JSON value on one line, cut to `max` characters. */
export function formatJson(value: unknown, max = Infinity): string {
  const json = JSON.stringify(value) ?? "null";
  return json.length > max ? `${json.slice(0, max - 1)}…` : json;
}

/** The table `list` prints. */
export function formatTaskTable(palette: Palette, tasks: readonly TaskRecord[]): string {
  return formatTable(
    palette,
    ["ID", "NAME", "QUEUE", "STATUS", "PRIORITY", "ATTEMPTS", "CREATED", "ARGS"],
    tasks.map((t) => [
      t.id,
      t.name,
      t.queue,
      paintStatus(palette, t.status),
      t.priority,
      `${t.attempts}/${t.maxAttempts}`,
      formatTime(t.createdAt),
      formatJson(t.args, 40),
    ]),
    ["left", "left", "left", "left", "left", "right"],
  );
}

/** The fields `get` prints. */
export function formatTaskFields(palette: Palette, task: TaskRecord): string {
  const ran =
    task.startedAt !== null && task.completedAt !== null && task.completedAt >= task.startedAt
      ? formatDuration(task.completedAt - task.startedAt)
      : "-";
  const fields: [string, string][] = [
    ["id", task.id],
    ["name", task.name],
    ["queue", task.queue],
    [
      "status",
      paintStatus(palette, task.status) +
      (task.cancelRequested && task.status === "PROCESSING" ? " (cancel requested)" : ""),
    ],
    ["priority", task.priority],
    ["attempts", `${task.attempts} of ${task.maxAttempts}`],
    ["args", formatJson(task.args)],
    ["created", formatTime(task.createdAt)],
    ["run at", formatTime(task.runAt)],
    ["started", formatTime(task.startedAt)],
    ["completed", formatTime(task.completedAt)],
    ["duration", ran],
    ["timeout", task.timeoutMillis === null ? "none" : formatDuration(task.timeoutMillis)],
  ];
  if (task.status === "PROCESSING") {
    fields.push(["worker", task.workerId ?? "-"], ["lease until", formatTime(task.leaseExpiresAt)]);
  }
  if (task.result !== null) fields.push(["result", formatJson(task.result)]);
  if (task.progress !== null) fields.push(["progress", formatJson(task.progress)]);
  if (task.lastError) fields.push(["error", palette.red(task.lastError.message)]);
  if (task.attemptHistory?.length) {
    fields.push(["history", formatAttemptHistory(palette, task.attemptHistory)]);
  }
  if (task.logs.length) fields.push(["logs", task.logs.join("\n")]);
  return formatFields(palette, fields);
}

/**
 * The attempt history `get` prints, one line per ended attempt, oldest first: number, outcome,
 * end time, how long it ran, worker and error, e.g.
 * `#2 retry     2026-01-01T10:00:05Z  1.2s  worker-1a2b  connection refused`.
 */
export function formatAttemptHistory(palette: Palette, entries: readonly AttemptEntry[]): string {
  return entries.map((e) => {
    const ran = e.startedAt !== null && e.endedAt >= e.startedAt
      ? formatDuration(e.endedAt - e.startedAt)
      : "-";
    const outcome = e.outcome.padEnd(9);
    const painted = e.outcome === "completed"
      ? palette.green(outcome)
      : e.outcome === "failed" || e.outcome === "expired" || e.outcome === "retry"
      ? palette.red(outcome)
      : outcome;
    const error = e.error ? `  ${palette.red(e.error.message.split("\n")[0]!)}` : "";
    return `#${e.attempt} ${painted} ${formatTime(e.endedAt)}  ${ran}  ${
      e.workerId ?? "-"
    }${error}`;
  }).join("\n");
}

/** The table `stats` prints: one row per queue and a total, one column per status. */
export function formatStatsTable(palette: Palette, stats: TaskStats): string {
  const row = (label: string, counts: StatusCounts, total: number) => [
    label,
    ...TASK_STATUSES.map((s) => String(counts[s])),
    String(total),
  ];
  const sum = (counts: StatusCounts) => TASK_STATUSES.reduce((n, s) => n + counts[s], 0);
  const queues = Object.keys(stats.queues).sort();
  return formatTable(
    palette,
    ["QUEUE", ...TASK_STATUSES, "TOTAL"],
    [
      ...queues.map((q) => row(q, stats.queues[q]!, sum(stats.queues[q]!))),
      row(palette.bold("all"), stats.byStatus, stats.total),
    ],
    ["left", ...TASK_STATUSES.map(() => "right" as const), "right"],
  );
}
