/**
 * Admin route of cron schedules: `GET /api/schedules`, every schedule with its last slot and
 * next run.
 * @module
 */

import { Hono } from "hono";
import type { AdminContext, AdminEnv } from "../_context.ts";
import { jsonResponse } from "../_http.ts";

/** The route above. */
export function scheduleRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  app.get(
    "/api/schedules",
    async () => jsonResponse({ schedules: await ctx.dispatcher.listSchedules() }),
  );
  return app;
}
