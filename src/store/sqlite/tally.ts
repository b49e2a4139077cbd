/**
 * The counters a SQLite write keeps beside `tasks`: rows per queue and status (`task_counts`,
 * read by `stats()`) and finished attempts per minute (`task_history`, read by `history()`).
 * A write adds its changes to a tally and applies them in its own transaction, one statement
 * per distinct queue and status, so the counters never drift from the rows.
 * @module
 */

import { HISTORY_BUCKET_MILLIS } from "../store.ts";
import type { TaskStatus } from "../../task.ts";
import type { SqliteDriver } from "./driver.ts";

const ADD_COUNT_SQL = `INSERT INTO task_counts (queue, status, n) VALUES (?, ?, ?)
  ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n`;
const ADD_HISTORY_SQL = `INSERT INTO task_history (at, completed, failed, retried)
  VALUES (?, ?, ?, ?) ON CONFLICT (at) DO UPDATE SET completed = completed + excluded.completed,
  failed = failed + excluded.failed, retried = retried + excluded.retried`;

/** Changes of one transaction to the counters. */
export class Tally {
  readonly #counts = new Map<string, Map<TaskStatus, number>>();
  readonly #history = new Map<number, [number, number, number]>();

  /** `n` more (or fewer, when negative) tasks in `queue` with `status`. */
  count(queue: string, status: TaskStatus, n: number): void {
    let byStatus = this.#counts.get(queue);
    if (!byStatus) this.#counts.set(queue, byStatus = new Map());
    byStatus.set(status, (byStatus.get(status) ?? 0) + n);
  }

  /** A task of `queue` moved from `from` to `to`. */
  move(queue: string, from: TaskStatus, to: TaskStatus): void {
    if (from === to) return;
    this.count(queue, from, -1);
    this.count(queue, to, 1);
  }

  /** An attempt ended at `now` leaving the task in `status` (counted when final or retrying). */
  ended(status: TaskStatus, now: number): void {
    const field = status === "COMPLETED"
      ? 0
      : status === "FAILED"
      ? 1
      : status === "RETRYING"
      ? 2
      : undefined;
    if (field === undefined) return;
    const at = now - (now % HISTORY_BUCKET_MILLIS);
    let bucket = this.#history.get(at);
    if (!bucket) this.#history.set(at, bucket = [0, 0, 0]);
    bucket[field]++;
  }

  /** Writes the tally inside the caller's transaction. */
  apply(db: SqliteDriver): void {
    for (const [queue, byStatus] of this.#counts) {
      for (const [status, n] of byStatus) if (n !== 0) db.run(ADD_COUNT_SQL, [queue, status, n]);
    }
    for (const [at, [completed, failed, retried]] of this.#history) {
      db.run(ADD_HISTORY_SQL, [at, completed, failed, retried]);
    }
  }
}
