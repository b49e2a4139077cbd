/**
 * The HTTP worker protocol, published task types and the OpenAPI document as a Hono app, served
 * under the admin endpoint (which checks the Host, Origin and token before it hands a request
 * here). See `docs/PROTOCOL.md`.
 * @module
 */

import { type Context, Hono } from "hono";
import type { AdminConnection } from "../admin/handler.ts";
import { errorResponse, HttpError, jsonResponse, requireJsonContentType } from "../admin/_http.ts";
import type { TaskRegistry } from "../registry.ts";
import type { TaskStore } from "../store/store.ts";
import {
  BodyError,
  CompleteBatchBody,
  CompleteBody,
  DeregisterBody,
  FailBody,
  FetchBody,
  HeartbeatBody,
  LogBody,
  parseBody,
  ProgressBody,
  RegisterBody,
  ReleaseBody,
} from "./requests.ts";
import { openApiDocument } from "./openapi.ts";
import { type OutcomeResult, type RemoteWorkerProtocol, UnknownWorkerError } from "./protocol.ts";
import { mergeTaskTypes, registryTaskTypes } from "./task_types.ts";
import { publishedTaskTypes } from "../task_types.ts";
import type { Clock } from "../clock.ts";

/** What {@linkcode remoteRoutes} needs. */
export interface RemoteRoutesDeps {
  protocol: RemoteWorkerProtocol;
  store: TaskStore;
  /** Tells which workers are live (their last beat within the heartbeat timeout). */
  clock: Clock;
  /** This process's task definitions, published beside the workers' own. Default: none. */
  registry?: TaskRegistry | undefined;
  /** Reads a request body as JSON within the endpoint's size and time limits. */
  readBody: (request: Request) => Promise<unknown>;
}

/** The bindings the admin handler passes to `app.fetch`. */
export interface RemoteBindings {
  connection?: AdminConnection;
}

const MAX_ID_LENGTH = 128;

/**
 * The routes, as a self-contained Hono app:
 * - `POST /api/v1/worker/register | fetch | heartbeat | complete | deregister`
 * - `POST /api/v1/worker/tasks/:id/complete | fail | release | progress | log`
 * - `GET /api/v1/task-types`, `GET /api/openapi.json`
 *
 * @example
 * ```ts
 * const app = remoteRoutes({ protocol: new RemoteWorkerProtocol({ store }), store, readBody });
 * const response = await app.fetch(request, { connection });
 * ```
 */
export function remoteRoutes(deps: RemoteRoutesDeps): Hono<{ Bindings: RemoteBindings }> {
  const { protocol, store } = deps;
  const app = new Hono<{ Bindings: RemoteBindings }>();
  const body = async <S extends Parameters<typeof parseBody>[0]>(c: Context, schema: S) => {
    requireJsonContentType(c.req.raw);
    return parseBody(schema, await deps.readBody(c.req.raw)) as ReturnType<typeof parseBody<S>>;
  };
  const taskId = (c: Context): string => {
    const id = c.req.param("id") ?? "";
    if (id.length > MAX_ID_LENGTH) {
      throw new HttpError(404, `No task with id "${id.slice(0, MAX_ID_LENGTH)}…"`);
    }
    return id;
  };
  const single = (result: OutcomeResult): Response =>
    result.ok
      ? jsonResponse(
        result.replayed ? { task: result.task, replayed: true } : { task: result.task },
      )
      : errorResponse(
        new HttpError(result.status, result.error, { id: result.id, current: result.current }),
      );

  app.post(
    "/api/v1/worker/register",
    async (c) => jsonResponse(await protocol.register(await body(c, RegisterBody)), 201),
  );

  app.post("/api/v1/worker/fetch", async (c) => {
    const input = await body(c, FetchBody);
    if (input.waitMillis) c.env?.connection?.disableIdleTimeout();
    return jsonResponse({ tasks: await protocol.fetch(input, c.req.raw.signal) });
  });

  app.post(
    "/api/v1/worker/heartbeat",
    async (c) => jsonResponse(await protocol.heartbeat(await body(c, HeartbeatBody))),
  );

  app.post("/api/v1/worker/complete", async (c) => {
    const input = await body(c, CompleteBatchBody);
    if (input.fetch && input.workerId === undefined) {
      throw new BodyError("workerId", "a workerId from register (required with fetch)", "none");
    }
    if (!input.fetch) return jsonResponse({ results: await protocol.finish(input.outcomes) });
    if (input.fetch.waitMillis) c.env?.connection?.disableIdleTimeout();
    const fetch = { workerId: input.workerId!, ...input.fetch };
    return jsonResponse(await protocol.finishAndFetch(input.outcomes, fetch, c.req.raw.signal));
  });

  app.post(
    "/api/v1/worker/deregister",
    async (c) =>
      jsonResponse({ released: await protocol.deregister(await body(c, DeregisterBody)) }),
  );

  app.post("/api/v1/worker/tasks/:id/complete", async (c) => {
    const id = taskId(c);
    const { token, result } = await body(c, CompleteBody);
    return single((await protocol.finish([{ outcome: "completed", id, token, result }]))[0]!);
  });

  app.post("/api/v1/worker/tasks/:id/fail", async (c) => {
    const id = taskId(c);
    const input = await body(c, FailBody);
    return single((await protocol.finish([{ outcome: "failed", id, ...input }]))[0]!);
  });

  app.post("/api/v1/worker/tasks/:id/release", async (c) => {
    const id = taskId(c);
    const { token } = await body(c, ReleaseBody);
    return single((await protocol.finish([{ outcome: "released", id, token }]))[0]!);
  });

  app.post("/api/v1/worker/tasks/:id/progress", async (c) => {
    const id = taskId(c);
    const { token, progress } = await body(c, ProgressBody);
    return single(await protocol.progress(id, token, progress));
  });

  app.post("/api/v1/worker/tasks/:id/log", async (c) => {
    const id = taskId(c);
    const { token, lines } = await body(c, LogBody);
    return single(await protocol.log(id, token, lines));
  });

  app.get("/api/v1/task-types", async () => {
    const local = deps.registry ? registryTaskTypes(deps.registry) : [];
    const published = await publishedTaskTypes(
      store,
      deps.clock.now(),
      protocol.heartbeatTimeoutMillis,
    );
    return jsonResponse({ taskTypes: mergeTaskTypes(published, local) });
  });

  app.get("/api/openapi.json", () => jsonResponse(openApiDocument()));

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const methods = app.routes.filter((r) => r.path !== "/*" && matches(r.path, path))
      .map((r) => r.method);
    if (methods.length) {
      return errorResponse(
        new HttpError(
          405,
          `Method not allowed; use ${methods.join(" or ")}`,
          { allowed: methods },
          {
            allow: methods.join(", "),
          },
        ),
      );
    }
    return errorResponse(new HttpError(404, `No route for ${path}`));
  });

  app.onError((error) => {
    if (error instanceof HttpError) return errorResponse(error);
    if (error instanceof BodyError) {
      return errorResponse(
        new HttpError(400, error.message, { field: error.field, expected: error.expected }),
      );
    }
    if (error instanceof UnknownWorkerError) {
      return errorResponse(
        new HttpError(404, error.message, { workerId: error.workerId, reason: "unknown-worker" }),
      );
    }
    throw error;
  });
  return app;
}

/** Whether a Hono route path (with `:param` segments) matches a request path. */
function matches(pattern: string, path: string): boolean {
  const a = pattern.split("/");
  const b = path.split("/");
  return a.length === b.length && a.every((part, i) => part.startsWith(":") || part === b[i]);
}
