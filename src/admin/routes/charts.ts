/**
 * Admin routes behind the dashboard's charts, read from the store so a chart keeps its history
 * across a page reload and shows every worker's work:
 * - `GET /api/history?range=hour|day`: completed, failed and retried attempts per slot (1 minute
 *   over the last hour, 15 minutes over the last day), from the store's minute counters;
 * - `GET /api/wait-times`: queue wait (start − runAt) percentiles of a bounded sample of the most
 *   recently created COMPLETED tasks.
 * @module
 */

import { Hono } from "hono";
import { HISTORY_BUCKET_MILLIS, type HistoryPoint } from "../../store/store.ts";
import type { TaskRecord } from "../../task.ts";
import type { AdminContext, AdminEnv } from "../_context.ts";
import { HttpError, jsonResponse } from "../_http.ts";

/** The ranges of `GET /api/history`: their length and slot. */
export const HISTORY_RANGES = {
  hour: { millis: 60 * 60_000, slotMillis: 60_000 },
  day: { millis: 24 * 60 * 60_000, slotMillis: 15 * 60_000 },
} as const;
/** Completed tasks `GET /api/wait-times` samples (the most recently created ones). */
export const WAIT_TIME_SAMPLE_SIZE = 500;

/** Attempts per slot over a range, oldest first; `at[i]` is the start of slot `i`. */
export interface ThroughputSeries {
  range: keyof typeof HISTORY_RANGES;
  since: number;
  until: number;
  slotMillis: number;
  at: number[];
  completed: number[];
  failed: number[];
  retried: number[];
}

/** Queue wait percentiles of a sample, in ms (null when the sample is empty). */
export interface WaitTimes {
  sample: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** The routes above. */
export function chartRoutes(ctx: AdminContext): Hono<AdminEnv> {
  const { store, dispatcher, clock } = ctx;
  const app = new Hono<AdminEnv>();
  app.get("/api/history", async (c) => {
    const params = new URL(c.req.url).searchParams;
    for (const key of params.keys()) {
      if (key !== "range") {
        throw new HttpError(400, `Unknown query parameter "${key}"; expected range`);
      }
    }
    const range = params.get("range") ?? "hour";
    if (range !== "hour" && range !== "day") {
      throw new HttpError(400, `range must be hour or day, got ${JSON.stringify(range)}`);
    }
    const now = clock.now();
    const { millis, slotMillis } = HISTORY_RANGES[range];
    const until = now - (now % slotMillis) + slotMillis;
    const since = until - millis;
    const points = await store.history(since, now + 1);
    return jsonResponse(throughputSeries(range, points, since, until, slotMillis));
  });
  app.get("/api/wait-times", async (c) => {
    for (const key of new URL(c.req.url).searchParams.keys()) {
      throw new HttpError(400, `Unknown query parameter "${key}"; /api/wait-times takes none`);
    }
    const page = await dispatcher.list({ status: "COMPLETED", limit: WAIT_TIME_SAMPLE_SIZE });
    return jsonResponse(waitTimes(page.tasks));
  });
  return app;
}

/** Sums minute counters into slots of `slotMillis` from `since` to `until`. */
export function throughputSeries(
  range: keyof typeof HISTORY_RANGES,
  points: readonly HistoryPoint[],
  since: number,
  until: number,
  slotMillis: number,
): ThroughputSeries {
  if (slotMillis % HISTORY_BUCKET_MILLIS !== 0) {
    throw new RangeError(
      `slotMillis must be a multiple of ${HISTORY_BUCKET_MILLIS}, got ${slotMillis}`,
    );
  }
  const slots = Math.ceil((until - since) / slotMillis);
  const series: ThroughputSeries = {
    range,
    since,
    until,
    slotMillis,
    at: Array.from({ length: slots }, (_, i) => since + i * slotMillis),
    completed: new Array<number>(slots).fill(0),
    failed: new Array<number>(slots).fill(0),
    retried: new Array<number>(slots).fill(0),
  };
  for (const point of points) {
    const i = Math.floor((point.at - since) / slotMillis);
    if (i < 0 || i >= slots) continue;
    series.completed[i]! += point.completed;
    series.failed[i]! += point.failed;
    series.retried[i]! += point.retried;
  }
  return series;
}

/** Queue wait (`startedAt − runAt`, at least 0) percentiles of the tasks that started. */
export function waitTimes(tasks: readonly TaskRecord[]): WaitTimes {
  const waits = tasks.filter((t) => t.startedAt !== null)
    .map((t) => Math.max(0, t.startedAt! - t.runAt))
    .sort((a, b) => a - b);
  // Nearest rank: the smallest wait that at least q of the sample do not exceed.
  const at = (q: number) =>
    waits.length ? waits[Math.max(0, Math.ceil(q * waits.length) - 1)]! : null;
  return { sample: waits.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}
