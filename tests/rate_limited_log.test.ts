import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RateLimitedLog } from "../src/rate_limited_log.ts";
import { FakeClock } from "./_helpers.ts";

function setup(options: { maxMessages?: number } = {}) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const log = new RateLimitedLog({
    write: (line) => lines.push(line),
    windowMillis: 10_000,
    now: () => clock.now(),
    ...options,
  });
  return { clock, lines, log };
}

describe("RateLimitedLog", () => {
  it("writes the first occurrence at once and counts the repeats of its window", () => {
    const { clock, lines, log } = setup();
    log.report("database is locked");
    for (let i = 0; i < 250; i++) {
      clock.advance(10);
      log.report("database is locked");
    }
    assert.deepEqual(lines, ["database is locked"]);
    clock.advance(10_000);
    log.report("database is locked");
    assert.deepEqual(lines, [
      "database is locked",
      "database is locked (repeated 251 times in the last 12.5s)",
    ]);
  });

  it("an occurrence after a quiet window is written as it is", () => {
    const { clock, lines, log } = setup();
    log.report("a");
    clock.advance(10_000);
    log.report("a");
    assert.deepEqual(lines, ["a", "a"]);
  });

  it("keeps a count per distinct message", () => {
    const { lines, log } = setup();
    log.report("a");
    log.report("b");
    log.report("a");
    log.report("a");
    log.report("b");
    assert.deepEqual(lines, ["a", "b"]);
    log.flush();
    assert.deepEqual(lines, [
      "a",
      "b",
      "a (repeated 2 times in the last 0ms)",
      "b (repeated 1 time in the last 0ms)",
    ]);
  });

  it("flushExpired writes only the counts whose window ended; flush writes the rest", () => {
    const { clock, lines, log } = setup();
    log.report("old");
    log.report("old");
    clock.advance(6_000);
    log.report("new");
    log.report("new");
    clock.advance(4_000);
    log.flushExpired();
    assert.deepEqual(lines, ["old", "new", "old (repeated 1 time in the last 10s)"]);
    log.flush();
    assert.deepEqual(lines.at(-1), "new (repeated 1 time in the last 4s)");
    log.flush();
    assert.equal(lines.length, 4);
  });

  it("tracks at most maxMessages messages, summing up the oldest it drops", () => {
    const { lines, log } = setup({ maxMessages: 2 });
    log.report("a");
    log.report("a");
    log.report("b");
    log.report("c");
    assert.deepEqual(lines, ["a", "b", "c", "a (repeated 1 time in the last 0ms)"]);
  });

  it("bad options are refused with their name and value", () => {
    const write = () => {};
    assert.throws(() => new RateLimitedLog({ write, windowMillis: 0 }), /windowMillis .* 0/);
    assert.throws(() => new RateLimitedLog({ write, maxMessages: 1.5 }), /maxMessages .*1.5/);
    assert.throws(
      () => new RateLimitedLog({} as unknown as { write: () => void }),
      /write must be a function/,
    );
  });
});
