/**
 * A supervised pool of Workers that run handler modules: the {@linkcode TaskExecutor} for
 * handlers loaded from a folder. The main thread keeps the store, claims and leases (that is the
 * {@linkcode TaskWorker}); Workers only run handlers.
 *
 * How the pool contains a handler that misbehaves:
 * - An aborted attempt (timeout, cancel, lost lease, shutdown) is forwarded into its Worker. A
 *   handler that has not settled `graceMillis` later has its Worker terminated and replaced: the
 *   attempt fails with the abort reason, the other attempts of that Worker are released without
 *   spending an attempt.
 * - A Worker that crashes (an error thrown in a callback or an unawaited promise, a call to
 *   `process.exit`, `Deno.exit` or `self.close`, a heap over `maxHeapMegabytes`, or a Worker that
 *   dies) is replaced. The crash is blamed on the attempt the Worker names, else on the only
 *   attempt it was running: that attempt fails saying what happened, the others are released.
 *   When several ran and none is named, all are released and each runs alone in a Worker next
 *   time (in this pool), so the next crash names the culprit.
 * - A task blamed for `poisonThreshold` crashes fails for good (quarantined as poison) even with
 *   attempts left. Crash counts live in this pool's memory: they reset when the process restarts,
 *   and a task that another process picks up starts from zero there. Its attempts still bound it.
 *
 * What a Worker is, measured with Bun 1.4 and Deno 2.9:
 * - Under Bun, a Web Worker (a thread). `terminate()` stops it even in synchronous code
 *   (`while (true) {}`). The heap limit is sampled (every 100 ms), so it catches a handler that
 *   grows across event-loop turns; one that allocates without limit in one synchronous burst runs
 *   the whole process out of memory. A supervisor restarting the process, and leases, cover that.
 * - Under Deno, a child process (`deno run`, see `adapter/deno/process_worker.ts`), because
 *   Deno's `Worker.terminate()` does not stop a thread stuck in synchronous code: it would keep a
 *   core busy and the process alive. Terminating a Worker kills its process, so a stuck handler
 *   is stopped for real, and `close()` leaves nothing running: the process can end by itself.
 *   The sampled heap limit works as under Bun; besides, V8 in the child stops at twice
 *   `maxHeapMegabytes`, so a burst ends only that process (exit code 133, signal SIGTRAP), which
 *   the pool handles as a Worker that died. A child shares no module cache with the main
 *   process: each Worker start costs a process start (tens of ms), and a handler's output to
 *   stdout is passed through by the pool. It resolves `"aether-tasks"` with the project's
 *   `deno.json`.
 * - `stats().killed` counts Workers terminated after an abort's grace.
 * @module
 */

import {
  AttemptAborted,
  type AttemptControl,
  type AttemptResult,
  type TaskExecutor,
} from "../executor.ts";
import { HandlerLoadError, listHandlerFiles, loadHandlerFiles } from "../handlers/load.ts";
import type { TaskDefinition } from "../registry.ts";
import type { TaskRecord } from "../task.ts";
import {
  type CrashCause,
  decodeBatch,
  encodeBatch,
  fromWireError,
  type FromWorker,
  type ToWorker,
  type WireError,
  type WorkerInit,
} from "./_protocol.ts";
import { CrashLedger } from "./crash_ledger.ts";
import { Outbox } from "./outbox.ts";
import { startWorker, type WorkerHandle } from "./spawn.ts";
import { getConfig } from "@logtape/logtape";
import { logErrorTo } from "../log.ts";

export { POOL_ENTRY_POINTS } from "./spawn.ts";

/** Default time a handler has to settle after its attempt is aborted: 5 s. */
export const DEFAULT_ABORT_GRACE_MILLIS = 5_000;
/** Default number of Worker crashes after which a task is quarantined as poison. */
export const DEFAULT_POISON_THRESHOLD = 3;
/** Default number of tasks after which a Worker is replaced, to bound leaks in handlers. */
export const DEFAULT_RECYCLE_AFTER = 10_000;
/** Default heap a Worker may use before it is replaced, in MB. */
export const DEFAULT_MAX_HEAP_MEGABYTES = 1024;

/** How often each Worker samples its heap, in ms. */
const HEAP_CHECK_MILLIS = 100;
/** Longest pause between attempts to start a Worker whose handlers fail to load. */
const MAX_RESPAWN_DELAY_MILLIS = 30_000;

/** The default pool size: the number of logical processors, at least 1. */
export function defaultPoolSize(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** Options of {@linkcode WorkerPool}. */
export interface WorkerPoolOptions {
  /** The folder of handler modules (see `loadHandlers` for which files count). Required. */
  handlersDir: string;
  /** Number of Workers. Default {@linkcode defaultPoolSize}: one per logical processor. */
  size?: number;
  /**
   * Milliseconds a handler has to settle after its attempt is aborted before its Worker is
   * terminated (and the Worker's other attempts released). Longer: more room for cleanup; shorter:
   * a stuck Worker is replaced sooner. Default {@linkcode DEFAULT_ABORT_GRACE_MILLIS} (5000).
   */
  graceMillis?: number;
  /** Worker crashes after which a task fails for good. Default {@linkcode DEFAULT_POISON_THRESHOLD} (3). */
  poisonThreshold?: number;
  /**
   * Tasks after which a Worker is replaced (it finishes what it runs first). Lower bounds what a
   * leaking handler can hold; each replacement reloads the handlers. Default
   * {@linkcode DEFAULT_RECYCLE_AFTER} (10000).
   */
  recycleAfter?: number;
  /**
   * Heap a Worker may use, in MB, sampled every 100 ms; over it, the Worker is replaced as
   * crashed. Under Deno, V8 also ends a Worker at twice this (see the module notes). null: no
   * limit. Default {@linkcode DEFAULT_MAX_HEAP_MEGABYTES} (1024).
   */
  maxHeapMegabytes?: number | null;
  /** Problems off the request path (a replacement Worker failed to start). Default: logged through LogTape. */
  onError?: (error: unknown) => void;
}

/** Counters of a {@linkcode WorkerPool}, for metrics. */
export interface WorkerPoolStats {
  /** Workers the pool keeps (the `size` option). */
  size: number;
  /** Workers alive now, counting starting ones and ones finishing before recycling. */
  workers: number;
  /** Workers running at least one attempt. */
  busy: number;
  /** Attempts handed to Workers and not yet settled. */
  inFlight: number;
  /** Workers that crashed (see the module notes). */
  crashes: number;
  /** Workers terminated because a handler did not settle within the grace after an abort. */
  killed: number;
  /** Workers replaced after `recycleAfter` tasks. */
  recycles: number;
  /** Tasks failed for good as poison. */
  quarantined: number;
}

type WorkerState = "starting" | "ready" | "retiring" | "dead";

interface PoolWorker {
  readonly worker: WorkerHandle;
  state: WorkerState;
  /** Attempts sent to this Worker and not yet reported back. */
  readonly jobs: Map<number, Job>;
  readonly outbox: Outbox<ToWorker>;
  dispatched: number;
  /** Reserved for one suspect task, which runs alone once the Worker is empty. */
  exclusive: boolean;
  heldSuspect: Job | undefined;
  readonly ready: Promise<void>;
  markReady(): void;
  failStart(error: Error): void;
}

interface Job {
  readonly id: number;
  readonly task: TaskRecord;
  readonly control: AttemptControl;
  worker: PoolWorker | undefined;
  /** Was running in a Worker that crashed without naming a culprit: must run alone. */
  readonly suspect: boolean;
  /** `execute` has resolved (the Worker may still be running it). */
  settled: boolean;
  /** Set once the abort was forwarded: the handler's grace period. */
  graceTimer: ReturnType<typeof setTimeout> | undefined;
  resolve(result: AttemptResult): void;
  stopListening(): void;
}

function integerAtLeast(value: unknown, min: number, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/**
 * Runs handler modules in a pool of Workers (child processes under Deno). Start it, then give
 * it to a {@linkcode TaskWorker} as its executor; the worker closes it when it stops.
 *
 * @example
 * ```ts
 * const pool = await WorkerPool.start({ handlersDir: "./handlers", size: 4 });
 * const registry = new TaskRegistry();
 * for (const definition of pool.definitions) registry.add(definition);
 * const worker = new TaskWorker(store, { executor: pool, concurrency: 64 });
 * worker.start();
 * // ...
 * await worker.stop(); // also closes the pool
 * ```
 */
export class WorkerPool implements TaskExecutor {
  readonly #handlersDir: string;
  readonly #size: number;
  readonly #graceMillis: number;
  readonly #poisonThreshold: number;
  readonly #recycleAfter: number;
  readonly #maxHeapBytes: number | null;
  readonly #onError: (error: unknown) => void;

  #state: "new" | "starting" | "running" | "closed" = "new";
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #init: WorkerInit | undefined;
  #definitions: readonly TaskDefinition[] = [];
  #names = new Set<string>();

  readonly #workers = new Set<PoolWorker>();
  /** Attempts no Worker can take now (all reserved or restarting). */
  #waiting: Job[] = [];
  #nextJob = 0;
  #ledger: CrashLedger;
  #respawnTimer: ReturnType<typeof setTimeout> | undefined;
  #respawnFailures = 0;
  readonly #counters = { crashes: 0, killed: 0, recycles: 0, quarantined: 0 };

  /** Validates the options; {@linkcode start} loads the handlers and starts the Workers. */
  constructor(options: WorkerPoolOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`WorkerPool options must be an object, got ${String(options)}`);
    }
    if (typeof options.handlersDir !== "string" || options.handlersDir === "") {
      throw new TypeError(
        `handlersDir must be a folder path, got ${JSON.stringify(options.handlersDir)}`,
      );
    }
    this.#handlersDir = options.handlersDir;
    this.#size = integerAtLeast(options.size ?? defaultPoolSize(), 1, "size");
    this.#graceMillis = integerAtLeast(
      options.graceMillis ?? DEFAULT_ABORT_GRACE_MILLIS,
      0,
      "graceMillis",
    );
    this.#poisonThreshold = integerAtLeast(
      options.poisonThreshold ?? DEFAULT_POISON_THRESHOLD,
      1,
      "poisonThreshold",
    );
    this.#recycleAfter = integerAtLeast(
      options.recycleAfter ?? DEFAULT_RECYCLE_AFTER,
      1,
      "recycleAfter",
    );
    const heap = options.maxHeapMegabytes === undefined
      ? DEFAULT_MAX_HEAP_MEGABYTES
      : options.maxHeapMegabytes;
    this.#maxHeapBytes = heap === null
      ? null
      : integerAtLeast(heap, 1, "maxHeapMegabytes") * 1_048_576;
    this.#onError = options.onError ?? logErrorTo("pool", "worker pool");
    this.#ledger = new CrashLedger(this.#poisonThreshold);
  }

  /** Creates a pool and starts it. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    await pool.start();
    return pool;
  }

  /** The definitions the main thread loaded from the handlers folder (empty before start). */
  get definitions(): readonly TaskDefinition[] {
    return this.#definitions;
  }

  /**
   * Loads the handlers in this thread (a bad module throws {@linkcode HandlerLoadError} naming
   * it), then starts the Workers and waits until each has loaded them too. Idempotent.
   */
  start(): Promise<void> {
    this.#started ??= this.#startUp();
    return this.#started;
  }

  async #startUp(): Promise<void> {
    if (this.#state !== "new") throw new Error("A closed WorkerPool cannot start again");
    this.#state = "starting";
    try {
      const files = await listHandlerFiles(this.#handlersDir);
      this.#definitions = await loadHandlerFiles(files);
      this.#names = new Set(this.#definitions.map((d) => d.name));
      this.#init = { files, maxHeapBytes: this.#maxHeapBytes, heapCheckMillis: HEAP_CHECK_MILLIS };
      const workers = Array.from({ length: this.#size }, () => this.#spawn());
      await Promise.all(workers.map((w) => w.ready));
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.#state === "starting") this.#state = "running";
  }

  /** Runs one attempt in the least busy Worker. Never rejects. */
  async execute(task: TaskRecord, control: AttemptControl): Promise<AttemptResult> {
    if (this.#state === "new") {
      return {
        kind: "failed",
        error: new Error("The WorkerPool was not started; call start() first"),
      };
    }
    if (this.#state === "starting") await this.#started?.catch(() => {});
    if (this.#state !== "running") {
      const error = new Error("The WorkerPool is closed; stop the TaskWorker before its pool");
      return { kind: "failed", error };
    }
    if (!this.#names.has(task.name)) {
      const error = new Error(
        `No handler for task "${task.name}" in the handlers folder ${this.#handlersDir}`,
      );
      return { kind: "failed", error };
    }
    if (control.signal.aborted) return { kind: "failed", error: control.signal.reason };
    return await new Promise<AttemptResult>((resolve) => {
      const onAbort = () => this.#aborted(job);
      const job: Job = {
        id: this.#nextJob++,
        task,
        control,
        worker: undefined,
        suspect: this.#ledger.isSuspect(task.id),
        settled: false,
        graceTimer: undefined,
        resolve,
        stopListening: () => control.signal.removeEventListener("abort", onAbort),
      };
      control.signal.addEventListener("abort", onAbort, { once: true });
      this.#dispatch(job);
    });
  }

  /** Counters for metrics. */
  stats(): WorkerPoolStats {
    let busy = 0;
    let inFlight = 0;
    for (const w of this.#workers) {
      if (w.jobs.size) busy++;
      inFlight += w.jobs.size;
    }
    return { size: this.#size, workers: this.#workers.size, busy, inFlight, ...this.#counters };
  }

  /**
   * Terminates every Worker at once; attempts still running are released. Call it after the
   * worker that uses the pool has stopped (`TaskWorker.stop` does). Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  /** The same as {@linkcode close}. */
  stop(): Promise<void> {
    return this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    this.#state = "closed";
    clearTimeout(this.#respawnTimer);
    for (const w of [...this.#workers]) {
      const jobs = [...w.jobs.values()];
      if (w.heldSuspect) jobs.push(w.heldSuspect);
      this.#terminate(w);
      w.failStart(new Error("The WorkerPool was closed while its Workers started"));
      for (const job of jobs) this.#settle(job, { kind: "released" });
    }
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) this.#settle(job, { kind: "released" });
    await Promise.resolve();
  }

  // ---- Workers ----

  #spawn(): PoolWorker {
    const worker = startWorker(this.#maxHeapBytes);
    let markReady = () => {};
    let failStart = (_error: Error) => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    ready.catch(() => {});
    const w: PoolWorker = {
      worker,
      state: "starting",
      jobs: new Map(),
      outbox: new Outbox((batch) => worker.postMessage(encodeBatch(batch))),
      dispatched: 0,
      exclusive: false,
      heldSuspect: undefined,
      ready,
      markReady,
      failStart,
    };
    worker.onmessage = (event: MessageEvent<string>) =>
      this.#receive(w, decodeBatch<FromWorker>(event.data));
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#crashed(w, "uncaught", { name: "Error", message: event.message }, null);
    };
    worker.onmessageerror = () => {
      this.#crashed(w, "died", {
        name: "Error",
        message: "A message from the Worker could not be read",
      }, null);
    };
    // Bun and a ProcessWorker tell when a Worker ends.
    worker.addEventListener("close", (event) => {
      const { code, signal } = event as Event & { code?: number; signal?: string | null };
      this.#crashed(w, "died", {
        name: "Error",
        message: `The Worker exited unexpectedly (code ${code ?? "?"}${
          signal ? `, signal ${signal}` : ""
        })`,
      }, null);
    });
    this.#workers.add(w);
    this.#post(w, { t: "init", init: this.#init! });
    return w;
  }

  #receive(w: PoolWorker, messages: FromWorker[]): void {
    for (const message of messages) {
      if (w.state === "dead") return;
      switch (message.t) {
        case "ready": {
          const expected = [...this.#names].sort().join(", ");
          const loaded = [...message.names].sort().join(", ");
          if (loaded !== expected) {
            const problem =
              `the handlers changed on disk since the pool started: the main thread ` +
              `loaded ${expected || "no tasks"}, a new Worker ${loaded || "no tasks"}`;
            return this.#loadFailed(w, { name: "Error", message: problem });
          }
          if (w.state === "starting") w.state = "ready";
          this.#respawnFailures = 0;
          w.markReady();
          break;
        }
        case "loadFailed":
          this.#loadFailed(w, message.error);
          break;
        case "completed":
          // The Worker checked the result (runAttempt), and it crossed the channel as JSON.
          this.#reported(w, message.job, {
            kind: "completed",
            result: message.result,
            checked: true,
          });
          break;
        case "failed":
          this.#reported(w, message.job, {
            kind: "failed",
            error: fromWireError(message.error),
            permanent: message.permanent,
            ...(message.retryDelay === undefined ? {} : { retryDelay: message.retryDelay }),
          });
          break;
        case "snoozed":
          this.#reported(w, message.job, { kind: "snoozed", delayMillis: message.delayMillis });
          break;
        case "progress": {
          const job = w.jobs.get(message.job);
          const ack = (error: string | null) =>
            this.#post(w, { t: "progressAck", request: message.request, error });
          if (!job || job.settled) {
            ack(null);
            break;
          }
          job.control.progress(message.value).then(
            () => ack(null),
            (error: unknown) => ack(error instanceof Error ? error.message : String(error)),
          );
          break;
        }
        case "log": {
          const job = w.jobs.get(message.job);
          if (job && !job.settled) job.control.log(message.line, message.level);
          // Without a LogTape configuration a handler's console output still reaches the console.
          if (message.console && getConfig() === null) console[message.console](message.line);
          break;
        }
        case "crash":
          this.#crashed(w, message.cause, message.error, message.job);
          break;
      }
    }
  }

  #loadFailed(w: PoolWorker, wire: WireError): void {
    const error = wire.file !== undefined && wire.problem !== undefined
      ? new HandlerLoadError(wire.file, wire.problem)
      : fromWireError(wire);
    const jobs = [...w.jobs.values()];
    this.#terminate(w);
    w.failStart(error);
    for (const job of jobs) this.#settle(job, { kind: "released" });
    if (this.#state !== "running") return;
    // A replacement could not load the handlers (changed on disk?): retry, slower each time.
    this.#onError(error);
    const delay = Math.min(MAX_RESPAWN_DELAY_MILLIS, 1000 * 2 ** this.#respawnFailures++);
    clearTimeout(this.#respawnTimer);
    this.#respawnTimer = setTimeout(() => {
      this.#respawnTimer = undefined;
      this.#replenish();
    }, delay);
  }

  /** Starts Workers until `size` of them take work (retiring ones do not count). */
  #replenish(): void {
    if (this.#state !== "running" && this.#state !== "starting") return;
    if (this.#respawnTimer !== undefined) return;
    let active = 0;
    for (const w of this.#workers) if (w.state === "starting" || w.state === "ready") active++;
    for (; active < this.#size; active++) this.#spawn();
    this.#drainWaiting();
  }

  #terminate(w: PoolWorker): void {
    if (w.state === "dead") return;
    w.state = "dead";
    this.#workers.delete(w);
    w.outbox.clear();
    w.worker.terminate();
    for (const job of w.jobs.values()) {
      clearTimeout(job.graceTimer);
      job.stopListening();
    }
    const held = w.heldSuspect;
    w.heldSuspect = undefined;
    if (held && !held.settled) {
      held.worker = undefined;
      this.#waiting.push(held);
    }
  }

  /** A Worker reported a crash, or died: blame, replace, go on. */
  #crashed(w: PoolWorker, cause: CrashCause | "died", wire: WireError, named: number | null): void {
    if (w.state === "dead") return;
    if (w.state === "starting") {
      // Not a task's fault: the handler modules themselves crashed the Worker while loading.
      return this.#loadFailed(w, {
        ...wire,
        message: `A Worker crashed while loading the handlers: ${wire.message}`,
      });
    }
    this.#counters.crashes++;
    const jobs = [...w.jobs.values()];
    const culprit = this.#ledger.culprit(named !== null ? w.jobs.get(named) : undefined, jobs);
    this.#terminate(w);
    for (const job of jobs) {
      if (job === culprit) {
        const { error, quarantined } = this.#ledger.blame(job.task.id, cause, wire);
        if (quarantined) this.#counters.quarantined++;
        this.#settle(
          job,
          quarantined ? { kind: "failed", error, permanent: true } : { kind: "failed", error },
        );
      } else {
        if (!culprit) this.#ledger.suspect(job.task.id);
        this.#settle(job, { kind: "released" });
      }
    }
    this.#replenish();
  }

  // ---- Attempts ----

  #dispatch(job: Job): void {
    if (job.suspect) {
      const w = this.#leastBusy();
      if (!w) return void this.#waiting.push(job);
      w.exclusive = true;
      job.worker = w;
      if (w.jobs.size === 0) this.#send(w, job);
      else w.heldSuspect = job;
      return;
    }
    const w = this.#leastBusy();
    if (!w) return void this.#waiting.push(job);
    this.#send(w, job);
  }

  #leastBusy(): PoolWorker | undefined {
    let best: PoolWorker | undefined;
    for (const w of this.#workers) {
      if (w.exclusive || (w.state !== "ready" && w.state !== "starting")) continue;
      if (!best || w.jobs.size < best.jobs.size) best = w;
    }
    return best;
  }

  #send(w: PoolWorker, job: Job): void {
    const { task } = job;
    job.worker = w;
    w.jobs.set(job.id, job);
    this.#post(w, {
      t: "run",
      job: job.id,
      taskId: task.id,
      name: task.name,
      queue: task.queue,
      args: task.args,
      attempt: task.attempts,
      maxAttempts: task.maxAttempts,
      scheduledFor: task.scheduledFor ?? null,
      traceparent: job.control.traceparent ?? null,
    });
    if (++w.dispatched >= this.#recycleAfter && w.state !== "retiring") {
      w.state = "retiring";
      this.#counters.recycles++;
      this.#replenish();
    }
  }

  #post(w: PoolWorker, message: ToWorker): void {
    if (w.state !== "dead") w.outbox.push(message);
  }

  /** The Worker reported how an attempt ended. */
  #reported(w: PoolWorker, id: number, result: AttemptResult): void {
    const job = w.jobs.get(id);
    if (!job) return;
    clearTimeout(job.graceTimer);
    job.stopListening();
    w.jobs.delete(id);
    this.#ledger.reported(job.task.id, result.kind === "completed");
    this.#settle(job, result);
    if (w.jobs.size === 0) {
      if (w.heldSuspect) {
        const held = w.heldSuspect;
        w.heldSuspect = undefined;
        this.#send(w, held);
      } else {
        w.exclusive = false;
      }
    }
    if (w.state === "retiring" && w.jobs.size === 0) this.#terminate(w);
    this.#drainWaiting();
  }

  #aborted(job: Job): void {
    if (job.settled) return;
    const reason = job.control.signal.reason;
    const w = job.worker;
    if (!w || !w.jobs.has(job.id)) {
      // Not in a Worker yet: waiting, or held for a Worker of its own.
      this.#waiting = this.#waiting.filter((j) => j !== job);
      if (w?.heldSuspect === job) {
        w.heldSuspect = undefined;
        if (w.jobs.size === 0) w.exclusive = false;
      }
      return this.#settle(job, { kind: "failed", error: reason });
    }
    const kind = reason instanceof AttemptAborted ? reason.kind : "cancel";
    const message = reason instanceof Error ? reason.message : String(reason);
    this.#post(w, { t: "abort", job: job.id, kind, message });
    // Shutdown: give the task back now; the pool is about to close and terminate the Worker.
    if (kind === "shutdown") this.#settle(job, { kind: "released" });
    job.graceTimer = setTimeout(() => this.#unresponsive(w), this.#graceMillis);
  }

  /** A handler outlived its grace: terminate its Worker; aborted attempts fail, others go back. */
  #unresponsive(w: PoolWorker): void {
    if (w.state === "dead") return;
    this.#counters.killed++;
    const jobs = [...w.jobs.values()];
    this.#terminate(w);
    for (const job of jobs) {
      const aborted = job.control.signal.aborted;
      this.#settle(
        job,
        aborted ? { kind: "failed", error: job.control.signal.reason } : { kind: "released" },
      );
    }
    this.#replenish();
  }

  #settle(job: Job, result: AttemptResult): void {
    clearTimeout(job.graceTimer);
    if (job.settled) return;
    job.settled = true;
    job.stopListening();
    job.resolve(result);
  }

  #drainWaiting(): void {
    if (!this.#waiting.length || this.#state !== "running") return;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) if (!job.settled) this.#dispatch(job);
  }
}
