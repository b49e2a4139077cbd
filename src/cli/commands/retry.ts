/**
 * `aether-tasks retry ID` and `retry --all-failed [--name NAME]`: FAILED or CANCELLED tasks run
 * again with a fresh attempt budget.
 * @module
 */

import { MAX_LIST_LIMIT, TaskDispatcher } from "../../dispatcher.ts";
import { IllegalTransitionError, TaskNotFoundError } from "../../errors.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK, UsageError } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";

/** The `retry` command. */
export const retryCommand = defineCommand({
  name: "retry",
  summary: "Run a FAILED or CANCELLED task again, or every FAILED task",
  usage: "[ID]",
  positionals: [0, 1],
  options: {
    "all-failed": {
      type: "boolean",
      description: "Retry every FAILED task (with --name: of that name)",
    },
    name: {
      type: "string",
      value: "NAME",
      description: "With --all-failed: only tasks of this name",
    },
    db: DB_OPTION,
    json: JSON_OPTION,
  },
  run({ values, positionals, out, env }) {
    const id = positionals[0];
    const allFailed = values["all-failed"] === true;
    if (allFailed === (id !== undefined)) {
      throw new UsageError(
        "retry: give either a task ID or --all-failed; usage: aether-tasks retry ID | retry --all-failed [--name NAME]",
      );
    }
    if (values.name !== undefined && !allFailed) {
      throw new UsageError("retry: --name goes with --all-failed");
    }
    return withStore(resolveDbPath(values.db, env).value, { missing: "refuse" }, async (store) => {
      const dispatcher = new TaskDispatcher(store);
      if (id !== undefined) {
        const task = await dispatcher.retry(id);
        if (values.json) await out.printJson(task);
        else await out.print(`Task ${id} is PENDING again\n`);
        return EXIT_OK;
      }
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await dispatcher.listByStatus("FAILED", {
          limit: MAX_LIST_LIMIT,
          ...(cursor !== null ? { cursor } : {}),
          ...(values.name !== undefined ? { name: values.name } : {}),
        });
        for (const task of page.tasks) {
          try {
            ids.push((await dispatcher.retry(task.id)).id);
          } catch (error) {
            // Retried or pruned by someone else since the page was read.
            if (!(error instanceof IllegalTransitionError || error instanceof TaskNotFoundError)) {
              throw error;
            }
          }
        }
        cursor = page.nextCursor;
      } while (cursor !== null);
      if (values.json) await out.printJson({ retried: ids.length, ids });
      else await out.print(`Retried ${ids.length} failed task${ids.length === 1 ? "" : "s"}\n`);
      return EXIT_OK;
    });
  },
});
