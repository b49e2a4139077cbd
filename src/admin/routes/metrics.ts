/**
 * Admin routes of counts:
 * - `GET /metrics`: Prometheus text format (the store's counts, this process's outcomes);
 * - `GET /api/stats`: the store's counts by status and queue, with this process's throughput
 *   and Worker pool state.
 * @module
 */

import { Hono } from "hono";
import type { AdminContext, AdminEnv } from "../_context.ts";
import { COMMON_HEADERS, jsonResponse } from "../_http.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics.ts";

/** The routes above. */
export function metricRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const { store, metrics } = ctx;
  const app = new Hono<AdminEnv>();
  app.get("/metrics", async () =>
    new Response(metrics.render(await store.stats()), {
      headers: { ...COMMON_HEADERS, "content-type": PROMETHEUS_CONTENT_TYPE },
    }));
  app.get("/api/stats", async () =>
    jsonResponse({
      ...(await store.stats()),
      throughput: metrics.throughput(),
      pool: metrics.poolStats(),
    }));
  return app;
}
