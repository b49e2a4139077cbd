/**
 * `aether-tasks prune --older-than 7d`: deletes finished tasks.
 * @module
 */

import { FINAL_STATUSES, type TaskStatus } from "../../task.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { formatDuration } from "../../duration.ts";
import { EXIT_OK, UsageError } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";
import { duration, nameList, oneOf } from "../settings.ts";
import { untilDone } from "../../store/store.ts";

const PRUNABLE = [...FINAL_STATUSES] as TaskStatus[];
/** Rows one prune transaction deletes. */
const PRUNE_BATCH = 1000;

/** The `prune` command. */
export const pruneCommand = defineCommand({
  name: "prune",
  summary: "Delete finished tasks older than a duration",
  usage: "",
  positionals: [0, 0],
  options: {
    "older-than": {
      type: "string",
      value: "DURATION",
      description: "Delete tasks that finished longer ago than this, e.g. 7d (required)",
    },
    status: {
      type: "string",
      value: "LIST",
      description: "Statuses to delete, comma-separated",
      default: PRUNABLE.join(",").toLowerCase(),
    },
    db: DB_OPTION,
    json: JSON_OPTION,
  },
  run({ values, out, env }) {
    if (values["older-than"] === undefined) {
      throw new UsageError("prune: --older-than is required, e.g. --older-than 7d");
    }
    const age = duration(values["older-than"], "--older-than");
    const parseStatus = oneOf(PRUNABLE);
    const statuses = values.status === undefined
      ? PRUNABLE
      : nameList(values.status, "--status").map((s) => parseStatus(s, "--status"));
    const before = Date.now() - age;
    return withStore(resolveDbPath(values.db, env).value, { missing: "refuse" }, async (store) => {
      // Bounded batches, so claims of running workers get the lock between them.
      const deleted = await untilDone(
        PRUNE_BATCH,
        () => store.prune({ before, statuses, limit: PRUNE_BATCH }),
      );
      if (values.json) await out.printJson({ deleted, before, statuses });
      else {
        await out.print(
          `Deleted ${deleted} ${statuses.join("/")} task${
            deleted === 1 ? "" : "s"
          } finished more than ${formatDuration(age)} ago\n`,
        );
      }
      return EXIT_OK;
    });
  },
});
