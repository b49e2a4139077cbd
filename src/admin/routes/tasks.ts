/**
 * Admin routes of single tasks:
 * - `GET /api/tasks?status=&name=&queue=&idPrefix=&argsContains=&limit=&cursor=`: a page;
 * - `POST /api/tasks {"name", "args", ...options}`: enqueues (201 with `Location`);
 * - `GET /api/tasks/:id`, `POST /api/tasks/:id/cancel`, `POST /api/tasks/:id/retry`;
 * - `GET /api/tasks/:id/wait?timeout=30s`: 200 once final, 202 with the task on timeout.
 * @module
 */

import { Hono } from "hono";
import { DEFAULT_LIST_LIMIT } from "../../dispatcher.ts";
import { parseDuration } from "../../duration.ts";
import { parseEnqueueRequest } from "../../enqueue_input.ts";
import {
  InvalidArgumentsError,
  TaskNotFoundError,
  UnknownTaskError,
  WaitTimeoutError,
} from "../../errors.ts";
import type { ListQuery } from "../../store/store.ts";
import { suggest } from "../../suggest.ts";
import { GroupEnqueue } from "../_group_enqueue.ts";
import { HttpError, jsonResponse } from "../_http.ts";
import { FILTER_FIELDS, parseTaskFilter } from "../_task_filter.ts";
import {
  type AdminContext,
  type AdminEnv,
  badInputAs400,
  connectionOf,
  idParam,
  publicTask,
  requireJson,
} from "../_context.ts";

/** Default `timeout` of `GET /api/tasks/:id/wait`: 30 s. */
export const DEFAULT_WAIT_TIMEOUT_MILLIS = 30_000;

const LIST_PARAMS = [...FILTER_FIELDS, "limit", "cursor"];

/** The routes above. Bulk routes (`/api/tasks/count`, `/bulk`) must be mounted before these. */
export function taskRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const { dispatcher } = ctx;
  const groupEnqueue = new GroupEnqueue(dispatcher);
  const app = new Hono<AdminEnv>();

  app.get("/api/tasks", async (c) => {
    const params = new URL(c.req.url).searchParams;
    for (const key of params.keys()) {
      if (!LIST_PARAMS.includes(key)) {
        const near = suggest(key, LIST_PARAMS, 1);
        throw new HttpError(
          400,
          `Unknown query parameter "${key}"${near.length ? `; did you mean "${near[0]}"?` : ""}`,
          { expected: LIST_PARAMS },
        );
      }
    }
    const query: Partial<ListQuery> = { limit: DEFAULT_LIST_LIMIT };
    const limit = params.get("limit");
    if (limit !== null) {
      if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > ctx.maxListLimit) {
        throw new HttpError(
          400,
          `limit must be an integer from 1 to ${ctx.maxListLimit}, got ${JSON.stringify(limit)}`,
        );
      }
      query.limit = Number(limit);
    }
    Object.assign(query, parseTaskFilter(Object.fromEntries(params)));
    const cursor = params.get("cursor");
    if (cursor !== null && cursor !== "") query.cursor = cursor;
    const page = await badInputAs400(() => dispatcher.list(query));
    return jsonResponse({ tasks: page.tasks.map(publicTask), nextCursor: page.nextCursor });
  });

  app.post("/api/tasks", requireJson, async (c) => {
    const body = await ctx.readBody(c.req.raw);
    // The one parser of enqueue input, shared with the CLI and the library.
    const { name, args, options } = parseEnqueueRequest(body);
    let id: string, duplicate: boolean;
    let warning: string | undefined;
    try {
      // A name this process need not define reads the worker registry and may carry a warning.
      if (options.unregistered) {
        ({ id, duplicate, warning } = await dispatcher.enqueueDetailed(name, args, options));
      } else ({ id, duplicate } = await groupEnqueue.enqueueDetailed(name, args, options));
    } catch (error) {
      if (error instanceof UnknownTaskError || error instanceof InvalidArgumentsError) throw error;
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new HttpError(400, error.message);
      }
      throw error;
    }
    // A duplicate of a unique task answers 200 with the existing task's id.
    return jsonResponse(
      warning === undefined ? { id, duplicate } : { id, duplicate, warning },
      duplicate ? 200 : 201,
      {
        location: `/api/tasks/${encodeURIComponent(id)}`,
      },
    );
  });

  app.get("/api/tasks/:id", async (c) => {
    const id = idParam(c);
    const task = await dispatcher.getTask(id);
    if (!task) throw new TaskNotFoundError(id);
    return jsonResponse(publicTask(task));
  });

  app.post("/api/tasks/:id/cancel", requireJson, async (c) => {
    const id = idParam(c);
    await ctx.readBody(c.req.raw);
    return jsonResponse(publicTask(await dispatcher.cancel(id)));
  });

  app.post("/api/tasks/:id/retry", requireJson, async (c) => {
    const id = idParam(c);
    await ctx.readBody(c.req.raw);
    return jsonResponse(publicTask(await dispatcher.retry(id)));
  });

  app.get("/api/tasks/:id/wait", async (c) => {
    const id = idParam(c);
    const raw = new URL(c.req.url).searchParams.get("timeout");
    let timeout: number;
    try {
      timeout = raw === null ? DEFAULT_WAIT_TIMEOUT_MILLIS : parseDuration(raw, "timeout");
    } catch (error) {
      throw new HttpError(400, (error as Error).message);
    }
    timeout = Math.min(timeout, ctx.maxWaitMillis);
    connectionOf(c).disableIdleTimeout();
    // Ends the wait when the client leaves. (Deno 2.9 prints a one-time notice once
    // `request.signal` is read: by default it also aborts after a successful response.)
    const signal = AbortSignal.any([c.req.raw.signal, ctx.closing]);
    try {
      return jsonResponse(publicTask(await dispatcher.waitFor(id, { timeout, signal })));
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        const task = await dispatcher.getTask(id);
        if (!task) throw new TaskNotFoundError(id);
        return jsonResponse(publicTask(task), 202);
      }
      if (signal.aborted) {
        throw new HttpError(503, "The admin endpoint is stopping or the client left");
      }
      throw error;
    }
  });

  return app;
}
