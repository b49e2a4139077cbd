/**
 * The admin HTTP handler: a JSON API over a store and a dispatcher, a live dashboard, Prometheus
 * metrics and health checks, as one Web-standard `(Request) => Promise<Response>` function that
 * any server (or a test, with no socket) can call. The routes are a Hono app (`app.ts`, and one
 * file per resource in `routes/`); this file validates the options and wraps it.
 * @module
 */

import type { Hono } from "hono";
import { type Clock, systemClock } from "../clock.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, type TaskDispatcher } from "../dispatcher.ts";
import { MAX_TIMER_CHUNK_MILLIS } from "../long_timer.ts";
import { positiveInteger } from "../options.ts";
import type { TaskSignals } from "../signals.ts";
import type { TaskStore } from "../store/store.ts";
import type { AdminConnection, AdminEnv } from "./_context.ts";
import { readJsonBody } from "./_http.ts";
import { createRemoteEndpoint, type RemoteEndpointOptions } from "../remote/endpoint.ts";
import { type AdminRoute, buildAdminApp } from "./app.ts";
import { type PoolStats, TaskMetrics } from "./metrics.ts";
import { HostAllowList, LOOPBACK_HOSTS } from "./security.ts";
import { logErrorTo } from "../log.ts";

export type { AdminConnection, AdminEnv } from "./_context.ts";
export type { AdminRoute } from "./app.ts";
export { DEFAULT_WAIT_TIMEOUT_MILLIS } from "./routes/tasks.ts";

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
/** Default cap on the `timeout` of `GET /api/tasks/:id/wait`: 5 minutes. */
export const DEFAULT_MAX_WAIT_MILLIS = 5 * 60_000;
/** Default interval of heartbeat comments on `GET /api/events`: 15 s. */
export const DEFAULT_HEARTBEAT_MILLIS = 15_000;
/** Default number of `GET /api/events` streams open at once; more get 503. */
export const DEFAULT_MAX_EVENT_STREAMS = 32;
/** The `allowedHosts` that allows any Host. */
const ANY_HOST: readonly string[] = ["*"];
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
   * Default: with a `token`, any Host (the token already defeats DNS rebinding: a rebinding
   * page cannot send it); without one, {@linkcode LOOPBACK_HOSTS} only
   * ({@linkcode AdminServer} adds the address it binds).
   */
  allowedHosts?: readonly string[] | undefined;
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
  /** Unexpected errors (answered with a bare 500). Default: logged through LogTape. */
  onError?: (error: unknown) => void;
  /**
   * Hono sub-apps to mount, in order, after the built-in routes: each sits behind the same Host
   * allow-list, origin check and token, and its errors get the same JSON answers (throw an
   * `HttpError` or a Hono `HTTPException`). A built-in route wins over a sub-app's on the same
   * method and path. Default: none.
   *
   * @example
   * ```ts
   * import { Hono } from "hono";
   * const extra = new Hono().get("/api/v1/task-types", (c) => c.json({ types: [] }));
   * createAdminHandler({ store, dispatcher, token, routes: [{ path: "/", app: extra }] });
   * ```
   */
  routes?: readonly AdminRoute[];
  /**
   * The HTTP worker protocol, task types and OpenAPI document (`src/remote/`, served under
   * `/api/v1/` and at `/api/openapi.json` with the same Host, Origin and token checks). Default:
   * served with the protocol's defaults and no local task types.
   */
  remote?: RemoteEndpointOptions | undefined;
}

/** The handler, with `close()` to end event streams and long polls and drop its listeners. */
export interface AdminHandler {
  (request: Request, connection?: AdminConnection): Promise<Response>;
  /** The Hono app behind it, e.g. to mount it under a path of a larger app. */
  readonly app: Hono<AdminEnv>;
  close(): void;
}

/**
 * Creates the admin handler. Routes:
 * - `GET /healthz` (no token, any Host), `GET /readyz`, `GET /metrics`, `GET /` (dashboard page)
 * - `GET /api/stats`, `POST /api/tasks`,
 *   `GET /api/tasks?status=&name=&queue=&idPrefix=&argsContains=&limit=&cursor=`
 * - `GET /api/tasks/:id`, `POST /api/tasks/:id/cancel`, `POST /api/tasks/:id/retry`
 * - `GET /api/tasks/:id/wait?timeout=30s` (200 when final, 202 with the task on timeout)
 * - `GET /api/tasks/count`, `POST /api/tasks/bulk`, `DELETE /api/tasks/:id` (`routes/bulk.ts`)
 * - `GET /api/history?range=hour|day`, `GET /api/wait-times` (`routes/charts.ts`)
 * - `GET /api/queues`, `POST /api/queues/:queue/pause|resume`, `GET /api/schedules`
 * - `GET /api/events` (Server-Sent Events)
 * - `GET /api/workers` (the worker registry: `{ workers: WorkerInfo[], now }`)
 * - `/api/v1/...` (the HTTP worker protocol, task types) and `GET /api/openapi.json`: see
 *   `src/remote/` and `docs/PROTOCOL.md`
 * - and the sub-apps of `routes`, behind the same checks
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
  const hosts = new HostAllowList(
    options.allowedHosts ?? (token === undefined ? LOOPBACK_HOSTS : ANY_HOST),
  );
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
  const onError = options.onError ?? logErrorTo("admin", "admin endpoint");
  const metrics = new TaskMetrics({
    signals,
    clock: options.clock ?? systemClock,
    poolStats: options.poolStats,
  });
  if (options.routes !== undefined && !Array.isArray(options.routes)) {
    throw new TypeError(`routes must be an array of { path, app }, got ${typeof options.routes}`);
  }
  const routes = options.routes ?? [];
  routes.forEach((route, i) => {
    if (typeof route?.path !== "string" || !route.path.startsWith("/")) {
      throw new TypeError(
        `routes[${i}].path must be a path starting with "/", got ${JSON.stringify(route?.path)}`,
      );
    }
    if (typeof route.app?.fetch !== "function") {
      throw new TypeError(`routes[${i}].app must be a Hono app, got ${typeof route.app}`);
    }
  });
  const closing = new AbortController();
  const readBody = (request: Request) => readJsonBody(request, maxBodyBytes, bodyTimeout);
  const remote = createRemoteEndpoint({
    ...options.remote,
    store,
    clock: options.clock ?? systemClock,
    signal: closing.signal,
    readBody,
  });
  const app = buildAdminApp({
    store,
    dispatcher,
    signals,
    clock: options.clock ?? systemClock,
    metrics,
    closing: closing.signal,
    maxListLimit,
    maxWaitMillis: maxWait,
    heartbeatMillis,
    maxEventStreams,
    readBody,
    onError,
  }, { token, hosts, routes: [{ path: "/", app: remote.app as unknown as Hono }, ...routes] });
  const handle = (request: Request, connection?: AdminConnection) =>
    Promise.resolve(app.fetch(request, { connection }));
  return Object.assign(handle, {
    app,
    close(): void {
      closing.abort();
      metrics.close();
    },
  });
}

function assertToken(token: unknown): asserts token is string {
  if (typeof token !== "string") throw new TypeError(`token must be a string, got ${typeof token}`);
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new RangeError(
      `token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, got ${token.length}; ` +
        `generate one with: openssl rand -hex 32`,
    );
  }
  // RFC 6750's b64token, the syntax of `Authorization: Bearer <token>` (what Hono's bearerAuth reads).
  if (!/^[A-Za-z0-9._~+/-]+=*$/.test(token)) {
    throw new RangeError(
      "token must be printable ASCII of letters, digits and - . _ ~ + / (then optional =), " +
        "so it fits in an Authorization: Bearer header; generate one with: openssl rand -hex 32",
    );
  }
}
