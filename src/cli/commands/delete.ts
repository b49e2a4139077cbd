/**
 * `aether-tasks delete ID`: removes a finished task (COMPLETED, FAILED or CANCELLED).
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";
import { ID_DETAILS, resolveTaskId } from "../task_id_argument.ts";

/** The `delete` command. */
export const deleteCommand = defineCommand({
  name: "delete",
  summary: "Delete a finished task (COMPLETED, FAILED or CANCELLED)",
  usage: "ID",
  positionals: [1, 1],
  options: { db: DB_OPTION, json: JSON_OPTION },
  details: [
    "Only a finished task can be deleted; cancel a waiting or running one first (deleting it " +
    "exits 1 and changes nothing). To delete many, use prune.",
    ID_DETAILS,
  ],
  run({ values, positionals, out, env }) {
    return withStore(resolveDbPath(values.db, env).value, { missing: "refuse" }, async (store) => {
      const dispatcher = new TaskDispatcher(store);
      const id = await resolveTaskId(dispatcher, positionals[0]!);
      await dispatcher.delete(id);
      if (values.json) await out.printJson({ deleted: id });
      else await out.print(`Deleted task ${id}\n`);
      return EXIT_OK;
    });
  },
});
