import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  backoffDelay,
  DEFAULT_RETRY_CONFIG,
  nominalBackoff,
  resolveRetryConfig,
} from "../src/retry.ts";

describe("retry config and backoff", () => {
  it("defaults match the original module", () => {
    assert.deepEqual({ ...DEFAULT_RETRY_CONFIG }, {
      maxAttempts: 3,
      baseDelayMillis: 1000,
      backoffMultiplier: 2.0,
      maxDelayMillis: 60_000,
      useJitter: true,
    });
  });

  it("the delays for maxAttempts 5 are 1s, 2s, 4s, 8s", () => {
    const config = resolveRetryConfig({ maxAttempts: 5, useJitter: false });
    const delays = [1, 2, 3, 4].map((attempt) => backoffDelay(config, attempt));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
  });

  it("delays are capped at maxDelayMillis", () => {
    const config = resolveRetryConfig({ maxDelayMillis: 5000, useJitter: false });
    assert.deepEqual([3, 4, 10, 60].map((a) => nominalBackoff(config, a)), [
      4000,
      5000,
      5000,
      5000,
    ]);
  });

  it("jitter stays within [delay / 2, delay]", () => {
    const config = resolveRetryConfig({});
    for (const attempt of [1, 2, 3, 8]) {
      const nominal = nominalBackoff(config, attempt);
      assert.equal(backoffDelay(config, attempt, () => 0), nominal / 2);
      assert.equal(backoffDelay(config, attempt, () => 0.999999), nominal);
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(config, attempt);
        assert.ok(d >= nominal / 2 && d <= nominal, `${d} within [${nominal / 2}, ${nominal}]`);
      }
    }
  });

  it("a bad field is named with its value", () => {
    assert.throws(
      () => resolveRetryConfig({ maxAttempts: 0 }),
      /retryConfig\.maxAttempts must be an integer from 1 to 1000, got 0/,
    );
    assert.throws(
      () => resolveRetryConfig({ backoffMultiplier: 0.5 }),
      /backoffMultiplier must be a number from 1 to 100, got 0\.5/,
    );
    assert.throws(
      () => resolveRetryConfig({ useJitter: "yes" as unknown as boolean }),
      /useJitter must be a boolean/,
    );
    assert.throws(
      () => resolveRetryConfig({ maxAtempts: 2 } as never),
      /maxAtempts is not a retry option/,
    );
  });
});
