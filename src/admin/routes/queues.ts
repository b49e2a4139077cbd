/**
 * Admin routes of queues and their flow limits:
 * - `GET /api/queues`: every queue with its paused state and limits, and the task-name limits;
 * - `POST /api/queues/:queue/pause`, `POST /api/queues/:queue/resume` (body `{}`).
 * @module
 */

import { Hono } from "hono";
import { type AdminContext, type AdminEnv, badInputAs400, requireJson } from "../_context.ts";
import { jsonResponse } from "../_http.ts";

/** The routes above. */
export function queueRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const { dispatcher } = ctx;
  const app = new Hono<AdminEnv>();
  app.get("/api/queues", async () => {
    const [queues, limits] = await Promise.all([
      dispatcher.listQueues(),
      dispatcher.listLimits(),
    ]);
    const byQueue = new Map(limits.filter((l) => l.scope === "queue").map((l) => [l.name, l]));
    return jsonResponse({
      queues: queues.map((q) => ({
        ...q,
        rateLimit: byQueue.get(q.name)?.rateLimit ?? null,
        maxRunning: byQueue.get(q.name)?.maxRunning ?? null,
      })),
      taskLimits: limits.filter((l) => l.scope === "task"),
    });
  });
  for (const action of ["pause", "resume"] as const) {
    app.post(`/api/queues/:queue/${action}`, requireJson, async (c) => {
      const queue = c.req.param("queue");
      await ctx.readBody(c.req.raw);
      const state = await badInputAs400(() =>
        action === "pause" ? dispatcher.pauseQueue(queue) : dispatcher.resumeQueue(queue)
      );
      return jsonResponse(state);
    });
  }
  return app;
}
