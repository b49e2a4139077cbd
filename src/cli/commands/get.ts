/**
 * `aether-tasks get ID`: one task with its status, result, error and logs. ID may be a unique
 * prefix of the id.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import { TaskNotFoundError } from "../../errors.ts";
import type { TaskRecord } from "../../task.ts";
import { ID_DETAILS, resolveTaskId } from "../task_id_argument.ts";
import { REMOTE_DETAILS, remoteFrom, TOKEN_OPTION, URL_OPTION } from "../remote.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { formatTaskFields } from "../format_task.ts";
import {
  DB_OPTION,
  LOCK_TIMEOUT_OPTION,
  resolveDbPath,
  resolveLockTimeout,
  withStore,
} from "../open_store.ts";

/** The `get` command. */
export const getCommand = defineCommand({
  name: "get",
  summary: "Show one task: status, attempts, result, error and logs",
  usage: "ID",
  positionals: [1, 1],
  options: {
    db: DB_OPTION,
    "lock-timeout": LOCK_TIMEOUT_OPTION,
    url: URL_OPTION,
    token: TOKEN_OPTION,
    json: JSON_OPTION,
  },
  details: [ID_DETAILS, REMOTE_DETAILS],
  async run({ values, positionals, out, env }) {
    const show = async (task: TaskRecord) => {
      if (values.json) await out.printJson(task);
      else await out.print(formatTaskFields(out.palette, task));
      return EXIT_OK;
    };
    const remote = remoteFrom("get", values, env);
    if (remote) return await show(await remote.getTask(await remote.resolveId(positionals[0]!)));
    return await withStore(resolveDbPath(values.db, env).value, {
      missing: "refuse",
      readOnly: true,
      lockTimeoutMillis: resolveLockTimeout(values["lock-timeout"], env).value,
    }, async (store) => {
      const dispatcher = new TaskDispatcher(store);
      const id = await resolveTaskId(dispatcher, positionals[0]!);
      const task = await dispatcher.getTask(id);
      if (!task) throw new TaskNotFoundError(id);
      return await show(task);
    });
  },
});
