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

/** A row of {@linkcode LIMITS_STATE_SQL}. */
export interface FlowLimitStateRow extends FlowLimitRow {
  running: number;
  last_at: number | null;
  last_cum: number | null;
  before_cum: number | null;
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

/**
 * Every limit with what the claim needs to know of it, in one statement (so a claim with limits
 * runs one query more, not several per limit): the PROCESSING count (from the counters for a
 * queue, over the lease index for a task name), and for a rate limit the newest start row and
 * the `cum` of the newest row at or before the window's start. The window's starts are
 * `last_cum - coalesce(before_cum, 0)`: `before_cum` is null only when no row was ever trimmed
 * (TRIM_STARTS_SQL keeps one), and since `at` never decreases every lookup is an index seek.
 * params: now
 */
export const LIMITS_STATE_SQL = `SELECT l.*,
  CASE WHEN l.max_running IS NULL THEN 0
    WHEN l.scope = 'queue' THEN (SELECT coalesce(sum(n), 0) FROM task_counts
      WHERE queue = l.name AND status = 'PROCESSING')
    ELSE (SELECT count(*) FROM tasks INDEXED BY tasks_lease
      WHERE status = 'PROCESSING' AND name = l.name) END AS running,
  (SELECT at FROM flow_starts s WHERE s.scope = l.scope AND s.name = l.name
    ORDER BY s.at DESC, s.cum DESC LIMIT 1) AS last_at,
  (SELECT cum FROM flow_starts s WHERE s.scope = l.scope AND s.name = l.name
    ORDER BY s.at DESC, s.cum DESC LIMIT 1) AS last_cum,
  CASE WHEN l.rate_per_millis IS NULL THEN NULL ELSE (SELECT cum FROM flow_starts s
    WHERE s.scope = l.scope AND s.name = l.name AND s.at <= ?1 - l.rate_per_millis
    ORDER BY s.at DESC, s.cum DESC LIMIT 1) END AS before_cum
  FROM flow_limits l`;
// The oldest start inside the window: when it leaves, a start frees. params: scope, name, start
const OLDEST_IN_WINDOW_SQL = `SELECT at FROM flow_starts WHERE scope = ? AND name = ? AND at > ?
  ORDER BY at, cum LIMIT 1`;
// params: scope, name, at, cum
const LOG_START_SQL = "INSERT INTO flow_starts (scope, name, at, cum) VALUES (?, ?, ?, ?)";
// Deletes rows before the cut-off but keeps the newest of them, the base later counts need.
// params: scope, name, cut-off
const TRIM_STARTS_SQL = `DELETE FROM flow_starts WHERE scope = ?1 AND name = ?2 AND at <= ?3
  AND cum < (SELECT max(cum) FROM flow_starts WHERE scope = ?1 AND name = ?2 AND at <= ?3)`;
/** Old start rows are trimmed each time a scope's total passes a multiple of this. */
const TRIM_EVERY_STARTS = 256;

/**
 * params: now, minPriority, ...queues, [JSON array of claimable names,] [JSON array of excluded
 * names,] limit. Without name limits it reads neither the name nor a list of exclusions (each
 * costs the pick about a fifth).
 */
const pickLimitedSql = (() => {
  const built = new Map<string, string>();
  return (queues: number, byName: boolean, excluding: boolean, including: boolean) => {
    const key = `${queues} ${byName} ${excluding} ${including}`;
    let sql = built.get(key);
    if (sql === undefined) {
      built.set(
        key,
        sql = `SELECT seq, status, queue${byName ? ", name" : ""} FROM tasks
          WHERE ${WAITING_PREDICATE} AND run_at <= ? AND priority >= ?
          AND queue IN (${Array.from({ length: queues }, () => "?").join(", ")})
          AND queue NOT IN (SELECT name FROM queues WHERE paused = 1)
          ${including ? "AND name IN (SELECT value FROM json_each(?))" : ""}
          ${excluding ? "AND name NOT IN (SELECT value FROM json_each(?))" : ""}
          ORDER BY priority DESC, run_at, seq LIMIT ?`,
      );
    }
    return sql;
  };
})();

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
  /** The newest start row, for the next one. */
  last: { at: number; cum: number } | undefined;
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
  limits: readonly FlowLimitStateRow[],
  request: {
    queues: readonly string[];
    limit: number;
    now: number;
    minPriority: number;
    /** Only these names (see `ClaimRequest.names`); absent: any. */
    names?: readonly string[];
  },
  take: (rows: PickedRow[], rated: boolean) => void,
): { picked: PickedRow[]; heldBack: boolean; retryAt: number | null } {
  const { queues, limit, now, minPriority, names } = request;
  const including = names === undefined ? [] : [JSON.stringify(names)];
  const capacities = new Map<string, Capacity>();
  for (const row of limits) {
    let left = row.max_running === null ? Infinity : row.max_running - row.running;
    let freesAt: number | null = null;
    const last = row.last_at === null || row.last_cum === null
      ? undefined
      : { at: row.last_at, cum: row.last_cum };
    if (row.rate_limit !== null && row.rate_per_millis !== null) {
      const from = now - row.rate_per_millis;
      const rateLeft = row.rate_limit - ((last?.cum ?? 0) - (row.before_cum ?? 0));
      if (rateLeft <= left) {
        left = rateLeft;
        if (rateLeft <= 0) {
          const oldest = db.get<{ at: number }>(OLDEST_IN_WINDOW_SQL, [row.scope, row.name, from]);
          freesAt = oldest === undefined ? null : oldest.at + row.rate_per_millis;
        }
      }
    }
    capacities.set(`${row.scope}\0${row.name}`, { row, left: Math.max(0, left), freesAt, last });
  }
  const capacityOf = (scope: "queue" | "task", name: string) => capacities.get(`${scope}\0${name}`);
  const open = (c: Capacity | undefined) => c === undefined || c.left > 0;

  const picked: PickedRow[] = [];
  const excludedNames = new Set<string>();
  for (const c of capacities.values()) {
    if (c.row.scope === "task" && c.left === 0) excludedNames.add(c.row.name);
  }
  const nameLimited = limits.some((row) => row.scope === "task");
  let openQueues = queues.filter((q) => open(capacityOf("queue", q)));
  while (picked.length < limit && openQueues.length > 0) {
    const want = limit - picked.length;
    const excluding = excludedNames.size > 0;
    const candidates = db.all<PickedRow>(
      pickLimitedSql(openQueues.length, nameLimited, excluding, names !== undefined),
      excluding
        ? [now, minPriority, ...openQueues, ...including, JSON.stringify([...excludedNames]), want]
        : [now, minPriority, ...openQueues, ...including, want],
    );
    const round: PickedRow[] = [];
    // Tasks whose start a rate limit counts get that time as their start (see FlowLimit).
    const rated: PickedRow[] = [], plain: PickedRow[] = [];
    for (const row of candidates) {
      const byQueue = capacityOf("queue", row.queue);
      const byName = capacityOf("task", row.name);
      if (!open(byQueue) || !open(byName)) continue;
      if (byQueue) byQueue.left--;
      if (byName) byName.left--;
      if (byName?.left === 0) excludedNames.add(row.name);
      round.push(row);
      const counted = byQueue?.row.rate_limit != null || byName?.row.rate_limit != null;
      (counted ? rated : plain).push(row);
    }
    if (rated.length > 0) take(rated, true);
    if (plain.length > 0) take(plain, false);
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
    if (rate_limit !== null && rate_per_millis !== null && mine.length > 0) {
      // Never below the newest row's time: a claim with an older clock counts as later.
      const at = Math.max(now, c.last?.at ?? now);
      const before = c.last?.cum ?? 0;
      const cum = before + mine.length;
      db.run(LOG_START_SQL, [scope, name, at, cum]);
      if (Math.floor(cum / TRIM_EVERY_STARTS) > Math.floor(before / TRIM_EVERY_STARTS)) {
        db.run(TRIM_STARTS_SQL, [scope, name, now - rate_per_millis - STARTS_KEEP_MARGIN_MILLIS]);
      }
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
