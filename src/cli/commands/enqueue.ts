/**
 * `aether-tasks enqueue NAME [ARGS_JSON]`: adds one task, optionally waiting for its end;
 * `enqueue --file tasks.ndjson` imports many.
 * @module
 */

import { readFile, stat } from "node:fs/promises";
import process from "node:process";
import {
  type EnqueueOptions,
  type EnqueueRequest,
  type EnqueueResult,
  TaskDispatcher,
} from "../../dispatcher.ts";
import { formatDuration, parseDuration } from "../../duration.ts";
import { TaskNotFoundError, WaitTimeoutError } from "../../errors.ts";
import { TaskRegistry } from "../../registry.ts";
import type { TaskRecord } from "../../task.ts";
import {
  type AdminClient,
  REMOTE_DETAILS,
  remoteFrom,
  TOKEN_OPTION,
  URL_OPTION,
} from "../remote.ts";
import { toUniqueOption, UNIQUE_OPTIONS } from "../unique_flags.ts";
import { importTasks } from "../bulk_import.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_FAILED, EXIT_OK, oneLine, UsageError } from "../exit.ts";
import { toEnqueueOptions } from "../enqueue_options.ts";
import { backupBeforeMigration } from "../migration_backup.ts";
import { formatJson } from "../format_task.ts";
import { HANDLERS_OPTION, loadRegistry, resolveHandlersDir } from "../load_registry.ts";
import {
  DB_OPTION,
  DURABILITY_OPTION,
  openStore,
  resolveDbPath,
  resolveDurability,
} from "../open_store.ts";
import type { Output } from "../output.ts";

/** How often `enqueue --wait` re-reads the task, in ms (a worker in another process finishes it). */
export const WAIT_POLL_MILLIS = 50;

/** The `enqueue` command. */
export const enqueueCommand = defineCommand({
  name: "enqueue",
  summary: "Add a task (or import many with --file)",
  usage: "NAME [ARGS_JSON]",
  positionals: [0, 2],
  options: {
    "args-file": {
      type: "string",
      value: "PATH",
      description: "Read ARGS_JSON from a file (- for stdin)",
    },
    priority: {
      type: "string",
      value: "low|normal|high|critical",
      description: "Priority",
      default: "the task's",
    },
    delay: {
      type: "string",
      value: "DURATION",
      description: "Run no sooner than this from now, e.g. 5m",
    },
    queue: { type: "string", value: "QUEUE", description: "Queue", default: "the task's" },
    "max-attempts": {
      type: "string",
      value: "N",
      description: "Attempts in all, the first included",
      default: "the task's",
    },
    timeout: {
      type: "string",
      value: "DURATION",
      description: "How long one attempt may run, or none (not how long --wait waits)",
      default: "the task's",
    },
    wait: {
      type: "boolean",
      description:
        "Wait until the task is final and print its result; exit 1 if it FAILED or was CANCELLED",
    },
    "wait-timeout": {
      type: "string",
      value: "DURATION",
      description:
        "With --wait, stop waiting after this long and exit 1; the task stays queued (a delayed task waits for its delay first)",
      default: "no limit",
    },
    file: {
      type: "string",
      value: "PATH",
      description: "Import NDJSON, one task per line (- for stdin)",
    },
    unregistered: {
      type: "boolean",
      description:
        "Accept a task name the local handlers do not define (workers elsewhere do); see below",
    },
    handlers: HANDLERS_OPTION,
    db: DB_OPTION,
    durability: DURABILITY_OPTION,
    ...UNIQUE_OPTIONS,
    url: URL_OPTION,
    token: TOKEN_OPTION,
    json: JSON_OPTION,
  },
  details: [
    "The task name and its args are checked against the handlers before anything is written.",
    "Examples:\n" +
    `  aether-tasks enqueue send-email '{"to":"ada@example.com"}' --priority high\n` +
    "  aether-tasks enqueue resize --args-file args.json --delay 5m --wait\n" +
    "  aether-tasks enqueue resize '{}' --timeout 30s --wait --wait-timeout 2m\n" +
    "  aether-tasks enqueue --file tasks.ndjson",
    `--file: each line is {"name": …, "args": …, "priority": …, "delay": …, "queue": …, ` +
    `"maxAttempts": …, "timeout": …, "retryConfig": {…}}; only name is required. Lines, flags, ` +
    `the library and the admin API take the same forms and ranges: priority in any case, delay ` +
    `0-3650d and timeout 1ms-365d as durations ("30s") or ms numbers (timeout "none" for no limit), ` +
    `maxAttempts 1-1000. Flags such as --priority apply to lines that do not set them. Bad lines are ` +
    `reported (line number and problem) and not written; the others are. Exit 1 if any line was rejected.`,
    `--unregistered: a producer without the handler code enqueues a task that workers on the ` +
    `database define. Its defaults (queue, priority, attempts, timeout, retry) are those the live ` +
    `workers publish in the worker registry; its args must be JSON and pass the JSON Schema they ` +
    `publish (exit 2 otherwise), and the worker checks them again before it runs. When no live worker ` +
    `defines the name, the task is still written and waits for one, with a warning on stderr ` +
    `(and "warning" in --json). The default ./handlers folder may then be missing. NDJSON lines may set ` +
    `"unregistered": true themselves.`,
    `--file with --json prints one JSON line per non-blank input line, in input order: ` +
    `{"line": 1, "id": "…"} for a task written, {"line": 2, "error": "…"} for a line refused.`,
    `--unique: when a task with the same name, queue and args is waiting or running (or, with ` +
    `the --unique-* flags, the same key, fields, period or statuses), nothing is added: the ` +
    `existing task's id is printed, with "duplicate" noted on stderr ({"id": …, "duplicate": true} ` +
    `with --json); exit 0. On --file lines without a "unique" field the flags apply too; ` +
    `--json lines of duplicates carry "duplicate": true.`,
    REMOTE_DETAILS +
    " With --url the handlers are checked by the worker; --file needs the database.",
  ],
  async run({ values, positionals, out, env }) {
    const [name, argsText] = positionals;
    const options = toEnqueueOptions({
      priority: values.priority,
      delay: values.delay,
      queue: values.queue,
      maxAttempts: values["max-attempts"],
      timeout: values.timeout,
    });
    const unique = toUniqueOption(values);
    if (unique) options.unique = unique;
    if (values.unregistered) options.unregistered = true;
    const waitTimeout = parseWaitTimeout(values["wait-timeout"], values.wait === true);
    if (values.file !== undefined) {
      if (name !== undefined || values["args-file"] !== undefined || values.wait) {
        throw new UsageError(
          "enqueue: --file imports tasks from the file; it takes no NAME, ARGS_JSON, --args-file or --wait",
        );
      }
    } else {
      if (name === undefined) {
        throw new UsageError("enqueue: missing NAME; usage: aether-tasks enqueue NAME [ARGS_JSON]");
      }
      if (argsText !== undefined && values["args-file"] !== undefined) {
        throw new UsageError("enqueue: give ARGS_JSON or --args-file, not both");
      }
    }
    const args = values["args-file"] !== undefined
      ? parseJson(await readArgsFile(values["args-file"]), `--args-file ${values["args-file"]}`)
      : argsText !== undefined
      ? parseJson(argsText, "ARGS_JSON")
      : {};
    const remote = remoteFrom("enqueue", values, env);
    if (remote) {
      if (values.file !== undefined) {
        throw new UsageError(
          "enqueue: --file writes to the database and does not take --url; run it where the database is",
        );
      }
      return await enqueueOne(remoteTarget(remote), { name: name!, args, options }, out, {
        ...values,
        waitTimeout,
      });
    }
    const handlersDir = resolveHandlersDir(values.handlers, env);
    // A producer without the code: no handlers folder is fine when it asks for unregistered names.
    const registry = values.unregistered && handlersDir.source === "default" &&
        !(await stat(handlersDir.value).catch(() => null))
      ? new TaskRegistry()
      : await loadRegistry(handlersDir.value);
    const dbPath = resolveDbPath(values.db, env).value;
    const backup = await backupBeforeMigration(dbPath);
    if (backup) {
      await out.note(`Backed up ${dbPath} (schema ${backup.fromVersion}) to ${backup.path}\n`);
    }
    const store = await openStore(dbPath, {
      missing: "create",
      durability: resolveDurability(values.durability, env).value,
    });
    try {
      const dispatcher = new TaskDispatcher(store, { registry });
      // Lines may name tasks only workers define: check them against what those publish.
      if (values.file !== undefined) await dispatcher.loadTaskTypes();
      return values.file !== undefined
        ? await importFile(dispatcher, values.file, options, out, values.json === true)
        : await enqueueOne(localTarget(dispatcher), { name: name!, args, options }, out, {
          ...values,
          waitTimeout,
        });
    } finally {
      await store.close();
    }
  },
});

/** Where `enqueue` writes one task and waits for it: the database, or an admin endpoint. */
interface EnqueueTarget {
  enqueue(request: Required<EnqueueRequest>): Promise<EnqueueResult>;
  /** The task once final (`final`), or as it is when `timeout` ms passed. */
  waitFor(id: string, timeout: number | undefined): Promise<{ task: TaskRecord; final: boolean }>;
}

function localTarget(dispatcher: TaskDispatcher): EnqueueTarget {
  return {
    enqueue: (request) => dispatcher.enqueueDetailed(request.name, request.args, request.options),
    async waitFor(id, timeout) {
      try {
        const task = await dispatcher.waitFor(id, {
          pollInterval: WAIT_POLL_MILLIS,
          ...(timeout === undefined ? {} : { timeout }),
        });
        return { task, final: true };
      } catch (error) {
        if (!(error instanceof WaitTimeoutError)) throw error;
        const task = await dispatcher.getTask(id);
        if (!task) throw new TaskNotFoundError(id);
        return { task, final: false };
      }
    },
  };
}

function remoteTarget(remote: AdminClient): EnqueueTarget {
  return {
    enqueue: (request) => remote.enqueue(request.name, request.args, request.options),
    waitFor: (id, timeout) => remote.waitFor(id, timeout),
  };
}

async function enqueueOne(
  target: EnqueueTarget,
  request: Required<EnqueueRequest>,
  out: Output,
  flags: { wait?: boolean; json?: boolean; waitTimeout: number | undefined },
): Promise<number> {
  const { id, duplicate, warning } = await target.enqueue(request).catch(
    (error) => {
      // Option values the dispatcher refuses (a queue name with spaces, ...) are usage errors.
      throw error instanceof TypeError || error instanceof RangeError
        ? new UsageError(oneLine(error))
        : error;
    },
  );
  if (duplicate) {
    await out.note(`Duplicate: unique task ${id} already exists; nothing was added\n`);
  }
  if (warning !== undefined) await out.note(`${out.errorPalette.yellow("warning")}: ${warning}\n`);
  if (!flags.wait) {
    await (flags.json
      ? out.printJson(warning ? { id, duplicate, warning } : { id, duplicate })
      : out.print(`${id}\n`));
    return EXIT_OK;
  }
  const limit = flags.waitTimeout;
  await out.note(
    `Enqueued ${id}; waiting for it to finish${
      limit === undefined ? "" : ` (at most ${formatDuration(limit)})`
    }\n`,
  );
  const { task, final } = await target.waitFor(id, limit);
  if (!final) {
    if (flags.json) await out.printJson(task);
    await out.note(
      `Task ${id} is still ${task.status} after ${
        formatDuration(limit!)
      } (--wait-timeout); it stays queued: aether-tasks get ${id}\n`,
    );
    return EXIT_FAILED;
  }
  if (flags.json) await out.printJson(task);
  else if (task.status === "COMPLETED") await out.print(`${formatJson(task.result)}\n`);
  if (task.status === "COMPLETED") return EXIT_OK;
  const attempts = `${task.attempts} attempt${task.attempts === 1 ? "" : "s"}`;
  await out.note(
    task.status === "FAILED"
      ? `Task ${id} FAILED after ${attempts}: ${task.lastError?.message ?? "unknown error"}\n`
      : `Task ${id} was CANCELLED\n`,
  );
  return EXIT_FAILED;
}

/** Lists at most this many rejected lines on stderr (`--json` has them all). */
const MAX_REJECTED_SHOWN = 100;

async function importFile(
  dispatcher: TaskDispatcher,
  path: string,
  defaults: EnqueueOptions,
  out: Output,
  json: boolean,
): Promise<number> {
  const summary = await importTasks(dispatcher, path, {
    defaults,
    progress: out.stderrIsTTY,
    // One JSON line per input line, in input order, printed as each batch commits.
    ...(json
      ? { onResults: (results) => out.print(results.map((r) => `${JSON.stringify(r)}\n`).join("")) }
      : {}),
  });
  if (!json) {
    const { accepted, rejected } = summary;
    for (const { line, problem } of rejected.slice(0, MAX_REJECTED_SHOWN)) {
      await out.note(`${out.errorPalette.red("rejected")} line ${line}: ${problem}\n`);
    }
    if (rejected.length > MAX_REJECTED_SHOWN) {
      const more = rejected.length - MAX_REJECTED_SHOWN;
      await out.note(`… and ${more} more rejected lines (--json lists them all)\n`);
    }
    const duplicates = summary.duplicates
      ? ` (${summary.duplicates} were duplicates of unique tasks)`
      : "";
    await out.print(`Accepted ${accepted} lines${duplicates}, rejected ${rejected.length}\n`);
  }
  return summary.rejected.length ? EXIT_FAILED : EXIT_OK;
}

async function readArgsFile(path: string): Promise<string> {
  try {
    return path === "-" ? await readStdin() : await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`Cannot read --args-file "${path}": ${oneLine(error)}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: string[] = [];
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) chunks.push(chunk as string);
  return chunks.join("");
}

/** `--wait-timeout` in ms; refused without `--wait`, where it would mean nothing. */
function parseWaitTimeout(value: string | undefined, wait: boolean): number | undefined {
  if (value === undefined) return undefined;
  if (!wait) throw new UsageError("enqueue: --wait-timeout limits --wait; add --wait");
  try {
    return parseDuration(value, "--wait-timeout", { bareMillis: false });
  } catch (error) {
    throw new UsageError(oneLine(error));
  }
}

function parseJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${label} is not valid JSON: ${oneLine(error)}`);
  }
}
