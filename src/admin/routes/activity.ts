/**
 * Admin route of recent activity across every worker process, read from the store:
 * `GET /api/activity?limit=30` → `{ activity: ActivityEntry[] }`, newest first.
 *
 * The store lists tasks newest-created first, with no order by last change, so this reads the
 * newest `limit` tasks of each status a worker moves tasks into (PROCESSING, COMPLETED, FAILED,
 * RETRYING, CANCELLED) and orders them by when that happened. A task created long before
 * the newest `limit` of its status (say, one delayed for a day) can be missing from the list;
 * the counts and the task list still show it.
 * @module
 */

import { Hono } from "hono";
import type { TaskRecord, TaskStatus } from "../../task.ts";
import type { AdminContext, AdminEnv } from "../_context.ts";
import { HttpError, jsonResponse } from "../_http.ts";
import { summarizeTask, type TaskSummary } from "../event_stream.ts";

/** Default number of entries of `GET /api/activity`. */
export const DEFAULT_ACTIVITY_LIMIT = 30;
/** The largest `limit` of `GET /api/activity`. */
export const MAX_ACTIVITY_LIMIT = 200;

/** One entry: a task, when it reached its status, and the worker that last held it. */
export interface ActivityEntry {
  at: number;
  workerId: string | null;
  task: TaskSummary;
}

const ACTIVE_STATUSES: readonly TaskStatus[] = [
  "PROCESSING",
  "COMPLETED",
  "FAILED",
  "RETRYING",
  "CANCELLED",
];

/** The route above. */
export function activityRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  app.get("/api/activity", async (c) => {
    const params = new URL(c.req.url).searchParams;
    for (const key of params.keys()) {
      if (key !== "limit") {
        throw new HttpError(400, `Unknown query parameter "${key}"; expected limit`);
      }
    }
    const raw = params.get("limit");
    const limit = raw === null ? DEFAULT_ACTIVITY_LIMIT : Number(raw);
    if (raw !== null && (!/^\d+$/.test(raw) || limit < 1 || limit > MAX_ACTIVITY_LIMIT)) {
      throw new HttpError(
        400,
        `limit must be an integer from 1 to ${MAX_ACTIVITY_LIMIT}, got ${JSON.stringify(raw)}`,
      );
    }
    const pages = await Promise.all(
      ACTIVE_STATUSES.map((status) => ctx.dispatcher.list({ status, limit })),
    );
    const activity = pages.flatMap((page) => page.tasks).map(activityEntry)
      .sort((a, b) => b.at - a.at || (a.task.id < b.task.id ? 1 : -1))
      .slice(0, limit);
    return jsonResponse({ activity });
  });
  return app;
}

/** When a task reached its status: a running one when it started, a finished one when it ended. */
export function activityEntry(task: TaskRecord): ActivityEntry {
  const at = task.status === "PROCESSING"
    ? task.startedAt ?? task.createdAt
    : task.completedAt ?? task.startedAt ?? task.createdAt;
  return { at, workerId: task.workerId, task: summarizeTask(task) };
}
