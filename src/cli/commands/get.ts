/**
 * `aether-tasks get ID`: one task with its status, result, error and logs.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import { TaskNotFoundError } from "../../errors.ts";
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
  options: { db: DB_OPTION, "lock-timeout": LOCK_TIMEOUT_OPTION, json: JSON_OPTION },
  run({ values, positionals, out, env }) {
    const id = positionals[0]!;
    return withStore(resolveDbPath(values.db, env).value, {
      missing: "refuse",
      readOnly: true,
      lockTimeoutMillis: resolveLockTimeout(values["lock-timeout"], env).value,
    }, async (store) => {
      const task = await new TaskDispatcher(store).getTask(id);
      if (!task) throw new TaskNotFoundError(id);
      if (values.json) await out.printJson(task);
      else await out.print(formatTaskFields(out.palette, task));
      return EXIT_OK;
    });
  },
});
