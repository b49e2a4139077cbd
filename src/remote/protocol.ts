/**
 * The HTTP worker protocol's logic over a {@linkcode TaskStore}, apart from HTTP (see
 * `routes.ts` and `docs/PROTOCOL.md`): a remote worker registers in the worker registry like a
 * local one, claims with `store.claim` (so pauses and flow limits apply), renews its leases by
 * heartbeat, and ends attempts with fenced outcomes. A remote worker is "another host" to the
 * local workers' heartbeats: its tasks come back once it stops beating for the heartbeat timeout,
 * or once their lease expires.
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";
import { DEFAULT_HEARTBEAT_TIMEOUT } from "../heartbeat.ts";
import type { JsonValue } from "../json.ts";
import { positiveInteger } from "../options.ts";
import { failureOutcome } from "../outcome.ts";
import type { ClaimRequest, Outcome, StartMark, StoreEvent, TaskStore } from "../store/store.ts";
import { type TaskError, type TaskRecord, TaskStatus } from "../task.ts";
import { DEFAULT_LEASE_MILLIS } from "../worker.ts";
/** Default fallback poll of a long-polling `fetch` when no store event wakes it: 1 s. */
export const DEFAULT_REMOTE_POLL_MILLIS = 1_000;
/** The shortest time between two claims of one long-polling fetch (events may come fast). */
const MIN_CLAIM_GAP_MILLIS = 10;
/** Registrations kept in memory at most (older ones are read from the store again). */
const MAX_CACHED_WORKERS = 10_000;
/** Start marks kept pending at most before they get a write of their own. */
const MAX_PENDING_MARKS = 1_000;
/** Default number of recent outcomes remembered so a repeated request is answered as done. */
export const DEFAULT_REPLAY_MEMORY = 10_000;

/** Options of {@linkcode RemoteWorkerProtocol}. */
export interface RemoteWorkerProtocolOptions {
  store: TaskStore;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /** Jitter of retry backoffs, in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** The lease of a remote worker that asks for none. Default 30000 ms (the local workers'). */
  leaseMillis?: number;
  /**
   * The silence after which the local workers' heartbeats take a remote worker for gone (their
   * `heartbeatTimeout`); remote workers are told to beat well within it. Default 10000 ms.
   */
  heartbeatTimeoutMillis?: number;
  /** Fallback poll of a long-polling fetch. Default 1000 ms. */
  pollMillis?: number;
  /** Recent outcomes remembered for replies to repeated requests. Default 10000. */
  replayMemory?: number;
  /** Aborted when the serving endpoint stops: long polls answer at once. */
  signal?: AbortSignal;
}

/** What `register` takes (`POST /api/v1/worker/register`, validated by `requests.ts`). */
export interface RegisterInput {
  queues: string[];
  /** Only tasks of these names; default: every task of the queues. */
  names?: string[] | undefined;
  concurrency: number;
  /** Default: the protocol's lease. */
  leaseMillis?: number | undefined;
  host?: string | undefined;
  pid?: number | undefined;
  /** Free-form details shown in the processes list. */
  meta?: { [key: string]: unknown } | undefined;
}

/** What `fetch` takes. */
export interface FetchInput {
  workerId: string;
  limit: number;
  /** Long-poll this long when nothing is due; 0 answers at once. Default 0. */
  waitMillis?: number | undefined;
}

/** A held attempt: its task and token. */
export interface LeaseInput {
  id: string;
  token: string;
}

/** What `heartbeat` takes. */
export interface HeartbeatInput {
  workerId: string;
  tasks: LeaseInput[];
}

/** One outcome of `finish`. */
export type OutcomeInput =
  | { outcome: "completed"; id: string; token: string; result?: unknown }
  | {
    outcome: "failed";
    id: string;
    token: string;
    error: string | { message: string; stack?: string | undefined };
    /** false: fail for good, no retry. Default true. */
    retryable?: boolean | undefined;
  }
  | { outcome: "released"; id: string; token: string };

/** What `deregister` takes. */
export interface DeregisterInput {
  workerId: string;
  release?: LeaseInput[] | undefined;
}

/** What `register` answers. */
export interface Registration {
  workerId: string;
  leaseMillis: number;
  /** Beat at least this often (a third of the shorter of the lease and heartbeat timeout). */
  heartbeatIntervalMillis: number;
  heartbeatTimeoutMillis: number;
}

/** A task as a remote worker receives it. */
export interface RemoteTask {
  id: string;
  name: string;
  queue: string;
  args: JsonValue;
  priority: string;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  /** The attempt token: every outcome, progress report and heartbeat of this attempt carries it. */
  token: string;
  leaseExpiresAt: number;
  /** How long the attempt may run, or null; the remote worker enforces it. */
  timeoutMillis: number | null;
  scheduledFor: number | null;
  createdAt: number;
  /**
   * The W3C trace context of the span that enqueued the task (OpenTelemetry), or null: a remote
   * worker that traces continues the trace with it (a span linked to this context).
   */
  traceparent: string | null;
  tracestate: string | null;
}

/** A task as the API shows it: the record without its attempt token. */
export type PublicTask = Omit<TaskRecord, "attemptToken">;

/** What became of one outcome. */
export type OutcomeResult =
  | { id: string; ok: true; task: PublicTask; replayed?: true }
  | { id: string; ok: false; status: 404 | 409; error: string; current: PublicTask | null };

/** What `heartbeat` answers. */
export interface HeartbeatResult {
  leaseExpiresAt: number;
  /** Tasks no longer held by this claim (taken back, finished, deleted): stop working on them. */
  lost: string[];
  /** Tasks still held whose cancellation was requested: stop and report a failure or release. */
  cancelled: string[];
}

/** The worker id is not (or no longer) registered: register again. */
export class UnknownWorkerError extends Error {
  override name = "UnknownWorkerError";
  constructor(readonly workerId: string) {
    super(
      `No registered worker "${workerId}": it was never registered, stopped, or was taken for ` +
        `gone after its heartbeat timeout; register again`,
    );
  }
}

interface Held {
  queues: string[];
  names: string[] | null;
  concurrency: number;
  leaseMillis: number;
}

/**
 * The remote worker protocol over a store. Every method is fenced by the attempt token: a stale
 * token changes nothing and answers the task's current state.
 *
 * @example
 * ```ts
 * const protocol = new RemoteWorkerProtocol({ store });
 * const { workerId } = await protocol.register({ queues: ["default"], concurrency: 4 });
 * const [task] = await protocol.fetch({ workerId, limit: 1, waitMillis: 1000 });
 * if (task) await protocol.finish([{ outcome: "completed", id: task.id, token: task.token }]);
 * ```
 */
export class RemoteWorkerProtocol {
  readonly leaseMillis: number;
  readonly heartbeatTimeoutMillis: number;
  readonly #store: TaskStore;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #pollMillis: number;
  readonly #signal: AbortSignal | undefined;
  readonly #replayMemory: number;
  /** Registrations this process made or read, by worker id. */
  readonly #workers = new Map<string, Held>();
  /**
   * Start marks of tasks handed out, written by the next store write that ends attempts (or the
   * next heartbeat), so a claim needs no transaction of its own for them. Stale ones are ignored.
   */
  #pendingMarks: StartMark[] = [];
  /** Long polls in progress, by worker id: `deregister` ends them at once. */
  readonly #polls = new Map<string, Set<AbortController>>();
  /** Recent successful outcomes, `${id} ${token}` → kind and record, oldest first. */
  readonly #done = new Map<string, { kind: string; task: PublicTask }>();

  constructor(options: RemoteWorkerProtocolOptions) {
    if (typeof options?.store !== "object" || options.store === null) {
      throw new TypeError(`store must be a TaskStore, got ${String(options?.store)}`);
    }
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.leaseMillis = positiveInteger(options.leaseMillis ?? DEFAULT_LEASE_MILLIS, "leaseMillis");
    this.heartbeatTimeoutMillis = positiveInteger(
      options.heartbeatTimeoutMillis ?? DEFAULT_HEARTBEAT_TIMEOUT,
      "heartbeatTimeoutMillis",
    );
    this.#pollMillis = positiveInteger(
      options.pollMillis ?? DEFAULT_REMOTE_POLL_MILLIS,
      "pollMillis",
    );
    this.#replayMemory = positiveInteger(
      options.replayMemory ?? DEFAULT_REPLAY_MEMORY,
      "replayMemory",
    );
    this.#signal = options.signal;
  }

  /** Registers a remote worker in the store's worker registry; it shows in `GET /api/workers`. */
  async register(input: RegisterInput): Promise<Registration> {
    const now = this.#clock.now();
    const workerId = `remote-${crypto.randomUUID()}`;
    const leaseMillis = input.leaseMillis ?? this.leaseMillis;
    const held: Held = {
      queues: [...new Set(input.queues)],
      names: input.names ? [...new Set(input.names)] : null,
      concurrency: input.concurrency,
      leaseMillis,
    };
    await this.#store.registerWorker({
      id: workerId,
      host: input.host ?? "remote",
      pid: input.pid ?? 0,
      startedAt: now,
      lastBeatAt: now,
      queues: held.queues,
      concurrency: held.concurrency,
      // No `process` identity (not even one the client made up): the local heartbeats judge a
      // remote worker by silence alone.
      meta: {
        ...withoutKeys(input.meta as Record<string, JsonValue> | undefined, ["process", "remote"]),
        remote: { protocol: 1, names: held.names, leaseMillis },
      },
    });
    this.#workers.set(workerId, held);
    // A cache (`#held` reads the registry again): workers that vanished must not pile up in it.
    if (this.#workers.size > MAX_CACHED_WORKERS) {
      this.#workers.delete(this.#workers.keys().next().value!);
    }
    return {
      workerId,
      leaseMillis,
      heartbeatIntervalMillis: Math.max(
        100,
        Math.floor(Math.min(leaseMillis, this.heartbeatTimeoutMillis) / 3),
      ),
      heartbeatTimeoutMillis: this.heartbeatTimeoutMillis,
    };
  }

  /**
   * Claims up to `limit` tasks (at most the worker's concurrency) of its queues and names;
   * when none is due, waits up to `waitMillis` for one (woken by the store's events, with a
   * fallback poll). Each task starts as it is handed out (its `startedAt`, the fetch time, is
   * written with the worker's next outcome or heartbeat).
   */
  async fetch(input: FetchInput, signal?: AbortSignal): Promise<RemoteTask[]> {
    const held = await this.#held(input.workerId);
    // A fetch is a sign of life, and a worker taken for gone meanwhile must register again
    // before it gets tasks (the heartbeats only take back the tasks of registered workers).
    if (!(await this.#store.heartbeatWorker(input.workerId, this.#clock.now()))) {
      this.#workers.delete(input.workerId);
      throw new UnknownWorkerError(input.workerId);
    }
    const limit = Math.min(input.limit, held.concurrency);
    const deadline = this.#clock.now() + (input.waitMillis ?? 0);
    const wake = new Wakeup(this.#store, held.queues);
    const ended = new AbortController();
    const polls = this.#polls.get(input.workerId) ?? new Set();
    this.#polls.set(input.workerId, polls.add(ended));
    const signals = [signal, this.#signal, ended.signal].filter((s) => s !== undefined);
    try {
      for (let round = 0;; round++) {
        wake.arm();
        // A worker that stopped beating while its poll waited (stopped, hung, cut off) is gone:
        // what comes back from it must not be handed to the same silent poll.
        if (round > 0 && !(await this.#beating(input.workerId))) {
          this.#workers.delete(input.workerId);
          throw new UnknownWorkerError(input.workerId);
        }
        const { tasks, foreignOnly } = await this.#claim(input.workerId, held, limit);
        const claimedAt = performance.now();
        const left = deadline - this.#clock.now();
        if (tasks.length || left <= 0 || signals.some((s) => s.aborted)) return tasks;
        // A store that ignores `names` handed out only other names' tasks (now released):
        // wait for the poll, not for the release's own event, or this would spin.
        await wake.wait(Math.min(left, this.#pollMillis), foreignOnly ? "none" : "any", signals);
        // Every finish anywhere wakes idle long polls: unless an insert into the worker's queues
        // woke it, at most one claim per gap each.
        const since = performance.now() - claimedAt;
        if (!wake.inserted && since < MIN_CLAIM_GAP_MILLIS) {
          await wake.wait(MIN_CLAIM_GAP_MILLIS - since, foreignOnly ? "none" : "inserted", signals);
        }
      }
    } finally {
      wake.close();
      polls.delete(ended);
      if (!polls.size) this.#polls.delete(input.workerId);
    }
  }

  /** Whether the worker is registered and beat within its heartbeat timeout (read only). */
  async #beating(workerId: string): Promise<boolean> {
    const row = (await this.#store.listWorkers()).find((w) => w.id === workerId);
    return row !== undefined && this.#clock.now() - row.lastBeatAt <= this.heartbeatTimeoutMillis;
  }

  /** Extends the leases of held tasks; answers which were lost and which were cancelled. */
  async heartbeat(input: HeartbeatInput): Promise<HeartbeatResult> {
    const held = await this.#held(input.workerId);
    const now = this.#clock.now();
    if (!(await this.#store.heartbeatWorker(input.workerId, now))) {
      this.#workers.delete(input.workerId);
      throw new UnknownWorkerError(input.workerId);
    }
    const leaseExpiresAt = now + held.leaseMillis;
    await this.#writeMarks();
    if (!input.tasks.length) return { leaseExpiresAt, lost: [], cancelled: [] };
    const renewal = await this.#store.renewLeases(input.tasks, leaseExpiresAt);
    return { leaseExpiresAt, lost: renewal.lost, cancelled: renewal.cancelRequested };
  }

  /**
   * Ends attempts, fenced by their tokens, in one store transaction (failures read their task
   * first, for the retry policy). A stale token changes nothing: its result is `ok: false`, 409,
   * with the task's current state. An outcome repeated after it succeeded (the same id, token
   * and kind, e.g. a retried request whose response was lost) is answered `ok: true,
   * replayed: true` while this process remembers it.
   */
  async finish(items: readonly OutcomeInput[]): Promise<OutcomeResult[]> {
    return (await this.#finish(items, null)).results;
  }

  /**
   * {@linkcode finish}, then {@linkcode fetch} for the worker, the outcomes and the first claim in
   * one store transaction; when that claim finds nothing and `waitMillis` is given, it long-polls.
   */
  async finishAndFetch(
    items: readonly OutcomeInput[],
    fetch: FetchInput,
    signal?: AbortSignal,
  ): Promise<{ results: OutcomeResult[]; tasks: RemoteTask[] }> {
    const held = await this.#held(fetch.workerId);
    const { results, tasks } = await this.#finish(items, {
      workerId: fetch.workerId,
      held,
      limit: Math.min(fetch.limit, held.concurrency),
    });
    if (tasks.length || !fetch.waitMillis) return { results, tasks };
    return { results, tasks: await this.fetch(fetch, signal) };
  }

  async #finish(
    items: readonly OutcomeInput[],
    refill: { workerId: string; held: Held; limit: number } | null,
  ): Promise<{ results: OutcomeResult[]; tasks: RemoteTask[] }> {
    const now = this.#clock.now();
    const results: (OutcomeResult | undefined)[] = new Array(items.length);
    const outcomes: Outcome[] = [];
    const positions: number[] = [];
    const failures = items.filter((item) => item.outcome === "failed");
    const read = new Map<string, TaskRecord | null>();
    if (failures.length) {
      const tasks = await Promise.all(failures.map((item) => this.#store.get(item.id)));
      failures.forEach((item, i) => read.set(item.id, tasks[i] ?? null));
    }
    items.forEach((item, i) => {
      const replay = this.#done.get(`${item.id} ${item.token}`);
      if (replay && replay.kind === item.outcome) {
        results[i] = { id: item.id, ok: true, task: replay.task, replayed: true };
        return;
      }
      const base = { id: item.id, token: item.token, now };
      let outcome: Outcome;
      if (item.outcome === "completed") {
        outcome = { ...base, kind: "completed", result: (item.result ?? null) as JsonValue };
      } else if (item.outcome === "released") {
        outcome = { ...base, kind: "released" };
      } else {
        const task = read.get(item.id);
        if (!task || task.status !== TaskStatus.PROCESSING || task.attemptToken !== item.token) {
          return; // Stale: answered below with the current state.
        }
        const error: TaskError = typeof item.error === "string"
          ? { message: item.error }
          : item.error.stack === undefined
          ? { message: item.error.message }
          : { message: item.error.message, stack: item.error.stack };
        const permanent = item.retryable === false;
        outcome = failureOutcome(task, item.token, error, now, this.#random, permanent);
      }
      outcomes.push(outcome);
      positions.push(i);
    });
    const marks = this.#takeMarks();
    let finished: (TaskRecord | null)[] = [];
    let tasks: RemoteTask[] = [];
    try {
      if (refill) {
        const both = await this.#store.finishAndClaim(
          outcomes,
          this.#claimRequest(refill.workerId, refill.held, refill.limit, now),
          marks,
        );
        finished = both.finished;
        tasks = (await this.#handOut(both.claimed, refill.held, now)).tasks;
      } else if (outcomes.length || marks.length) {
        finished = await this.#store.finish(outcomes, marks);
      }
    } catch (error) {
      this.#pendingMarks.push(...marks);
      throw error;
    }
    finished.forEach((task, j) => {
      const i = positions[j]!;
      const item = items[i]!;
      if (!task) return;
      const shown = publicTask(task);
      this.#remember(`${item.id} ${item.token}`, item.outcome, shown);
      results[i] = { id: item.id, ok: true, task: shown };
    });
    await Promise.all(items.map(async (item, i) => {
      if (results[i] === undefined) results[i] = await this.#conflict(item.id);
    }));
    return { results: results as OutcomeResult[], tasks };
  }

  /** Stores a progress value; a stale token answers the conflict. */
  async progress(id: string, token: string, progress: unknown): Promise<OutcomeResult> {
    const ok = await this.#store.reportProgress({ id, token, progress: progress as JsonValue });
    return ok ? await this.#current(id) : await this.#conflict(id);
  }

  /** Appends log lines (the last 100 are kept); a stale token answers the conflict. */
  async log(id: string, token: string, lines: string[]): Promise<OutcomeResult> {
    const ok = await this.#store.reportProgress({ id, token, logs: lines });
    return ok ? await this.#current(id) : await this.#conflict(id);
  }

  /** A clean stop: gives `release` back (due again at once, the attempt not spent) and removes the registration. */
  async deregister(input: DeregisterInput): Promise<OutcomeResult[]> {
    const released = input.release?.length
      ? await this.finish(
        input.release.map((lease) => ({ outcome: "released" as const, ...lease })),
      )
      : [];
    await this.#store.removeWorker(input.workerId);
    this.#workers.delete(input.workerId);
    for (const poll of this.#polls.get(input.workerId) ?? []) poll.abort();
    return released;
  }

  async #claim(
    workerId: string,
    held: Held,
    limit: number,
  ): Promise<{ tasks: RemoteTask[]; foreignOnly: boolean }> {
    const now = this.#clock.now();
    const claimed = await this.#store.claim(this.#claimRequest(workerId, held, limit, now));
    return await this.#handOut(claimed, held, now);
  }

  #claimRequest(workerId: string, held: Held, limit: number, now: number): ClaimRequest {
    const request: ClaimRequest & { names?: readonly string[] } = {
      workerId,
      queues: held.queues,
      limit,
      now,
      leaseMillis: held.leaseMillis,
      ...(held.names ? { names: held.names } : {}),
    };
    return request;
  }

  /**
   * The claimed tasks the worker handles, each started now (its mark pending); the others (a
   * store that ignores `names`) go back at once.
   */
  async #handOut(
    claimed: readonly TaskRecord[],
    held: Held,
    now: number,
  ): Promise<{ tasks: RemoteTask[]; foreignOnly: boolean }> {
    if (!claimed.length) return { tasks: [], foreignOnly: false };
    const names = held.names ? new Set(held.names) : null;
    const mine = names ? claimed.filter((task) => names.has(task.name)) : claimed;
    for (const task of mine) {
      this.#pendingMarks.push({ id: task.id, token: task.attemptToken!, at: now });
    }
    const foreign: Outcome[] = names
      ? claimed.filter((task) => !names.has(task.name)).map((task) => ({
        kind: "released",
        id: task.id,
        token: task.attemptToken!,
        now,
      }))
      : [];
    if (foreign.length) await this.#store.finish(foreign);
    if (this.#pendingMarks.length >= MAX_PENDING_MARKS) await this.#writeMarks();
    return { tasks: mine.map(remoteTask), foreignOnly: mine.length === 0 };
  }

  #takeMarks(): StartMark[] {
    const marks = this.#pendingMarks;
    this.#pendingMarks = [];
    return marks;
  }

  async #writeMarks(): Promise<void> {
    const marks = this.#takeMarks();
    if (!marks.length) return;
    try {
      await this.#store.finish([], marks);
    } catch (error) {
      this.#pendingMarks.push(...marks);
      throw error;
    }
  }

  async #held(workerId: string): Promise<Held> {
    const known = this.#workers.get(workerId);
    if (known) return known;
    // Registered through another serving process, or before this one restarted.
    const row = (await this.#store.listWorkers()).find((w) => w.id === workerId);
    const remote = remoteMeta(row?.meta);
    if (!row || !remote) throw new UnknownWorkerError(workerId);
    const held: Held = {
      queues: row.queues,
      names: remote.names,
      concurrency: row.concurrency,
      leaseMillis: remote.leaseMillis ?? this.leaseMillis,
    };
    this.#workers.set(workerId, held);
    return held;
  }

  #remember(key: string, kind: string, task: PublicTask): void {
    this.#done.set(key, { kind, task });
    if (this.#done.size > this.#replayMemory) {
      this.#done.delete(this.#done.keys().next().value!);
    }
  }

  async #current(id: string): Promise<OutcomeResult> {
    const task = await this.#store.get(id);
    return task ? { id, ok: true, task: publicTask(task) } : await this.#conflict(id);
  }

  async #conflict(id: string): Promise<OutcomeResult> {
    const task = await this.#store.get(id);
    if (!task) {
      return { id, ok: false, status: 404, error: `No task with id "${id}"`, current: null };
    }
    return {
      id,
      ok: false,
      status: 409,
      error: `The attempt token no longer holds task ${id}: it is ${task.status}` +
        (task.status === TaskStatus.PROCESSING ? ` under another attempt (${task.attempts})` : "") +
        `; nothing was changed`,
      current: publicTask(task),
    };
  }
}

/** The record without its attempt token. */
export function publicTask(task: TaskRecord): PublicTask {
  const { attemptToken: _token, ...rest } = task;
  return rest;
}

function withoutKeys(
  record: Record<string, JsonValue> | undefined,
  keys: readonly string[],
): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(record ?? {}).filter(([key]) => !keys.includes(key)));
}

function remoteTask(task: TaskRecord): RemoteTask {
  return {
    id: task.id,
    name: task.name,
    queue: task.queue,
    args: task.args,
    priority: task.priority,
    attempt: task.attempts,
    maxAttempts: task.maxAttempts,
    token: task.attemptToken!,
    leaseExpiresAt: task.leaseExpiresAt!,
    timeoutMillis: task.timeoutMillis,
    scheduledFor: task.scheduledFor ?? null,
    createdAt: task.createdAt,
    traceparent: task.traceparent ?? null,
    tracestate: task.tracestate ?? null,
  };
}

function remoteMeta(
  meta: JsonValue | undefined,
): { names: string[] | null; leaseMillis: number | null } | null {
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return null;
  const remote = meta.remote;
  if (typeof remote !== "object" || remote === null || Array.isArray(remote)) return null;
  const names = Array.isArray(remote.names)
    ? remote.names.filter((n): n is string => typeof n === "string")
    : null;
  const lease = remote.leaseMillis;
  return { names, leaseMillis: typeof lease === "number" ? lease : null };
}

/**
 * Wakes a long-polling fetch when the store reports work that may be due: subscribed before the
 * claim (`arm`), so an insert that commits between the claim and the wait is not missed.
 */
class Wakeup {
  /** Any event since `arm`; `#inserted`: an insert into one of the queues. */
  #woken = false;
  #inserted = false;
  #resolve: ((event: "inserted" | "other") => void) | undefined;
  /** Ends the wait in progress. */
  #end: (() => void) | undefined;
  readonly #unsubscribe: () => void;

  constructor(store: TaskStore, queues: readonly string[]) {
    const wanted = new Set(queues);
    this.#unsubscribe = store.listen((event: StoreEvent) => {
      if (event.type === "inserted" && !wanted.has(event.queue)) return;
      if (event.type === "cancelRequested") return;
      this.#woken = true;
      if (event.type === "inserted") this.#inserted = true;
      this.#resolve?.(event.type === "inserted" ? "inserted" : "other");
    });
  }

  /** Forgets earlier events: the claim about to run sees what they announced. */
  arm(): void {
    this.#woken = false;
    this.#inserted = false;
  }

  /**
   * Resolves after `millis`, on abort, or on an event since `arm` that `wakeOn` lets through:
   * `"any"`, `"inserted"` (an insert into the queues: work that is surely new) or `"none"`.
   */
  wait(
    millis: number,
    wakeOn: "any" | "inserted" | "none",
    signals: readonly AbortSignal[],
  ): Promise<void> {
    if (wakeOn === "any" ? this.#woken : wakeOn === "inserted" && this.#inserted) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const signal of signals) signal.removeEventListener("abort", done);
        this.#resolve = undefined;
        this.#end = undefined;
        resolve();
      };
      this.#end = done;
      const timer = setTimeout(done, millis);
      for (const signal of signals) signal.addEventListener("abort", done, { once: true });
      if (signals.some((s) => s.aborted)) done();
      if (wakeOn !== "none") {
        this.#resolve = (event) => {
          if (wakeOn === "any" || event === "inserted") done();
        };
      }
    });
  }

  /** Whether an insert into the queues came since `arm`. */
  get inserted(): boolean {
    return this.#inserted;
  }

  close(): void {
    this.#unsubscribe();
    this.#end?.();
  }
}
