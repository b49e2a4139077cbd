/**
 * Completed and failed tasks per second between two readings of the store's history counters,
 * for `stats --watch`.
 * @module
 */

import { HISTORY_BUCKET_MILLIS, type HistoryPoint } from "../store/store.ts";

/** Tasks per second over the time since the previous reading. */
export interface OutcomeRates {
  completed: number;
  failed: number;
  /** The time the rates are measured over, in ms. */
  overMillis: number;
}

/**
 * Measures outcome rates from the store's minute counters (`history`), which count every
 * process's outcomes and are not lowered by deletes or prunes. Each reading fetches only the
 * buckets since the previous one and compares them with what it saw then.
 *
 * @example
 * ```ts
 * const meter = new OutcomeRateMeter((since, until) => store.history(since, until));
 * await meter.read(Date.now()); // null: nothing to compare with yet
 * await meter.read(Date.now()); // { completed: 120.5, failed: 0, overMillis: 1000 }
 * ```
 */
export class OutcomeRateMeter {
  readonly #history: (since: number, until: number) => Promise<HistoryPoint[]>;
  #last: { at: number; buckets: Map<number, HistoryPoint> } | null = null;

  constructor(history: (since: number, until: number) => Promise<HistoryPoint[]>) {
    this.#history = history;
  }

  /** Reads the counters at `now`; returns the rates since the previous reading, or null for the first. */
  async read(now: number): Promise<OutcomeRates | null> {
    const since = this.#last === null
      ? now - (now % HISTORY_BUCKET_MILLIS)
      : this.#last.at - (this.#last.at % HISTORY_BUCKET_MILLIS);
    const points = await this.#history(since, now + 1);
    const buckets = new Map(points.map((p) => [p.at, p]));
    const last = this.#last;
    this.#last = { at: now, buckets };
    if (last === null || now <= last.at) return null;
    let completed = 0;
    let failed = 0;
    for (const point of points) {
      const before = last.buckets.get(point.at);
      completed += point.completed - (before?.completed ?? 0);
      failed += point.failed - (before?.failed ?? 0);
    }
    const seconds = (now - last.at) / 1000;
    return {
      completed: Math.max(0, completed) / seconds,
      failed: Math.max(0, failed) / seconds,
      overMillis: now - last.at,
    };
  }
}

/** `completed 120.5/s  failed 0.0/s`, or dashes before the second reading. */
export function formatOutcomeRates(rates: OutcomeRates | null): string {
  const rate = (n: number | undefined) => (n === undefined ? "-" : `${formatRate(n)}/s`);
  return `rates  completed ${rate(rates?.completed)}  failed ${rate(rates?.failed)}`;
}

function formatRate(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}
