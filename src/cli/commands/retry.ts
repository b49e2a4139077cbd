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
import type { TaskRecord } from "../../task.ts";
import { ID_DETAILS, resolveTaskId } from "../task_id_argument.ts";
import { REMOTE_DETAILS, remoteFrom, TOKEN_OPTION, URL_OPTION } from "../remote.ts";

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
    url: URL_OPTION,
    token: TOKEN_OPTION,
    json: JSON_OPTION,
  },
  details: [
    "--all-failed works in bounded batches (one transaction each), so it never holds the " +
    "database for long however many tasks failed.",
    ID_DETAILS,
    REMOTE_DETAILS,
  ],
  async run({ values, positionals, out, env }) {
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
    const filter: TaskFilter = { status: "FAILED" };
    if (values.name !== undefined) filter.name = values.name;
    if (values.queue !== undefined) filter.queue = values.queue;
    const showOne = async (id: string, task: TaskRecord) => {
      if (values.json) await out.printJson(task);
      else await out.print(`Task ${id} is PENDING again\n`);
      return EXIT_OK;
    };
    const showAll = async (retried: number) => {
      if (values.json) await out.printJson({ retried });
      else await out.print(`Retried ${retried} failed task${retried === 1 ? "" : "s"}\n`);
      return EXIT_OK;
    };
    const remote = remoteFrom("retry", values, env);
    if (remote) {
      if (prefix === undefined) return await showAll(await remote.bulk("retry", filter));
      const id = await remote.resolveId(prefix);
      return await showOne(id, await remote.retry(id));
    }
    return await withStore(
      resolveDbPath(values.db, env).value,
      { missing: "refuse" },
      async (store) => {
        const dispatcher = new TaskDispatcher(store);
        if (prefix === undefined) return await showAll(await dispatcher.bulk("retry", filter));
        const id = await resolveTaskId(dispatcher, prefix);
        return await showOne(id, await dispatcher.retry(id));
      },
    );
  },
});
