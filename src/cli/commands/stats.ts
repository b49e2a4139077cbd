/**
 * `aether-tasks stats [--watch]`: how many tasks are in each status, per queue; with `--watch`,
 * also completed and failed tasks per second.
 * @module
 */

import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { TaskDispatcher } from "../../dispatcher.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { formatStatsTable, formatTime } from "../format_task.ts";
import {
  DB_OPTION,
  LOCK_TIMEOUT_OPTION,
  resolveDbPath,
  resolveLockTimeout,
  withStore,
} from "../open_store.ts";
import { formatOutcomeRates, OutcomeRateMeter } from "../outcome_rates.ts";
import { positiveDuration } from "../settings.ts";
import type { TaskStats } from "../../store/store.ts";
import { REMOTE_DETAILS, remoteFrom, TOKEN_OPTION, URL_OPTION } from "../remote.ts";

/** The most names `stats` lists as unrunnable. */
export const MAX_UNRUNNABLE_SHOWN = 20;

/** The unrunnable names as lines under the table, or nothing when there are none. */
function formatUnrunnable(list: readonly { name: string; waiting: number }[]): string {
  if (list.length === 0) return "";
  const width = Math.max(...list.map((u) => u.name.length));
  return `\nWaiting, but no live worker defines them:\n${
    list.map((u) => `  ${u.name.padEnd(width)}  ${u.waiting}\n`).join("")
  }`;
}

/** How often `stats --watch` refreshes when `--interval` is not given. */
export const DEFAULT_WATCH_INTERVAL = "1s";

/** The `stats` command. */
export const statsCommand = defineCommand({
  name: "stats",
  summary: "Count tasks per status, overall and per queue",
  usage: "",
  positionals: [0, 0],
  options: {
    watch: { type: "boolean", description: "Refresh until interrupted (Ctrl-C)" },
    interval: {
      type: "string",
      value: "DURATION",
      description: "With --watch: time between refreshes",
      default: DEFAULT_WATCH_INTERVAL,
    },
    db: DB_OPTION,
    "lock-timeout": LOCK_TIMEOUT_OPTION,
    url: URL_OPTION,
    token: TOKEN_OPTION,
    json: JSON_OPTION,
  },
  details: [
    "With --watch, each refresh also shows the tasks completed and failed per second since the " +
    "previous one (by every worker on the database). With --watch and --json, prints one JSON " +
    'line per refresh, with "rates": {"completed", "failed", "overMillis"} (null on the first).',
    REMOTE_DETAILS,
    "Unrunnable: waiting tasks whose name no live worker defines (from the task types workers " +
    "publish in the worker registry), per name, most first (at most " +
    `${MAX_UNRUNNABLE_SHOWN} names); in --json as "unrunnable": [{"name", "waiting"}]. Empty while ` +
    "a worker that claims every name (a custom executor) is live.",
  ],
  async run({ values, out, env }) {
    const interval = positiveDuration(values.interval ?? DEFAULT_WATCH_INTERVAL, "--interval");
    const remote = remoteFrom("stats", values, env);
    if (remote) {
      return await showStats(() => remote.stats(), new OutcomeRateMeter(() => remote.history()));
    }
    return await withStore(resolveDbPath(values.db, env).value, {
      missing: "refuse",
      readOnly: true,
      lockTimeoutMillis: resolveLockTimeout(values["lock-timeout"], env).value,
    }, async (store) => {
      const dispatcher = new TaskDispatcher(store);
      const meter = new OutcomeRateMeter((since, until) => store.history(since, until));
      return await showStats(async () => ({
        ...await dispatcher.stats(),
        unrunnable: await dispatcher.unrunnable(MAX_UNRUNNABLE_SHOWN),
      }), meter);
    });

    /** Prints the stats once, or with --watch until a signal. */
    async function showStats(
      read: () => Promise<
        TaskStats & { unrunnable?: readonly { name: string; waiting: number }[] }
      >,
      meter: OutcomeRateMeter,
    ): Promise<number> {
      const show = async () => {
        const stats = await read();
        const now = Date.now();
        const rates = values.watch ? await meter.read(now) : null;
        if (values.json && values.watch) {
          await out.print(`${JSON.stringify({ time: now, ...stats, rates })}\n`);
        } else if (values.json) {
          await out.printJson(stats);
        } else if (values.watch && out.stdoutIsTTY) {
          // Home the cursor and clear the screen, then redraw.
          await out.print(
            `\x1b[H\x1b[2J${formatStatsTable(out.palette, stats)}${
              formatUnrunnable(stats.unrunnable ?? [])
            }${formatOutcomeRates(rates)}\n\n${
              out.palette.dim(`${formatTime(now)}  Ctrl-C to stop`)
            }\n`,
          );
        } else if (values.watch) {
          await out.print(
            `${formatTime(now)}\n${formatStatsTable(out.palette, stats)}${
              formatUnrunnable(stats.unrunnable ?? [])
            }${formatOutcomeRates(rates)}\n`,
          );
        } else {
          await out.print(
            `${formatStatsTable(out.palette, stats)}${formatUnrunnable(stats.unrunnable ?? [])}`,
          );
        }
      };
      if (!values.watch) {
        await show();
        return EXIT_OK;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        while (!stop.signal.aborted) {
          await show();
          await sleep(interval, undefined, { signal: stop.signal }).catch(() => {});
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      return EXIT_OK;
    }
  },
});
