/**
 * Flow limits in the SQLite store: the `flow_limits` rows and the claim that honours them.
 *
 * A claim first reads `flow_limits` (a tiny table, usually empty). When no limit concerns the
 * claimed queues, the store takes its plain claim path, unchanged. Otherwise this module picks
 * candidates in claim order, skips those whose queue or name has no capacity left, and logs the
 * starts of rate-limited scopes in `flow_starts` — all inside the claim's `BEGIN IMMEDIATE`
 * transaction, so processes claim one after another and the counts are exact.
 * @module
 */

import type { FlowLimit, FlowLimits } from "../store.ts";
import type { SqliteDriver } from "./driver.ts";
import { WAITING_PREDICATE } from "./schema.ts";

/** A row of `flow_limits`. */
export interface FlowLimitRow {
  scope: "queue" | "task";
  name: string;
  rate_limit: number | null;
  rate_per_millis: number | null;
  max_running: number | null;
  updated_at: number;
}

/**
 * Starts older than the window by more than this are deleted. The margin keeps the starts a
 * claim with a slightly older clock than the newest claim still has to count.
 */
const STARTS_KEEP_MARGIN_MILLIS = 60_000;

export const LIMITS_SQL = "SELECT * FROM flow_limits ORDER BY scope, name";
// params: scope, name, rate_limit, rate_per_millis, max_running, updated_at
export const SET_LIMITS_SQL = `INSERT INTO flow_limits
  (scope, name, rate_limit, rate_per_millis, max_running, updated_at) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (scope, name) DO UPDATE SET rate_limit = excluded.rate_limit,
  rate_per_millis = excluded.rate_per_millis, max_running = excluded.max_running,
  updated_at = excluded.updated_at`;
export const DELETE_LIMITS_SQL = "DELETE FROM flow_limits WHERE scope = ? AND name = ?";
const DELETE_STARTS_SQL = "DELETE FROM flow_starts WHERE scope = ? AND name = ?";

const QUEUE_RUNNING_SQL =
  "SELECT coalesce(sum(n), 0) AS n FROM task_counts WHERE queue = ? AND status = 'PROCESSING'";
// INDEXED BY: the PROCESSING rows only, however many finished rows share the name.
const NAME_RUNNING_SQL = `SELECT count(*) AS n FROM tasks INDEXED BY tasks_lease
  WHERE status = 'PROCESSING' AND name = ?`;
// Starts later than now - per in any process's clock (see FlowLimit), and the oldest of them.
const WINDOW_SQL = `SELECT count(*) AS n, min(at) AS oldest FROM flow_starts
  WHERE scope = ? AND name = ? AND at > ?`;
const LOG_START_SQL = "INSERT INTO flow_starts (scope, name, at) VALUES (?, ?, ?)";
const TRIM_STARTS_SQL = "DELETE FROM flow_starts WHERE scope = ? AND name = ? AND at <= ?";

/** params: now, ...queues, JSON array of excluded names, limit */
const pickLimitedSql = (queues: number) =>
  `SELECT seq, status, queue, name FROM tasks WHERE ${WAITING_PREDICATE} AND run_at <= ?
    AND queue IN (${Array.from({ length: queues }, () => "?").join(", ")})
    AND queue NOT IN (SELECT name FROM queues WHERE paused = 1)
    AND name NOT IN (SELECT value FROM json_each(?))
    ORDER BY priority DESC, run_at, seq LIMIT ?`;

/** The record of a row. */
export function toFlowLimit(row: FlowLimitRow): FlowLimit {
  return {
    scope: row.scope,
    name: row.name,
    rateLimit: row.rate_limit === null || row.rate_per_millis === null
      ? null
      : { limit: row.rate_limit, perMillis: row.rate_per_millis },
    maxRunning: row.max_running,
    updatedAt: row.updated_at,
  };
}

/** Stores (or, with both sides null, removes) a limit inside the caller's transaction. */
export function writeLimits(
  db: SqliteDriver,
  scope: FlowLimit["scope"],
  name: string,
  limits: FlowLimits,
  now: number,
): FlowLimit {
  const { rateLimit, maxRunning } = limits;
  if (rateLimit === null && maxRunning === null) {
    db.run(DELETE_LIMITS_SQL, [scope, name]);
    db.run(DELETE_STARTS_SQL, [scope, name]);
  } else {
    db.run(SET_LIMITS_SQL, [
      scope,
      name,
      rateLimit?.limit ?? null,
      rateLimit?.perMillis ?? null,
      maxRunning,
      now,
    ]);
  }
  return { scope, name, rateLimit, maxRunning, updatedAt: now };
}

/** The capacity of one limited scope during a claim. */
interface Capacity {
  row: FlowLimitRow;
  left: number;
  /** When the rate window next frees a start, if the rate is what binds. */
  freesAt: number | null;
}

/** A picked candidate. */
export interface PickedRow {
  seq: number;
  status: string;
  queue: string;
  name: string;
}

/**
 * Picks up to `limit` due tasks of `queues` honouring `limits`, in claim order, calling `take`
 * with each round's seqs (which must make them PROCESSING before the next round picks), then logs
 * the starts. Returns the picked rows and, when a limit held tasks back, when to look again.
 */
export function pickWithinLimits(
  db: SqliteDriver,
  limits: readonly FlowLimitRow[],
  queues: readonly string[],
  limit: number,
  now: number,
  take: (rows: PickedRow[]) => void,
): { picked: PickedRow[]; heldBack: boolean; retryAt: number | null } {
  const capacities = new Map<string, Capacity>();
  for (const row of limits) {
    const running = row.max_running === null ? 0 : db.get<{ n: number }>(
      row.scope === "queue" ? QUEUE_RUNNING_SQL : NAME_RUNNING_SQL,
      [row.name],
    )?.n ?? 0;
    let left = row.max_running === null ? Infinity : row.max_running - running;
    let freesAt: number | null = null;
    if (row.rate_limit !== null && row.rate_per_millis !== null) {
      const window = db.get<{ n: number; oldest: number | null }>(WINDOW_SQL, [
        row.scope,
        row.name,
        now - row.rate_per_millis,
      ])!;
      const rateLeft = row.rate_limit - window.n;
      if (rateLeft <= left) {
        left = rateLeft;
        freesAt = window.oldest === null ? null : window.oldest + row.rate_per_millis;
      }
    }
    capacities.set(`${row.scope}\0${row.name}`, { row, left: Math.max(0, left), freesAt });
  }
  const capacityOf = (scope: "queue" | "task", name: string) => capacities.get(`${scope}\0${name}`);
  const open = (c: Capacity | undefined) => c === undefined || c.left > 0;

  const picked: PickedRow[] = [];
  const excludedNames = new Set<string>();
  for (const c of capacities.values()) {
    if (c.row.scope === "task" && c.left === 0) excludedNames.add(c.row.name);
  }
  let openQueues = queues.filter((q) => open(capacityOf("queue", q)));
  while (picked.length < limit && openQueues.length > 0) {
    const want = limit - picked.length;
    const candidates = db.all<PickedRow>(pickLimitedSql(openQueues.length), [
      now,
      ...openQueues,
      JSON.stringify([...excludedNames]),
      want,
    ]);
    const round: PickedRow[] = [];
    for (const row of candidates) {
      const byQueue = capacityOf("queue", row.queue);
      const byName = capacityOf("task", row.name);
      if (!open(byQueue) || !open(byName)) continue;
      if (byQueue) byQueue.left--;
      if (byName) byName.left--;
      if (byName?.left === 0) excludedNames.add(row.name);
      round.push(row);
    }
    if (round.length > 0) take(round);
    picked.push(...round);
    // Fewer candidates than wanted: nothing more is due. All taken: done or next round.
    if (candidates.length < want || round.length === candidates.length) {
      if (candidates.length < want) break;
      continue;
    }
    openQueues = openQueues.filter((q) => open(capacityOf("queue", q)));
  }

  let heldBack = false;
  let retryAt: number | null = null;
  for (const c of capacities.values()) {
    const { scope, name, rate_limit, rate_per_millis } = c.row;
    const mine = picked.filter((row) => (scope === "queue" ? row.queue : row.name) === name);
    if (rate_limit !== null && rate_per_millis !== null) {
      for (let i = 0; i < mine.length; i++) db.run(LOG_START_SQL, [scope, name, now]);
      db.run(TRIM_STARTS_SQL, [scope, name, now - rate_per_millis - STARTS_KEEP_MARGIN_MILLIS]);
    }
    if (c.left === 0) {
      heldBack = true;
      const frees = c.freesAt ??
        (mine.length > 0 && rate_per_millis !== null ? now + rate_per_millis : null);
      if (frees !== null && (retryAt === null || frees < retryAt)) retryAt = frees;
    }
  }
  return { picked, heldBack, retryAt };
}
