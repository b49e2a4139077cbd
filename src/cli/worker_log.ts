/**
 * The worker's log on stderr: one line per life-cycle event, readable (`pretty`) or JSON lines
 * (`json`), filtered by level.
 * @module
 */

import process from "node:process";
import { formatDuration } from "../duration.ts";
import type { TaskSignals } from "../signals.ts";
import type { TaskRecord } from "../task.ts";
import { type Palette, paletteFor } from "./output.ts";

/** Log levels, least severe first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Log line formats. */
export const LOG_FORMATS = ["pretty", "json"] as const;
/** One of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Fields of a JSON log line besides `time`, `level`, `event` and `msg`. */
export type LogFields = Record<string, unknown>;

/** Options of {@linkcode WorkerLog}. */
export interface WorkerLogOptions {
  format: LogFormat;
  /** Lines below this level are dropped. */
  level: LogLevel;
  /** Colors for pretty lines (JSON lines have none). */
  palette: Palette;
  /** Where lines go. Default: stderr. */
  write?: (line: string) => void;
  /** Default `Date.now`. */
  now?: () => number;
}

/**
 * Writes log lines.
 *
 * Pretty: `2025-01-31T12:00:00.000Z INFO  completed send-email 0194… in 12ms`.
 * JSON: `{"time":"2025-01-31T12:00:00.000Z","level":"info","event":"task.completed","msg":"…",
 * "taskId":"0194…","name":"send-email","durationMs":12}`.
 *
 * @example
 * ```ts
 * const log = new WorkerLog({ format: "json", level: "info", palette });
 * log.connect(worker.signals);
 * log.info("worker.started", "worker started", { queues: ["default"] });
 * ```
 */
export class WorkerLog {
  readonly #format: LogFormat;
  readonly #minimum: number;
  readonly #palette: Palette;
  readonly #write: (line: string) => void;
  readonly #now: () => number;

  constructor(options: WorkerLogOptions) {
    this.#format = options.format;
    this.#minimum = LOG_LEVELS.indexOf(options.level);
    // JSON lines carry no color codes.
    this.#palette = options.format === "json" ? paletteFor({}, {}) : options.palette;
    this.#write = options.write ?? ((line) => void process.stderr.write(line));
    this.#now = options.now ?? Date.now;
  }

  debug(event: string, message: string, fields: LogFields = {}): void {
    this.#log("debug", event, message, fields);
  }
  info(event: string, message: string, fields: LogFields = {}): void {
    this.#log("info", event, message, fields);
  }
  warn(event: string, message: string, fields: LogFields = {}): void {
    this.#log("warn", event, message, fields);
  }
  error(event: string, message: string, fields: LogFields = {}): void {
    this.#log("error", event, message, fields);
  }

  /**
   * Logs every task event of `signals`: started, completed with its duration, retrying with the
   * error and the next due time, failed with the error, cancelled, and lost leases.
   * Returns the function that disconnects.
   */
  connect(signals: TaskSignals): () => void {
    const p = this.#palette;
    const label = (task: TaskRecord) => `${task.name} ${p.dim(task.id)}`;
    const base = (task: TaskRecord): LogFields => ({
      taskId: task.id,
      name: task.name,
      queue: task.queue,
      attempt: task.attempts,
      maxAttempts: task.maxAttempts,
    });
    const disconnects = [
      signals.taskStarted.connect(({ task }) =>
        this.info(
          "task.started",
          `started ${label(task)} (attempt ${task.attempts}/${task.maxAttempts})`,
          base(task),
        )
      ),
      signals.taskCompleted.connect(({ task }) => {
        const durationMs = ranFor(task);
        this.info(
          "task.completed",
          `${p.green("completed")} ${label(task)}${
            durationMs === null ? "" : ` in ${formatDuration(durationMs)}`
          }`,
          { ...base(task), durationMs },
        );
      }),
      signals.taskRetrying.connect(({ task, error, nextRunAt }) => {
        const wait = Math.max(0, nextRunAt - this.#now());
        this.warn(
          "task.retrying",
          `${p.yellow("retrying")} ${
            label(task)
          }: attempt ${task.attempts}/${task.maxAttempts} failed: ` +
            `${error.message}; next attempt at ${new Date(nextRunAt).toISOString()} (in ${
              formatDuration(wait)
            })`,
          { ...base(task), error: error.message, nextRunAt: new Date(nextRunAt).toISOString() },
        );
      }),
      signals.taskFailed.connect(({ task, error }) =>
        this.error(
          "task.failed",
          `${p.red("failed")} ${label(task)} after ${task.attempts} attempt${
            task.attempts === 1 ? "" : "s"
          }: ${error.message}`,
          { ...base(task), error: error.message, durationMs: ranFor(task) },
        )
      ),
      signals.taskCancelled.connect(({ task }) =>
        this.info("task.cancelled", `${p.yellow("cancelled")} ${label(task)}`, base(task))
      ),
      signals.leaseLost.connect(({ taskId, outcome }) =>
        this.warn(
          "task.leaseLost",
          `lost the lease of ${
            p.dim(taskId)
          }: its outcome (${outcome}) was not recorded; another worker may run it`,
          { taskId, outcome },
        )
      ),
    ];
    return () => disconnects.forEach((disconnect) => disconnect());
  }

  #log(level: LogLevel, event: string, message: string, fields: LogFields): void {
    if (LOG_LEVELS.indexOf(level) < this.#minimum) return;
    const time = new Date(this.#now()).toISOString();
    if (this.#format === "json") {
      this.#write(`${JSON.stringify({ time, level, event, msg: message, ...fields })}\n`);
      return;
    }
    const p = this.#palette;
    const tag = level.toUpperCase().padEnd(5);
    const painted = level === "error"
      ? p.red(tag)
      : level === "warn"
      ? p.yellow(tag)
      : level === "debug"
      ? p.dim(tag)
      : p.blue(tag);
    this.#write(`${p.dim(time)} ${painted} ${message}\n`);
  }
}

function ranFor(task: TaskRecord): number | null {
  return task.startedAt !== null && task.completedAt !== null
    ? task.completedAt - task.startedAt
    : null;
}
