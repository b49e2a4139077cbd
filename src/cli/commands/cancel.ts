/**
 * `aether-tasks cancel ID`: cancels a waiting task, or asks a running one to stop.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";
import type { TaskRecord } from "../../task.ts";
import { ID_DETAILS, resolveTaskId } from "../task_id_argument.ts";
import { REMOTE_DETAILS, remoteFrom, TOKEN_OPTION, URL_OPTION } from "../remote.ts";

/** The `cancel` command. */
export const cancelCommand = defineCommand({
  name: "cancel",
  summary: "Cancel a waiting task, or ask a running one to stop",
  usage: "ID",
  positionals: [1, 1],
  options: { db: DB_OPTION, url: URL_OPTION, token: TOKEN_OPTION, json: JSON_OPTION },
  details: [
    "A PENDING, SCHEDULED or RETRYING task is CANCELLED at once. A PROCESSING task's handler is " +
    "asked to stop (its signal aborts) and the task ends CANCELLED; COMPLETED, FAILED and " +
    "CANCELLED tasks cannot be cancelled (exit 1).",
    ID_DETAILS,
    REMOTE_DETAILS,
  ],
  async run({ values, positionals, out, env }) {
    const show = async (id: string, task: TaskRecord) => {
      if (values.json) await out.printJson(task);
      else if (task.status === "PROCESSING") {
        await out.print(`Cancel requested: task ${id} is running and will stop\n`);
      } else await out.print(`Cancelled task ${id}\n`);
      return EXIT_OK;
    };
    const remote = remoteFrom("cancel", values, env);
    if (remote) {
      const id = await remote.resolveId(positionals[0]!);
      return await show(id, await remote.cancel(id));
    }
    return await withStore(
      resolveDbPath(values.db, env).value,
      { missing: "refuse" },
      async (store) => {
        const dispatcher = new TaskDispatcher(store);
        const id = await resolveTaskId(dispatcher, positionals[0]!);
        return await show(id, await dispatcher.cancel(id));
      },
    );
  },
});
