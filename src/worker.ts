/**
 * The consumer side: claims due tasks in batches, runs them through an executor, keeps their
 * leases alive and records outcomes in batches.
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
import { failureOutcome, toTaskError } from "./outcome.ts";
import { assertName, DEFAULT_QUEUE, defaultRegistry, type TaskRegistry } from "./registry.ts";
import { LeaseRescuer } from "./rescuer.ts";
import { defaultSignals, type TaskSignals } from "./signals.ts";
import { type FlowLimitOptions, parseFlowLimits } from "./flow_limits.ts";
import { Pruner, type Retention } from "./pruner.ts";
import { Scheduler } from "./scheduler.ts";
import type { FlowLimits } from "./store/store.ts";
import type { ClaimRequest, Outcome, StoreEvent, TaskStore } from "./store/store.ts";
import { type TaskRecord, TaskStatus } from "./task.ts";
import { positiveInteger } from "./options.ts";

/** Default tasks in flight. */
export const DEFAULT_CONCURRENCY = 4;
/** Default milliseconds between polls when no wake-up arrives. */
export const DEFAULT_POLL_INTERVAL = 1000;
/** Default lease length: a worker that stops renewing loses its tasks after this long. */
export const DEFAULT_LEASE_MILLIS = 30_000;
/** Default milliseconds between rescuer passes. */
export const DEFAULT_RESCUE_INTERVAL = 15_000;
/** Default time `stop()` waits for running tasks before releasing them. */
export const DEFAULT_GRACE_MILLIS = 30_000;

/** Options of {@linkcode TaskWorker}. */
export interface TaskWorkerOptions {
  /** Handlers run in process. Default {@linkcode defaultRegistry}. Ignored when `executor` is set. */
  registry?: TaskRegistry;
  /** Runs attempts; the worker closes it when it stops. Default: in process, over `registry`. */
  executor?: TaskExecutor;
  /** Tasks in flight at once. Default 4. */
  concurrency?: number;
  /** Milliseconds between polls for tasks another process enqueued. Default 1000. */
  pollInterval?: number;
  /** Queues to claim from. Default `["default"]`. */
  queues?: readonly string[];
  /**
   * Lease length in ms. Shorter: a crashed worker's tasks come back sooner; longer: fewer
   * renewals. Renewed every third of it. Default 30000.
   */
  leaseMillis?: number;
  /** Milliseconds between lease rescues. Default 15000. */
  rescueInterval?: number;
  /** Identifies this worker in claims. Default `worker-<random>`. */
  workerId?: string;
  /** Emits life-cycle events. Default: the process-wide {@linkcode defaultSignals}. */
  signals?: TaskSignals;
  /**
   * Flow limits of queues, stored when the worker starts (global across processes: the last
   * writer wins): `{ mail: { rateLimit: { limit: 10, per: "1s" }, maxRunning: 5 } }`. Task
   * names' limits come from their definitions (`defineTask({ rateLimit, maxRunning })`).
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
  /** Store errors in the background loops (they are retried). Default: logs to stderr. */
  onError?: (error: unknown) => void;
}

interface Attempt {
  task: TaskRecord;
  token: string;
  controller: AbortController;
  timeout: ReturnType<typeof setTimeout> | undefined;
  logs: string[];
  logFlush: Promise<void> | undefined;
}

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
  readonly #pollInterval: number;
  readonly #queues: readonly string[];
  readonly #leaseMillis: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #rescuer: LeaseRescuer;
  readonly #scheduler: Scheduler | undefined;
  readonly #pruner: Pruner | undefined;
  readonly #registry: TaskRegistry;
  readonly #queueLimits: [string, FlowLimits][];
  /** A limit held tasks back at the last claim: a finish anywhere may free capacity. */
  #heldBack = false;

  readonly #running = new Map<string, Attempt>();
  #outcomes: { attempt: Attempt; outcome: Outcome }[] = [];
  #flushing: Promise<void> | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #wakeRequested = false;
  /** Slots held by claims in flight, so the claim loop and a refill never claim the same slot. */
  #reserved = 0;
  #resolveIdle: (() => void) | undefined;
  #dueTimer: ReturnType<typeof setTimeout> | undefined;
  #dueAt = Infinity;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #unlisten: (() => void) | undefined;
  #settled = new Set<() => void>();

  constructor(store: TaskStore, options: TaskWorkerOptions = {}) {
    this.#store = store;
    this.#executor = options.executor ?? new InProcessExecutor(options.registry ?? defaultRegistry);
    this.#concurrency = positiveInteger(options.concurrency ?? DEFAULT_CONCURRENCY, "concurrency");
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
    this.#onError = options.onError ??
      ((error) => console.error(`aether-tasks: worker ${this.workerId}:`, error));
    this.#rescuer = new LeaseRescuer(store, {
      clock: this.#clock,
      random: this.#random,
      interval: rescueInterval,
      signals: this.signals,
      onError: this.#onError,
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
        holder: this.workerId,
        clock: this.#clock,
        onError: this.#onError,
      });
    }
  }

  /** Tasks this worker is running now. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Starts claiming. Calling it again does nothing; a stopped worker cannot restart. */
  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    const queues = new Set(this.#queues);
    this.#unlisten = this.#store.listen((event: StoreEvent) => {
      if (event.type === "inserted" && queues.has(event.queue)) this.#wakeAt(event.runAt);
      else if (event.type === "changed" || (event.type === "finished" && this.#heldBack)) {
        this.wake();
      } else if (event.type === "cancelRequested") {
        this.#abort(event.id, "cancel", "The task was cancelled");
      }
    });
    const renewEvery = Math.max(1, Math.floor(this.#leaseMillis / 3));
    this.#renewTimer = setInterval(() => void this.renewLeases().catch(this.#onError), renewEvery);
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
   * Stops claiming, waits up to `graceMillis` (default 30000) for running tasks, then aborts the
   * rest and gives them back to the store without spending their attempt, so another worker can
   * take them at once. Closes the executor. Idempotent: later calls return the same promise.
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

  /** Renews the leases of running tasks; aborts those lost or cancelled meanwhile. */
  async renewLeases(): Promise<void> {
    if (!this.#running.size) return;
    const leases = [...this.#running.values()].map((a) => ({ id: a.task.id, token: a.token }));
    const renewal = await this.#store.renewLeases(leases, this.#clock.now() + this.#leaseMillis);
    for (const id of renewal.lost) {
      this.#abort(id, "leaseLost", "The lease was lost: another worker may run this task");
    }
    for (const id of renewal.cancelRequested) this.#abort(id, "cancel", "The task was cancelled");
  }

  /** Runs one lease-rescue pass now; returns how many tasks it rescued. */
  rescueExpiredLeases(): Promise<number> {
    return this.#rescuer.runOnce();
  }

  async #claimLoop(): Promise<void> {
    while (this.#state === "running") {
      const free = this.#freeSlots();
      if (free > 0) {
        this.#wakeRequested = false;
        let tasks: TaskRecord[] = [];
        this.#reserved += free;
        try {
          tasks = await this.#store.claim(this.#claimRequest(free));
        } catch (error) {
          this.#onError(error);
        } finally {
          this.#reserved -= free;
        }
        for (const task of tasks) this.#begin(task);
        if (tasks.length === free && this.#state === "running") continue;
      }
      await this.#idle();
    }
  }

  /** Slots neither running a task nor held by a claim in flight. */
  #freeSlots(): number {
    return this.#concurrency - this.#running.size - this.#reserved;
  }

  #claimRequest(limit: number): ClaimRequest {
    this.#heldBack = false;
    return {
      workerId: this.workerId,
      queues: this.#queues,
      limit,
      now: this.#clock.now(),
      leaseMillis: this.#leaseMillis,
      onHeldBack: this.#onHeldBack,
    };
  }

  /** A limit held tasks back: look again when the rate window frees, or when a task finishes. */
  readonly #onHeldBack = (retryAt: number | null): void => {
    this.#heldBack = true;
    if (retryAt !== null) this.#wakeAt(retryAt);
  };

  #idle(): Promise<void> {
    // A wake-up only matters with a free slot; with none, #release wakes the loop when one frees.
    const canClaim = this.#freeSlots() > 0;
    if ((this.#wakeRequested && canClaim) || this.#state !== "running") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#resolveIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.#pollInterval);
      this.#resolveIdle = done;
    });
  }

  #wakeAt(runAt: number): void {
    const delay = runAt - this.#clock.now();
    if (delay <= 0) return this.wake();
    if (runAt >= this.#dueAt) return;
    clearTimeout(this.#dueTimer);
    this.#dueAt = runAt;
    this.#dueTimer = setTimeout(() => {
      this.#dueAt = Infinity;
      this.wake();
    }, delay);
  }

  #begin(task: TaskRecord): void {
    const token = task.attemptToken;
    if (!token) {
      throw new Error(`The store returned claimed task ${task.id} without an attempt token`);
    }
    const attempt: Attempt = {
      task,
      token,
      controller: new AbortController(),
      timeout: undefined,
      logs: [],
      logFlush: undefined,
    };
    this.#running.set(task.id, attempt);
    if (task.timeoutMillis !== null) {
      const limit = task.timeoutMillis;
      attempt.timeout = setTimeout(
        () => this.#abort(task.id, "timeout", `Timed out after ${limit} ms`),
        limit,
      );
    }
    this.signals.taskStarted.emit({ task });
    this.#executor.execute(task, {
      signal: attempt.controller.signal,
      progress: (value) => this.#progress(attempt, value),
      log: (line) => this.#log(attempt, line),
    }).then(
      (result) => this.#settle(attempt, result),
      (error) => this.#settle(attempt, { kind: "failed", error }),
    );
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

  #log(attempt: Attempt, line: string): void {
    attempt.logs.push(line);
    attempt.logFlush ??= Promise.resolve().then(async () => {
      const logs = attempt.logs;
      attempt.logs = [];
      attempt.logFlush = undefined;
      await this.#store.reportProgress({ id: attempt.task.id, token: attempt.token, logs });
    }).catch(this.#onError);
  }

  async #settle(attempt: Attempt, result: AttemptResult): Promise<void> {
    clearTimeout(attempt.timeout);
    await attempt.logFlush;
    const { task, token } = attempt;
    const reason = attempt.controller.signal.reason;
    const cause = reason instanceof AttemptAborted ? reason.kind : undefined;
    if (cause === "leaseLost") {
      this.#release(attempt);
      this.wake();
      this.signals.leaseLost.emit({
        taskId: task.id,
        workerId: this.workerId,
        outcome: result.kind,
      });
      return;
    }
    const now = this.#clock.now();
    let outcome: Outcome;
    if (result.kind === "completed") {
      const problem = findNonJson(result.result ?? null, "result");
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
    } else if (result.kind === "released" || cause === "shutdown") {
      outcome = { kind: "released", id: task.id, token, now };
    } else {
      const error = cause === "timeout" ? reason : result.error;
      outcome = failureOutcome(
        task,
        token,
        toTaskError(error),
        now,
        this.#random,
        result.permanent,
      );
    }
    this.#outcomes.push({ attempt, outcome });
    this.#flushing ??= this.#flush();
  }

  /** Writes all queued outcomes in one transaction; retries on store errors, never drops one. */
  async #flush(): Promise<void> {
    await Promise.resolve();
    while (this.#outcomes.length) {
      const batch = this.#outcomes;
      this.#outcomes = [];
      const outcomes = batch.map((b) => b.outcome);
      // While running, refill the slots this batch frees in the same transaction.
      const refill = this.#state === "running" ? this.#freeSlots() + batch.length : 0;
      let finished: (TaskRecord | null)[];
      let claimed: TaskRecord[] = [];
      this.#reserved += refill;
      try {
        if (refill > 0) {
          ({ finished, claimed } = await this.#store.finishAndClaim(
            outcomes,
            this.#claimRequest(refill),
          ));
        } else {
          finished = await this.#store.finish(outcomes);
        }
      } catch (error) {
        this.#onError(error);
        this.#outcomes = [...batch, ...this.#outcomes];
        await new Promise((resolve) => setTimeout(resolve, Math.min(this.#pollInterval, 1000)));
        continue;
      } finally {
        this.#reserved -= refill;
      }
      batch.forEach(({ attempt, outcome }, i) => {
        this.#release(attempt);
        const task = finished[i];
        if (!task) {
          this.signals.leaseLost.emit({
            taskId: attempt.task.id,
            workerId: this.workerId,
            outcome: outcome.kind,
          });
        } else {
          this.#announce(task, outcome);
        }
      });
      for (const task of claimed) this.#begin(task);
      // A refill that found fewer tasks than slots means none is due now: no claim needed.
      if (refill === 0 || claimed.length === refill) this.wake();
    }
    this.#flushing = undefined;
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
        return this.signals.taskCompleted.emit({ task });
      case TaskStatus.RETRYING:
        if (outcome.kind === "retry") this.#wakeAt(outcome.runAt);
        return this.signals.taskRetrying.emit({ task, error: error(), nextRunAt: task.runAt });
      case TaskStatus.FAILED:
        return this.signals.taskFailed.emit({ task, error: error() });
      case TaskStatus.CANCELLED:
        return this.signals.taskCancelled.emit({ task });
    }
  }

  /** Frees the attempt's slot (the caller decides whether the claim loop should look again). */
  #release(attempt: Attempt): void {
    this.#running.delete(attempt.task.id);
    for (const notify of this.#settled) notify();
  }

  /** Resolves when no task runs, or after `millis`. */
  #whenIdle(millis: number): Promise<void> {
    if (!this.#running.size) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#settled.delete(check);
        resolve();
      };
      const check = () => {
        if (!this.#running.size) done();
      };
      const timer = setTimeout(done, millis);
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
    clearTimeout(this.#dueTimer);
    this.#resolveIdle?.();
    await this.#loop;
    await this.#rescuer.stop();
    await this.#scheduler?.stop();
    await this.#pruner?.stop();
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
    await this.#flushing;
    clearInterval(this.#renewTimer);
    await this.#executor.close?.();
    this.#state = "stopped";
  }
}
