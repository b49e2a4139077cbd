/**
 * Admin route of the worker registry: `GET /api/workers`, every registered worker process of
 * the store (any host), oldest first, and the waiting tasks no live worker defines:
 * `{ workers: WorkerInfo[], unrunnable: [{ name, waiting }] }`. A worker's `meta` carries
 * `running` (tasks running now), `heartbeatIntervalMillis` and `taskTypes`; compare
 * `lastBeatAt` with the response's `Date` to tell a late one. `unrunnable` (a grouped count of
 * the waiting rows) is computed at most every {@linkcode UNRUNNABLE_REFRESH_MILLIS}, so a
 * dashboard polling this route costs the store one such count per 10 s, not per poll.
 * @module
 */

import { Hono } from "hono";
import type { AdminContext, AdminEnv } from "../_context.ts";
import { jsonResponse } from "../_http.ts";

/** How long `unrunnable` is served from the last count: 10 s. */
export const UNRUNNABLE_REFRESH_MILLIS = 10_000;
/** The most names `unrunnable` lists (those with the most waiting tasks first). */
export const MAX_UNRUNNABLE_LISTED = 20;

/** The route above. */
export function workerRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  let counted: { at: number; list: Promise<{ name: string; waiting: number }[]> } | undefined;
  const unrunnable = () => {
    const now = ctx.clock.now();
    if (!counted || now - counted.at >= UNRUNNABLE_REFRESH_MILLIS) {
      const list = ctx.dispatcher.unrunnable(MAX_UNRUNNABLE_LISTED);
      counted = { at: now, list };
      // A failed count is not kept: the next request counts again.
      list.catch(() => counted?.list === list && (counted = undefined));
    }
    return counted.list;
  };
  app.get("/api/workers", async () => {
    const [workers, waiting] = await Promise.all([ctx.store.listWorkers(), unrunnable()]);
    return jsonResponse({ workers, unrunnable: waiting });
  });
  return app;
}
