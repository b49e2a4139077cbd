import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as v from "valibot";
import { runAttempt } from "../src/attempt.ts";
import { CrashLedger } from "../src/pool/crash_ledger.ts";
import { Outbox } from "../src/pool/outbox.ts";
import { TaskRegistry } from "../src/registry.ts";

const wire = { name: "Error", message: "boom", stack: "Error: boom\n    at x" };

describe("CrashLedger (the pool's crash rules)", () => {
  it("blames the named attempt, else the only one running, else nobody", () => {
    const ledger = new CrashLedger(3);
    assert.equal(ledger.culprit("b", ["a", "b"]), "b");
    assert.equal(ledger.culprit(undefined, ["a"]), "a");
    assert.equal(ledger.culprit(undefined, ["a", "b"]), undefined);
  });

  it("quarantines a task on its poisonThreshold-th crash, with the last crash in the message", () => {
    const ledger = new CrashLedger(3);
    assert.equal(ledger.blame("t", "exit", wire).quarantined, false);
    assert.equal(ledger.blame("t", "died", wire).quarantined, false);
    const third = ledger.blame("t", "uncaught", wire);
    assert.equal(third.quarantined, true);
    assert.match(
      third.error.message,
      /^Quarantined as poison: this task crashed its Worker 3 times/,
    );
    assert.match(third.error.message, /uncaught error .*boom/);
    assert.match(third.error.stack!, /caused by: Error: boom/);
  });

  it("a completed attempt clears the count; a failed one keeps it", () => {
    const ledger = new CrashLedger(2);
    ledger.blame("t", "exit", wire);
    ledger.reported("t", false);
    assert.equal(ledger.blame("t", "exit", wire).quarantined, true);
    ledger.blame("u", "exit", wire);
    ledger.reported("u", true);
    assert.equal(ledger.blame("u", "exit", wire).quarantined, false);
  });

  it("bystanders of an unblamed crash are suspects until they report", () => {
    const ledger = new CrashLedger(3);
    ledger.suspect("a");
    assert.equal(ledger.isSuspect("a"), true);
    ledger.reported("a", false);
    assert.equal(ledger.isSuspect("a"), false);
  });

  it("forgets the oldest tasks past its bound", () => {
    const ledger = new CrashLedger(2, 2);
    ledger.blame("a", "exit", wire);
    ledger.blame("b", "exit", wire);
    ledger.blame("c", "exit", wire);
    assert.equal(ledger.blame("a", "exit", wire).quarantined, false, "a was forgotten");
    assert.equal(ledger.blame("c", "exit", wire).quarantined, true);
  });
});

describe("Outbox", () => {
  it("sends what is pushed in one turn as one batch", async () => {
    const batches: number[][] = [];
    const outbox = new Outbox<number>((batch) => batches.push(batch));
    outbox.push(1);
    outbox.push(2);
    assert.equal(outbox.size, 2);
    await Promise.resolve();
    outbox.push(3);
    outbox.flush();
    outbox.push(4);
    outbox.clear();
    await Promise.resolve();
    assert.deepEqual(batches, [[1, 2], [3]]);
  });
});

describe("runAttempt (the one attempt runner)", () => {
  const registry = new TaskRegistry();
  registry.register("add", ({ a, b }: { a: number; b: number }) => a + b, {
    schema: v.object({ a: v.number(), b: v.number() }),
  });
  registry.register("big", () => 10n);
  registry.register("ctx", (_args, ctx) => {
    ctx.log("line", { n: 1 });
    return { attempt: ctx.attempt, of: ctx.maxAttempts, queue: ctx.queue };
  });
  const task = (name: string, args: unknown = {}) => ({
    taskId: "t1",
    name,
    queue: "q",
    args: args as never,
    attempt: 2,
    maxAttempts: 5,
  });
  const hooks = (lines: string[] = []) => ({
    signal: new AbortController().signal,
    progress: () => Promise.resolve(),
    log: (line: string) => void lines.push(line),
  });
  const opts = { settleOnAbort: true, missing: "registered here" };
  const get = (name: string) => registry.has(name) ? registry.get(name) : undefined;

  it("runs the handler with parsed args and a context; checks the result", async () => {
    assert.deepEqual(await runAttempt(get("add"), task("add", { a: 1, b: 2 }), hooks(), opts), {
      kind: "completed",
      result: 3,
    });
    const lines: string[] = [];
    assert.deepEqual(await runAttempt(get("ctx"), task("ctx"), hooks(lines), opts), {
      kind: "completed",
      result: { attempt: 2, of: 5, queue: "q" },
    });
    assert.deepEqual(lines, ['line {"n":1}']);
  });

  it("fails for good on bad args, and plainly on a missing handler or a non-JSON result", async () => {
    const bad = await runAttempt(get("add"), task("add", { a: "x" }), hooks(), opts);
    assert.equal(bad.kind === "failed" && bad.permanent, true);
    const missing = await runAttempt(undefined, task("nope"), hooks(), opts);
    assert.match(
      String(missing.kind === "failed" && missing.error),
      /No handler for task "nope" is registered here/,
    );
    const big = await runAttempt(get("big"), task("big"), hooks(), opts);
    assert.equal(big.kind, "failed");
    assert.match(String(big.kind === "failed" && big.error), /must be plain JSON/);
  });

  it("settles at once on abort when asked to", async () => {
    const controller = new AbortController();
    const never = new TaskRegistry();
    never.register("hang", () => new Promise(() => {}));
    const running = runAttempt(never.get("hang"), task("hang"), {
      ...hooks(),
      signal: controller.signal,
    }, opts);
    controller.abort(new Error("stop"));
    const outcome = await running;
    assert.match(String(outcome.kind === "failed" && outcome.error), /stop/);
  });
});
