/**
 * `aether-tasks workers`: the worker processes registered in the database, with their last
 * heartbeat.
 * @module
 */

import { formatDuration } from "../../duration.ts";
import type { WorkerInfo } from "../../store/store.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { formatTime } from "../format_task.ts";
import {
  DB_OPTION,
  LOCK_TIMEOUT_OPTION,
  resolveDbPath,
  resolveLockTimeout,
  withStore,
} from "../open_store.ts";
import { formatTable, type Palette } from "../output.ts";

/** The `workers` command. */
export const workersCommand = defineCommand({
  name: "workers",
  summary: "List the registered worker processes and their last heartbeat",
  usage: "",
  positionals: [0, 0],
  options: { db: DB_OPTION, "lock-timeout": LOCK_TIMEOUT_OPTION, json: JSON_OPTION },
  details: [
    "A worker registers when it starts, beats every --heartbeat-interval and leaves on a clean " +
    "stop. A worker silent longer than its --heartbeat-timeout, or whose process on this host " +
    "died, is removed by the next live worker, which runs its tasks again.",
  ],
  run({ values, out, env }) {
    return withStore(resolveDbPath(values.db, env).value, {
      missing: "refuse",
      readOnly: true,
      lockTimeoutMillis: resolveLockTimeout(values["lock-timeout"], env).value,
    }, async (store) => {
      const workers = await store.listWorkers();
      if (values.json) await out.printJson({ workers });
      else {
        await out.print(
          workers.length ? formatWorkerTable(out.palette, workers, Date.now()) : "No workers\n",
        );
      }
      return EXIT_OK;
    });
  },
});

/** The table `workers` prints, with the age of each last beat as of `now`. */
export function formatWorkerTable(
  palette: Palette,
  workers: readonly WorkerInfo[],
  now: number,
): string {
  return formatTable(
    palette,
    ["ID", "HOST", "PID", "QUEUES", "CONCURRENCY", "RUNNING", "STARTED", "LAST BEAT"],
    workers.map((w) => {
      const running = typeof w.meta === "object" && w.meta !== null && !Array.isArray(w.meta)
        ? w.meta.running
        : undefined;
      return [
        w.id,
        w.host,
        String(w.pid),
        w.queues.join(","),
        String(w.concurrency),
        typeof running === "number" ? String(running) : "-",
        formatTime(w.startedAt),
        `${formatDuration(Math.max(0, now - w.lastBeatAt))} ago`,
      ];
    }),
    ["left", "left", "right", "left", "right", "right"],
  );
}
