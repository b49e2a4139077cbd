/**
 * The consumer side. Its producer half claims due tasks ahead into a local queue (prefetch,
 * leased like running tasks), starts at most `concurrency` of them at once and keeps every held
 * lease alive; its completer half (`completer.ts`) writes outcomes in group commits, with the
 * refill claim riding along.
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import {
  AttemptAborted,
  type AttemptResult,
  InProcessExecutor,
  type TaskExecutor,
} from "./executor.ts";
import { findNonJson, type JsonValue } from "./json.ts";
import { clearLongTimeout, type LongTimer, setLongInterval, setLongTimeout } from "./long_timer.ts";
import { failureOutcome, toTaskError } from "./outcome.ts";
import { assertName, DEFAULT_QUEUE, defaultRegistry, type TaskRegistry } from "./registry.ts";
import { LeaseRescuer } from "./rescuer.ts";
import {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_TIMEOUT,
  WorkerHeartbeat,
} from "./heartbeat.ts";
import { DEFAULT_LEADER_TTL_MILLIS, LeaderElector, MAINTENANCE_LEADERSHIP } from "./leader.ts";
import { defaultSignals, type TaskSignals } from "./signals.ts";
import { type FlowLimitOptions, parseFlowLimits } from "./flow_limits.ts";
import { Pruner, type Retention } from "./pruner.ts";
import { Scheduler } from "./scheduler.ts";
import type { FlowLimits } from "./store/store.ts";
import type { ClaimRequest, Outcome, StoreEvent, TaskStore } from "./store/store.ts";
import { PRIORITY_RANK, type TaskRecord, TaskStatus } from "./task.ts";
import { Heap } from "./store/_heap.ts";
import { Completer, type Completion } from "./completer.ts";
import { Deadlines } from "./deadlines.ts";
import { positiveInteger } from "./options.ts";
import type { HandlerLogLevel } from "./executor.ts";
import { libraryLogger, logErrorTo, logEvent } from "./log.ts";

/** Where handler output is logged, besides being stored with its task. */
const TASK_LOG = libraryLogger("task");
import { describeTaskTypes } from "./task_types.ts";
import { readyForTracing } from "./tracing/_api.ts";
import { type ProcessSpan, startProcessSpan } from "./tracing/consumer_span.ts";

/** Default tasks in flight. */
export const DEFAULT_CONCURRENCY = 4;
/** Default milliseconds between polls when no wake-up arrives. */
export const DEFAULT_POLL_INTERVAL = 1000;
/** Default lease length: a worker that stops renewing loses its tasks after this long. */
export const DEFAULT_LEASE_MILLIS = 30_000;
/** Default milliseconds between lease-rescue passes (run by the elected leader only). */
export const DEFAULT_RESCUE_INTERVAL = 5_000;
/** Default time `stop()` waits for running tasks before releasing them. */
export const DEFAULT_GRACE_MILLIS = 30_000;
/** The most tasks an automatic prefetch holds beyond `concurrency`. */
export const DEFAULT_MAX_PREFETCH = 256;
/**
 * An automatic prefetch holds about this much work (ms at the observed drain rate): enough for
 * big batches at high rates, nothing for slow tasks, so one worker does not hoard a shared queue.
 */
export const AUTO_PREFETCH_WINDOW_MILLIS = 20;

/**
 * After another process wrote to the store, the worker re-reads the cancel flags of the tasks
 * it holds at most this often (ms), so a cancel from another process reaches the handler
 * within about this long even when its wake-up was lost.
 */
export const CANCEL_CHECK_MILLIS = 100;

/** Options of {@linkcode TaskWorker}. */
export interface TaskWorkerOptions {
  /** Handlers run in process. Default {@linkcode defaultRegistry}. Ignored when `executor` is set. */
  registry?: TaskRegistry;
  /** Runs attempts; the worker closes it when it stops. Default: in process, over `registry`. */
  executor?: TaskExecutor;
  /** Tasks in flight at once. Default 4. */
  concurrency?: number;
  /**
   * How many tasks to claim ahead of `concurrency` (leased, not started), so claims and outcomes
   * travel in big batches. `"auto"` (the default) sizes it from the observed drain rate, up to
   * {@linkcode DEFAULT_MAX_PREFETCH}: zero for slow tasks. Prefetched tasks are given back
   * without spending an attempt when the worker stops.
   */
  prefetch?: number | "auto";
  /** Milliseconds between polls for tasks another process enqueued. Default 1000. */
  pollInterval?: number;
  /** Queues to claim from. Default `["default"]`. */
  queues?: readonly string[];
  /**
   * Lease length in ms. Shorter: a crashed worker's tasks come back sooner; longer: fewer
   * renewals. Renewed every third of it. Default 30000.
   */
  leaseMillis?: number;
  /** Milliseconds between lease rescues, which the elected leader runs. Default 5000. */
  rescueInterval?: number;
  /** Milliseconds between heartbeats in the worker registry. Default 2000. */
  heartbeatInterval?: number;
  /**
   * A worker silent this long (ms) counts as gone: its tasks come back at once (a worker on this
   * host whose process died is found at once, without this wait). Longer than
   * `heartbeatInterval`, well under `leaseMillis`. Default 10000.
   */
  heartbeatTimeout?: number;
  /** TTL of the maintenance leadership in ms; renewed every third of it. Default 10000. */
  leaderTtlMillis?: number;
  /** Identifies this worker in claims. Default `worker-<random>`. */
  workerId?: string;
  /** Emits life-cycle events. Default: the process-wide {@linkcode defaultSignals}. */
  signals?: TaskSignals;
  /**
   * Flow limits of queues, stored when the worker starts (global across processes: the last
   * writer wins): `{ mail: { rateLimit: { limit: 10, per: "1s" }, maxRunning: 5 } }`. Task
   * names' limits come from their definitions (`defineTask({ rateLimit, maxRunning })`). While a
   * limit holds tasks back, the worker claims no more than its free slots (no prefetch).
   */
  queueLimits?: Readonly<Record<string, FlowLimitOptions>>;
  /**
   * Runs a {@linkcode Scheduler} over `registry` (or `schedulerRegistry`): fires cron
   * schedules, each slot once across every process. At start it writes the schedules the
   * definitions declare and retires those removed from code. Default true.
   */
  scheduler?: boolean;
  /** The tasks the scheduler may enqueue when `executor` runs them elsewhere (e.g. a pool). */
  schedulerRegistry?: TaskRegistry;
  /**
   * Deletes finished tasks past their retention, while this worker leads maintenance:
   * per-status ms or null (never), over {@linkcode DEFAULT_RETENTION}; false turns pruning off.
   * Default: the default retention.
   */
  retention?: Partial<Retention> | false;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /** Source of jitter, in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Store errors in the background loops (they are retried). Default: logged through LogTape. */
  onError?: (error: unknown) => void;
}

interface Attempt {
  task: TaskRecord;
  token: string;
  controller: AbortController;
  logs: string[];
  logFlush: Promise<void> | undefined;
  /** The attempt's OpenTelemetry span, when tracing is on. */
  span: ProcessSpan | null;
}

/** Prefetched tasks run in claim order: priority, then due time, then claim order. */
const runsBefore = (a: TaskRecord, b: TaskRecord) =>
  PRIORITY_RANK[a.priority] > PRIORITY_RANK[b.priority] ||
  (PRIORITY_RANK[a.priority] === PRIORITY_RANK[b.priority] &&
    (a.runAt < b.runAt || (a.runAt === b.runAt && a.id < b.id)));

/**
 * Claims and runs tasks until stopped.
 *
 * @example
 * ```ts
 * await using worker = new TaskWorker(store, { registry, concurrency: 8 });
 * worker.start();
 * // ... later
 * await worker.stop({ graceMillis: 10_000 });
 * ```
 */
export class TaskWorker {
  readonly workerId: string;
  readonly signals: TaskSignals;
  readonly #store: TaskStore;
  readonly #executor: TaskExecutor;
  readonly #concurrency: number;
  readonly #fixedPrefetch: number | undefined;
  readonly #pollInterval: number;
  readonly #queues: readonly string[];
  readonly #leaseMillis: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #rescuer: LeaseRescuer;
  /** Bids for the maintenance leadership; the rescuer runs while it leads. */
  readonly leader: LeaderElector;
  /** This worker's row in the worker registry; takes back gone workers' tasks. */
  readonly heartbeat: WorkerHeartbeat;
  readonly #completer: Completer<Attempt | TaskRecord>;
  readonly #deadlines = new Deadlines();

  /** Claimed ahead and not started, in the order they will run. */
  #local = new Heap<TaskRecord>(runsBefore);
  /** The tasks of {@linkcode #local} still held: one leaves when it starts, is cancelled or lost. */
  readonly #localIds = new Map<string, TaskRecord>();
  /** How many held prefetched tasks have each priority rank. */
  readonly #localRanks = [0, 0, 0, 0];
  readonly #running = new Map<string, Attempt>();
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #wakeRequested = false;
  /** Slots held by claims in flight, so the claim loop and a refill never claim the same slot. */
  #reserved = 0;
  #priorityClaim: Promise<void> | undefined;
  #resolveIdle: (() => void) | undefined;
  #dueTimer: LongTimer | undefined;
  #dueAt = Infinity;
  #renewTimer: LongTimer | undefined;
  #cancelTimer: ReturnType<typeof setTimeout> | undefined;
  #cancelCheckedAt = -Infinity;
  #unlisten: (() => void) | undefined;
  #settled = new Set<() => void>();
  readonly #scheduler: Scheduler | undefined;
  readonly #pruner: Pruner | undefined;
  readonly #registry: TaskRegistry;
  readonly #queueLimits: [string, FlowLimits][];
  /** A limit held tasks back at the last claim: a finish anywhere may free capacity. */
  #heldBack = false;
  /** Drain rate (tasks per second), smoothed over the commits that carried outcomes. */
  #rate = 0;
  #rateSince = 0;
  #rateCount = 0;

  constructor(store: TaskStore, options: TaskWorkerOptions = {}) {
    this.#store = store;
    this.#executor = options.executor ?? new InProcessExecutor(options.registry ?? defaultRegistry);
    this.#concurrency = positiveInteger(options.concurrency ?? DEFAULT_CONCURRENCY, "concurrency");
    const prefetch = options.prefetch ?? "auto";
    if (prefetch !== "auto") {
      if (!Number.isSafeInteger(prefetch) || prefetch < 0) {
        throw new RangeError(
          `prefetch must be "auto" or an integer >= 0, got ${JSON.stringify(prefetch)}`,
        );
      }
      this.#fixedPrefetch = prefetch;
    }
    this.#pollInterval = positiveInteger(
      options.pollInterval ?? DEFAULT_POLL_INTERVAL,
      "pollInterval",
    );
    this.#leaseMillis = positiveInteger(options.leaseMillis ?? DEFAULT_LEASE_MILLIS, "leaseMillis");
    const rescueInterval = positiveInteger(
      options.rescueInterval ?? DEFAULT_RESCUE_INTERVAL,
      "rescueInterval",
    );
    const queues = options.queues ?? [DEFAULT_QUEUE];
    if (!Array.isArray(queues) || queues.length === 0) {
      throw new TypeError(
        `queues must be a non-empty array of queue names, got ${JSON.stringify(queues)}`,
      );
    }
    queues.forEach((q, i) => assertName(q, `queues[${i}]`));
    this.#queues = [...new Set(queues)];
    this.workerId = options.workerId ?? `worker-${crypto.randomUUID().slice(0, 8)}`;
    this.signals = options.signals ?? defaultSignals;
    this.#registry = options.schedulerRegistry ?? options.registry ?? defaultRegistry;
    this.#queueLimits = Object.entries(options.queueLimits ?? {}).map(([queue, limits]) => {
      assertName(queue, "queueLimits queue");
      return [queue, parseFlowLimits(limits, `queueLimits.${queue}`)];
    });
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#onError = options.onError ?? logErrorTo("worker", `worker ${this.workerId}`);
    this.leader = new LeaderElector(store, {
      holder: this.workerId,
      ttlMillis: options.leaderTtlMillis ?? DEFAULT_LEADER_TTL_MILLIS,
      clock: this.#clock,
      onError: this.#onError,
    });
    this.#rescuer = new LeaseRescuer(store, {
      clock: this.#clock,
      random: this.#random,
      interval: rescueInterval,
      signals: this.signals,
      onError: this.#onError,
      leading: () => this.leader.isLeader,
      onRescued: (tasks) => {
        for (const task of tasks) if (task.status === TaskStatus.RETRYING) this.#wakeAt(task.runAt);
      },
    });
    this.leader.gained.connect(() => this.#rescuer.runOnce().catch(this.#onError));
    this.heartbeat = new WorkerHeartbeat(store, {
      workerId: this.workerId,
      queues: this.#queues,
      concurrency: this.#concurrency,
      interval: options.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL,
      timeout: options.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT,
      meta: () => {
        const definitions = this.#executor.definitions;
        return {
          running: this.#running.size,
          prefetched: this.#localIds.size,
          // For readers of the registry (the dashboard) to tell a late beat.
          heartbeatIntervalMillis: options.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL,
          // What this worker claims, for producers without the code and `stats` (task_types.ts).
          ...(definitions
            ? { taskTypes: describeTaskTypes(definitions) as unknown as JsonValue }
            : {}),
        };
      },
      signals: this.signals,
      clock: this.#clock,
      random: this.#random,
      onError: this.#onError,
      onWorkerGone: async ({ worker, rescued }) => {
        // Its tasks are due now: claim them (the store's own event does not wake this worker).
        if (rescued > 0) this.wake();
        // A gone leader's leadership is free at once, not after its TTL.
        await store.resign(MAINTENANCE_LEADERSHIP, worker.id);
        await this.leader.runOnce();
      },
    });
    this.#completer = new Completer<Attempt | TaskRecord>(store, {
      takeClaim: () => this.#takeClaim(),
      committed: (done, finished, claimed, claim) =>
        this.#committed(done, finished, claimed, claim),
      failed: (error, claim) => {
        if (claim) this.#reserved -= claim.limit;
        this.#onError(error);
      },
    });
    if (options.scheduler ?? true) {
      this.#scheduler = new Scheduler(store, {
        registry: this.#registry,
        clock: this.#clock,
        onError: this.#onError,
      });
    }
    if (options.retention !== false) {
      this.#pruner = new Pruner(store, {
        ...(options.retention ? { retention: options.retention } : {}),
        leading: () => this.leader.isLeader,
        clock: this.#clock,
        onError: this.#onError,
      });
    }
  }

  /** Tasks this worker is running now. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Tasks claimed ahead (leased to this worker) and not started yet. */
  get prefetchedCount(): number {
    return this.#localIds.size;
  }

  /** Starts claiming. Calling it again does nothing; a stopped worker cannot restart. */
  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    const queues = new Set(this.#queues);
    this.#unlisten = this.#store.listen((event: StoreEvent) => {
      if (event.type === "inserted") {
        if (!queues.has(event.queue)) return;
        this.#wakeAt(event.runAt);
        this.#claimAhead();
      } else if (event.type === "changed") {
        this.wake();
        this.#claimAhead();
        this.#checkCancelsSoon();
      } else if (event.type === "cancelRequested") this.#cancel(event.id);
      else if (event.type === "finished" && this.#heldBack) this.wake();
    });
    const renewEvery = Math.max(1, Math.floor(this.#leaseMillis / 3));
    this.#renewTimer = setLongInterval(
      () => void this.renewLeases().catch(this.#onError),
      renewEvery,
    );
    this.heartbeat.start();
    this.leader.start();
    this.#rescuer.start();
    this.#loop = this.#prepare().then(() => this.#claimLoop());
  }

  /** The scheduler pass at `clock.now()` (for tests that drive the clock). */
  runScheduler(): Promise<unknown> {
    return this.#scheduler?.runOnce() ?? Promise.resolve();
  }

  /** One retention pass now; returns how many tasks it deleted. */
  prune(): Promise<number> {
    return this.#pruner?.runOnce() ?? Promise.resolve(0);
  }

  /** Stores limits and code schedules, then starts the scheduler and the pruner. */
  async #prepare(): Promise<void> {
    // Before the first claim, if a tracer provider is registered: attempts then get their span.
    await readyForTracing();
    const now = this.#clock.now();
    try {
      for (const [queue, limits] of this.#queueLimits) {
        await this.#store.setLimits("queue", queue, limits, now);
      }
      for (const definition of this.#registry.definitions()) {
        if (definition.limits) {
          await this.#store.setLimits("task", definition.name, definition.limits, now);
        }
      }
      await this.#scheduler?.syncCodeSchedules();
    } catch (error) {
      this.#onError(error);
    }
    if (this.#state !== "running") return;
    this.#scheduler?.start();
    this.#pruner?.start();
  }

  /** Asks the loop to claim now (the clock may have moved, or another process enqueued). */
  wake(): void {
    this.#wakeRequested = true;
    this.#resolveIdle?.();
  }

  /**
   * Stops claiming and gives prefetched tasks back at once; waits up to `graceMillis` (default
   * 30000) for running tasks, then aborts the rest and gives them back to the store without
   * spending their attempt, so another worker can take them at once. Closes the executor.
   * Idempotent: later calls return the same promise.
   */
  stop(options: { graceMillis?: number } = {}): Promise<void> {
    const grace = options.graceMillis ?? DEFAULT_GRACE_MILLIS;
    if (!Number.isFinite(grace) || grace < 0) {
      throw new RangeError(`graceMillis must be a number of ms >= 0, got ${String(grace)}`);
    }
    this.#stopped ??= this.#shutdown(grace);
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Renews the leases of every task this worker holds; drops those lost or cancelled meanwhile. */
  async renewLeases(): Promise<void> {
    const leases = [
      ...[...this.#running.values()].map((a) => ({ id: a.task.id, token: a.token })),
      ...this.#localTasks().map((t) => ({ id: t.id, token: t.attemptToken! })),
      ...this.#completer.pending.map(({ outcome }) => ({ id: outcome.id, token: outcome.token })),
    ];
    if (!leases.length) return;
    const renewal = await this.#store.renewLeases(leases, this.#clock.now() + this.#leaseMillis);
    for (const id of renewal.lost) {
      if (this.#dropLocal(id)) {
        this.signals.leaseLost.emit({ taskId: id, workerId: this.workerId, outcome: "released" });
      }
      this.#abort(id, "leaseLost", "The lease was lost: another worker may run this task");
    }
    for (const id of renewal.cancelRequested) this.#cancel(id);
  }

  /**
   * Another process wrote to the store: re-read the cancel flags of the held tasks (one query,
   * at most every {@linkcode CANCEL_CHECK_MILLIS}) and abort the cancelled ones.
   */
  #checkCancelsSoon(): void {
    if (this.#cancelTimer !== undefined || !this.#store.findCancelRequested) return;
    if (!this.#running.size && !this.#localIds.size) return;
    const wait = Math.max(0, this.#cancelCheckedAt + CANCEL_CHECK_MILLIS - performance.now());
    this.#cancelTimer = setTimeout(() => {
      this.#cancelCheckedAt = performance.now();
      void this.checkCancels().catch(this.#onError).finally(() => (this.#cancelTimer = undefined));
    }, wait);
  }

  /** Reads which held tasks have a cancel requested and cancels them here (tests call it). */
  async checkCancels(): Promise<void> {
    const leases = [
      ...[...this.#running.values()].map((a) => ({ id: a.task.id, token: a.token })),
      ...this.#localTasks().map((t) => ({ id: t.id, token: t.attemptToken! })),
    ];
    if (!leases.length || !this.#store.findCancelRequested) return;
    for (const id of await this.#store.findCancelRequested(leases)) this.#cancel(id);
  }

  /** Runs one lease-rescue pass now; returns how many tasks it rescued. */
  rescueExpiredLeases(): Promise<number> {
    return this.#rescuer.runOnce();
  }

  // ---- Producer: claims and the local queue ----

  /** How many tasks to hold beyond those running: fixed, or sized from the drain rate. */
  #prefetch(): number {
    // Tasks claimed ahead would hold a limit's capacity without running: none while limited.
    if (this.#heldBack) return 0;
    if (this.#fixedPrefetch !== undefined) return this.#fixedPrefetch;
    const wanted = Math.round(this.#rate * AUTO_PREFETCH_WINDOW_MILLIS / 1000);
    return Math.min(DEFAULT_MAX_PREFETCH, Math.max(0, wanted));
  }

  /** Tasks to claim now to fill running slots and the prefetch, or 0 when a claim is not worth it. */
  #wanted(): number {
    if (this.#state !== "running") return 0;
    const held = this.#running.size + this.#localIds.size + this.#reserved;
    const deficit = this.#concurrency + this.#prefetch() - held;
    if (deficit <= 0) return 0;
    // An idle slot always claims; topping up the prefetch waits until a quarter is gone.
    const slotsIdle = held < this.#concurrency;
    return slotsIdle || deficit >= Math.max(1, this.#prefetch() >> 2) ? deficit : 0;
  }

  async #claimLoop(): Promise<void> {
    while (this.#state === "running") {
      const want = this.#loopWants();
      if (want > 0) {
        this.#wakeRequested = false;
        let tasks: TaskRecord[] = [];
        this.#reserved += want;
        try {
          tasks = await this.#store.claim(this.#claimRequest(want));
        } catch (error) {
          this.#onError(error);
        } finally {
          this.#reserved -= want;
        }
        this.#hold(tasks);
        if (tasks.length === want && this.#state === "running") continue;
      }
      await this.#idle();
    }
  }

  /**
   * What the claim loop should claim. While outcomes wait for the completer, nothing: its commit
   * claims the refill in the same transaction (claiming here too would commit twice as often, in
   * smaller batches).
   */
  #loopWants(): number {
    return this.#completer.pending.length ? 0 : this.#wanted();
  }

  #claimRequest(limit: number): ClaimRequest {
    this.#heldBack = false;
    // Only names this worker can run: during a rolling deploy the others stay waiting.
    const definitions = this.#executor.definitions;
    return {
      workerId: this.workerId,
      queues: this.#queues,
      limit,
      now: this.#clock.now(),
      leaseMillis: this.#leaseMillis,
      onHeldBack: this.#onHeldBack,
      ...(definitions ? { names: definitions.map((d) => d.name) } : {}),
    };
  }

  /** A limit held tasks back: look again when the rate window frees, or when a task finishes. */
  readonly #onHeldBack = (retryAt: number | null): void => {
    this.#heldBack = true;
    if (retryAt !== null) this.#wakeAt(retryAt);
  };

  /** The claim that rides along with a commit: what {@linkcode #wanted} says, reserved. */
  #takeClaim(): ClaimRequest | null {
    const want = this.#wanted();
    if (want <= 0) return null;
    this.#reserved += want;
    return this.#claimRequest(want);
  }

  /**
   * While prefetched tasks wait, a task enqueued with a higher priority must not wait behind
   * them: claim what ranks above the lowest of them, at most `concurrency`, ahead of the bound.
   */
  #claimAhead(): void {
    if (this.#priorityClaim || this.#state !== "running" || !this.#localIds.size) return;
    const lowest = this.#localRanks.findIndex((n) => n > 0);
    if (lowest < 0 || lowest >= PRIORITY_RANK.CRITICAL) return;
    this.#priorityClaim = this.#store.claim({
      ...this.#claimRequest(this.#concurrency),
      minPriority: lowest + 1,
    }).then((tasks) => this.#hold(tasks), this.#onError)
      .finally(() => (this.#priorityClaim = undefined));
  }

  /** Takes claimed tasks into the local queue and starts what the slots allow. */
  #hold(tasks: readonly TaskRecord[]): void {
    for (const task of tasks) {
      if (!task.attemptToken) {
        this.#onError(new Error(`The store returned claimed task ${task.id} without a token`));
        continue;
      }
      this.#local.push(task);
      this.#localIds.set(task.id, task);
      this.#localRanks[PRIORITY_RANK[task.priority]]!++;
    }
    this.#startLocal();
  }

  /** Starts prefetched tasks while slots are free. */
  #startLocal(): void {
    while (this.#running.size < this.#concurrency && this.#state !== "stopped") {
      if (this.#state !== "running") return;
      const task = this.#local.pop();
      if (!task) return;
      // Cancelled or lost while it waited (a record of an earlier claim of the same task too).
      if (this.#localIds.get(task.id) !== task) continue;
      this.#localIds.delete(task.id);
      this.#localRanks[PRIORITY_RANK[task.priority]]!--;
      this.#begin(task);
    }
  }

  /** The prefetched tasks still held. */
  #localTasks(): TaskRecord[] {
    return [...this.#localIds.values()];
  }

  /** Removes a prefetched task from the local queue; the task if it was there. */
  #dropLocal(id: string): TaskRecord | undefined {
    const task = this.#localIds.get(id);
    if (!task) return undefined;
    this.#localIds.delete(id);
    this.#localRanks[PRIORITY_RANK[task.priority]]!--;
    this.#completer.forget(id);
    return task;
  }

  #idle(): Promise<void> {
    // A wake-up only matters with room to claim; with none, a settling task wakes the loop.
    if ((this.#wakeRequested && this.#loopWants() > 0) || this.#state !== "running") {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        timer.clear();
        this.#resolveIdle = undefined;
        resolve();
      };
      const timer = setLongTimeout(done, this.#pollInterval);
      this.#resolveIdle = done;
    });
  }

  #wakeAt(runAt: number): void {
    const delay = runAt - this.#clock.now();
    if (delay <= 0) return this.wake();
    if (runAt >= this.#dueAt) return;
    clearLongTimeout(this.#dueTimer);
    this.#dueAt = runAt;
    this.#dueTimer = setLongTimeout(() => {
      this.#dueAt = Infinity;
      this.wake();
    }, Math.min(delay, 2 ** 31 - 1));
  }

  // ---- Attempts ----

  #begin(task: TaskRecord): void {
    const token = task.attemptToken!;
    const attempt: Attempt = {
      task,
      token,
      controller: new AbortController(),
      logs: [],
      logFlush: undefined,
      // A provider registered after start: this attempt goes without while the API loads.
      span: readyForTracing() === undefined ? startProcessSpan(task, this.workerId) : null,
    };
    this.#running.set(task.id, attempt);
    const now = this.#clock.now();
    task.startedAt = now;
    this.#completer.markStarted({ id: task.id, token, at: now });
    if (task.timeoutMillis !== null) {
      const limit = task.timeoutMillis;
      this.#deadlines.add(
        task.id,
        limit,
        () => this.#abort(task.id, "timeout", `Timed out after ${limit} ms`),
      );
    }
    if (this.signals.taskStarted.connected) this.signals.taskStarted.emit({ task });
    const control = {
      signal: attempt.controller.signal,
      progress: (value: unknown) => this.#progress(attempt, value),
      log: (line: string, level?: HandlerLogLevel) => this.#log(attempt, line, level),
      traceparent: attempt.span?.traceparent ?? null,
    };
    const execute = () => this.#executor.execute(task, control);
    // The handler runs in the span's context, so its own spans are the attempt's children.
    (attempt.span ? attempt.span.run(execute) : execute()).then(
      (result) => this.#settle(attempt, result),
      (error) => this.#settle(attempt, { kind: "failed", error }),
    );
  }

  /** A cancel request: a prefetched task ends CANCELLED at once, a running one is aborted. */
  #cancel(id: string): void {
    const task = this.#dropLocal(id);
    if (task) {
      const now = this.#clock.now();
      this.#completer.complete(
        { kind: "cancelled", id, token: task.attemptToken!, now, error: null },
        task,
      );
      return;
    }
    this.#abort(id, "cancel", "The task was cancelled");
  }

  #abort(id: string, kind: AttemptAborted["kind"], message: string): void {
    const attempt = this.#running.get(id);
    if (!attempt || attempt.controller.signal.aborted) return;
    attempt.controller.abort(new AttemptAborted(kind, message));
  }

  async #progress(attempt: Attempt, value: unknown): Promise<void> {
    const problem = findNonJson(value, "progress");
    if (problem) throw new TypeError(`${problem}; progress must be plain JSON`);
    const progress = (value ?? null) as JsonValue;
    const held = await this.#store.reportProgress({
      id: attempt.task.id,
      token: attempt.token,
      progress,
    });
    if (held) this.signals.taskProgress.emit({ taskId: attempt.task.id, progress });
  }

  #log(attempt: Attempt, line: string, level: HandlerLogLevel = "info"): void {
    const { task } = attempt;
    logEvent(TASK_LOG, level, "task.log", line, {
      taskId: task.id,
      name: task.name,
      queue: task.queue,
      attempt: task.attempts,
    });
    attempt.logs.push(line);
    this.#flushLogs(attempt);
  }

  /**
   * Writes pending log lines. `logFlush` stays set until they are written, so the outcome (which
   * awaits it) never overtakes them; lines logged meanwhile go out in the same flush.
   */
  #flushLogs(attempt: Attempt): void {
    attempt.logFlush ??= Promise.resolve().then(async () => {
      while (attempt.logs.length > 0) {
        const logs = attempt.logs;
        attempt.logs = [];
        await this.#store.reportProgress({ id: attempt.task.id, token: attempt.token, logs });
      }
    }).catch(this.#onError).finally(() => {
      attempt.logFlush = undefined;
      if (attempt.logs.length > 0) this.#flushLogs(attempt);
    });
  }

  async #settle(attempt: Attempt, result: AttemptResult): Promise<void> {
    this.#deadlines.delete(attempt.task.id);
    if (attempt.logFlush) await attempt.logFlush;
    const { task, token } = attempt;
    const reason = attempt.controller.signal.reason;
    const cause = reason instanceof AttemptAborted ? reason.kind : undefined;
    this.#running.delete(task.id);
    if (cause === "leaseLost") {
      attempt.span?.end(null);
      this.#completer.forget(task.id);
      this.#freed();
      this.signals.leaseLost.emit({
        taskId: task.id,
        workerId: this.workerId,
        outcome: result.kind,
      });
      return;
    }
    const now = this.#clock.now();
    let outcome: Outcome;
    let thrown: unknown;
    if (result.kind === "completed") {
      const problem = result.checked ? null : findNonJson(result.result ?? null, "result");
      outcome = problem
        ? failureOutcome(
          task,
          token,
          { message: `${problem}; a task's result must be plain JSON` },
          now,
          this.#random,
        )
        : {
          kind: "completed",
          id: task.id,
          token,
          now,
          result: (result.result ?? null) as JsonValue,
        };
    } else if (cause === "cancel") {
      outcome = { kind: "cancelled", id: task.id, token, now, error: null };
    } else if (result.kind === "snoozed") {
      outcome = { kind: "snoozed", id: task.id, token, now, runAt: now + result.delayMillis };
    } else if (result.kind === "released" || cause === "shutdown") {
      outcome = { kind: "released", id: task.id, token, now };
    } else {
      const error = cause === "timeout" ? reason : result.error;
      thrown = error;
      outcome = failureOutcome(
        task,
        token,
        toTaskError(error),
        now,
        this.#random,
        result.permanent,
        result.retryDelay,
      );
    }
    attempt.span?.end(outcome, thrown);
    this.#completer.complete(outcome, attempt);
    this.#freed();
  }

  /** A slot freed: start the next prefetched task at once, and let the loop look again. */
  #freed(): void {
    this.#startLocal();
    for (const notify of this.#settled) notify();
    // Only when the loop would claim: waking it for nothing re-arms its poll timer every task.
    if (this.#resolveIdle && this.#running.size < this.#concurrency && this.#loopWants() > 0) {
      this.#resolveIdle();
    }
  }

  // ---- Completer callbacks ----

  #committed(
    done: readonly Completion<Attempt | TaskRecord>[],
    finished: readonly (TaskRecord | null)[],
    claimed: TaskRecord[],
    claim: ClaimRequest | null,
  ): void {
    if (claim) this.#reserved -= claim.limit;
    this.#measure(done.length);
    done.forEach(({ outcome }, i) => {
      const task = finished[i];
      if (!task) {
        this.signals.leaseLost.emit({
          taskId: outcome.id,
          workerId: this.workerId,
          outcome: outcome.kind,
        });
      } else {
        this.#announce(task, outcome);
      }
    });
    this.#hold(claimed);
    // A refill that found fewer tasks than it asked for means none is due now: no claim needed.
    if (!claim || claimed.length === claim.limit) this.wake();
  }

  /** Updates the drain rate from a commit that carried `count` outcomes. */
  #measure(count: number): void {
    const now = performance.now();
    if (this.#rateSince === 0) this.#rateSince = now;
    this.#rateCount += count;
    const elapsed = now - this.#rateSince;
    if (elapsed < 50) return;
    const rate = this.#rateCount * 1000 / elapsed;
    this.#rate = this.#rate === 0 ? rate : this.#rate * 0.7 + rate * 0.3;
    this.#rateSince = now;
    this.#rateCount = 0;
  }

  #announce(task: TaskRecord, outcome: Outcome): void {
    const error = () => {
      const stored = task.lastError;
      const e = new Error(stored?.message ?? "Unknown error");
      if (stored?.stack) e.stack = stored.stack;
      return e;
    };
    switch (task.status) {
      case TaskStatus.COMPLETED:
        if (this.signals.taskCompleted.connected) this.signals.taskCompleted.emit({ task });
        return;
      case TaskStatus.RETRYING:
        if (outcome.kind === "retry") this.#wakeAt(outcome.runAt);
        return this.signals.taskRetrying.emit({ task, error: error(), nextRunAt: task.runAt });
      case TaskStatus.FAILED:
        return this.signals.taskFailed.emit({ task, error: error() });
      case TaskStatus.CANCELLED:
        return this.signals.taskCancelled.emit({ task });
      case TaskStatus.SCHEDULED:
        // Snoozed: claim it again when it is due.
        if (outcome.kind === "snoozed") this.#wakeAt(outcome.runAt);
        return;
    }
  }

  // ---- Stop ----

  /** Resolves when no task runs, or after `millis`. */
  #whenIdle(millis: number): Promise<void> {
    if (!this.#running.size) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        timer.clear();
        this.#settled.delete(check);
        resolve();
      };
      const check = () => {
        if (!this.#running.size) done();
      };
      const timer = setLongTimeout(done, millis);
      this.#settled.add(check);
    });
  }

  async #shutdown(grace: number): Promise<void> {
    if (this.#state === "new") {
      this.#state = "stopped";
      await this.#executor.close?.();
      return;
    }
    this.#state = "stopping";
    this.#unlisten?.();
    clearLongTimeout(this.#dueTimer);
    this.#resolveIdle?.();
    await this.#loop;
    await this.#priorityClaim;
    // Prefetched tasks go back at once, without spending an attempt.
    const now = this.#clock.now();
    for (const task of this.#localTasks()) {
      this.#dropLocal(task.id);
      this.#completer.complete(
        { kind: "released", id: task.id, token: task.attemptToken!, now },
        task,
      );
    }
    this.#local = new Heap<TaskRecord>(runsBefore);
    await this.#rescuer.stop();
    await this.#scheduler?.stop();
    await this.#pruner?.stop();
    // Resign now, so another worker takes over maintenance while this one finishes its tasks.
    await this.leader.stop();
    await this.#whenIdle(grace);
    for (const id of [...this.#running.keys()]) {
      this.#abort(id, "shutdown", "The worker is shutting down");
    }
    // Executors settle promptly after an abort; keep renewing leases until the releases land.
    while (this.#running.size) {
      await this.#whenIdle(this.#leaseMillis / 3).then(() =>
        this.renewLeases().catch(this.#onError)
      );
    }
    this.#completer.stop();
    await this.#completer.drain();
    this.#deadlines.clear();
    this.#renewTimer?.clear();
    clearTimeout(this.#cancelTimer);
    // Leave the registry last: until the tasks are given back, a crash here is noticed at once.
    await this.heartbeat.stop().catch(this.#onError);
    await this.#executor.close?.();
    this.#state = "stopped";
  }
}
