/**
 * `enqueue --file tasks.ndjson`: imports one task per line. Every line is checked on its own;
 * a bad line is reported with its number and problem and not written, good lines are written in
 * batches with `enqueueMany`.
 * @module
 */

import { Buffer } from "node:buffer";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import process from "node:process";
import { createInterface } from "node:readline";
import type {
  EnqueueOptions,
  EnqueueRequest,
  EnqueueResult,
  TaskDispatcher,
} from "../dispatcher.ts";
import { parseEnqueueRequest } from "../enqueue_input.ts";
import { oneLine, UsageError } from "./exit.ts";
import { ProgressBar } from "./progress_bar.ts";

/** Lines written per `enqueueMany` transaction. */
export const IMPORT_BATCH_SIZE = 1000;

/** A line that was not written, and why. */
export interface RejectedLine {
  line: number;
  problem: string;
}

/** What an import did. */
export interface ImportSummary {
  accepted: number;
  /** Accepted lines that matched a stored unique task (or an earlier line) instead of adding one. */
  duplicates: number;
  rejected: RejectedLine[];
}

/**
 * What became of one non-blank line: the id of the task it created (or, `duplicate: true`, of the
 * unique task it matched), or why it was refused.
 */
export type LineResult =
  | { line: number; id: string; duplicate?: true }
  | { line: number; error: string };

/** Options of {@linkcode importTasks}. */
export interface ImportOptions {
  /** Options for lines that do not set them (from the command's flags). */
  defaults: EnqueueOptions;
  /** Draw a progress bar on stderr. */
  progress: boolean;
  /**
   * Told what became of each non-blank line, in input order, a batch at a time: once the batch
   * holding a good line is committed (so an id it hears of is stored).
   */
  onResults?: (results: LineResult[]) => Promise<void> | void;
}

/**
 * Reads NDJSON from `path` (`-` for stdin). Each non-blank line is an object
 * `{"name": …, "args": …, "priority": …, "delay": …, "queue": …, "maxAttempts": …, "timeout": …}`
 * where only `name` is required, read by the one enqueue parser (`parseEnqueueRequest`). A file
 * that cannot be read throws {@linkcode UsageError}; a store error while writing throws, saying how
 * many lines were written before it.
 */
export async function importTasks(
  dispatcher: TaskDispatcher,
  path: string,
  options: ImportOptions,
): Promise<ImportSummary> {
  const size = path === "-" ? null : await fileSize(path);
  const input = path === "-" ? process.stdin : await openFile(path);
  const lines = createInterface({ input, crlfDelay: Infinity });
  const bar = new ProgressBar(options.progress);
  const summary: ImportSummary = { accepted: 0, duplicates: 0, rejected: [] };
  let batch: EnqueueRequest[] = [];
  // The lines of this batch in input order: an index into `batch`, or a refusal.
  let results: ({ line: number; index: number } | { line: number; error: string })[] = [];
  let lineNumber = 0;
  let bytesRead = 0;

  const flush = async () => {
    if (!results.length) return;
    let written: EnqueueResult[] = [];
    try {
      if (batch.length) written = await dispatcher.enqueueManyDetailed(batch);
    } catch (error) {
      throw new Error(
        `Writing tasks failed after ${summary.accepted} of the accepted lines were written ` +
          `(up to line ${lineNumber}): ${oneLine(error)}`,
        { cause: error },
      );
    }
    summary.accepted += batch.length;
    batch = [];
    const done = results.map((r): LineResult => {
      if (!("index" in r)) return r;
      const { id, duplicate } = written[r.index]!;
      return duplicate ? { line: r.line, id, duplicate } : { line: r.line, id };
    });
    summary.duplicates += written.filter((result) => result.duplicate).length;
    results = [];
    await options.onResults?.(done);
  };

  try {
    for await (const text of lines) {
      lineNumber++;
      bytesRead += Buffer.byteLength(text) + 1;
      if (text.trim() !== "") {
        try {
          const request = parseLine(text, options.defaults);
          dispatcher.validate(request.name, request.args, request.options);
          results.push({ line: lineNumber, index: batch.push(request) - 1 });
        } catch (error) {
          summary.rejected.push({ line: lineNumber, problem: oneLine(error) });
          results.push({ line: lineNumber, error: oneLine(error) });
        }
        if (results.length >= IMPORT_BATCH_SIZE) await flush();
      }
      bar.update(
        size ? bytesRead / size : null,
        `line ${lineNumber}: ${
          summary.accepted + batch.length
        } accepted, ${summary.rejected.length} rejected`,
      );
    }
    await flush();
  } finally {
    bar.clear();
    lines.close();
  }
  return summary;
}

function openFile(path: string): Promise<ReturnType<typeof createReadStream>> {
  const stream = createReadStream(path);
  return new Promise((resolve, reject) => {
    stream.once("open", () => resolve(stream));
    stream.once(
      "error",
      (error) => reject(new UsageError(`Cannot read "${path}": ${oneLine(error)}`)),
    );
  });
}

async function fileSize(path: string): Promise<number> {
  const found = await stat(path).catch((error) => {
    throw new UsageError(`Cannot read "${path}": ${oneLine(error)}`);
  });
  if (!found.isFile()) throw new UsageError(`"${path}" is not a file`);
  return found.size;
}

/** One line as a request, with the defaults under its own fields. */
function parseLine(text: string, defaults: EnqueueOptions): Required<EnqueueRequest> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON (${oneLine(error)})`);
  }
  const { name, args, options: own } = parseEnqueueRequest(value);
  const options: EnqueueOptions = { ...defaults, ...own };
  if (defaults.retryConfig !== undefined || own.retryConfig !== undefined) {
    options.retryConfig = { ...defaults.retryConfig, ...own.retryConfig };
  }
  return { name, args, options };
}
