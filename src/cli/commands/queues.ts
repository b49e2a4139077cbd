/**
 * `aether-tasks queues list|pause|resume|limit`: the stored state of queues, which every worker
 * process sharing the database honours at its next claim.
 * @module
 */

import { TaskDispatcher } from "../../dispatcher.ts";
import type { FlowLimitOptions } from "../../flow_limits.ts";
import { formatDuration } from "../../duration.ts";
import type { FlowLimit, QueueState } from "../../store/store.ts";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK, oneLine, UsageError } from "../exit.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";

const ACTIONS = ["list", "pause", "resume", "limit"] as const;

/** The `queues` command. */
export const queuesCommand = defineCommand({
  name: "queues",
  summary: "List queues, pause or resume one, or set its rate and concurrency limits",
  usage:
    "list | pause QUEUE | resume QUEUE | limit QUEUE [--rate-limit N/DURATION] [--max-running N]",
  positionals: [1, 2],
  options: {
    "rate-limit": {
      type: "string",
      value: "N/DURATION",
      description: "With limit: at most N starts per DURATION across every worker, e.g. 10/1s",
    },
    "max-running": {
      type: "string",
      value: "N",
      description: "With limit: at most N running at once across every worker",
    },
    db: DB_OPTION,
    json: JSON_OPTION,
  },
  details: [
    "A paused queue still accepts enqueues; running tasks finish. `limit QUEUE` with neither",
    "flag removes the queue's limits.",
  ],
  run({ positionals, values, out, env }) {
    const [action, queue] = positionals as [string, string | undefined];
    if (!ACTIONS.includes(action as typeof ACTIONS[number])) {
      throw new UsageError(
        `queues: the action must be one of ${ACTIONS.join(", ")}, got ${JSON.stringify(action)}`,
      );
    }
    if (action === "list" ? queue !== undefined : queue === undefined) {
      throw new UsageError(
        action === "list" ? "queues list takes no queue" : `queues ${action} needs a QUEUE`,
      );
    }
    if (
      action !== "limit" &&
      (values["rate-limit"] !== undefined || values["max-running"] !== undefined)
    ) {
      throw new UsageError("--rate-limit and --max-running go with `queues limit QUEUE`");
    }
    let limits: FlowLimitOptions = {};
    if (action === "limit") {
      const maxRunning = values["max-running"];
      if (maxRunning !== undefined && !/^\d+$/.test(maxRunning)) {
        throw new UsageError(
          `--max-running must be an integer >= 0, got ${JSON.stringify(maxRunning)}`,
        );
      }
      limits = {
        ...(values["rate-limit"] === undefined ? {} : { rateLimit: values["rate-limit"] }),
        ...(maxRunning === undefined ? {} : { maxRunning: Number(maxRunning) }),
      };
    }
    return withStore(resolveDbPath(values.db, env).value, { missing: "refuse" }, async (store) => {
      const dispatcher = new TaskDispatcher(store);
      const usage = async <T>(run: () => Promise<T>) => {
        try {
          return await run();
        } catch (error) {
          if (error instanceof TypeError || error instanceof RangeError) {
            throw new UsageError(
              oneLine(error).replace(/^limits\.rateLimit/, "--rate-limit")
                .replace(/^limits\.maxRunning/, "--max-running"),
            );
          }
          throw error;
        }
      };
      if (action === "list") {
        const [queues, stored] = await Promise.all([
          dispatcher.listQueues(),
          dispatcher.listLimits(),
        ]);
        const byQueue = new Map(stored.filter((l) => l.scope === "queue").map((l) => [l.name, l]));
        if (values.json) {
          await out.printJson(queues.map((q) => ({ ...q, limits: byQueue.get(q.name) ?? null })));
        } else await out.print(formatQueues(queues, byQueue));
        return EXIT_OK;
      }
      if (action === "limit") {
        const limit = await usage(() => dispatcher.setQueueLimits(queue!, limits));
        if (values.json) await out.printJson(limit);
        else await out.print(`Queue ${queue}: ${describeLimits(limit)}\n`);
        return EXIT_OK;
      }
      const state = await usage(() =>
        action === "pause" ? dispatcher.pauseQueue(queue!) : dispatcher.resumeQueue(queue!)
      );
      if (values.json) await out.printJson(state);
      else await out.print(`Queue ${state.name} ${state.paused ? "paused" : "resumed"}\n`);
      return EXIT_OK;
    });
  },
});

function describeLimits(limit: Pick<FlowLimit, "rateLimit" | "maxRunning">): string {
  const parts = [
    limit.rateLimit && `${limit.rateLimit.limit}/${formatDuration(limit.rateLimit.perMillis)}`,
    limit.maxRunning !== null && `max ${limit.maxRunning} running`,
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : "no limits";
}

function formatQueues(queues: readonly QueueState[], limits: Map<string, FlowLimit>): string {
  if (queues.length === 0) return "No queues\n";
  const rows = queues.map((q) => [
    q.name,
    q.paused ? "paused" : "active",
    limits.has(q.name) ? describeLimits(limits.get(q.name)!) : "-",
  ]);
  const header = ["QUEUE", "STATE", "LIMITS"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n") + "\n";
}
