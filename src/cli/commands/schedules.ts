/**
 * `aether-tasks schedules`: lists the cron schedules with their last and next runs; with
 * `--next N EXPR` prints the next N fire times of an expression, with no database.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import { nextFireTimes } from "../../schedule.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK, oneLine, UsageError } from "../exit.ts";
import { formatTime } from "../format_task.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";

/** The most fire times `--next` prints. */
const MAX_NEXT = 1000;

/** The `schedules` command. */
export const schedulesCommand = defineCommand({
  name: "schedules",
  summary: "List cron schedules with their next runs, or preview an expression's fire times",
  usage: "[--next N CRON [--timezone ZONE]]",
  positionals: [0, 1],
  options: {
    next: {
      type: "string",
      value: "N",
      description: "Print the next N fire times of CRON (no database needed)",
    },
    timezone: {
      type: "string",
      value: "ZONE",
      description: "With --next: the IANA time zone of CRON, e.g. Europe/Berlin",
      default: "UTC",
    },
    db: DB_OPTION,
    json: JSON_OPTION,
  },
  details: ['Example: aether-tasks schedules --next 5 "0 3 * * *" --timezone Europe/Berlin'],
  async run({ positionals, values, out, env }) {
    const [cron] = positionals;
    if (values.next !== undefined || cron !== undefined) {
      const count = Number(values.next);
      if (
        values.next === undefined || !/^\d+$/.test(values.next) || count < 1 || count > MAX_NEXT
      ) {
        throw new UsageError(
          `--next must be an integer from 1 to ${MAX_NEXT} followed by a cron expression, got ${
            JSON.stringify(values.next ?? null)
          }`,
        );
      }
      if (cron === undefined) {
        throw new UsageError('--next needs a cron expression, e.g. "0 3 * * *"');
      }
      const zone = values.timezone === undefined || values.timezone === "UTC"
        ? null
        : values.timezone;
      let times: number[];
      try {
        times = nextFireTimes(cron, zone, Date.now(), count);
      } catch (error) {
        throw new UsageError(oneLine(error).replace(/^cron timezone/, "--timezone"));
      }
      if (values.json) await out.printJson(times.map((t) => new Date(t).toISOString()));
      else await out.print(times.map((t) => `${new Date(t).toISOString()}\n`).join(""));
      return EXIT_OK;
    }
    return await withStore(
      resolveDbPath(values.db, env).value,
      { missing: "refuse" },
      async (store) => {
        const schedules = await new TaskDispatcher(store).listSchedules();
        if (values.json) {
          await out.printJson(schedules);
          return EXIT_OK;
        }
        if (schedules.length === 0) {
          await out.print("No schedules\n");
          return EXIT_OK;
        }
        const rows = schedules.map((s) => [
          s.id,
          s.task,
          s.cron + (s.timezone ? ` (${s.timezone})` : ""),
          s.retired ? "retired" : s.source,
          s.lastSlotAt === null ? "-" : formatTime(s.lastSlotAt),
          s.nextRunAt === null ? "-" : formatTime(s.nextRunAt),
        ]);
        const header = ["ID", "TASK", "CRON", "SOURCE", "LAST", "NEXT"];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        await out.print(
          [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd())
            .join("\n") + "\n",
        );
        return EXIT_OK;
      },
    );
  },
});
