/** `stats --watch` rates from the store's minute counters, with a hand-fed history. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatOutcomeRates, OutcomeRateMeter } from "../src/cli/outcome_rates.ts";
import { HISTORY_BUCKET_MILLIS, type HistoryPoint } from "../src/store/store.ts";

const T0 = 1_700_000_040_000 - (1_700_000_040_000 % HISTORY_BUCKET_MILLIS);

/** A history function over a mutable list of buckets; records the ranges asked for. */
function fakeHistory(points: HistoryPoint[]) {
  const asked: [number, number][] = [];
  const history = (since: number, until: number) => {
    asked.push([since, until]);
    return Promise.resolve(
      points.filter((p) => p.at >= since && p.at <= until).map((p) => ({ ...p })),
    );
  };
  return { history, asked };
}

describe("OutcomeRateMeter", () => {
  it("has no rate on the first reading, then counts per second since the previous one", async () => {
    const points: HistoryPoint[] = [{ at: T0, completed: 10, failed: 1, retried: 0 }];
    const { history } = fakeHistory(points);
    const meter = new OutcomeRateMeter(history);
    assert.equal(await meter.read(T0 + 1_000), null);
    points[0]!.completed = 30;
    points[0]!.failed = 2;
    assert.deepEqual(await meter.read(T0 + 3_000), {
      completed: 10,
      failed: 0.5,
      overMillis: 2_000,
    });
  });

  it("adds up a reading that spans a new minute bucket", async () => {
    const points: HistoryPoint[] = [{ at: T0, completed: 5, failed: 0, retried: 0 }];
    const { history, asked } = fakeHistory(points);
    const meter = new OutcomeRateMeter(history);
    await meter.read(T0 + 59_000);
    points[0]!.completed = 8;
    points.push({ at: T0 + HISTORY_BUCKET_MILLIS, completed: 7, failed: 4, retried: 1 });
    const rates = await meter.read(T0 + 61_000);
    assert.deepEqual(rates, { completed: 5, failed: 2, overMillis: 2_000 });
    assert.deepEqual(asked[1], [T0, T0 + 61_001], "only the buckets since the previous reading");
  });

  it("formats rates, and dashes before there is one", () => {
    assert.equal(formatOutcomeRates(null), "rates  completed -  failed -");
    assert.equal(
      formatOutcomeRates({ completed: 1234.4, failed: 0.25, overMillis: 1000 }),
      "rates  completed 1234/s  failed 0.3/s",
    );
  });
});
