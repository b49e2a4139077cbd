/**
 * Admin route of the worker registry: `GET /api/workers`, every registered worker process of
 * the store (any host), oldest first: `{ workers: WorkerInfo[] }`. A worker's `meta` carries
 * `running` (tasks running now) and `heartbeatIntervalMillis`; compare `lastBeatAt` with the
 * response's `Date` to tell a late one.
 * @module
 */

import { Hono } from "hono";
import type { AdminContext, AdminEnv } from "../_context.ts";
import { jsonResponse } from "../_http.ts";

/** The route above. */
export function workerRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  app.get(
    "/api/workers",
    async () => jsonResponse({ workers: await ctx.store.listWorkers() }),
  );
  return app;
}
