/**
 * `aether-tasks cancel ID`: cancels a waiting task, or asks a running one to stop.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";
import { ID_DETAILS, resolveTaskId } from "../task_id_argument.ts";

/** The `cancel` command. */
export const cancelCommand = defineCommand({
  name: "cancel",
  summary: "Cancel a waiting task, or ask a running one to stop",
  usage: "ID",
  positionals: [1, 1],
  options: { db: DB_OPTION, json: JSON_OPTION },
  details: [
    "A PENDING, SCHEDULED or RETRYING task is CANCELLED at once. A PROCESSING task's handler is " +
    "asked to stop (its signal aborts) and the task ends CANCELLED; COMPLETED, FAILED and " +
    "CANCELLED tasks cannot be cancelled (exit 1).",
    ID_DETAILS,
  ],
  run({ values, positionals, out, env }) {
    return withStore(resolveDbPath(values.db, env).value, { missing: "refuse" }, async (store) => {
      const dispatcher = new TaskDispatcher(store);
      const id = await resolveTaskId(dispatcher, positionals[0]!);
      const task = await dispatcher.cancel(id);
      if (values.json) await out.printJson(task);
      else if (task.status === "PROCESSING") {
        await out.print(`Cancel requested: task ${id} is running and will stop\n`);
      } else await out.print(`Cancelled task ${id}\n`);
      return EXIT_OK;
    });
  },
});
