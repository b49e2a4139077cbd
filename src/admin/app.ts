/**
 * The admin endpoint as a Hono app: the checks every request passes, in order, then the routes
 * of `routes/` (one file per resource) and any sub-apps a caller mounts.
 *
 * Order of the checks: a well-formed `Host` and path → `GET /healthz` (answered here, for any
 * Host and without a token) → the Host allow-list (403, against DNS rebinding) → the same-origin
 * rule for requests that change state (403, against CSRF) → the bearer token (401) → routes,
 * with 404 and 405 (+ `Allow`) as JSON. Every response gets Hono's secure headers.
 *
 * What is Hono's and what is ours: routing, `bearerAuth` (with our JSON answers and constant-time
 * comparison), `secureHeaders` (with a per-response CSP nonce for the dashboard) and
 * `methodNotAllowed` are Hono's. The Host allow-list, the origin check and the body reader stay
 * ours: Hono has no Host check; its `csrf` only looks at form content types, while our API takes
 * JSON; its `bodyLimit` has no time limit on a slow upload and reads `Content-Length` with
 * `parseInt` (so `12abc` passes), where we answer 408 and a clear 400.
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { HTTPException } from "hono/http-exception";
import { methodNotAllowed } from "hono/method-not-allowed";
import { secureHeaders } from "hono/secure-headers";
import {
  AmbiguousIdError,
  IllegalTransitionError,
  InvalidArgumentsError,
  InvalidCursorError,
  StorageFullError,
  TaskNotFoundError,
  UnknownTaskError,
} from "../errors.ts";
import { EnqueueInputError } from "../enqueue_input.ts";
import type { AdminContext, AdminEnv } from "./_context.ts";
import { errorResponse, HttpError } from "./_http.ts";
import { activityRoutes } from "./routes/activity.ts";
import { bulkRoutes } from "./routes/bulk.ts";
import { chartRoutes } from "./routes/charts.ts";
import { DASHBOARD_PATHS, dashboardRoutes } from "./routes/dashboard.ts";
import { eventRoutes } from "./routes/events.ts";
import { livenessRoute, readinessRoute, RETRY_LATER } from "./routes/health.ts";
import { metricRoutes } from "./routes/metrics.ts";
import { queueRoutes } from "./routes/queues.ts";
import { scheduleRoutes } from "./routes/schedules.ts";
import { taskRoutes } from "./routes/tasks.ts";
import { workerRoutes } from "./routes/workers.ts";
import {
  constantTimeEqual,
  crossOriginRefusal,
  type HostAllowList,
  isValidHost,
} from "./security.ts";

/** A sub-app mounted on the admin app, behind its Host, origin and token checks. */
export interface AdminRoute {
  /** Where it is mounted, e.g. `"/"` (its own paths are absolute) or `"/api/v1/worker"`. */
  path: string;
  // deno-lint-ignore no-explicit-any
  app: Hono<any, any, any>;
}

/** What {@linkcode buildAdminApp} needs besides the routes' context. */
export interface AdminAppSecurity {
  token: string | undefined;
  hosts: HostAllowList;
  routes: readonly AdminRoute[];
}

const REALM = `Bearer realm="aether-tasks"`;

/** Assembles the app; `createAdminHandler` validates the options first. */
export function buildAdminApp(ctx: AdminContext, security: AdminAppSecurity): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  app.onError((error) => errorToResponse(error, ctx.onError));
  app.notFound((c) => errorResponse(new HttpError(404, `No route for ${c.req.path}`)));
  app.use(
    "*",
    secureHeaders({ xFrameOptions: "DENY", strictTransportSecurity: false }),
    wellFormedRequest,
  );
  app.route("/", livenessRoute());
  app.use("*", hostAllowed(security.hosts), sameOrigin);
  if (security.token !== undefined) app.use("*", tokenRequired(security.token));
  app.use("*", methodNotAllowed({ app, onMethodNotAllowed: methodNotAllowedResponse }));
  app.route("/", dashboardRoutes());
  app.route("/", readinessRoute(ctx));
  app.route("/", metricRoutes(ctx));
  // Before the task routes: `/api/tasks/:id` would match `/api/tasks/count` too.
  app.route("/", bulkRoutes(ctx));
  app.route("/", taskRoutes(ctx));
  app.route("/", eventRoutes(ctx));
  app.route("/", workerRoutes(ctx));
  app.route("/", activityRoutes(ctx));
  app.route("/", chartRoutes(ctx));
  app.route("/", queueRoutes(ctx));
  app.route("/", scheduleRoutes(ctx));
  for (const { path, app: sub } of security.routes) app.route(path, sub);
  return app;
}

/** 400 for a missing or malformed Host header, or a path that is not valid percent-encoding. */
const wellFormedRequest: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const hostHeader = c.req.header("host") ?? null;
  // The runtime builds the URL from the Host header: a malformed one gives no URL at all.
  const url = URL.parse(c.req.url);
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
  try {
    decodeURIComponent(url.pathname);
  } catch {
    throw new HttpError(
      400,
      `The path ${JSON.stringify(url.pathname)} is not valid percent-encoding`,
    );
  }
  await next();
};

function hostAllowed(hosts: HostAllowList): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    if (!hosts.allows(host)) {
      throw new HttpError(
        403,
        `The Host "${host}" is not allowed; add it to the admin endpoint's allowedHosts ` +
          `(--admin-allowed-hosts, AETHER_ADMIN_ALLOWED_HOSTS) to serve it`,
        { host },
      );
    }
    await next();
  };
}

const sameOrigin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    const refusal = crossOriginRefusal(c.req.raw.headers, host);
    if (refusal) throw new HttpError(403, refusal);
  }
  await next();
};

/** Hono's `bearerAuth`, answering 401 with our JSON errors; the dashboard page is public. */
function tokenRequired(token: string): MiddlewareHandler<AdminEnv> {
  const missing = () =>
    errorResponse(
      new HttpError(401, "This endpoint needs Authorization: Bearer <token>", undefined, {
        "www-authenticate": REALM,
      }),
    );
  const auth = bearerAuth<AdminEnv>({
    verifyToken: (presented) => constantTimeEqual(presented, token),
    noAuthenticationHeader: { message: missing, wwwAuthenticateHeader: REALM },
    // Hono answers 400 for a header that is not `Bearer <token68>` (e.g. Basic): still a 401.
    invalidAuthenticationHeader: { message: missing, wwwAuthenticateHeader: REALM },
    invalidToken: {
      message: () =>
        errorResponse(
          new HttpError(401, "The token is not valid", undefined, {
            "www-authenticate": `${REALM}, error="invalid_token"`,
          }),
        ),
      wwwAuthenticateHeader: `${REALM}, error="invalid_token"`,
    },
  });
  return (c, next) =>
    c.req.method === "GET" && DASHBOARD_PATHS.includes(c.req.path) ? next() : auth(c, next);
}

function methodNotAllowedResponse(_c: unknown, methods: string[]): Response {
  const allowed = methods.filter((m) => m !== "HEAD");
  return errorResponse(
    new HttpError(405, `Method not allowed; use ${allowed.join(" or ")}`, { allowed }, {
      allow: allowed.join(", "),
    }),
  );
}

/** The JSON answer for an error a route threw: the domain errors by status, else a bare 500. */
export function errorToResponse(error: unknown, onError: (error: unknown) => void): Response {
  if (error instanceof HttpError) return errorResponse(error);
  if (error instanceof HTTPException) return error.getResponse();
  if (error instanceof EnqueueInputError) {
    return errorResponse(
      new HttpError(400, error.message, { field: error.field, expected: error.expected }),
    );
  }
  if (error instanceof InvalidCursorError || error instanceof AmbiguousIdError) {
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
  if (error instanceof StorageFullError) {
    // 507 Insufficient Storage for a write that failed on a full disk; try again later.
    return errorResponse(
      new HttpError(507, error.message, { reason: "storage-full" }, RETRY_LATER),
    );
  }
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
