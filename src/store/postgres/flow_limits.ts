/**
 * Flow limits in the PostgreSQL store: the `flow_limits` rows and the claim that honours them.
 *
 * The plain claim statement looks into `flow_limits` (tiny, usually empty) and takes nothing
 * when a limit concerns its queues. The store then claims here, in one transaction: it locks the
 * limits' rows `FOR UPDATE` (in scope, name order, so claims never deadlock), so limited claims
 * of the same scopes take turns across every process, and reads in the statements after the
 * lock what earlier claims committed (READ COMMITTED takes a fresh snapshot per statement). It
 * then picks candidates in claim order, skips those whose queue or name has no capacity left,
 * and logs the starts of rate-limited scopes in `flow_starts`. Queues without a limit never
 * come here and pay only the look.
 * @module
 */

import type postgres from "postgres";
import type { ClaimRequest, FlowLimit, FlowLimits } from "../store.ts";
import { WAITING_PREDICATE } from "./schema.ts";
import { DB_NOW, pgArray } from "./sql.ts";

/** A row of `flow_limits`; bigint columns may arrive as strings from a foreign client. */
export interface FlowLimitRow {
  scope: "queue" | "task";
  name: string;
  rate_limit: number | null;
  rate_per_millis: number | string | null;
  max_running: number | null;
  updated_at: number | string;
}

/** A row of the `state` statement: a limit with what the claim needs to know of it. */
interface FlowLimitStateRow extends FlowLimitRow {
  now: number | string;
  running: number | string;
  last_at: number | string | null;
  last_cum: number | string | null;
  before_cum: number | string | null;
  oldest_at: number | string | null;
}

/**
 * Starts older than the window by more than this are deleted. The margin keeps the starts a
 * claim with a slightly older clock than the newest claim still has to count.
 */
const STARTS_KEEP_MARGIN_MILLIS = 60_000;
/** Old start rows are trimmed each time a scope's total passes a multiple of this. */
const TRIM_EVERY_STARTS = 256;

/** The statement texts of flow limits on schema `s` (already quoted). */
export function flowLimitsSql(s: string) {
  /** A limit's scope filter: every task-name limit, and the limits of the claimed queues ($n). */
  const concerns = (queues: string) => `(l.scope = 'task' OR l.name = ANY(${queues}::text[]))`;
  return {
    list: `SELECT * FROM ${s}.flow_limits ORDER BY scope, name`,
    /** Params: scope, name, rate limit, rate window ms, max running, now (NULL: the database's). */
    set: `INSERT INTO ${s}.flow_limits AS l
      (scope, name, rate_limit, rate_per_millis, max_running, updated_at)
      VALUES ($1, $2, $3, $4, $5, coalesce($6::bigint, ${DB_NOW}))
      ON CONFLICT (scope, name) DO UPDATE SET rate_limit = EXCLUDED.rate_limit,
        rate_per_millis = EXCLUDED.rate_per_millis, max_running = EXCLUDED.max_running,
        updated_at = EXCLUDED.updated_at
      RETURNING *`,
    /** Removes a limit and its start log. Params: scope, name, now; returns the time used. */
    remove: `WITH gone AS (
      DELETE FROM ${s}.flow_limits WHERE scope = $1 AND name = $2
    ), starts AS (
      DELETE FROM ${s}.flow_starts WHERE scope = $1 AND name = $2
    )
    SELECT coalesce($3::bigint, ${DB_NOW}) AS now`,
    /** Locks the limits a claim of these queues must honour. Params: queues. */
    lock: `SELECT scope, name FROM ${s}.flow_limits l WHERE ${concerns("$1")}
      ORDER BY scope, name FOR UPDATE`,
    /**
     * Every limit concerning the queues with, in one statement: the claim's now, the PROCESSING
     * count (over the lease index, which holds only running tasks), and for a rate limit the
     * newest start row, the `cum` of the newest row at or before the window's start and the
     * oldest row inside the window. The window's starts are `last_cum - coalesce(before_cum,
     * 0)`: `before_cum` is NULL only when no row was ever trimmed (`trimStarts` keeps one).
     * Params: now (NULL: the database's), queues.
     */
    state: `SELECT l.*, n.now,
      CASE WHEN l.max_running IS NULL THEN 0
        WHEN l.scope = 'queue' THEN (SELECT count(*) FROM ${s}.tasks t
          WHERE t.status = 'PROCESSING' AND t.queue = l.name)
        ELSE (SELECT count(*) FROM ${s}.tasks t
          WHERE t.status = 'PROCESSING' AND t.name = l.name) END AS running,
      last.at AS last_at, last.cum AS last_cum,
      CASE WHEN l.rate_per_millis IS NULL THEN NULL ELSE (SELECT f.cum FROM ${s}.flow_starts f
        WHERE f.scope = l.scope AND f.name = l.name AND f.at <= n.now - l.rate_per_millis
        ORDER BY f.at DESC, f.cum DESC LIMIT 1) END AS before_cum,
      CASE WHEN l.rate_per_millis IS NULL THEN NULL ELSE (SELECT f.at FROM ${s}.flow_starts f
        WHERE f.scope = l.scope AND f.name = l.name AND f.at > n.now - l.rate_per_millis
        ORDER BY f.at, f.cum LIMIT 1) END AS oldest_at
      FROM (SELECT coalesce($1::bigint, ${DB_NOW}) AS now) n
      CROSS JOIN ${s}.flow_limits l
      LEFT JOIN LATERAL (SELECT f.at, f.cum FROM ${s}.flow_starts f
        WHERE f.scope = l.scope AND f.name = l.name ORDER BY f.at DESC, f.cum DESC LIMIT 1
      ) last ON true
      WHERE ${concerns("$2")}
      ORDER BY l.scope, l.name`,
    /**
     * Due candidates in claim order, per queue over the claim index as the plain claim does.
     * Params: queues (the open ones), now, minimum priority, names left out, limit, names to
     * claim (NULL: any; `ClaimRequest.names`).
     */
    pick: `SELECT p.seq, p.queue, p.name
      FROM (SELECT DISTINCT name FROM unnest($1::text[]) AS q(name)
        WHERE NOT EXISTS (SELECT 1 FROM ${s}.queues WHERE queues.name = q.name AND paused)) q
      CROSS JOIN LATERAL (
        SELECT t.seq, t.queue, t.name, t.priority, t.run_at FROM ${s}.tasks t
        WHERE t.queue = q.name AND t.${WAITING_PREDICATE} AND t.run_at <= $2::bigint
          AND t.priority >= $3::smallint AND t.name <> ALL($4::text[])
          AND ($6::text[] IS NULL OR t.name = ANY($6::text[]))
        ORDER BY t.priority DESC, t.run_at, t.seq
        LIMIT $5
        FOR UPDATE SKIP LOCKED
      ) p
      ORDER BY p.priority DESC, p.run_at, p.seq
      LIMIT $5`,
    /**
     * Takes picked rows; those a rate limit counts start now (see `FlowLimit`). Params: seqs,
     * rated seqs, worker id, now, lease ms.
     */
    take: `UPDATE ${s}.tasks t SET status = 'PROCESSING', attempts = t.attempts + 1,
        attempt_token = gen_random_uuid()::text, worker_id = $3,
        lease_expires_at = $4::bigint + $5::bigint, lease_millis = $5::bigint,
        started_at = CASE WHEN t.seq = ANY($2::bigint[]) THEN $4::bigint ELSE NULL END
      WHERE t.seq = ANY($1::bigint[])
      RETURNING t.*`,
    /** Params: arrays of scope, name, at, cum. */
    logStarts: `INSERT INTO ${s}.flow_starts (scope, name, at, cum)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])`,
    /** Deletes rows before the cut-off but the newest of them, the base later counts need. */
    trimStarts: `DELETE FROM ${s}.flow_starts WHERE scope = $1 AND name = $2 AND at <= $3
      AND cum < (SELECT max(cum) FROM ${s}.flow_starts WHERE scope = $1 AND name = $2
        AND at <= $3)`,
  };
}

/** The statement texts of flow limits on one schema. */
export type FlowLimitsSql = ReturnType<typeof flowLimitsSql>;

const num = (x: number | string): number => typeof x === "number" ? x : Number(x);
const numOrNull = (x: number | string | null): number | null => x === null ? null : num(x);

/** The record of a row. */
export function toFlowLimit(row: FlowLimitRow): FlowLimit {
  return {
    scope: row.scope,
    name: row.name,
    rateLimit: row.rate_limit === null || row.rate_per_millis === null
      ? null
      : { limit: row.rate_limit, perMillis: num(row.rate_per_millis) },
    maxRunning: row.max_running,
    updatedAt: num(row.updated_at),
  };
}

/** Stores (or, with both sides null, removes) a limit; `now` NULL is the database's clock. */
export async function writeLimits(
  sql: postgres.Sql,
  q: FlowLimitsSql,
  scope: FlowLimit["scope"],
  name: string,
  limits: FlowLimits,
  now: number | null,
): Promise<FlowLimit> {
  const { rateLimit, maxRunning } = limits;
  if (rateLimit === null && maxRunning === null) {
    const [row] = await sql.unsafe<{ now: number | string }[]>(q.remove, [scope, name, now]);
    return { scope, name, rateLimit, maxRunning, updatedAt: num(row!.now) };
  }
  const [row] = await sql.unsafe<FlowLimitRow[]>(q.set, [
    scope,
    name,
    rateLimit?.limit ?? null,
    rateLimit?.perMillis ?? null,
    maxRunning,
    now,
  ]);
  return toFlowLimit(row!);
}

/** The capacity of one limited scope during a claim. */
interface Capacity {
  row: FlowLimitStateRow;
  ratePerMillis: number | null;
  left: number;
  /** When the rate window next frees a start, if the rate is what binds. */
  freesAt: number | null;
  /** The newest start row, for the next one. */
  last: { at: number; cum: number } | undefined;
}

/** What {@linkcode claimWithinLimits} took. */
export interface LimitedClaim<Row> {
  rows: Row[];
  /** The claim's now (the database's in database-clock mode). */
  now: number;
  heldBack: boolean;
  /** When a rate window frees a start (in `now`'s clock), or null. */
  retryAt: number | null;
}

/**
 * Claims up to `request.limit` due tasks of `request.queues` honouring the stored limits, inside
 * the transaction `tx`; `now` is the caller's clock or NULL for the database's. Resolves
 * undefined when no limit concerns the queues any more (the caller claims plainly).
 */
export async function claimWithinLimits<Row>(
  tx: postgres.TransactionSql,
  q: FlowLimitsSql,
  request: ClaimRequest,
  now: number | null,
): Promise<LimitedClaim<Row> | undefined> {
  const { queues, limit, workerId, leaseMillis } = request;
  const minPriority = request.minPriority ?? 0;
  const queueList = pgArray(queues);
  await tx.unsafe(q.lock, [queueList], { prepare: true });
  const states = await tx.unsafe<FlowLimitStateRow[]>(q.state, [now, queueList], {
    prepare: true,
  });
  if (states.length === 0) return undefined;
  const at = num(states[0]!.now);
  const capacities = new Map<string, Capacity>();
  for (const row of states) {
    const ratePerMillis = numOrNull(row.rate_per_millis);
    let left = row.max_running === null ? Infinity : row.max_running - num(row.running);
    let freesAt: number | null = null;
    const last = row.last_at === null || row.last_cum === null
      ? undefined
      : { at: num(row.last_at), cum: num(row.last_cum) };
    if (row.rate_limit !== null && ratePerMillis !== null) {
      const rateLeft = row.rate_limit - ((last?.cum ?? 0) - num(row.before_cum ?? 0));
      if (rateLeft <= left) {
        left = rateLeft;
        if (rateLeft <= 0 && row.oldest_at !== null) freesAt = num(row.oldest_at) + ratePerMillis;
      }
    }
    capacities.set(`${row.scope}\0${row.name}`, {
      row,
      ratePerMillis,
      left: Math.max(0, left),
      freesAt,
      last,
    });
  }
  const capacityOf = (scope: "queue" | "task", name: string) => capacities.get(`${scope}\0${name}`);
  const open = (c: Capacity | undefined) => c === undefined || c.left > 0;

  const taken: Row[] = [];
  const picked: { queue: string; name: string }[] = [];
  const excludedNames = new Set<string>();
  for (const c of capacities.values()) {
    if (c.row.scope === "task" && c.left === 0) excludedNames.add(c.row.name);
  }
  let openQueues = queues.filter((queue) => open(capacityOf("queue", queue)));
  while (picked.length < limit && openQueues.length > 0) {
    const want = limit - picked.length;
    const candidates = await tx.unsafe<{ seq: number | string; queue: string; name: string }[]>(
      q.pick,
      [
        pgArray(openQueues),
        at,
        minPriority,
        pgArray([...excludedNames]),
        want,
        request.names === undefined ? null : pgArray(request.names),
      ],
      { prepare: true },
    );
    const round: (number | string)[] = [], rated: (number | string)[] = [];
    for (const row of candidates) {
      const byQueue = capacityOf("queue", row.queue);
      const byName = capacityOf("task", row.name);
      if (!open(byQueue) || !open(byName)) continue;
      if (byQueue) byQueue.left--;
      if (byName) byName.left--;
      if (byName?.left === 0) excludedNames.add(row.name);
      round.push(row.seq);
      picked.push(row);
      // Tasks whose start a rate limit counts get that time as their start (see FlowLimit).
      if (byQueue?.row.rate_limit != null || byName?.row.rate_limit != null) rated.push(row.seq);
    }
    if (round.length > 0) {
      taken.push(
        ...await tx.unsafe<Row[]>(
          q.take,
          [pgArray(round), pgArray(rated), workerId, at, leaseMillis],
          { prepare: true },
        ),
      );
    }
    // Fewer candidates than wanted: nothing more is due. All taken: done or the next round.
    if (candidates.length < want) break;
    if (round.length < candidates.length) {
      openQueues = openQueues.filter((queue) => open(capacityOf("queue", queue)));
    }
  }

  let heldBack = false;
  let retryAt: number | null = null;
  const log: [string[], string[], number[], number[]] = [[], [], [], []];
  const trims: [string, string, number][] = [];
  for (const c of capacities.values()) {
    const { scope, name, rate_limit } = c.row;
    const mine = picked.filter((row) => (scope === "queue" ? row.queue : row.name) === name);
    if (rate_limit !== null && c.ratePerMillis !== null && mine.length > 0) {
      // Never below the newest row's time: a claim with an older clock counts as later.
      const startAt = Math.max(at, c.last?.at ?? at);
      const before = c.last?.cum ?? 0;
      const cum = before + mine.length;
      log[0].push(scope), log[1].push(name), log[2].push(startAt), log[3].push(cum);
      if (Math.floor(cum / TRIM_EVERY_STARTS) > Math.floor(before / TRIM_EVERY_STARTS)) {
        trims.push([scope, name, at - c.ratePerMillis - STARTS_KEEP_MARGIN_MILLIS]);
      }
    }
    if (c.left === 0) {
      heldBack = true;
      const frees = c.freesAt ??
        (mine.length > 0 && c.ratePerMillis !== null ? at + c.ratePerMillis : null);
      if (frees !== null && (retryAt === null || frees < retryAt)) retryAt = frees;
    }
  }
  if (log[0].length > 0) {
    await tx.unsafe(q.logStarts, log.map(pgArray), { prepare: true });
  }
  for (const trim of trims) await tx.unsafe(q.trimStarts, trim, { prepare: true });
  return { rows: taken, now: at, heldBack, retryAt };
}
