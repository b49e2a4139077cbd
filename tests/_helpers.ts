/** Shared test helpers: a settable clock, task records, temp folders, event waiting. */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../src/clock.ts";
import { newTaskId } from "../src/id.ts";
import { DEFAULT_RETRY_CONFIG } from "../src/retry.ts";
import type { Signal } from "../src/signals.ts";
import { newTaskRecord, type TaskRecord } from "../src/task.ts";

/** A clock that moves only when told. */
export class FakeClock implements Clock {
  constructor(public time = 1_700_000_000_000) {}
  now(): number {
    return this.time;
  }
  advance(millis: number): void {
    this.time += millis;
  }
}

/** A waiting task record as the dispatcher would build it. */
export function makeTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  const now = overrides.createdAt ?? 1_700_000_000_000;
  return {
    ...newTaskRecord({
      id: newTaskId(now),
      name: "test-task",
      queue: "default",
      args: { n: 1 },
      status: "PENDING",
      priority: "NORMAL",
      runAt: now,
      createdAt: now,
      retryConfig: { ...DEFAULT_RETRY_CONFIG },
      timeoutMillis: null,
    }),
    ...overrides,
  };
}

/** A fresh temporary folder and a function that removes it. */
export async function tempDir(
  prefix = "aether-test-",
): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Resolves with the first event of `signal` that matches `predicate`. */
export function nextEvent<T>(
  signal: Signal<T>,
  predicate: (event: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const disconnect = signal.connect((event) => {
      if (!predicate(event)) return;
      disconnect();
      resolve(event);
    });
  });
}

/** Resolves with `count` events of `signal`. */
export function collectEvents<T>(signal: Signal<T>, count: number): Promise<T[]> {
  const events: T[] = [];
  return new Promise((resolve) => {
    const disconnect = signal.connect((event) => {
      events.push(event);
      if (events.length === count) {
        disconnect();
        resolve(events);
      }
    });
  });
}
