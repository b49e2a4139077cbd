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

import type { TaskDispatcher } from "../dispatcher.ts";
import { type BulkRequest, bulkStatuses, type TaskFilter } from "../store/store.ts";
import { suggest } from "../suggest.ts";
import { HttpError, jsonResponse, readJsonBody } from "./_http.ts";
import { FILTER_FIELDS, parseTaskFilter } from "./_task_filter.ts";
import type { Route } from "./handler.ts";

/** The bulk actions, as `POST /api/tasks/bulk` spells them. */
export const BULK_ACTIONS: readonly BulkRequest["action"][] = ["retry", "cancel", "delete"];

/** What the bulk routes need from the handler. */
export interface BulkRouteOptions {
  dispatcher: TaskDispatcher;
  maxBodyBytes: number;
  bodyTimeoutMillis: number;
}

/** The routes above, for {@linkcode createAdminHandler}'s route table. */
export function bulkRoutes(options: BulkRouteOptions): Route[] {
  const { dispatcher, maxBodyBytes, bodyTimeoutMillis } = options;
  return [
    {
      method: "GET",
      pattern: /^\/api\/tasks\/count$/,
      run: async ({ url }) => {
        const fields = Object.fromEntries(url.searchParams);
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
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/tasks\/bulk$/,
      run: async ({ request }) => {
        const body = await readJsonBody(request, maxBodyBytes, bodyTimeoutMillis);
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
      },
    },
    {
      method: "DELETE",
      pattern: /^\/api\/tasks\/([^/]+)$/,
      run: async ({ id }) => {
        await dispatcher.delete(id);
        return jsonResponse({ deleted: id });
      },
    },
  ];
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
