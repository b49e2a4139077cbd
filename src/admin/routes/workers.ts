/**
 * Admin route of the worker registry: `GET /api/workers`, every registered worker process of
 * the store (any host), oldest first: `{ workers: WorkerInfo[], now }`. `now` is the server's
 * clock, so a client can tell how late each `lastBeatAt` is without trusting its own clock.
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
    async () => jsonResponse({ workers: await ctx.store.listWorkers(), now: ctx.clock.now() }),
  );
  return app;
}
