/** The SQLite notifier's `data_version` poll: fast after a change, slow while idle and woken by UDP. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TimerFunctions } from "../src/long_timer.ts";
import type { SqliteDriver } from "../src/store/sqlite/driver.ts";
import {
  DATA_VERSION_IDLE_INTERVAL_MILLIS,
  DataVersionNotifier,
} from "../src/store/sqlite/notifier.ts";
import type { WakeTable } from "../src/store/sqlite/wake.ts";
import type { StoreEvent } from "../src/store/store.ts";

/** Timers that run only when told, recording each delay asked for. */
class ManualTimers implements TimerFunctions {
  delays: number[] = [];
  #next: (() => void) | undefined;
  setTimeout(callback: () => void, millis: number): unknown {
    this.delays.push(millis);
    this.#next = callback;
    return this.delays.length;
  }
  clearTimeout(): void {
    this.#next = undefined;
  }
  /** Runs the pending timer's callback. */
  fire(): void {
    const next = this.#next;
    this.#next = undefined;
    assert.ok(next, "a poll is scheduled");
    next();
  }
}

/** A driver that answers only `PRAGMA data_version`, with `version.value`. */
function versionDriver(version: { value: number }): SqliteDriver {
  return {
    get: () => ({ data_version: version.value }),
  } as unknown as SqliteDriver;
}

const wakeTable: WakeTable = {
  register: () => Promise.resolve(),
  unregister: () => Promise.resolve(),
  peers: () => Promise.resolve([]),
  forget: () => Promise.resolve(),
};

describe("DataVersionNotifier", () => {
  it("backs off while the wake-up channel listens and nothing changes, and speeds up on a change", async () => {
    const version = { value: 1 };
    const timers = new ManualTimers();
    const notifier = new DataVersionNotifier(versionDriver(version), 10, wakeTable, timers);
    const events: StoreEvent[] = [];
    const unlisten = notifier.listen((event) => events.push(event));
    try {
      while (!notifier.wakeListening) await new Promise((resolve) => setImmediate(resolve));
      for (let i = 0; i < 7; i++) timers.fire();
      assert.deepEqual(timers.delays, [
        10,
        20,
        40,
        80,
        160,
        DATA_VERSION_IDLE_INTERVAL_MILLIS,
        250,
        250,
      ]);
      assert.deepEqual(events, []);
      version.value = 2; // another connection committed
      timers.fire();
      assert.deepEqual(events, [{ type: "changed" }]);
      assert.equal(timers.delays.at(-1), 10);
      timers.fire();
      assert.equal(timers.delays.at(-1), 20);
    } finally {
      unlisten();
      await notifier.close();
    }
  });

  it("keeps polling at its interval when no wake-up channel listens", async () => {
    const version = { value: 1 };
    const timers = new ManualTimers();
    const notifier = new DataVersionNotifier(versionDriver(version), 10, undefined, timers);
    const unlisten = notifier.listen(() => {});
    try {
      for (let i = 0; i < 5; i++) timers.fire();
      assert.deepEqual(timers.delays, [10, 10, 10, 10, 10, 10]);
    } finally {
      unlisten();
      await notifier.close();
    }
  });

  it("stops polling when the last listener leaves", async () => {
    const timers = new ManualTimers();
    const notifier = new DataVersionNotifier(versionDriver({ value: 1 }), 10, undefined, timers);
    notifier.listen(() => {})();
    assert.throws(() => timers.fire(), /a poll is scheduled/);
    await notifier.close();
  });
});
