/**
 * `--url http://host:7070`: the commands `enqueue`, `get`, `list`, `stats`, `cancel` and `retry`
 * talk to a running worker's admin endpoint instead of opening the database (a host where the
 * database file is not reachable, or a PostgreSQL store the CLI has no access to). The answers
 * are the ones the database would give: the same output, the same exit codes.
 * @module
 */

import type { EnqueueOptions, EnqueueResult } from "../dispatcher.ts";
import { AmbiguousIdError, TaskNotFoundError } from "../errors.ts";
import type { HistoryPoint, ListQuery, TaskFilter, TaskPage, TaskStats } from "../store/store.ts";
import type { TaskRecord } from "../task.ts";
import type { OptionSpec } from "./command.ts";
import { oneLine, UsageError } from "./exit.ts";

/** How long one request to the admin endpoint may take (a wait asks for less than this). */
export const REMOTE_TIMEOUT_MILLIS = 30_000;
/** How long one `GET /api/tasks/:id/wait` of `enqueue --wait --url` waits before it asks again. */
export const REMOTE_WAIT_MILLIS = 20_000;

/** `--url URL`. */
export const URL_OPTION = {
  type: "string",
  value: "URL",
  description:
    "Talk to a running worker's admin endpoint (http://host:7070) instead of opening the database",
  env: "AETHER_URL",
} as const satisfies OptionSpec;

/** `--token TOKEN`. */
export const TOKEN_OPTION = {
  type: "string",
  value: "TOKEN",
  description: "With --url: the admin endpoint's token (prefer the environment variable)",
  env: "AETHER_ADMIN_TOKEN",
} as const satisfies OptionSpec;

/** The help paragraph of a command that takes `--url`. */
export const REMOTE_DETAILS = "--url http://host:7070 (or AETHER_URL) asks a running worker's " +
  "admin endpoint instead of opening the database, with the token of --token or " +
  "AETHER_ADMIN_TOKEN; the output and exit codes are the same. An endpoint that cannot be " +
  "reached or refuses the token exits 2.";

/** The flags that choose between the database and an admin endpoint. */
export interface RemoteFlags {
  url?: string | undefined;
  token?: string | undefined;
  db?: string | undefined;
}

/**
 * The admin endpoint the flags name, or null to open the database. `--url` (else `AETHER_URL`)
 * selects it; `--url` with `--db` is refused, and so is `AETHER_URL` with `AETHER_DB` unless a flag
 * says which; a `--db` flag beats `AETHER_URL`. Throws {@linkcode UsageError} naming the flag.
 */
export function remoteFrom(
  command: string,
  flags: RemoteFlags,
  env: Readonly<Record<string, string | undefined>>,
): AdminClient | null {
  if (flags.url !== undefined && flags.db !== undefined) {
    throw new UsageError(
      `${command}: give --url (a worker's admin endpoint) or --db (the database), not both`,
    );
  }
  if (flags.db !== undefined) return null;
  const fromEnv = flags.url === undefined;
  const url = flags.url ?? (env.AETHER_URL || undefined);
  if (url === undefined) {
    if (flags.token !== undefined) throw new UsageError(`${command}: --token goes with --url`);
    return null;
  }
  if (fromEnv && env.AETHER_DB) {
    throw new UsageError(
      `${command}: AETHER_URL and AETHER_DB are both set; pass --url or --db to say which to use`,
    );
  }
  const token = flags.token ?? (env.AETHER_ADMIN_TOKEN || undefined);
  return new AdminClient(url, token, fromEnv ? "AETHER_URL" : "--url");
}

/** A JSON error the admin endpoint answered. */
interface ErrorBody {
  error?: unknown;
  details?: { id?: unknown };
}

/**
 * A client of the admin HTTP API, with the errors the CLI maps to exit codes: an unreachable
 * endpoint, a missing or refused token, and bad input are {@linkcode UsageError}s (exit 2); a task
 * that does not exist is a `TaskNotFoundError` (exit 1), as with a database; other refusals and
 * server errors are plain errors (exit 1).
 */
export class AdminClient {
  readonly #base: URL;
  readonly #token: string | undefined;

  /** `label` names where the URL came from (`--url`, `AETHER_URL`) in messages. */
  constructor(url: string, token: string | undefined, readonly label = "--url") {
    let base: URL;
    try {
      base = new URL(url);
    } catch {
      throw new UsageError(
        `${label} must be an http:// or https:// URL such as http://127.0.0.1:7070, got ${
          JSON.stringify(url)
        }`,
      );
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new UsageError(
        `${label} must be an http:// or https:// URL, got a ${base.protocol}// URL (${url})`,
      );
    }
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    base.search = "";
    base.hash = "";
    this.#base = base;
    this.#token = token;
  }

  /** The endpoint as messages show it. */
  get url(): string {
    return this.#base.href.replace(/\/$/, "");
  }

  /** `POST /api/tasks`: the id, and whether it is a duplicate of a unique task. */
  async enqueue(name: string, args: unknown, options: EnqueueOptions): Promise<EnqueueResult> {
    // The options as the one enqueue parser takes them, flat beside name and args.
    const body = await this.#request("POST", "api/tasks", { ...options, name, args });
    const { id, duplicate } = body as { id: string; duplicate?: boolean };
    return { id, duplicate: duplicate === true };
  }

  /** `GET /api/tasks/:id`. */
  async getTask(id: string): Promise<TaskRecord> {
    return await this.#request("GET", `api/tasks/${encodeURIComponent(id)}`) as TaskRecord;
  }

  /**
   * The full id an ID argument names (a full id or a unique prefix), as `resolveTaskId` finds it
   * in a database: `TaskNotFoundError` for none, `AmbiguousIdError` for several.
   */
  async resolveId(text: string): Promise<string> {
    if (!/^[0-9a-f-]{1,36}$/i.test(text)) throw new TaskNotFoundError(text);
    const prefix = text.toLowerCase();
    const { tasks } = await this.list({ idPrefix: prefix, limit: 3 });
    if (tasks.length === 0) throw new TaskNotFoundError(text);
    if (tasks.length > 1 && tasks[0]!.id !== prefix) {
      throw new AmbiguousIdError(text, tasks.map((task) => task.id));
    }
    return tasks.find((task) => task.id === prefix)?.id ?? tasks[0]!.id;
  }

  /** `GET /api/tasks?…`. */
  async list(query: Partial<ListQuery>): Promise<TaskPage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.set(key, String(value));
    }
    return await this.#request("GET", `api/tasks?${params}`) as TaskPage;
  }

  /** `GET /api/stats`, without the endpoint's own throughput and pool figures. */
  async stats(): Promise<TaskStats> {
    const { throughput: _t, pool: _p, ...stats } = await this.#request("GET", "api/stats") as
      & TaskStats
      & { throughput?: unknown; pool?: unknown };
    return stats as TaskStats;
  }

  /**
   * The store's minute counters of the last hour (`GET /api/history?range=hour`), as
   * `store.history` gives them: what `stats --watch` computes its rates from.
   */
  async history(): Promise<HistoryPoint[]> {
    const series = await this.#request("GET", "api/history?range=hour") as {
      at: number[];
      completed: number[];
      failed: number[];
      retried: number[];
    };
    return series.at.map((at, i) => ({
      at,
      completed: series.completed[i] ?? 0,
      failed: series.failed[i] ?? 0,
      retried: series.retried[i] ?? 0,
    }));
  }

  /** `POST /api/tasks/:id/cancel`. */
  async cancel(id: string): Promise<TaskRecord> {
    return await this.#request(
      "POST",
      `api/tasks/${encodeURIComponent(id)}/cancel`,
      {},
    ) as TaskRecord;
  }

  /** `POST /api/tasks/:id/retry`. */
  async retry(id: string): Promise<TaskRecord> {
    return await this.#request(
      "POST",
      `api/tasks/${encodeURIComponent(id)}/retry`,
      {},
    ) as TaskRecord;
  }

  /** `POST /api/tasks/bulk`: how many tasks the action touched. */
  async bulk(action: "retry" | "cancel" | "delete", filter: TaskFilter): Promise<number> {
    const body = await this.#request("POST", "api/tasks/bulk", { action, filter });
    return (body as { count: number }).count;
  }

  /**
   * `GET /api/tasks/:id/wait`, asked again until the task is final or `timeoutMillis` (when
   * given) passed; resolves with the task and whether it is final.
   */
  async waitFor(
    id: string,
    timeoutMillis: number | undefined,
  ): Promise<{ task: TaskRecord; final: boolean }> {
    const deadline = timeoutMillis === undefined ? Infinity : Date.now() + timeoutMillis;
    for (;;) {
      const wait = Math.max(0, Math.min(REMOTE_WAIT_MILLIS, deadline - Date.now()));
      const { status, body } = await this.#fetch(
        "GET",
        `api/tasks/${encodeURIComponent(id)}/wait?timeout=${wait}`,
        undefined,
        wait + REMOTE_TIMEOUT_MILLIS,
      );
      if (status === 200) return { task: body as TaskRecord, final: true };
      if (Date.now() >= deadline) return { task: body as TaskRecord, final: false };
    }
  }

  async #request(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
    return (await this.#fetch(method, path, body, REMOTE_TIMEOUT_MILLIS)).body;
  }

  async #fetch(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMillis: number,
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(new URL(path, this.#base), {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMillis),
      });
    } catch (error) {
      const reason = (error as { name?: string }).name === "TimeoutError"
        ? `no answer within ${timeoutMillis / 1000}s`
        : oneLine(causeOf(error));
      throw new UsageError(
        `Cannot reach the admin endpoint at ${this.url} (${this.label}): ${reason}`,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      throw new Error(
        `The admin endpoint at ${this.url} answered ${response.status} with a body that is not JSON; is ${this.label} the address of an aether-tasks worker's admin endpoint?`,
      );
    }
    if (response.ok) return { status: response.status, body: parsed };
    throw this.#failure(response.status, (parsed ?? {}) as ErrorBody);
  }

  #failure(status: number, body: ErrorBody): Error {
    const message = typeof body.error === "string" ? body.error : `HTTP ${status}`;
    if (status === 401 || status === 403) {
      return new UsageError(
        this.#token === undefined
          ? `The admin endpoint at ${this.url} needs a token: pass --token or set AETHER_ADMIN_TOKEN (${message})`
          : `The admin endpoint at ${this.url} refused the token of --token or AETHER_ADMIN_TOKEN: ${message}`,
      );
    }
    if (status === 404 && typeof body.details?.id === "string") {
      return new TaskNotFoundError(body.details.id);
    }
    if (status === 404) {
      return new UsageError(
        `The admin endpoint at ${this.url} has no such route (${message}); is ${this.label} the address of an aether-tasks worker of this version?`,
      );
    }
    // Bad input (unknown task, invalid args or options, an ambiguous prefix, a bad cursor).
    if (status === 400 || status === 413 || status === 415) return new UsageError(message);
    // A refusal (409: the task's status does not allow it) reads as it does locally.
    if (status < 500) return new Error(message);
    return new Error(`${message} (HTTP ${status} from ${this.url})`);
  }
}

/** The network reason of a failed fetch (Bun and Deno put it in `cause`, Node in the message). */
function causeOf(error: unknown): unknown {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error
    ? `${error instanceof Error ? error.message : error}: ${cause.message}`
    : error;
}
