/**
 * `aether-tasks retry ID` and `retry --all-failed [--name NAME] [--queue QUEUE]`: FAILED or
 * CANCELLED tasks run again with a fresh attempt budget.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import type { TaskFilter } from "../../store/store.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK, UsageError } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";
import { ID_DETAILS, resolveTaskId } from "../task_id_argument.ts";

/** The `retry` command. */
export const retryCommand = defineCommand({
  name: "retry",
  summary: "Run a FAILED or CANCELLED task again, or every FAILED task",
  usage: "[ID]",
  positionals: [0, 1],
  options: {
    "all-failed": {
      type: "boolean",
      description: "Retry every FAILED task (with --name, --queue: of that name, queue)",
    },
    name: {
      type: "string",
      value: "NAME",
      description: "With --all-failed: only tasks of this name",
    },
    queue: {
      type: "string",
      value: "QUEUE",
      description: "With --all-failed: only tasks in this queue",
    },
    db: DB_OPTION,
    json: JSON_OPTION,
  },
  details: [
    "--all-failed works in bounded batches (one transaction each), so it never holds the " +
    "database for long however many tasks failed.",
    ID_DETAILS,
  ],
  run({ values, positionals, out, env }) {
    const prefix = positionals[0];
    const allFailed = values["all-failed"] === true;
    if (allFailed === (prefix !== undefined)) {
      throw new UsageError(
        "retry: give either a task ID or --all-failed; usage: aether-tasks retry ID | retry --all-failed [--name NAME] [--queue QUEUE]",
      );
    }
    if ((values.name !== undefined || values.queue !== undefined) && !allFailed) {
      throw new UsageError("retry: --name and --queue go with --all-failed");
    }
    return withStore(resolveDbPath(values.db, env).value, { missing: "refuse" }, async (store) => {
      const dispatcher = new TaskDispatcher(store);
      if (prefix !== undefined) {
        const id = await resolveTaskId(dispatcher, prefix);
        const task = await dispatcher.retry(id);
        if (values.json) await out.printJson(task);
        else await out.print(`Task ${id} is PENDING again\n`);
        return EXIT_OK;
      }
      const filter: TaskFilter = { status: "FAILED" };
      if (values.name !== undefined) filter.name = values.name;
      if (values.queue !== undefined) filter.queue = values.queue;
      const retried = await dispatcher.bulk("retry", filter);
      if (values.json) await out.printJson({ retried });
      else await out.print(`Retried ${retried} failed task${retried === 1 ? "" : "s"}\n`);
      return EXIT_OK;
    });
  },
});
