/**
 * The admin HTTP handler: a JSON API over a store and a dispatcher, a live dashboard, Prometheus
 * metrics and health checks, as one Web-standard `(Request) => Promise<Response>` function that
 * any server (or a test, with no socket) can call.
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, type TaskDispatcher } from "../dispatcher.ts";
import { EnqueueInputError, parseEnqueueRequest } from "../enqueue_input.ts";
import {
  AmbiguousIdError,
  IllegalTransitionError,
  InvalidArgumentsError,
  InvalidCursorError,
  StorageFullError,
  TaskNotFoundError,
  UnknownTaskError,
  WaitTimeoutError,
} from "../errors.ts";
import type { TaskSignals } from "../signals.ts";
import type { ListQuery, TaskStore } from "../store/store.ts";
import { suggest } from "../suggest.ts";
import type { TaskRecord } from "../task.ts";
import { bulkRoutes } from "./bulk_routes.ts";
import { chartRoutes } from "./chart_routes.ts";
import { dashboardPage } from "./dashboard.ts";
import { FILTER_FIELDS, parseTaskFilter } from "./_task_filter.ts";
import { parseDuration } from "../duration.ts";
import { taskEventStream } from "./event_stream.ts";
import { GroupEnqueue } from "./_group_enqueue.ts";
import {
  COMMON_HEADERS,
  errorResponse,
  HttpError,
  jsonResponse,
  readJsonBody,
  requireJsonContentType,
} from "./_http.ts";
import { type PoolStats, PROMETHEUS_CONTENT_TYPE, TaskMetrics } from "./metrics.ts";
import {
  bearerToken,
  constantTimeEqual,
  crossOriginRefusal,
  HostAllowList,
  isValidHost,
  LOOPBACK_HOSTS,
} from "./security.ts";
import { positiveInteger } from "../options.ts";
import { MAX_TIMER_CHUNK_MILLIS } from "../long_timer.ts";
import { flowRoutes } from "./flow_routes.ts";
import { createRemoteEndpoint, type RemoteEndpointOptions } from "../remote/endpoint.ts";

/** Default largest request body: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Default time a request body may take to arrive: 10 s. */
export const DEFAULT_BODY_TIMEOUT_MILLIS = 10_000;
/** Default page size of `GET /api/tasks`: the library's and the CLI's, 50. */
export const DEFAULT_ADMIN_LIST_LIMIT = DEFAULT_LIST_LIMIT;
/**
 * Default cap on `limit` of `GET /api/tasks`: the library's and the CLI's
 * ({@linkcode MAX_LIST_LIMIT}, 1000); a larger `limit` is refused with 400.
 */
export const DEFAULT_MAX_ADMIN_LIST_LIMIT = MAX_LIST_LIMIT;
/** Default `timeout` of `GET /api/tasks/:id/wait`: 30 s. */
export const DEFAULT_WAIT_TIMEOUT_MILLIS = 30_000;
/** Default cap on the `timeout` of `GET /api/tasks/:id/wait`: 5 minutes. */
export const DEFAULT_MAX_WAIT_MILLIS = 5 * 60_000;
/** Default interval of heartbeat comments on `GET /api/events`: 15 s. */
export const DEFAULT_HEARTBEAT_MILLIS = 15_000;
/** Default number of `GET /api/events` streams open at once; more get 503. */
export const DEFAULT_MAX_EVENT_STREAMS = 32;
/** The shortest token accepted. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** Options of {@linkcode createAdminHandler}. */
export interface AdminHandlerOptions {
  /** Read for health, stats, lists and events. */
  store: TaskStore;
  /** Enqueues (validating against its registry's schemas), cancels, retries and waits. */
  dispatcher: TaskDispatcher;
  /** The running worker's signals: live events, outcome counters and durations. Default: none. */
  signals?: TaskSignals | undefined;
  /** The Worker pool's state, for `/metrics` and `/api/stats`. Default: none. */
  poolStats?: (() => PoolStats) | undefined;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /**
   * When set, every route but `/healthz` and the dashboard page needs
   * `Authorization: Bearer <token>`. At least {@linkcode MIN_ADMIN_TOKEN_LENGTH} characters.
   * Default: none (bind loopback only).
   */
  token?: string | undefined;
  /**
   * `Host` headers to answer: host names (any port), `name:port`, or `"*"` for any.
   * Default {@linkcode LOOPBACK_HOSTS}; {@linkcode AdminServer} adds the address it binds.
   */
  allowedHosts?: readonly string[];
  /** Largest request body in bytes; larger gets 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Time a request body may take to arrive; slower gets 408. Default 10000 ms. */
  bodyTimeoutMillis?: number;
  /** Cap on `limit` of `GET /api/tasks`, at most 1000; a larger `limit` gets 400. Default 1000. */
  maxListLimit?: number;
  /** Cap on the `timeout` of `GET /api/tasks/:id/wait`. Default 5 minutes. */
  maxWaitMillis?: number;
  /** Interval of heartbeat comments on the event stream. Default 15000 ms. */
  heartbeatMillis?: number;
  /** Event streams open at once. Default 32. */
  maxEventStreams?: number;
  /** Unexpected errors (answered with a bare 500). Default: logged to stderr. */
  onError?: (error: unknown) => void;
  /**
   * The HTTP worker protocol, task types and OpenAPI document (`src/remote/`, served under
   * `/api/v1/` and at `/api/openapi.json` with the same Host, Origin and token checks). Default:
   * served with the protocol's defaults and no local task types.
   */
  remote?: RemoteEndpointOptions | undefined;
}

/** What a server lends the handler about the connection of one request. */
export interface AdminConnection {
  /** The response may take long (long poll, event stream): lift the server's idle timeout. */
  disableIdleTimeout(): void;
}

/** The handler, with `close()` to end event streams and long polls and drop its listeners. */
export interface AdminHandler {
  (request: Request, connection?: AdminConnection): Promise<Response>;
  close(): void;
}

/** What a route's `run` receives: the `:id` path segment (decoded), the URL, the request. */
export type Params = {
  id: string;
  url: URL;
  request: Request;
  connection: AdminConnection | undefined;
};

/** One route of the handler (routes of other files join the table in {@linkcode createAdminHandler}). */
export interface Route {
  method: "GET" | "POST" | "DELETE";
  pattern: RegExp;
  /** Served without a token (the dashboard page asks for it itself). */
  public?: boolean;
  run: (params: Params) => Promise<Response> | Response;
}

const LIST_PARAMS = [...FILTER_FIELDS, "limit", "cursor"];
const MAX_ID_LENGTH = 128;
const NO_CONNECTION: AdminConnection = { disableIdleTimeout() {} };

/**
 * Creates the admin handler. Routes:
 * - `GET /healthz` (no token, any Host), `GET /readyz`, `GET /metrics`, `GET /` (dashboard page)
 * - `GET /api/stats`, `POST /api/tasks`,
 *   `GET /api/tasks?status=&name=&queue=&idPrefix=&argsContains=&limit=&cursor=`
 * - `GET /api/tasks/:id`, `POST /api/tasks/:id/cancel`, `POST /api/tasks/:id/retry`
 * - `GET /api/tasks/:id/wait?timeout=30s` (200 when final, 202 with the task on timeout)
 * - `GET /api/tasks/count`, `POST /api/tasks/bulk`, `DELETE /api/tasks/:id` (see `bulk_routes.ts`)
 * - `GET /api/history?range=hour|day`, `GET /api/wait-times` (see `chart_routes.ts`)
 * - `GET /api/queues`, `POST /api/queues/:queue/pause|resume`, `GET /api/schedules`
 * - `GET /api/events` (Server-Sent Events)
 * - `GET /api/workers` (the worker registry: `{ workers: WorkerInfo[] }`)
 * - `/api/v1/...` (the HTTP worker protocol, task types) and `GET /api/openapi.json`: see
 *   `src/remote/` and `docs/PROTOCOL.md`
 *
 * Errors are `{ "error": message, "details"?: ... }`. Throws `TypeError`/`RangeError` for a bad
 * option.
 *
 * @example
 * ```ts
 * const handler = createAdminHandler({ store, dispatcher, signals: worker.signals, token });
 * const response = await handler(new Request("http://localhost/api/stats", {
 *   headers: { authorization: `Bearer ${token}` },
 * }));
 * handler.close();
 * ```
 */
export function createAdminHandler(options: AdminHandlerOptions): AdminHandler {
  const { store, dispatcher, signals } = options;
  if (typeof store !== "object" || store === null) {
    throw new TypeError(`store must be a TaskStore, got ${String(store)}`);
  }
  if (typeof dispatcher !== "object" || dispatcher === null) {
    throw new TypeError(`dispatcher must be a TaskDispatcher, got ${String(dispatcher)}`);
  }
  const token = options.token;
  if (token !== undefined) assertToken(token);
  const hosts = new HostAllowList(options.allowedHosts ?? LOOPBACK_HOSTS);
  const maxBodyBytes = positiveInteger(
    options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    "maxBodyBytes",
  );
  const bodyTimeout = positiveInteger(
    options.bodyTimeoutMillis ?? DEFAULT_BODY_TIMEOUT_MILLIS,
    "bodyTimeoutMillis",
  );
  const maxListLimit = positiveInteger(
    options.maxListLimit ?? DEFAULT_MAX_ADMIN_LIST_LIMIT,
    "maxListLimit",
  );
  if (maxListLimit > MAX_LIST_LIMIT) {
    throw new RangeError(`maxListLimit must be at most ${MAX_LIST_LIMIT}, got ${maxListLimit}`);
  }
  const maxWait = positiveInteger(
    options.maxWaitMillis ?? DEFAULT_MAX_WAIT_MILLIS,
    "maxWaitMillis",
  );
  const heartbeatMillis = positiveInteger(
    options.heartbeatMillis ?? DEFAULT_HEARTBEAT_MILLIS,
    "heartbeatMillis",
  );
  if (heartbeatMillis > MAX_TIMER_CHUNK_MILLIS) {
    throw new RangeError(
      `heartbeatMillis must be at most ${MAX_TIMER_CHUNK_MILLIS} (about 24.8 days), got ${heartbeatMillis}`,
    );
  }
  const maxEventStreams = positiveInteger(
    options.maxEventStreams ?? DEFAULT_MAX_EVENT_STREAMS,
    "maxEventStreams",
  );
  if (options.poolStats !== undefined && typeof options.poolStats !== "function") {
    throw new TypeError(`poolStats must be a function, got ${typeof options.poolStats}`);
  }
  const onError = options.onError ??
    ((error: unknown) => console.error("aether-tasks: admin endpoint:", error));
  const metrics = new TaskMetrics({
    signals,
    clock: options.clock ?? systemClock,
    poolStats: options.poolStats,
  });
  const closing = new AbortController();
  const groupEnqueue = new GroupEnqueue(dispatcher);
  let eventStreams = 0;
  const remote = createRemoteEndpoint({
    ...options.remote,
    store,
    clock: options.clock ?? systemClock,
    signal: closing.signal,
    readBody: (request) => readJsonBody(request, maxBodyBytes, bodyTimeout),
  });

  const routes: Route[] = [
    { method: "GET", pattern: /^\/$/, public: true, run: () => dashboardResponse() },
    {
      method: "GET",
      pattern: /^\/readyz$/,
      run: async () => {
        let full: StorageFullError | undefined;
        try {
          await store.stats();
          full = await storageFull(store);
        } catch (error) {
          onError(error);
          throw new HttpError(503, "The store is not reachable or not migrated");
        }
        // Not ready while writes fail: a balancer sends enqueues elsewhere until space is freed.
        if (full) throw new HttpError(503, full.message, { reason: "storage-full" }, RETRY_LATER);
        return jsonResponse({ status: "ready" });
      },
    },
    {
      method: "GET",
      pattern: /^\/metrics$/,
      run: async () =>
        new Response(metrics.render(await store.stats()), {
          headers: { ...COMMON_HEADERS, "content-type": PROMETHEUS_CONTENT_TYPE },
        }),
    },
    {
      method: "GET",
      pattern: /^\/api\/stats$/,
      run: async () =>
        jsonResponse({
          ...(await store.stats()),
          throughput: metrics.throughput(),
          pool: metrics.poolStats(),
        }),
    },
    { method: "GET", pattern: /^\/api\/tasks$/, run: ({ url }) => listTasks(url) },
    { method: "POST", pattern: /^\/api\/tasks$/, run: ({ request }) => enqueue(request) },
    // Before `/api/tasks/:id`, which `/api/tasks/count` would match too.
    ...bulkRoutes({ dispatcher, maxBodyBytes, bodyTimeoutMillis: bodyTimeout }),
    {
      method: "GET",
      pattern: /^\/api\/tasks\/([^/]+)$/,
      run: async (params) => {
        const task = await dispatcher.getTask(params.id);
        if (!task) throw new TaskNotFoundError(params.id);
        return jsonResponse(publicTask(task));
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/tasks\/([^/]+)\/cancel$/,
      run: async (params) => {
        await readJsonBody(params.request, maxBodyBytes, bodyTimeout);
        return jsonResponse(publicTask(await dispatcher.cancel(params.id)));
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/tasks\/([^/]+)\/retry$/,
      run: async (params) => {
        await readJsonBody(params.request, maxBodyBytes, bodyTimeout);
        return jsonResponse(publicTask(await dispatcher.retry(params.id)));
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/tasks\/([^/]+)\/wait$/,
      run: (params) => waitForTask(params),
    },
    { method: "GET", pattern: /^\/api\/events$/, run: (params) => events(params) },
    {
      method: "GET",
      pattern: /^\/api\/workers$/,
      run: async () => jsonResponse({ workers: await store.listWorkers() }),
    },
    ...chartRoutes({ store, dispatcher, clock: options.clock ?? systemClock }),
    ...flowRoutes(dispatcher, (request) => readJsonBody(request, maxBodyBytes, bodyTimeout)),
  ];

  function dashboardResponse(): Response {
    const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    return new Response(dashboardPage(nonce), {
      headers: {
        ...COMMON_HEADERS,
        "content-type": "text/html; charset=utf-8",
        "content-security-policy":
          `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; ` +
          `connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        "x-frame-options": "DENY",
      },
    });
  }

  async function listTasks(url: URL): Promise<Response> {
    const params = url.searchParams;
    for (const key of params.keys()) {
      if (!LIST_PARAMS.includes(key)) {
        throw new HttpError(400, `Unknown query parameter "${key}"${hint(key, LIST_PARAMS)}`, {
          expected: LIST_PARAMS,
        });
      }
    }
    const query: Partial<ListQuery> = { limit: DEFAULT_ADMIN_LIST_LIMIT };
    const limit = params.get("limit");
    if (limit !== null) {
      if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > maxListLimit) {
        throw new HttpError(
          400,
          `limit must be an integer from 1 to ${maxListLimit}, got ${JSON.stringify(limit)}`,
        );
      }
      query.limit = Number(limit);
    }
    Object.assign(query, parseTaskFilter(Object.fromEntries(params)));
    const cursor = params.get("cursor");
    if (cursor !== null && cursor !== "") query.cursor = cursor;
    let page;
    try {
      page = await dispatcher.list(query);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new HttpError(400, error.message);
      }
      throw error;
    }
    return jsonResponse({ tasks: page.tasks.map(publicTask), nextCursor: page.nextCursor });
  }

  async function enqueue(request: Request): Promise<Response> {
    const body = await readJsonBody(request, maxBodyBytes, bodyTimeout);
    // The one parser of enqueue input, shared with the CLI and the library.
    const { name, args, options } = parseEnqueueRequest(body);
    let id: string;
    try {
      id = await groupEnqueue.enqueue(name, args, options);
    } catch (error) {
      if (error instanceof UnknownTaskError || error instanceof InvalidArgumentsError) throw error;
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new HttpError(400, error.message);
      }
      throw error;
    }
    return jsonResponse({ id }, 201, { location: `/api/tasks/${encodeURIComponent(id)}` });
  }

  async function waitForTask(params: Params): Promise<Response> {
    const raw = params.url.searchParams.get("timeout");
    let timeout: number;
    try {
      timeout = raw === null ? DEFAULT_WAIT_TIMEOUT_MILLIS : parseDuration(raw, "timeout");
    } catch (error) {
      throw new HttpError(400, (error as Error).message);
    }
    timeout = Math.min(timeout, maxWait);
    params.connection?.disableIdleTimeout();
    // Ends the wait when the client leaves. (Deno 2.9 prints a one-time notice once
    // `request.signal` is read: by default it also aborts after a successful response.)
    const signal = AbortSignal.any([params.request.signal, closing.signal]);
    try {
      return jsonResponse(publicTask(await dispatcher.waitFor(params.id, { timeout, signal })));
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        const task = await dispatcher.getTask(params.id);
        if (!task) throw new TaskNotFoundError(params.id);
        return jsonResponse(publicTask(task), 202);
      }
      if (signal.aborted) {
        throw new HttpError(503, "The admin endpoint is stopping or the client left");
      }
      throw error;
    }
  }

  function events(params: Params): Response {
    if (eventStreams >= maxEventStreams) {
      const message = `Too many event streams are open (limit ${maxEventStreams})`;
      throw new HttpError(503, message, undefined, { "retry-after": "5" });
    }
    eventStreams++;
    params.connection?.disableIdleTimeout();
    // The stream is cancelled when the client leaves; `request.signal` is not watched, since
    // Deno warns about its legacy abort-on-success behaviour once it is touched.
    const body = taskEventStream({
      store,
      signals,
      heartbeatMillis,
      signal: closing.signal,
      onClose: () => eventStreams--,
    });
    return new Response(body, {
      headers: {
        ...COMMON_HEADERS,
        "content-type": "text/event-stream; charset=utf-8",
        "x-accel-buffering": "no",
      },
    });
  }

  function authorize(request: Request): void {
    if (token === undefined) return;
    const presented = bearerToken(request.headers.get("authorization"));
    if (presented === null) {
      throw new HttpError(401, "This endpoint needs Authorization: Bearer <token>", undefined, {
        "www-authenticate": `Bearer realm="aether-tasks"`,
      });
    }
    if (!constantTimeEqual(presented, token)) {
      throw new HttpError(401, "The token is not valid", undefined, {
        "www-authenticate": `Bearer realm="aether-tasks", error="invalid_token"`,
      });
    }
  }

  function toResponse(error: unknown): Response {
    if (error instanceof HttpError) return errorResponse(error);
    if (error instanceof EnqueueInputError) {
      return errorResponse(
        new HttpError(400, error.message, { field: error.field, expected: error.expected }),
      );
    }
    if (error instanceof InvalidCursorError) {
      return errorResponse(new HttpError(400, error.message));
    }
    if (error instanceof TaskNotFoundError) {
      return errorResponse(new HttpError(404, error.message, { id: error.taskId }));
    }
    if (error instanceof IllegalTransitionError) {
      return errorResponse(
        new HttpError(409, error.message, {
          id: error.taskId,
          status: error.status,
          allowed: error.allowed,
        }),
      );
    }
    if (error instanceof InvalidCursorError || error instanceof AmbiguousIdError) {
      return errorResponse(new HttpError(400, error.message));
    }
    if (error instanceof StorageFullError) return errorResponse(storageFullResponse(error));
    if (error instanceof UnknownTaskError) {
      return errorResponse(
        new HttpError(400, error.message, { task: error.taskName, suggestions: error.suggestions }),
      );
    }
    if (error instanceof InvalidArgumentsError) {
      return errorResponse(
        new HttpError(400, error.message, { task: error.taskName, issues: error.issues }),
      );
    }
    onError(error);
    return errorResponse(new HttpError(500, "Internal server error"));
  }

  async function handle(
    request: Request,
    connection: AdminConnection = NO_CONNECTION,
  ): Promise<Response> {
    try {
      const hostHeader = request.headers.get("host");
      // The runtime builds the URL from the Host header: a malformed one gives no URL at all.
      const url = URL.canParse(request.url) ? new URL(request.url) : null;
      if (url === null || (hostHeader !== null && !isValidHost(hostHeader))) {
        throw hostHeader === null
          ? new HttpError(400, "The request has no Host header; send one, as HTTP/1.1 requires")
          : new HttpError(
            400,
            `The Host header must be a host name or IP address with an optional port (1-65535), got ${
              JSON.stringify(hostHeader.slice(0, 100))
            }`,
          );
      }
      const path = url.pathname;
      if (path === "/healthz") {
        if (request.method !== "GET") throw methodNotAllowed(["GET"]);
        return jsonResponse({ status: "ok" });
      }
      const host = hostHeader ?? url.host;
      if (!hosts.allows(host)) {
        throw new HttpError(
          403,
          `The Host "${host}" is not allowed; add it to the admin endpoint's allowedHosts to serve it`,
          { host },
        );
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        const refusal = crossOriginRefusal(request.headers, host);
        if (refusal) throw new HttpError(403, refusal);
      }
      if (remote.serves(path)) {
        authorize(request);
        return await remote.fetch(request, connection);
      }
      const matching: Route[] = [];
      let id = "";
      for (const route of routes) {
        const match = route.pattern.exec(path);
        if (!match) continue;
        matching.push(route);
        if (match[1] !== undefined) id = decodeSegment(match[1]);
      }
      if (!matching.some((route) => route.public)) authorize(request);
      if (!matching.length) throw new HttpError(404, `No route for ${path}`);
      const route = matching.find((r) => r.method === request.method);
      if (!route) throw methodNotAllowed(matching.map((r) => r.method));
      if (route.method === "POST") requireJsonContentType(request);
      if (id.length > MAX_ID_LENGTH) throw new TaskNotFoundError(id.slice(0, MAX_ID_LENGTH) + "…");
      return await route.run({ id, url, request, connection });
    } catch (error) {
      return toResponse(error);
    }
  }

  return Object.assign(handle, {
    close(): void {
      closing.abort();
      metrics.close();
    },
  });
}

const RETRY_LATER = { "retry-after": "30" };

/** 507 Insufficient Storage for a write that failed on a full disk; try again later. */
function storageFullResponse(error: StorageFullError): HttpError {
  return new HttpError(507, error.message, { reason: "storage-full" }, RETRY_LATER);
}

/**
 * The store's {@linkcode StorageFullError} while its writes fail for lack of space (the SQLite
 * store tells; other stores do not, and count as writable).
 */
async function storageFull(store: TaskStore): Promise<StorageFullError | undefined> {
  const check = (store as { storageFull?: () => Promise<StorageFullError | undefined> })
    .storageFull;
  return typeof check === "function" ? await check.call(store) : undefined;
}

function methodNotAllowed(allowed: string[]): HttpError {
  return new HttpError(405, `Method not allowed; use ${allowed.join(" or ")}`, { allowed }, {
    allow: allowed.join(", "),
  });
}

/** A task as the API returns it: the record without its attempt token. */
function publicTask(task: TaskRecord): Omit<TaskRecord, "attemptToken"> {
  const { attemptToken: _token, ...rest } = task;
  return rest;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(
      400,
      `The path segment ${JSON.stringify(segment)} is not valid percent-encoding`,
    );
  }
}

function hint(value: string, candidates: readonly string[]): string {
  const near = suggest(value, candidates, 1);
  return near.length ? `; did you mean "${near[0]}"?` : "";
}

function assertToken(token: unknown): asserts token is string {
  if (typeof token !== "string") throw new TypeError(`token must be a string, got ${typeof token}`);
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new RangeError(
      `token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, got ${token.length}; ` +
        `generate one with: openssl rand -hex 32`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new RangeError(
      "token must be printable ASCII without spaces, so it fits in an Authorization header",
    );
  }
}
