/**
 * The worker registry's heartbeat: a worker registers itself in the store (id, host, PID, start,
 * queues, concurrency), beats every `interval`, and removes its row on a clean stop. Each beat
 * also looks at the other registered workers and takes back the tasks of those that are gone:
 * - provably gone at once: same host, boot and PID namespace, and its process no longer exists
 *   (checked against PID reuse with the start time in `/proc/<pid>/stat`, see `liveness.ts`);
 * - silent: no beat for longer than `timeout` (by this worker's clock, so hosts' clocks must
 *   agree to well within it, as they must for leases). A worker of this same process is never
 *   judged: it is alive.
 *
 * Every worker does this, not only the leader: a replacement started after a crash brings the
 * dead worker's tasks back at its first beat, while the dead worker's leadership is still
 * running out. Two workers judging at once is harmless: each task is taken back with the fenced
 * `finish` and its attempt token, so one of them wins and a late outcome of the lost attempt is
 * rejected. Tasks of a gone worker are due again at once, in the place in line they had when
 * claimed (ahead of tasks enqueued after them); the lost attempt counts.
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { formatDuration } from "./duration.ts";
import type { JsonValue } from "./json.ts";
import {
  currentProcessIdentity,
  localProcessTable,
  type ProcessIdentity,
  type ProcessTable,
  provablyGone,
} from "./liveness.ts";
import { type LongTimer, setLongInterval } from "./long_timer.ts";
import { positiveInteger } from "./options.ts";
import { takeBackAttempts } from "./rescuer.ts";
import { reportListenerError, Signal, type TaskSignals } from "./signals.ts";
import type { TaskStore, WorkerInfo } from "./store/store.ts";
import { type TaskRecord, TaskStatus } from "./task.ts";
import { logErrorTo } from "./log.ts";

/** Default milliseconds between heartbeats. */
export const DEFAULT_HEARTBEAT_INTERVAL = 2_000;
/** Default silence after which a worker counts as gone: its tasks come back this long after its last beat. */
export const DEFAULT_HEARTBEAT_TIMEOUT = 10_000;
/** PROCESSING tasks read per page when looking for a gone worker's tasks. */
export const GONE_WORKER_PAGE = 500;

/** Options of {@linkcode WorkerHeartbeat}. */
export interface WorkerHeartbeatOptions {
  workerId: string;
  queues: readonly string[];
  concurrency: number;
  /** Milliseconds between beats. Default 2000. */
  interval?: number;
  /**
   * A worker silent this long (ms) is gone and its tasks are taken back; longer than `interval`.
   * Default 10000.
   */
  timeout?: number;
  /** Extra details for the registry row, read at each beat (e.g. tasks running). */
  meta?: () => Record<string, JsonValue>;
  signals: TaskSignals;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /** Source of jitter, in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Store errors of the background beats (they are retried). Default: logged through LogTape. */
  onError?: (error: unknown) => void;
  /** Called for each gone worker once its tasks are back (the worker resigns its leadership). */
  onWorkerGone?: (event: WorkerGoneEvent) => unknown;
  /** This process, as registered. Default {@linkcode currentProcessIdentity}. */
  identity?: ProcessIdentity;
  /** Default: this host's processes. */
  processTable?: ProcessTable;
}

/** A registered worker found gone, with why and how many of its tasks came back. */
export interface WorkerGoneEvent {
  worker: WorkerInfo;
  reason: string;
  /** Its PROCESSING tasks taken back (retried, failed or cancelled). */
  rescued: number;
}

/**
 * Registers a worker, beats, and takes back the tasks of gone workers.
 *
 * @example
 * ```ts
 * await using heartbeat = new WorkerHeartbeat(store, {
 *   workerId: worker.workerId, queues: ["default"], concurrency: 8, signals: worker.signals,
 * });
 * heartbeat.start();
 * ```
 */
export class WorkerHeartbeat {
  /** Emitted for each gone worker whose tasks this worker took back. */
  readonly workerGone: Signal<WorkerGoneEvent>;
  readonly interval: number;
  readonly timeout: number;
  readonly #store: TaskStore;
  readonly #options: WorkerHeartbeatOptions;
  readonly #clock: Clock;
  readonly #identity: ProcessIdentity;
  readonly #table: ProcessTable;
  readonly #onError: (error: unknown) => void;
  #startedAt: number | undefined;
  #timer: LongTimer | undefined;
  /** The beat in progress, or the last one. */
  #running: Promise<unknown> = Promise.resolve();
  #busy = false;
  #state: "new" | "running" | "stopped" = "new";

  constructor(store: TaskStore, options: WorkerHeartbeatOptions) {
    if (typeof options?.workerId !== "string" || options.workerId === "") {
      throw new TypeError(`workerId must be a non-empty string, got ${String(options?.workerId)}`);
    }
    positiveInteger(options.concurrency, "concurrency");
    this.#store = store;
    this.#options = options;
    this.interval = positiveInteger(options.interval ?? DEFAULT_HEARTBEAT_INTERVAL, "interval");
    this.timeout = positiveInteger(options.timeout ?? DEFAULT_HEARTBEAT_TIMEOUT, "timeout");
    if (this.timeout <= this.interval) {
      throw new RangeError(
        `timeout must be longer than interval (${this.interval} ms), got ${this.timeout}`,
      );
    }
    this.#clock = options.clock ?? systemClock;
    this.#identity = options.identity ?? currentProcessIdentity();
    this.#table = options.processTable ?? localProcessTable;
    this.#onError = options.onError ?? logErrorTo("heartbeat", `heartbeat (${options.workerId})`);
    this.workerGone = new Signal("workerGone", reportListenerError);
  }

  /** Registers (at the first beat, at once) and beats every `interval`. Calling it again does nothing. */
  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    this.#timer = setLongInterval(() => {
      if (!this.#busy) void this.runOnce().catch(this.#onError);
    }, this.interval);
    void this.runOnce().catch(this.#onError);
  }

  /** Stops beating and removes this worker's row; later beats do nothing. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#timer?.clear();
    this.#timer = undefined;
    await this.#running;
    if (this.#startedAt !== undefined) await this.#store.removeWorker(this.#options.workerId);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * One beat: refreshes this worker's row (registering it when missing), then takes back the
   * tasks of every gone worker and removes their rows. Resolves with the gone workers. A call
   * while a beat runs starts a fresh beat after it.
   */
  runOnce(): Promise<WorkerGoneEvent[]> {
    const beat = this.#running.then(() => {
      this.#busy = true;
      return this.#beat();
    }).finally(() => (this.#busy = false));
    this.#running = beat.catch(() => {});
    return beat;
  }

  /** This worker's registry row as of `now`. */
  #info(now: number): WorkerInfo {
    const { workerId, queues, concurrency } = this.#options;
    this.#startedAt ??= now;
    return {
      id: workerId,
      host: this.#identity.host,
      pid: this.#identity.pid,
      startedAt: this.#startedAt,
      lastBeatAt: now,
      queues: [...queues],
      concurrency,
      meta: this.#meta(),
    };
  }

  /** The caller's details, and the process identity others check liveness against (kept in
   * `meta` so the contract's WorkerInfo stays OS-neutral). */
  #meta(): JsonValue {
    const { bootId, pidNamespace, startTicks } = this.#identity;
    return { ...this.#options.meta?.(), process: { bootId, pidNamespace, startTicks } };
  }

  async #beat(): Promise<WorkerGoneEvent[]> {
    if (this.#state === "stopped") return [];
    const now = this.#clock.now();
    const id = this.#options.workerId;
    if (
      this.#startedAt === undefined || !(await this.#store.heartbeatWorker(id, now, this.#meta()))
    ) {
      // First beat, or another worker took this one for gone (it was silent too long).
      await this.#store.registerWorker(this.#info(now));
    }
    const gone: { worker: WorkerInfo; reason: string }[] = [];
    for (const worker of await this.#store.listWorkers()) {
      if (worker.id === id) continue;
      const reason = this.#goneReason(worker, now);
      if (reason) gone.push({ worker, reason });
    }
    if (!gone.length) return [];
    const tasks = await this.#processingTasksOf(new Set(gone.map((g) => g.worker.id)));
    const events: WorkerGoneEvent[] = [];
    for (const { worker, reason } of gone) {
      const held = tasks.filter((task) => task.workerId === worker.id);
      const rescued = (await takeBackAttempts(this.#store, held, {
        now,
        random: this.#options.random ?? Math.random,
        signals: this.#options.signals,
        errorName: "WorkerGone",
        message: (task) =>
          `Worker ${worker.id} is gone (${reason}) during attempt ${task.attempts}`,
        retryAtOnce: true,
      })).length;
      // Only once its tasks are back: a crash before this leaves the row for the next beat.
      await this.#store.removeWorker(worker.id);
      const event = { worker, reason, rescued };
      events.push(event);
      try {
        await this.#options.onWorkerGone?.(event);
      } catch (error) {
        this.#onError(error);
      }
      this.workerGone.emit(event);
    }
    return events;
  }

  #goneReason(worker: WorkerInfo, now: number): string | null {
    const identity = identityOf(worker);
    // Another worker of this very process is alive, however its clock or beats look.
    if (sameProcess(identity, this.#identity)) return null;
    const proven = provablyGone(identity, this.#identity, this.#table);
    if (proven) return proven;
    const silent = now - worker.lastBeatAt;
    return silent > this.timeout
      ? `no heartbeat for ${formatDuration(silent)}, more than the ${
        formatDuration(this.timeout)
      } timeout`
      : null;
  }

  /** The PROCESSING tasks held by `workerIds`, read in pages (running tasks are few). */
  async #processingTasksOf(workerIds: ReadonlySet<string>): Promise<TaskRecord[]> {
    const found: TaskRecord[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.#store.list({
        status: TaskStatus.PROCESSING,
        limit: GONE_WORKER_PAGE,
        ...(cursor === null ? {} : { cursor }),
      });
      for (const task of page.tasks) {
        if (task.workerId !== null && workerIds.has(task.workerId)) found.push(task);
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
    return found;
  }
}

/** Whether two identities are one process (known boot and start time, same everything). */
function sameProcess(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.bootId !== null && a.startTicks !== null && a.host === b.host &&
    a.bootId === b.bootId && a.pidNamespace === b.pidNamespace && a.pid === b.pid &&
    a.startTicks === b.startTicks;
}

/** The process identity a worker registered (its `meta.process`), as far as it is known. */
function identityOf(worker: WorkerInfo): ProcessIdentity {
  const meta = worker.meta;
  const details = typeof meta === "object" && meta !== null && !Array.isArray(meta)
    ? meta.process
    : undefined;
  const field = (key: string) =>
    typeof details === "object" && details !== null && !Array.isArray(details)
      ? details[key]
      : undefined;
  const bootId = field("bootId");
  const pidNamespace = field("pidNamespace");
  const startTicks = field("startTicks");
  return {
    host: worker.host,
    pid: worker.pid,
    bootId: typeof bootId === "string" ? bootId : null,
    pidNamespace: typeof pidNamespace === "string" ? pidNamespace : null,
    startTicks: typeof startTicks === "number" ? startTicks : null,
  };
}
