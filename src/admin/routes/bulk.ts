/**
 * Admin routes that act on many tasks, or remove one:
 * - `GET /api/tasks/count?action=&status=&name=&queue=&idPrefix=&argsContains=`: how many tasks
 *   the filter selects; with `action`, how many of them that bulk action would touch (what a
 *   confirmation shows);
 * - `POST /api/tasks/bulk {"action": "retry"|"cancel"|"delete", "filter": {…}}`: the action on
 *   every task the filter selects that it applies to, in bounded batches; answers the count;
 * - `DELETE /api/tasks/:id`: removes one finished task.
 * @module
 */

import { Hono } from "hono";
import type { TaskDispatcher } from "../../dispatcher.ts";
import { type BulkRequest, bulkStatuses, type TaskFilter } from "../../store/store.ts";
import { suggest } from "../../suggest.ts";
import { type AdminContext, type AdminEnv, idParam, requireJson } from "../_context.ts";
import { HttpError, jsonResponse } from "../_http.ts";
import { FILTER_FIELDS, parseTaskFilter } from "../_task_filter.ts";

/** The bulk actions, as `POST /api/tasks/bulk` spells them. */
export const BULK_ACTIONS: readonly BulkRequest["action"][] = ["retry", "cancel", "delete"];

/** The routes above; mounted before `/api/tasks/:id`, which `/api/tasks/count` would match too. */
export function bulkRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const { dispatcher } = ctx;
  const app = new Hono<AdminEnv>();
  app.get("/api/tasks/count", async (c) => {
    const fields = Object.fromEntries(new URL(c.req.url).searchParams);
    checkKeys(fields, ["action", ...FILTER_FIELDS], "query parameter");
    const filter = parseTaskFilter(fields);
    const action = fields.action ? parseAction(fields.action) : undefined;
    return jsonResponse({
      count: action === undefined
        ? await dispatcher.count(filter)
        : await countForAction(dispatcher, action, filter),
      ...(action === undefined ? {} : { action }),
      filter,
    });
  });
  app.post("/api/tasks/bulk", requireJson, async (c) => {
    const body = await ctx.readBody(c.req.raw);
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(
        400,
        `The request body must be a JSON object {"action": …, "filter": {…}}, got ${
          JSON.stringify(body)?.slice(0, 100)
        }`,
      );
    }
    const fields = body as Record<string, unknown>;
    checkKeys(fields, ["action", "filter"], "field");
    const action = parseAction(fields.action);
    const rawFilter = fields.filter ?? {};
    if (typeof rawFilter !== "object" || rawFilter === null || Array.isArray(rawFilter)) {
      throw new HttpError(
        400,
        `filter must be an object like {"status": "FAILED", "name": …}, got ${
          JSON.stringify(rawFilter)?.slice(0, 100)
        }`,
      );
    }
    checkKeys(rawFilter as Record<string, unknown>, FILTER_FIELDS, "filter field");
    const filter = parseTaskFilter(rawFilter as Record<string, unknown>);
    const count = await dispatcher.bulk(action, filter);
    return jsonResponse({ action, filter, count });
  });
  app.delete("/api/tasks/:id", async (c) => {
    const id = idParam(c);
    await dispatcher.delete(id);
    return jsonResponse({ deleted: id });
  });
  return app;
}

/**
 * How many tasks a bulk `action` over `filter` would touch: those in the statuses the action
 * applies to (the filter's status, if it is one of them, else each of them).
 */
async function countForAction(
  dispatcher: TaskDispatcher,
  action: BulkRequest["action"],
  filter: TaskFilter,
): Promise<number> {
  const statuses = bulkStatuses(action);
  if (filter.status !== undefined) {
    return statuses.includes(filter.status) ? await dispatcher.count(filter) : 0;
  }
  const counts = await Promise.all(
    statuses.map((status) => dispatcher.count({ ...filter, status })),
  );
  return counts.reduce((a, b) => a + b, 0);
}

function parseAction(value: unknown): BulkRequest["action"] {
  if (typeof value === "string" && (BULK_ACTIONS as readonly string[]).includes(value)) {
    return value as BulkRequest["action"];
  }
  const near = typeof value === "string" ? suggest(value, BULK_ACTIONS, 1) : [];
  throw new HttpError(
    400,
    `action must be one of ${BULK_ACTIONS.join(", ")}, got ${JSON.stringify(value) ?? "nothing"}${
      near.length ? `; did you mean "${near[0]}"?` : ""
    }`,
  );
}

function checkKeys(
  fields: Readonly<Record<string, unknown>>,
  allowed: readonly string[],
  what: string,
): void {
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) {
      const near = suggest(key, allowed, 1);
      throw new HttpError(
        400,
        `Unknown ${what} "${key}"${near.length ? `; did you mean "${near[0]}"?` : ""}`,
        { expected: allowed },
      );
    }
  }
}
