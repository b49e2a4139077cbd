/**
 * A store that keeps tasks in memory: for tests and for processes that need no persistence.
 * Nothing survives the process. It follows the same contract as the SQLite store.
 * @module
 */

import {
  type AttemptEntry,
  MAX_ATTEMPT_HISTORY,
  PRIORITY_RANK,
  type TaskRecord,
  TaskStatus,
  WAITING_STATUSES,
} from "../task.ts";
import { Heap } from "./_heap.ts";
import type { NameCount, WaitingByNameRequest } from "./store.ts";
import type { JsonValue } from "../json.ts";
import {
  appendLogs,
  assertBatchLimit,
  type BulkRequest,
  bulkStatuses,
  type ClaimRequest,
  decodeCursor,
  emptyCounts,
  encodeCursor,
  entryError,
  entryOutcome,
  type FlowLimit,
  type FlowLimits,
  HISTORY_BUCKET_MILLIS,
  type HistoryPoint,
  type InsertOptions,
  type InsertResult,
  type Leadership,
  type LeadRequest,
  type LeaseRef,
  type LeaseRenewal,
  type ListQuery,
  LocalNotifier,
  type NewTask,
  type Outcome,
  type ProgressReport,
  type PruneRequest,
  type QueueState,
  type ScheduleInput,
  type ScheduleRecord,
  type SlotRecord,
  type SlotRequest,
  type SlotResult,
  type StartMark,
  type StoreEvent,
  type TaskFilter,
  type TaskPage,
  type TaskStats,
  type TaskStore,
  type WorkerInfo,
} from "./store.ts";

interface Row {
  seq: number;
  task: TaskRecord;
  /** The unique key and the statuses it holds in (see `NewTask`), or null. */
  unique: { key: string; states: ReadonlySet<TaskStatus> } | null;
  /** Bumped whenever the task (re)enters a waiting status; older heap entries are stale. */
  version: number;
}

/** A waiting task's place in its queue's heaps; stale once the row's version moved on. */
interface Entry {
  row: Row;
  version: number;
  rank: number;
  runAt: number;
}

const byRunAt = (a: Entry, b: Entry) =>
  a.runAt < b.runAt || (a.runAt === b.runAt && a.row.seq < b.row.seq);
const byClaimOrder = (a: Entry, b: Entry) =>
  a.rank > b.rank || (a.rank === b.rank && byRunAt(a, b));

/** The waiting tasks of one queue and name: those not yet due by time, those due by claim order. */
class QueueIndex {
  later = new Heap<Entry>(byRunAt);
  ready = new Heap<Entry>(byClaimOrder);

  add(row: Row): void {
    const entry = {
      row,
      version: row.version,
      rank: PRIORITY_RANK[row.task.priority],
      runAt: row.task.runAt,
    };
    this.later.push(entry);
  }

  /** The best due entry at `now`, dropping stale ones; not removed. */
  peekDue(now: number): Entry | undefined {
    for (let e = this.later.peek(); e && e.runAt <= now; e = this.later.peek()) {
      this.ready.push(this.later.pop()!);
    }
    for (let e = this.ready.peek(); e; e = this.ready.peek()) {
      if (e.version === e.row.version && WAITING.has(e.row.task.status)) return e;
      this.ready.pop();
    }
    return undefined;
  }
}

const WAITING = new Set(WAITING_STATUSES);

/**
 * An in-memory {@linkcode TaskStore}. Records handed out are copies, so callers cannot change
 * stored state by accident.
 *
 * @example
 * ```ts
 * const store = new InMemoryTaskStore();
 * await store.migrate();
 * ```
 */
export class InMemoryTaskStore implements TaskStore {
  readonly schemaVersion = 1;
  readonly notifier: LocalNotifier = new LocalNotifier();
  #rows = new Map<string, Row>();
  #seq = 0;
  /** Waiting tasks by queue, then by name (a claim with `names` looks at those names only). */
  #queues = new Map<string, Map<string, QueueIndex>>();
  #queueStates = new Map<string, QueueState>();
  #paused = new Set<string>();
  #workers = new Map<string, WorkerInfo>();
  #leaders = new Map<string, Leadership>();
  /** Finished attempts per history bucket start. */
  #history = new Map<number, HistoryPoint>();
  /** The row that may hold each unique key. */
  #unique = new Map<string, Row>();
  /** Flow limits by `scope\0name`, and the start times of rate-limited ones. */
  #limits = new Map<string, FlowLimit>();
  #starts = new Map<string, StartLog>();
  /** PROCESSING tasks by `queue\0name` and `task\0name`, kept as claims and finishes apply. */
  #running = new Map<string, number>();
  #schedules = new Map<string, ScheduleRecord>();
  /** Ledger rows by schedule id, then slot time. */
  #slots = new Map<string, Map<number, SlotRecord>>();

  migrate(): Promise<void> {
    return Promise.resolve();
  }

  insert(tasks: readonly NewTask[], options: InsertOptions = {}): Promise<InsertResult[]> {
    if (options.tx !== undefined) {
      return Promise.reject(
        new TypeError("The in-memory store has no transactions; enqueue without { tx }"),
      );
    }
    for (const task of tasks) {
      if (this.#rows.has(task.id)) {
        return Promise.reject(new Error(`A task with id ${task.id} already exists`));
      }
    }
    const earliest = new Map<string, number>();
    const results = tasks.map((task): InsertResult => {
      const key = task.uniqueKey ?? null;
      if (key !== null) {
        const holder = this.#uniqueHolder(key);
        if (holder) return { id: holder.task.id, inserted: false };
      }
      const { uniqueKey: _key, uniqueStates, ...record } = task;
      const row: Row = {
        seq: ++this.#seq,
        task: copyTask(record),
        unique: key === null ? null : { key, states: new Set(uniqueStates ?? []) },
        version: 0,
      };
      if (row.task.scheduledFor == null) delete row.task.scheduledFor;
      if (row.task.traceparent == null) delete row.task.traceparent;
      if (row.task.tracestate == null) delete row.task.tracestate;
      this.#rows.set(task.id, row);
      if (key !== null) this.#unique.set(key, row);
      if (WAITING.has(task.status)) this.#index(row);
      const seen = earliest.get(task.queue);
      if (seen === undefined || task.runAt < seen) earliest.set(task.queue, task.runAt);
      return { id: task.id, inserted: true };
    });
    for (const [queue, runAt] of earliest) this.#emit({ type: "inserted", queue, runAt });
    return Promise.resolve(results);
  }

  /** The stored task holding a unique key now (in one of its unique states), if any. */
  #uniqueHolder(key: string): Row | undefined {
    const row = this.#unique.get(key);
    if (!row || row.unique?.key !== key || !this.#rows.has(row.task.id)) return undefined;
    return row.unique.states.has(row.task.status) ? row : undefined;
  }

  get(id: string): Promise<TaskRecord | null> {
    const row = this.#rows.get(id);
    return Promise.resolve(row ? copyTask(row.task) : null);
  }

  claim(request: ClaimRequest): Promise<TaskRecord[]> {
    const names = request.names;
    const indexes = request.queues.flatMap((q) => {
      const byName = this.#paused.has(q) ? undefined : this.#queues.get(q);
      if (!byName) return [];
      if (names === undefined) return [...byName.values()];
      return names.flatMap((name) => byName.get(name) ?? []);
    });
    const capacity = this.#limits.size === 0 ? undefined : this.#capacity(request);
    const held: { index: QueueIndex; entry: Entry }[] = [];
    const claimed: TaskRecord[] = [];
    while (claimed.length < request.limit) {
      let best: { index: QueueIndex; entry: Entry } | undefined;
      for (const index of indexes) {
        const entry = index.peekDue(request.now);
        if (entry && (!best || byClaimOrder(entry, best.entry))) best = { index, entry };
      }
      // The best due task is below the floor: so is every other.
      if (!best || best.entry.rank < (request.minPriority ?? 0)) break;
      best.index.ready.pop();
      const row = best.entry.row;
      const taken = capacity ? capacity.take(row.task) : "plain";
      if (!taken) {
        held.push(best);
        continue;
      }
      row.version++;
      const task = row.task;
      task.status = TaskStatus.PROCESSING;
      task.attempts++;
      task.attemptToken = crypto.randomUUID();
      task.workerId = request.workerId;
      task.leaseExpiresAt = request.now + request.leaseMillis;
      // A rate limit counts this start now: that is its start time (a later mark keeps it).
      task.startedAt = taken === "rated" ? request.now : null;
      this.#countRunning(task, 1);
      claimed.push(copyTask(task));
    }
    for (const { index, entry } of held) index.ready.push(entry);
    if (capacity) capacity.done(request);
    return Promise.resolve(claimed);
  }

  /** The capacity of each flow limit for one claim (see `FlowLimit`). */
  #capacity(request: ClaimRequest) {
    const { now } = request;
    const running = this.#running;
    const left = new Map<
      string,
      { left: number; freesAt: number | null; started: number; rated: boolean }
    >();
    for (const [key, limit] of this.#limits) {
      let n = limit.maxRunning === null ? Infinity : limit.maxRunning - (running.get(key) ?? 0);
      let freesAt: number | null = null;
      if (limit.rateLimit) {
        const { limit: most, perMillis } = limit.rateLimit;
        const log = this.#starts.get(key);
        const inWindow = log?.countAfter(now - perMillis) ?? 0;
        if (most - inWindow <= n) {
          n = most - inWindow;
          const oldest = log?.oldestAfter(now - perMillis);
          freesAt = oldest === undefined ? null : oldest + perMillis;
        }
      }
      left.set(key, { left: Math.max(0, n), freesAt, started: 0, rated: limit.rateLimit !== null });
    }
    return {
      /** False when a limit holds the task back; "rated" when a rate limit counts its start. */
      take: (task: TaskRecord): false | "plain" | "rated" => {
        const scopes = [left.get(`queue\0${task.queue}`), left.get(`task\0${task.name}`)];
        if (scopes.some((c) => c !== undefined && c.left <= 0)) return false;
        let rated = false;
        for (const c of scopes) {
          if (c) {
            c.left--;
            c.started++;
            rated ||= c.rated;
          }
        }
        return rated ? "rated" : "plain";
      },
      done: (request: ClaimRequest) => {
        let heldBack = false;
        let retryAt: number | null = null;
        for (const [key, c] of left) {
          const limit = this.#limits.get(key)!;
          if (limit.scope === "queue" && !request.queues.includes(limit.name)) continue;
          if (limit.rateLimit && c.started > 0) {
            let log = this.#starts.get(key);
            if (!log) this.#starts.set(key, log = new StartLog());
            log.add(now, c.started);
            log.trim(now - limit.rateLimit.perMillis - 60_000);
          }
          if (c.left === 0) {
            heldBack = true;
            const frees = c.freesAt ??
              (c.started > 0 && limit.rateLimit ? now + limit.rateLimit.perMillis : null);
            if (frees !== null && (retryAt === null || frees < retryAt)) retryAt = frees;
          }
        }
        if (heldBack) request.onHeldBack?.(retryAt);
      },
    };
  }

  finish(
    outcomes: readonly Outcome[],
    started: readonly StartMark[] = [],
  ): Promise<(TaskRecord | null)[]> {
    for (const mark of started) {
      const task = this.#held(mark.id, mark.token);
      if (task) this.#markStarted(task, mark.at);
    }
    const applied: string[] = [];
    const results = outcomes.map((outcome) => {
      const task = this.#held(outcome.id, outcome.token);
      if (!task) return null;
      if (outcome.startedAt !== undefined) this.#markStarted(task, outcome.startedAt);
      applyOutcome(task, outcome);
      this.#countRunning(task, -1);
      this.#countHistory(task.status, outcome.now);
      if (WAITING.has(task.status)) this.#index(this.#rows.get(task.id)!);
      applied.push(task.id);
      return copyTask(task);
    });
    if (applied.length) this.#emit({ type: "finished", ids: applied });
    return Promise.resolve(results);
  }

  async finishAndClaim(
    outcomes: readonly Outcome[],
    request: ClaimRequest,
    started: readonly StartMark[] = [],
  ): Promise<{ finished: (TaskRecord | null)[]; claimed: TaskRecord[] }> {
    const finished = await this.finish(outcomes, started);
    return { finished, claimed: await this.claim(request) };
  }

  renewLeases(leases: readonly LeaseRef[], until: number): Promise<LeaseRenewal> {
    const renewal: LeaseRenewal = { lost: [], cancelRequested: [] };
    for (const { id, token } of leases) {
      const task = this.#held(id, token);
      if (!task) {
        renewal.lost.push(id);
        continue;
      }
      task.leaseExpiresAt = until;
      if (task.cancelRequested) renewal.cancelRequested.push(id);
    }
    return Promise.resolve(renewal);
  }

  findCancelRequested(leases: readonly LeaseRef[]): Promise<string[]> {
    return Promise.resolve(
      leases.filter(({ id, token }) => this.#held(id, token)?.cancelRequested).map((l) => l.id),
    );
  }

  findExpiredLeases(now: number, limit: number): Promise<TaskRecord[]> {
    const expired = [...this.#rows.values()]
      .map((row) => row.task)
      .filter((t) => t.status === TaskStatus.PROCESSING && (t.leaseExpiresAt ?? 0) < now)
      .sort((a, b) => (a.leaseExpiresAt ?? 0) - (b.leaseExpiresAt ?? 0))
      .slice(0, limit);
    return Promise.resolve(expired.map((t) => copyTask(t)));
  }

  reportProgress(report: ProgressReport): Promise<boolean> {
    const task = this.#held(report.id, report.token);
    if (!task) return Promise.resolve(false);
    if ("progress" in report) task.progress = copyJson(report.progress ?? null);
    if (report.logs?.length) task.logs = appendLogs(task.logs, report.logs);
    return Promise.resolve(true);
  }

  cancel(id: string, now: number): Promise<TaskRecord | null> {
    const task = this.#rows.get(id)?.task;
    if (!task) return Promise.resolve(null);
    if (WAITING.has(task.status)) {
      task.status = TaskStatus.CANCELLED;
      task.completedAt = now;
      this.#rows.get(id)!.version++;
      this.#emit({ type: "finished", ids: [id] });
    } else if (task.status === TaskStatus.PROCESSING) {
      task.cancelRequested = true;
      this.#emit({ type: "cancelRequested", id });
    } else {
      return Promise.resolve(null);
    }
    return Promise.resolve(copyTask(task));
  }

  retry(id: string, now: number): Promise<TaskRecord | null> {
    const task = this.#rows.get(id)?.task;
    if (!task || (task.status !== TaskStatus.FAILED && task.status !== TaskStatus.CANCELLED)) {
      return Promise.resolve(null);
    }
    resetForRetry(task, now);
    this.#rows.get(id)!.unique = null;
    this.#index(this.#rows.get(id)!);
    this.#emit({ type: "inserted", queue: task.queue, runAt: now });
    return Promise.resolve(copyTask(task));
  }

  list(query: ListQuery): Promise<TaskPage> {
    return settle(() => {
      const before = query.cursor === undefined
        ? Infinity
        : decodeCursor(query.cursor, ["number"] as const)[0];
      const rows = [...this.#rows.values()]
        .filter(({ seq, task }) => seq < before && matches(task, query))
        .sort((a, b) => b.seq - a.seq);
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return ({
        tasks: page.map((row) => copyTask(row.task)),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.seq]) : null,
      });
    });
  }

  count(filter: TaskFilter): Promise<number> {
    let n = 0;
    for (const { task } of this.#rows.values()) if (matches(task, filter)) n++;
    return Promise.resolve(n);
  }

  countWaitingByName(request: WaitingByNameRequest): Promise<NameCount[]> {
    return settle(() => {
      assertBatchLimit(request.limit);
      return this.#waitingByName(request);
    });
  }

  #waitingByName(request: WaitingByNameRequest): NameCount[] {
    const excluded = new Set(request.excluding);
    const counts = new Map<string, number>();
    for (const { task } of this.#rows.values()) {
      if (WAITING.has(task.status) && !excluded.has(task.name)) {
        counts.set(task.name, (counts.get(task.name) ?? 0) + 1);
      }
    }
    return [...counts].map(([name, waiting]) => ({ name, waiting }))
      .sort((a, b) => b.waiting - a.waiting || (a.name < b.name ? -1 : 1))
      .slice(0, request.limit);
  }

  stats(): Promise<TaskStats> {
    const stats: TaskStats = { total: 0, byStatus: emptyCounts(), queues: {} };
    for (const { task } of this.#rows.values()) {
      stats.total++;
      stats.byStatus[task.status]++;
      // Own keys only: a queue may be called "constructor" or "toString".
      const counts = Object.hasOwn(stats.queues, task.queue)
        ? stats.queues[task.queue]!
        : (stats.queues[task.queue] = emptyCounts());
      counts[task.status]++;
    }
    return Promise.resolve(stats);
  }

  history(since: number, until: number): Promise<HistoryPoint[]> {
    const points = [...this.#history.values()]
      .filter((p) => p.at + HISTORY_BUCKET_MILLIS > since && p.at < until)
      .sort((a, b) => a.at - b.at)
      .map((p) => ({ ...p }));
    return Promise.resolve(points);
  }

  bulk(request: BulkRequest): Promise<number> {
    return settle(() => {
      assertBatchLimit(request.limit);
      const statuses = new Set(bulkStatuses(request.action));
      const picked = [...this.#rows.values()]
        .filter(({ task }) => statuses.has(task.status) && matches(task, request.filter))
        .sort((a, b) => a.seq - b.seq)
        .slice(0, request.limit);
      const finished: string[] = [];
      for (const row of picked) {
        const { task } = row;
        if (request.action === "delete") {
          this.#rows.delete(task.id);
        } else if (request.action === "cancel") {
          task.status = TaskStatus.CANCELLED;
          task.completedAt = request.now;
          row.version++;
          finished.push(task.id);
        } else {
          resetForRetry(task, request.now);
          row.unique = null;
          this.#index(row);
          this.#emit({ type: "inserted", queue: task.queue, runAt: request.now });
        }
      }
      if (finished.length) this.#emit({ type: "finished", ids: finished });
      return picked.length;
    });
  }

  prune(request: PruneRequest): Promise<number> {
    return settle(() => {
      assertBatchLimit(request.limit);
      const wanted = new Set(request.statuses);
      let removed = 0;
      for (const [id, { task }] of this.#rows) {
        if (removed >= request.limit) break;
        if (
          wanted.has(task.status) && task.completedAt !== null && task.completedAt < request.before
        ) {
          this.#rows.delete(id);
          removed++;
        }
      }
      return removed;
    });
  }

  listQueues(): Promise<QueueState[]> {
    const names = new Set(this.#queueStates.keys());
    for (const { task } of this.#rows.values()) names.add(task.queue);
    return Promise.resolve(
      [...names].sort().map((name) =>
        this.#queueStates.get(name) ?? { name, paused: false, updatedAt: null }
      ).map((q) => ({ ...q })),
    );
  }

  setQueuePaused(name: string, paused: boolean, now: number): Promise<QueueState> {
    const state = { name, paused, updatedAt: now };
    this.#queueStates.set(name, state);
    if (paused) this.#paused.add(name);
    else {
      this.#paused.delete(name);
      this.#emit({ type: "inserted", queue: name, runAt: now });
    }
    return Promise.resolve({ ...state });
  }

  registerWorker(info: WorkerInfo): Promise<void> {
    this.#workers.set(info.id, copyWorker(info));
    return Promise.resolve();
  }

  heartbeatWorker(id: string, now: number, meta?: JsonValue): Promise<boolean> {
    const worker = this.#workers.get(id);
    if (!worker) return Promise.resolve(false);
    worker.lastBeatAt = now;
    if (meta !== undefined) worker.meta = copyJson(meta);
    return Promise.resolve(true);
  }

  removeWorker(id: string): Promise<void> {
    this.#workers.delete(id);
    return Promise.resolve();
  }

  listWorkers(): Promise<WorkerInfo[]> {
    return Promise.resolve(
      [...this.#workers.values()].sort((a, b) => a.startedAt - b.startedAt).map(copyWorker),
    );
  }

  lead(request: LeadRequest): Promise<Leadership> {
    const { name, holder, now, ttlMillis } = request;
    const current = this.#leaders.get(name);
    if (!current || current.holder === holder || current.expiresAt <= now) {
      this.#leaders.set(name, { name, holder, expiresAt: now + ttlMillis });
    }
    return Promise.resolve({ ...this.#leaders.get(name)! });
  }

  resign(name: string, holder: string): Promise<void> {
    if (this.#leaders.get(name)?.holder === holder) this.#leaders.delete(name);
    return Promise.resolve();
  }

  setLimits(
    scope: FlowLimit["scope"],
    name: string,
    limits: FlowLimits,
    now: number,
  ): Promise<FlowLimit> {
    const key = `${scope}\0${name}`;
    const stored: FlowLimit = {
      scope,
      name,
      rateLimit: limits.rateLimit && { ...limits.rateLimit },
      maxRunning: limits.maxRunning,
      updatedAt: now,
    };
    if (limits.rateLimit === null && limits.maxRunning === null) {
      this.#limits.delete(key);
      this.#starts.delete(key);
    } else {
      this.#limits.set(key, stored);
    }
    this.#emit(
      scope === "queue" ? { type: "inserted", queue: name, runAt: now } : { type: "changed" },
    );
    return Promise.resolve(copyLimit(stored));
  }

  listLimits(): Promise<FlowLimit[]> {
    return Promise.resolve(
      [...this.#limits.values()]
        .sort((a, b) => a.scope.localeCompare(b.scope) || a.name.localeCompare(b.name))
        .map(copyLimit),
    );
  }

  upsertSchedule(input: ScheduleInput, now: number): Promise<ScheduleRecord> {
    const existing = this.#schedules.get(input.id);
    const record: ScheduleRecord = {
      ...input,
      args: copyJson(input.args),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      lastSlotAt: existing?.lastSlotAt ?? null,
      lastTaskId: existing?.lastTaskId ?? null,
    };
    this.#schedules.set(input.id, record);
    return Promise.resolve(copySchedule(record));
  }

  deleteSchedule(id: string): Promise<boolean> {
    this.#slots.delete(id);
    return Promise.resolve(this.#schedules.delete(id));
  }

  retireSchedules(keep: readonly string[], now: number): Promise<string[]> {
    const kept = new Set(keep);
    const retired: string[] = [];
    for (const schedule of this.#schedules.values()) {
      if (schedule.source === "code" && !schedule.retired && !kept.has(schedule.id)) {
        schedule.retired = true;
        schedule.updatedAt = now;
        retired.push(schedule.id);
      }
    }
    return Promise.resolve(retired.sort());
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return Promise.resolve(
      [...this.#schedules.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map(copySchedule),
    );
  }

  async recordSlot(request: SlotRequest): Promise<SlotResult> {
    const { scheduleId, slotAt, task, now } = request;
    const schedule = this.#schedules.get(scheduleId);
    let ledger = this.#slots.get(scheduleId);
    if (
      !schedule || schedule.retired ||
      (schedule.lastSlotAt !== null && schedule.lastSlotAt >= slotAt) || ledger?.has(slotAt)
    ) {
      return { outcome: "taken", taskId: null };
    }
    if (!ledger) this.#slots.set(scheduleId, ledger = new Map());
    const last = schedule.lastTaskId === null ? undefined : this.#rows.get(schedule.lastTaskId);
    if (
      schedule.overlap === "skip" && last &&
      (WAITING.has(last.task.status) || last.task.status === TaskStatus.PROCESSING)
    ) {
      ledger.set(slotAt, { scheduleId, slotAt, taskId: null, recordedAt: now });
      schedule.lastSlotAt = slotAt;
      return { outcome: "skipped", taskId: null };
    }
    // insert does its work before it returns; the slot is marked before the first await, so a
    // racing call sees it, as it would after a transaction.
    const inserted = this.insert([{ ...task, scheduledFor: slotAt }]);
    const slot: SlotRecord = { scheduleId, slotAt, taskId: task.id, recordedAt: now };
    ledger.set(slotAt, slot);
    schedule.lastSlotAt = slotAt;
    schedule.lastTaskId = task.id;
    const [result] = await inserted;
    slot.taskId = schedule.lastTaskId = result!.id;
    return { outcome: "fired", taskId: result!.id };
  }

  listSlots(scheduleId: string, limit: number): Promise<SlotRecord[]> {
    return settle(() => {
      assertBatchLimit(limit);
      return [...(this.#slots.get(scheduleId)?.values() ?? [])]
        .sort((a, b) => b.slotAt - a.slotAt)
        .slice(0, limit)
        .map((slot) => ({ ...slot }));
    });
  }

  pruneSlots(before: number, limit: number): Promise<number> {
    return settle(() => {
      assertBatchLimit(limit);
      let removed = 0;
      for (const ledger of this.#slots.values()) {
        for (const slotAt of [...ledger.keys()]) {
          if (removed >= limit) return removed;
          if (slotAt < before) {
            ledger.delete(slotAt);
            removed++;
          }
        }
      }
      return removed;
    });
  }

  listen(listener: (event: StoreEvent) => void): () => void {
    return this.notifier.listen(listener);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #index(row: Row): void {
    row.version++;
    let byName = this.#queues.get(row.task.queue);
    if (!byName) this.#queues.set(row.task.queue, byName = new Map());
    let index = byName.get(row.task.name);
    if (!index) byName.set(row.task.name, index = new QueueIndex());
    index.add(row);
  }

  #held(id: string, token: string): TaskRecord | undefined {
    const task = this.#rows.get(id)?.task;
    return task && task.status === TaskStatus.PROCESSING && task.attemptToken === token
      ? task
      : undefined;
  }

  /** A start mark; a start a rate limit counted at claim keeps its time (see `FlowLimit`). */
  #markStarted(task: TaskRecord, at: number): void {
    const rated = (scope: string, name: string) =>
      this.#limits.get(`${scope}\0${name}`)?.rateLimit != null;
    if (task.startedAt !== null && (rated("queue", task.queue) || rated("task", task.name))) return;
    task.startedAt = at;
  }

  #countRunning(task: TaskRecord, n: number): void {
    for (const key of [`queue\0${task.queue}`, `task\0${task.name}`]) {
      this.#running.set(key, (this.#running.get(key) ?? 0) + n);
    }
  }

  #countHistory(status: TaskStatus, now: number): void {
    const field = status === TaskStatus.COMPLETED
      ? "completed"
      : status === TaskStatus.FAILED
      ? "failed"
      : status === TaskStatus.RETRYING
      ? "retried"
      : undefined;
    if (!field) return;
    const at = now - (now % HISTORY_BUCKET_MILLIS);
    let point = this.#history.get(at);
    if (!point) this.#history.set(at, point = { at, completed: 0, failed: 0, retried: 0 });
    point[field]++;
  }

  #emit(event: StoreEvent): void {
    // Stores announce after commit; here the change is visible at once, but listeners run
    // after the caller's await, as they would with a real database.
    queueMicrotask(() => this.notifier.notify(event));
  }
}

/**
 * The starts of a rate-limited scope, as the SQLite store keeps them: one entry per claim with a
 * time that never decreases (a claim with an older clock counts as later) and the running total,
 * so a window's starts are two binary searches.
 */
class StartLog {
  #at: number[] = [];
  #cum: number[] = [];
  /** The total of the entries trimmed away. */
  #base = 0;

  add(now: number, n: number): void {
    const last = this.#at.length - 1;
    this.#at.push(Math.max(now, this.#at[last] ?? now));
    this.#cum.push((this.#cum[last] ?? this.#base) + n);
  }

  /** Starts with a time after `t`. */
  countAfter(t: number): number {
    const i = this.#firstAfter(t);
    const total = this.#cum.at(-1) ?? this.#base;
    return total - (i === 0 ? this.#base : this.#cum[i - 1]!);
  }

  /** The oldest time after `t`, if any. */
  oldestAfter(t: number): number | undefined {
    return this.#at[this.#firstAfter(t)];
  }

  /** Drops entries at or before `t` once they are many (amortized: no shift per claim). */
  trim(t: number): void {
    const i = this.#firstAfter(t);
    if (i === 0 || (i < 1024 && i * 2 < this.#at.length)) return;
    this.#base = this.#cum[i - 1]!;
    this.#at.splice(0, i);
    this.#cum.splice(0, i);
  }

  #firstAfter(t: number): number {
    let lo = 0, hi = this.#at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#at[mid]! <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Applies an outcome to a held task (the contract's rules, shared in one place for memory). */
function applyOutcome(task: TaskRecord, outcome: Outcome): void {
  const entry: AttemptEntry = {
    attempt: task.attempts,
    startedAt: task.startedAt,
    endedAt: outcome.now,
    outcome: entryOutcome(outcome, task.cancelRequested),
    workerId: task.workerId,
    error: entryError(outcome),
  };
  task.attemptHistory = [...(task.attemptHistory ?? []), entry].slice(-MAX_ATTEMPT_HISTORY);
  task.attemptToken = null;
  task.leaseExpiresAt = null;
  const cancelled = task.cancelRequested && outcome.kind !== "completed";
  switch (outcome.kind) {
    case "completed":
      task.status = TaskStatus.COMPLETED;
      task.result = copyJson(outcome.result);
      task.completedAt = outcome.now;
      return;
    case "retry":
      task.lastError = outcome.error;
      task.status = TaskStatus.RETRYING;
      task.runAt = outcome.runAt;
      break;
    case "failed":
      task.lastError = outcome.error;
      task.status = TaskStatus.FAILED;
      task.completedAt = outcome.now;
      break;
    case "cancelled":
      if (outcome.error) task.lastError = outcome.error;
      task.status = TaskStatus.CANCELLED;
      task.completedAt = outcome.now;
      break;
    case "released":
      task.status = TaskStatus.PENDING;
      task.runAt = outcome.now;
      task.attempts--;
      break;
    case "snoozed":
      task.status = TaskStatus.SCHEDULED;
      task.runAt = outcome.runAt;
      task.attempts--;
      break;
  }
  if (cancelled) {
    task.status = TaskStatus.CANCELLED;
    task.completedAt = outcome.now;
  }
}

/** Runs `body`, turning a throw into a rejected promise as an asynchronous store would. */
function settle<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Whether a task passes a filter (the same rules as the SQL stores). */
function matches(task: TaskRecord, filter: TaskFilter): boolean {
  return (filter.status === undefined || task.status === filter.status) &&
    (filter.name === undefined || task.name === filter.name) &&
    (filter.queue === undefined || task.queue === filter.queue) &&
    (filter.idPrefix === undefined || task.id.startsWith(filter.idPrefix)) &&
    (filter.argsContains === undefined ||
      JSON.stringify(task.args).includes(filter.argsContains));
}

/** A FAILED or CANCELLED task back to PENDING with a fresh attempt budget. */
function resetForRetry(task: TaskRecord, now: number): void {
  Object.assign(task, {
    status: TaskStatus.PENDING,
    attempts: 0,
    runAt: now,
    startedAt: null,
    completedAt: null,
    result: null,
    cancelRequested: false,
    leaseExpiresAt: null,
    attemptToken: null,
  });
}

function copyLimit(limit: FlowLimit): FlowLimit {
  return { ...limit, rateLimit: limit.rateLimit && { ...limit.rateLimit } };
}

function copySchedule(schedule: ScheduleRecord): ScheduleRecord {
  return { ...schedule, args: copyJson(schedule.args) };
}

function copyWorker(info: WorkerInfo): WorkerInfo {
  return { ...info, queues: [...info.queues], meta: copyJson(info.meta) };
}

function copyJson<T>(value: T): T {
  return value === null || typeof value !== "object" ? value : JSON.parse(JSON.stringify(value));
}

/** A deep copy of a record (faster than structuredClone for this shape). */
function copyTask(task: TaskRecord): TaskRecord {
  return {
    ...task,
    args: copyJson(task.args),
    retryConfig: { ...task.retryConfig },
    lastError: task.lastError && { ...task.lastError },
    result: copyJson(task.result),
    progress: copyJson(task.progress),
    logs: [...task.logs],
    ...(task.attemptHistory
      ? {
        attemptHistory: task.attemptHistory.map((e) => ({
          ...e,
          error: e.error && { ...e.error },
        })),
      }
      : {}),
  };
}
