/**
 * The task filter of the admin API, read from a query string (`GET /api/tasks`,
 * `GET /api/tasks/count`) or a JSON object (`POST /api/tasks/bulk`): one parser for both, so
 * every route refuses the same bad values with the same message.
 * @module
 */

import type { TaskFilter } from "../store/store.ts";
import { TASK_STATUSES, type TaskStatus } from "../task.ts";
import { suggest } from "../suggest.ts";
import { HttpError } from "./_http.ts";

/** The filter fields, as the API spells them. */
export const FILTER_FIELDS = ["status", "name", "queue", "idPrefix", "argsContains"] as const;
/** Longest `argsContains` text. */
export const MAX_ARGS_SEARCH_LENGTH = 200;
/** Longest `name` or `queue`. */
const MAX_NAME_LENGTH = 200;

/**
 * Reads the filter fields of `fields` (other keys are the caller's to check). Empty strings
 * mean "no filter". A bad value throws a 400 {@linkcode HttpError} naming the field, the value
 * and what was expected. Status is case-insensitive; `idPrefix` is lower-cased.
 */
export function parseTaskFilter(fields: Readonly<Record<string, unknown>>): TaskFilter {
  const filter: TaskFilter = {};
  for (const key of FILTER_FIELDS) {
    const value = fields[key];
    if (value === undefined || value === null || value === "") continue;
    if (typeof value !== "string") {
      throw new HttpError(400, `${key} must be a string, got ${JSON.stringify(value)}`);
    }
    if (key === "status") {
      const upper = value.toUpperCase() as TaskStatus;
      if (!TASK_STATUSES.includes(upper)) {
        const near = suggest(upper, TASK_STATUSES, 1);
        throw new HttpError(
          400,
          `status must be one of ${TASK_STATUSES.join(", ")}, got ${JSON.stringify(value)}${
            near.length ? `; did you mean "${near[0]}"?` : ""
          }`,
        );
      }
      filter.status = upper;
    } else if (key === "idPrefix") {
      const prefix = value.trim().toLowerCase();
      if (!/^[0-9a-f-]{1,36}$/.test(prefix)) {
        throw new HttpError(
          400,
          `idPrefix must be a task id or the start of one (hex digits and dashes, at most 36), got ${
            JSON.stringify(value.slice(0, 60))
          }`,
        );
      }
      filter.idPrefix = prefix;
    } else if (key === "argsContains") {
      if (value.length > MAX_ARGS_SEARCH_LENGTH) {
        throw new HttpError(
          400,
          `argsContains must be at most ${MAX_ARGS_SEARCH_LENGTH} characters, got ${value.length}`,
        );
      }
      filter.argsContains = value;
    } else {
      if (value.length > MAX_NAME_LENGTH) {
        throw new HttpError(
          400,
          `${key} must be at most ${MAX_NAME_LENGTH} characters, got ${value.length}`,
        );
      }
      filter[key] = value;
    }
  }
  return filter;
}
