/**
 * The producer side: enqueue tasks and manage them.
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { IllegalTransitionError, TaskNotFoundError, WaitTimeoutError } from "./errors.ts";
import { newTaskId } from "./id.ts";
import type { JsonValue } from "./json.ts";
import { setLongTimeout } from "./long_timer.ts";
import { checkEnqueueField, parseEnqueueOptions } from "./enqueue_input.ts";
import { defaultRegistry, parseArgs, type TaskRegistry } from "./registry.ts";
import { resolveRetryConfig, type RetryConfig } from "./retry.ts";
import {
  CANCELLABLE_STATUSES,
  type ListQuery,
  RETRYABLE_STATUSES,
  type TaskPage,
  type TaskStats,
  type TaskStore,
} from "./store/store.ts";
import {
  FINAL_STATUSES,
  newTaskRecord,
  TASK_STATUSES,
  type TaskPriority,
  type TaskRecord,
  TaskStatus,
} from "./task.ts";

/** Per-enqueue options; each overrides the task's registered default. */
export interface EnqueueOptions {
  priority?: TaskPriority;
  /** Milliseconds to wait before the task is due (>= 0). The task is SCHEDULED until then. */
  delay?: number;
  queue?: string;
  /** Merged over the task's registered retry config. */
  retryConfig?: Partial<RetryConfig>;
  /** Milliseconds one attempt may run; null for no limit. */
  timeout?: number | null;
}

/** One task of {@linkcode TaskDispatcher.enqueueMany}. */
export interface EnqueueRequest {
  name: string;
  args?: unknown;
  options?: EnqueueOptions;
}

/** Options of {@linkcode TaskDispatcher}. */
export interface TaskDispatcherOptions {
  /** Where task names are looked up. Default {@linkcode defaultRegistry}. */
  registry?: TaskRegistry;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
}

/** Options of {@linkcode TaskDispatcher.waitFor}. */
export interface WaitOptions {
  /** Give up after this many ms with {@linkcode WaitTimeoutError}. Default: wait forever. */
  timeout?: number;
  signal?: AbortSignal;
  /** How often to re-read the task, for changes made by other processes. Default 250 ms. */
  pollInterval?: number;
}

/** Default page size of {@linkcode TaskDispatcher.listByStatus}. */
export const DEFAULT_LIST_LIMIT = 50;
/** The largest page {@linkcode TaskDispatcher.listByStatus} returns. */
export const MAX_LIST_LIMIT = 1000;
/** Default re-read interval of {@linkcode TaskDispatcher.waitFor}. */
export const DEFAULT_WAIT_POLL_MILLIS = 250;

/**
 * Enqueues tasks into a store and manages them: get, cancel, retry, list, stats, wait.
 *
 * @example
 * ```ts
 * const dispatcher = new TaskDispatcher(store, { registry });
 * const id = await dispatcher.enqueue("send-email", { to: "a@example.com" }, { priority: "HIGH" });
 * const done = await dispatcher.waitFor(id, { timeout: 30_000 });
 * ```
 */
export class TaskDispatcher {
  readonly #store: TaskStore;
  readonly #registry: TaskRegistry;
  readonly #clock: Clock;

  constructor(store: TaskStore, options: TaskDispatcherOptions = {}) {
    this.#store = store;
    this.#registry = options.registry ?? defaultRegistry;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Validates and stores one task; resolves with its id once the store has committed it.
   * Throws {@linkcode UnknownTaskError}, {@linkcode InvalidArgumentsError}, or a
   * `TypeError`/`RangeError` naming a bad option; nothing is written then.
   */
  async enqueue(name: string, args: unknown = {}, options: EnqueueOptions = {}): Promise<string> {
    const task = this.#build(name, args, options, this.#clock.now());
    await this.#store.insert([task]);
    return task.id;
  }

  /**
   * Checks a task as {@linkcode enqueue} would — the name, the args against the schema, the
   * options — and throws the same errors; writes nothing. Lets a bulk import reject bad lines
   * one by one before it writes the good ones with {@linkcode enqueueMany}.
   */
  validate(name: string, args: unknown = {}, options: EnqueueOptions = {}): void {
    this.#build(name, args, options, this.#clock.now());
  }

  /** Validates every request, then stores all in one transaction; returns the ids in order. */
  async enqueueMany(requests: readonly EnqueueRequest[]): Promise<string[]> {
    if (!Array.isArray(requests)) {
      throw new TypeError(`enqueueMany expects an array, got ${typeof requests}`);
    }
    const now = this.#clock.now();
    const tasks = requests.map((request, index) => {
      try {
        return this.#build(request.name, request.args ?? {}, request.options ?? {}, now);
      } catch (error) {
        if (error instanceof Error) error.message = `Request ${index}: ${error.message}`;
        throw error;
      }
    });
    if (tasks.length) await this.#store.insert(tasks);
    return tasks.map((task) => task.id);
  }

  /** The task, or null when no task has this id. */
  getTask(id: string): Promise<TaskRecord | null> {
    return this.#store.get(id);
  }

  /**
   * Cancels a PENDING, SCHEDULED or RETRYING task at once. For a PROCESSING task, requests
   * the cancel: the handler's signal aborts and the task ends CANCELLED; the returned record is
   * still PROCESSING (use {@linkcode waitFor} for the end).
   */
  async cancel(id: string): Promise<TaskRecord> {
    const task = await this.#store.cancel(id, this.#clock.now());
    return task ?? (await this.#refuse(id, "cancel", CANCELLABLE_STATUSES));
  }

  /** Puts a FAILED or CANCELLED task back to PENDING with a fresh attempt budget. */
  async retry(id: string): Promise<TaskRecord> {
    const task = await this.#store.retry(id, this.#clock.now());
    return task ?? (await this.#refuse(id, "retry", RETRYABLE_STATUSES));
  }

  /** One page of tasks in `status`, newest first; pass `nextCursor` back for the next page. */
  listByStatus(
    status: TaskStatus,
    page: { limit?: number; cursor?: string; name?: string; queue?: string } = {},
  ): Promise<TaskPage> {
    return this.list({ ...page, status });
  }

  /** One page of tasks matching the filters, newest first. */
  list(query: Partial<ListQuery> = {}): Promise<TaskPage> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new RangeError(
        `limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${String(limit)}`,
      );
    }
    if (query.status !== undefined && !TASK_STATUSES.includes(query.status)) {
      throw new RangeError(
        `status must be one of ${TASK_STATUSES.join(", ")}, got ${String(query.status)}`,
      );
    }
    if (query.cursor !== undefined && !/^\d+$/.test(query.cursor)) {
      throw new TypeError(
        `cursor must be a nextCursor from an earlier page, got ${JSON.stringify(query.cursor)}`,
      );
    }
    const clean: ListQuery = { limit };
    if (query.status !== undefined) clean.status = query.status;
    if (query.name !== undefined) clean.name = query.name;
    if (query.queue !== undefined) clean.queue = query.queue;
    if (query.cursor !== undefined) clean.cursor = query.cursor;
    return this.#store.list(clean);
  }

  /** Counts per status, overall and per queue. */
  stats(): Promise<TaskStats> {
    return this.#store.stats();
  }

  /**
   * Resolves with the task once it is COMPLETED, FAILED or CANCELLED. Throws
   * {@linkcode TaskNotFoundError}, {@linkcode WaitTimeoutError}, or the signal's reason.
   */
  async waitFor(id: string, options: WaitOptions = {}): Promise<TaskRecord> {
    const { timeout, signal, pollInterval = DEFAULT_WAIT_POLL_MILLIS } = options;
    if (timeout !== undefined && (!Number.isFinite(timeout) || timeout < 0)) {
      throw new RangeError(`timeout must be a number of ms >= 0, got ${String(timeout)}`);
    }
    if (typeof pollInterval !== "number" || !(pollInterval > 0)) {
      throw new RangeError(`pollInterval must be a number of ms > 0, got ${String(pollInterval)}`);
    }
    signal?.throwIfAborted();
    let wake: () => void = () => {};
    const unlisten = this.#store.listen((event) => {
      if (event.type === "changed" || (event.type === "finished" && event.ids.includes(id))) wake();
    });
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    try {
      while (true) {
        const task = await this.#store.get(id);
        if (!task) throw new TaskNotFoundError(id);
        if (FINAL_STATUSES.has(task.status)) return task;
        signal?.throwIfAborted();
        const left = deadline - Date.now();
        if (left <= 0) throw new WaitTimeoutError(id, timeout ?? 0);
        await new Promise<void>((resolve, reject) => {
          const done = () => {
            timer.clear();
            signal?.removeEventListener("abort", onAbort);
            resolve();
          };
          const onAbort = () => {
            timer.clear();
            reject(signal?.reason);
          };
          const timer = setLongTimeout(done, Math.min(left, pollInterval));
          signal?.addEventListener("abort", onAbort, { once: true });
          wake = done;
        });
      }
    } finally {
      unlisten();
    }
  }

  #build(name: string, args: unknown, options: EnqueueOptions, now: number): TaskRecord {
    // The one parser of enqueue input (shared with the CLI and the admin API).
    const taskName = checkEnqueueField("name", name, "Task name") as string;
    const definition = this.#registry.get(taskName);
    const parsed = parseEnqueueOptions(options);
    parseArgs(definition, args);
    const delay = parsed.delay ?? 0;
    const timeout = parsed.timeout === undefined ? definition.timeout : parsed.timeout;
    const retryConfig = parsed.retryConfig === undefined
      ? definition.retryConfig
      : resolveRetryConfig(parsed.retryConfig, definition.retryConfig);
    return newTaskRecord({
      id: newTaskId(now),
      name: taskName,
      queue: parsed.queue ?? definition.queue,
      // Checked as plain JSON above; stores copy or serialize it, so later changes don't leak in.
      args: args as JsonValue,
      status: delay > 0 ? TaskStatus.SCHEDULED : TaskStatus.PENDING,
      priority: parsed.priority ?? definition.priority,
      runAt: now + delay,
      createdAt: now,
      retryConfig,
      timeoutMillis: timeout,
    });
  }

  async #refuse(id: string, action: string, allowed: readonly TaskStatus[]): Promise<never> {
    const task = await this.#store.get(id);
    if (!task) throw new TaskNotFoundError(id);
    throw new IllegalTransitionError(id, action, task.status, allowed);
  }
}
