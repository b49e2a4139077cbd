/**
 * `aether-tasks list`: tasks newest first, filtered by status, name and queue, one page at a time.
 * @module
 */

import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, TaskDispatcher } from "../../dispatcher.ts";
import type { ListQuery, TaskPage } from "../../store/store.ts";
import { REMOTE_DETAILS, remoteFrom, TOKEN_OPTION, URL_OPTION } from "../remote.ts";
import { TASK_STATUSES } from "../../task.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK, UsageError } from "../exit.ts";
import { formatTaskTable } from "../format_task.ts";
import {
  DB_OPTION,
  LOCK_TIMEOUT_OPTION,
  resolveDbPath,
  resolveLockTimeout,
  withStore,
} from "../open_store.ts";
import { oneOf } from "../settings.ts";

/** The `list` command. */
export const listCommand = defineCommand({
  name: "list",
  summary: "List tasks, newest first",
  usage: "",
  positionals: [0, 0],
  options: {
    status: {
      type: "string",
      value: "STATUS",
      description: `Only tasks in this status (${TASK_STATUSES.join(", ")})`,
    },
    name: { type: "string", value: "NAME", description: "Only tasks of this name" },
    queue: { type: "string", value: "QUEUE", description: "Only tasks in this queue" },
    limit: {
      type: "string",
      value: "N",
      description: `Tasks per page, at most ${MAX_LIST_LIMIT}`,
      default: String(DEFAULT_LIST_LIMIT),
    },
    cursor: {
      type: "string",
      value: "CURSOR",
      description: "Start after the page that printed this cursor",
    },
    db: DB_OPTION,
    "lock-timeout": LOCK_TIMEOUT_OPTION,
    url: URL_OPTION,
    token: TOKEN_OPTION,
    json: JSON_OPTION,
  },
  details: [REMOTE_DETAILS],
  async run({ values, out, env }) {
    const query: Partial<ListQuery> = {};
    if (values.status !== undefined) query.status = oneOf(TASK_STATUSES)(values.status, "--status");
    if (values.name !== undefined) query.name = values.name;
    if (values.queue !== undefined) query.queue = values.queue;
    if (values.limit !== undefined) {
      // The same rule and words as `GET /api/tasks?limit=`.
      const limit = values.limit.trim();
      if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIST_LIMIT) {
        throw new UsageError(
          `--limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${
            JSON.stringify(values.limit)
          }`,
        );
      }
      query.limit = Number(limit);
    }
    // The store made the cursor and checks it (InvalidCursorError, exit 2).
    if (values.cursor !== undefined) query.cursor = values.cursor;
    const show = async (page: TaskPage) => {
      if (values.json) {
        await out.printJson(page);
      } else {
        await out.print(
          page.tasks.length ? formatTaskTable(out.palette, page.tasks) : "No tasks\n",
        );
        if (page.nextCursor !== null) {
          await out.note(`More tasks: add --cursor ${page.nextCursor}\n`);
        }
      }
      return EXIT_OK;
    };
    const remote = remoteFrom("list", values, env);
    // The endpoint's default page size may differ: ask for the CLI's.
    if (remote) return await show(await remote.list({ limit: DEFAULT_LIST_LIMIT, ...query }));
    return await withStore(resolveDbPath(values.db, env).value, {
      missing: "refuse",
      readOnly: true,
      lockTimeoutMillis: resolveLockTimeout(values["lock-timeout"], env).value,
    }, async (store) => await show(await new TaskDispatcher(store).list(query)));
  },
});
