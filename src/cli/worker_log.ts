/**
 * The worker's log on stderr: one line per life-cycle event, readable (`pretty`) or JSON lines
 * (`json`), filtered by level.
 * @module
 */

import type { LogRecord, Sink } from "@logtape/logtape";
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

  /**
   * A LogTape sink that writes the library's records (see `src/log.ts`) as this log's lines:
   * the record's `event` property as the event (else its category after `aether-tasks`, joined
   * with dots), its message as `msg`, its other properties as fields (an `Error` as its message).
   * Handler output (`event: "task.log"`) reads `[name id #attempt] line` in pretty form.
   */
  sink(): Sink {
    return (record) => this.writeRecord(record);
  }

  /** Writes one LogTape record (what {@linkcode sink} does). */
  writeRecord(record: LogRecord): void {
    const level = LEVEL_OF[record.level];
    if (LOG_LEVELS.indexOf(level) < this.#minimum) return;
    const { event, ...properties } = record.properties;
    const fields: LogFields = {};
    for (const [key, value] of Object.entries(properties)) {
      if (value instanceof Error) fields[key] = value.message;
      else if (value !== undefined) fields[key] = value;
    }
    let message = record.message.map((part) => typeof part === "string" ? part : show(part))
      .join("");
    if (event === "task.log" && this.#format === "pretty") {
      const p = this.#palette;
      message = `${p.dim(`[${fields.name} ${fields.taskId} #${fields.attempt}]`)} ${message}`;
    }
    const name = typeof event === "string" ? event : [...record.category.slice(1), "log"].join(".");
    this.#line(level, name, message, fields, record.timestamp);
  }

  #log(level: LogLevel, event: string, message: string, fields: LogFields): void {
    if (LOG_LEVELS.indexOf(level) < this.#minimum) return;
    this.#line(level, event, message, fields, this.#now());
  }

  #line(level: LogLevel, event: string, message: string, fields: LogFields, at: number): void {
    const time = new Date(at).toISOString();
    if (this.#format === "json") {
      this.#write(`${jsonLine({ time, level, event, msg: message, ...fields })}\n`);
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

/**
 * Whether the command line asks for JSON log lines: `worker` with `--log-format json` (or
 * `--log-format=json`), or without the flag and with `AETHER_LOG_FORMAT=json`. Read from the raw
 * arguments, so that an error in parsing them is reported in JSON too.
 */
export function wantsJsonLog(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (args[0] !== "worker") return false;
  let flag: string | undefined;
  args.forEach((arg, i) => {
    if (arg === "--log-format") flag = args[i + 1];
    else if (arg.startsWith("--log-format=")) flag = arg.slice("--log-format=".length);
  });
  return (flag ?? env.AETHER_LOG_FORMAT)?.trim().toLowerCase() === "json";
}

/** The JSON line of an error that ended the CLI (`event: "cli.error"`), with its exit code. */
export function cliErrorLine(message: string, exitCode: number, now = Date.now()): string {
  return `${
    jsonLine({
      time: new Date(now).toISOString(),
      level: "error",
      event: "cli.error",
      msg: message,
      exitCode,
    })
  }\n`;
}

/** LogTape's levels as this log's. */
const LEVEL_OF: Readonly<Record<LogRecord["level"], LogLevel>> = {
  trace: "debug",
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  fatal: "error",
};

/** One JSON line; a field that JSON cannot hold (a cycle, a bigint) is written as text. */
function jsonLine(entry: LogFields): string {
  try {
    return JSON.stringify(entry);
  } catch {
    return JSON.stringify(Object.fromEntries(
      Object.entries(entry).map((
        [key, value],
      ) => [key, typeof value === "object" ? show(value) : String(value)]),
    ));
  }
}

/** A value inside a record's message, as text. */
function show(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

function ranFor(task: TaskRecord): number | null {
  return task.startedAt !== null && task.completedAt !== null
    ? task.completedAt - task.startedAt
    : null;
}
