/**
 * `aether-tasks cancel ID`: cancels a waiting task, or asks a running one to stop.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";

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
  ],
  run({ values, positionals, out, env }) {
    const id = positionals[0]!;
    return withStore(resolveDbPath(values.db, env).value, { missing: "refuse" }, async (store) => {
      const task = await new TaskDispatcher(store).cancel(id);
      if (values.json) await out.printJson(task);
      else if (task.status === "PROCESSING") {
        await out.print(`Cancel requested: task ${id} is running and will stop\n`);
      } else await out.print(`Cancelled task ${id}\n`);
      return EXIT_OK;
    });
  },
});
