/**
 * The producer side: enqueue tasks and manage them.
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import {
  AmbiguousIdError,
  IllegalTransitionError,
  InvalidArgumentsError,
  TaskNotFoundError,
  WaitTimeoutError,
} from "./errors.ts";
import { newTaskId } from "./id.ts";
import { checkJsonSchema } from "./json_schema_check.ts";
import type { JsonValue } from "./json.ts";
import { setLongTimeout } from "./long_timer.ts";
import { checkEnqueueField, parseEnqueueOptions } from "./enqueue_input.ts";
import {
  assertName,
  assertPriority,
  assertTimeout,
  DEFAULT_QUEUE,
  DEFAULT_TIMEOUT_MILLIS,
  defaultRegistry,
  parseArgs,
  type TaskDefinition,
  type TaskRegistry,
} from "./registry.ts";
import { DEFAULT_RETRY_CONFIG, resolveRetryConfig, type RetryConfig } from "./retry.ts";
import { type PublishedTaskTypes, publishedTaskTypes, type TaskTypeInfo } from "./task_types.ts";
import { type FlowLimitOptions, parseFlowLimits } from "./flow_limits.ts";
import { cronOf, parseSchedule, type ScheduleOptions } from "./schedule.ts";
import { parseUnique, uniqueKey, type UniqueOptions, type UniqueSpec } from "./unique.ts";
import { readyForTracing } from "./tracing/_api.ts";
import { type SendSpan, startSendSpan } from "./tracing/producer_span.ts";
import { TracingAttributes } from "./tracing/conventions.ts";
import {
  type BulkRequest,
  CANCELLABLE_STATUSES,
  DELETABLE_STATUSES,
  type FlowLimit,
  type HistoryPoint,
  type InsertOptions,
  type ListQuery,
  type NewTask,
  type QueueState,
  RETRYABLE_STATUSES,
  type ScheduleRecord,
  type SlotResult,
  type TaskFilter,
  type TaskPage,
  type TaskStats,
  type TaskStore,
  untilDone,
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
  /**
   * Store at most one such task at a time: while one with the same key waits or runs, the
   * enqueue returns its id and `duplicate: true` (see {@linkcode UniqueOptions}); overrides the
   * task's default; `false` turns the default off.
   */
  unique?: UniqueOptions | false;
  /**
   * Accept a task name this process does not define: a producer without the handler code
   * enqueues what workers elsewhere run. Its defaults (queue, priority, attempts, timeout,
   * retry) are those the live workers that define it publish in the worker registry; its args
   * must be plain JSON and pass the JSON Schema such a worker published, if any (else
   * {@linkcode InvalidArgumentsError}); the worker checks them with the task's own schema before
   * the attempt runs, as always (what JSON Schema cannot express fails the task then). When no live worker
   * defines the name, the task is still stored (with the defaults of a task registered with no
   * options) and {@linkcode EnqueueResult.warning} says so: it waits until such a worker
   * starts. A name this process defines is enqueued as usual. Default false: an unknown name
   * throws {@linkcode UnknownTaskError} with a "did you mean".
   */
  unregistered?: boolean;
}

/** {@linkcode TaskStats} with each overall status count also under its lower-case name. */
export interface DispatcherStats extends TaskStats {
  pending: number;
  scheduled: number;
  processing: number;
  completed: number;
  failed: number;
  cancelled: number;
  retrying: number;
}

/** A schedule with its next fire time, as {@linkcode TaskDispatcher.listSchedules} lists it. */
export interface ScheduleInfo extends ScheduleRecord {
  /** The next fire time after now (or after the last slot), or null for a retired schedule. */
  nextRunAt: number | null;
}

/** Where an enqueue runs: `tx` is a transaction of the application's own (see {@linkcode InsertOptions}). */
export interface EnqueueTransaction {
  /**
   * The application's transaction the task is written in: a `postgres` transaction for the
   * PostgreSQL store, the handle of `SqliteTaskStore.transaction` for SQLite. The task then
   * exists only if that transaction commits.
   */
  tx?: unknown;
}

/** The result of {@linkcode TaskDispatcher.enqueueDetailed}. */
export interface EnqueueResult {
  id: string;
  /** True when the store matched an existing task instead of writing a new one. */
  duplicate: boolean;
  /** Set for an `unregistered` enqueue of a name no live worker defines (it waits for one). */
  warning?: string;
}

/**
 * One task of {@linkcode TaskDispatcher.enqueueMany}. Build it with {@linkcode enqueueRequest}
 * to have `args` type-checked against the task's schema.
 */
export interface EnqueueRequest {
  name: string;
  args?: unknown;
  options?: EnqueueOptions;
}

/** An {@linkcode EnqueueRequest} made by {@linkcode enqueueRequest}, with the task's definition. */
export interface TypedEnqueueRequest extends EnqueueRequest {
  /** Used when the dispatcher's registry does not know `name`. */
  task: TaskDefinition<unknown, unknown>;
}

/**
 * A typed {@linkcode EnqueueRequest} for `enqueueMany`: `args` is checked at compile time against
 * the input type of `task`'s schema (`task` is what `defineTask` returns).
 *
 * @example
 * ```ts
 * await dispatcher.enqueueMany([
 *   enqueueRequest(resizeTask, { path: "a.png", width: 100 }),
 *   enqueueRequest(resizeTask, { path: "b.png", width: 200 }, { priority: "HIGH" }),
 * ]);
 * ```
 */
export function enqueueRequest<TArgs, TInput>(
  task: TaskDefinition<TArgs, TInput>,
  args: NoInfer<TInput>,
  options?: EnqueueOptions,
): TypedEnqueueRequest {
  return {
    name: task.name,
    args,
    task: task as TaskDefinition<unknown, unknown>,
    ...(options === undefined ? {} : { options }),
  };
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

/** How many tasks one step of a bulk action changes in one transaction. */
export const BULK_BATCH = 500;
/** How many candidates an {@linkcode AmbiguousIdError} lists. */
const AMBIGUOUS_SHOWN = 3;

/** Default page size of {@linkcode TaskDispatcher.listByStatus}. */
export const DEFAULT_LIST_LIMIT = 50;
/** The largest page {@linkcode TaskDispatcher.listByStatus} returns. */
export const MAX_LIST_LIMIT = 1000;
/**
 * How long the dispatcher reuses the task types it read from the worker registry for
 * `unregistered` enqueues (ms): about a heartbeat, so a burst of enqueues reads it once.
 */
export const PUBLISHED_TYPES_TTL_MILLIS = 1000;
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
  /** The task types live workers published, as last read (see {@linkcode loadTaskTypes}). */
  #published: { at: number; types: PublishedTaskTypes } | undefined;

  constructor(store: TaskStore, options: TaskDispatcherOptions = {}) {
    this.#store = store;
    this.#registry = options.registry ?? defaultRegistry;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Validates and stores one task; resolves with its id once the store has committed it.
   * Throws {@linkcode UnknownTaskError}, {@linkcode InvalidArgumentsError}, or a
   * `TypeError`/`RangeError` naming a bad option; nothing is written then.
   *
   * Typed form: pass the definition `defineTask` returned instead of its name, and `args` must
   * match the input type of its schema at compile time (it is still validated at run time):
   * `await dispatcher.enqueue(resizeTask, { path: "a.png", width: 100 })`. When the registry
   * does not know the task, the definition stands in for it.
   */
  async enqueue<TArgs, TInput>(
    task: TaskDefinition<TArgs, TInput>,
    args: NoInfer<TInput>,
    options?: EnqueueOptions & EnqueueTransaction,
  ): Promise<string>;
  async enqueue(
    name: string,
    args?: unknown,
    options?: EnqueueOptions & EnqueueTransaction,
  ): Promise<string>;
  async enqueue(
    task: string | TaskDefinition<unknown, unknown>,
    args: unknown = {},
    options: EnqueueOptions & EnqueueTransaction = {},
  ): Promise<string> {
    return (await this.#enqueueOne(task, args, options)).id;
  }

  /**
   * {@linkcode enqueue}, saying also whether the store wrote a new task or matched an existing
   * one (a duplicate of a unique task).
   */
  async enqueueDetailed<TArgs, TInput>(
    task: TaskDefinition<TArgs, TInput>,
    args: NoInfer<TInput>,
    options?: EnqueueOptions & EnqueueTransaction,
  ): Promise<EnqueueResult>;
  async enqueueDetailed(
    name: string,
    args?: unknown,
    options?: EnqueueOptions & EnqueueTransaction,
  ): Promise<EnqueueResult>;
  enqueueDetailed(
    task: string | TaskDefinition<unknown, unknown>,
    args: unknown = {},
    options: EnqueueOptions & EnqueueTransaction = {},
  ): Promise<EnqueueResult> {
    return this.#enqueueOne(task, args, options);
  }

  async #enqueueOne(
    name: string | TaskDefinition<unknown, unknown>,
    args: unknown,
    options: EnqueueOptions & EnqueueTransaction,
  ): Promise<EnqueueResult> {
    const [taskOptions, insertOptions] = splitTransaction(options);
    const now = this.#clock.now();
    const taskName = typeof name === "string" ? name : name.name;
    const published = await this.#publishedFor([{ name: taskName, options: taskOptions }], now);
    const built = this.#build(name, args, taskOptions, now, published);
    const task = await this.#withKey(built);
    const send = await openSendSpan([task]);
    const [result] = await traced(send, this.#store.insert([task], insertOptions));
    const done: EnqueueResult = {
      id: result?.id ?? task.id,
      duplicate: result?.inserted === false,
    };
    if (built.warning !== undefined) done.warning = built.warning;
    return done;
  }

  /**
   * Checks a task as {@linkcode enqueue} would — the name, the args against the schema, the
   * options — and throws the same errors; writes nothing. Lets a bulk import reject bad lines
   * one by one before it writes the good ones with {@linkcode enqueueMany}. An `unregistered`
   * name is checked against the task types last read (call {@linkcode loadTaskTypes} first).
   */
  validate(name: string, args: unknown = {}, options: EnqueueOptions = {}): void {
    this.#build(name, args, options, this.#clock.now(), this.#published?.types);
  }

  /**
   * Reads the task types live workers publish in the worker registry, which `unregistered`
   * enqueues use (kept for {@linkcode PUBLISHED_TYPES_TTL_MILLIS}; {@linkcode validate} uses the
   * last read).
   */
  async loadTaskTypes(): Promise<PublishedTaskTypes> {
    const now = this.#clock.now();
    const types = await publishedTaskTypes(this.#store, now);
    this.#published = { at: now, types };
    return types;
  }

  /**
   * Validates every request, then stores all in one transaction (the application's own with
   * `{ tx }`); returns the ids in order.
   */
  async enqueueMany(
    requests: readonly EnqueueRequest[],
    options: EnqueueTransaction = {},
  ): Promise<string[]> {
    return (await this.enqueueManyDetailed(requests, options)).map((result) => result.id);
  }

  /**
   * {@linkcode enqueueMany} with one {@linkcode EnqueueResult} per request, in order: a unique
   * request whose key is taken (by a stored task or an earlier request of the batch) gets the
   * id of that task and `duplicate: true`.
   */
  async enqueueManyDetailed(
    requests: readonly EnqueueRequest[],
    options: EnqueueTransaction = {},
  ): Promise<EnqueueResult[]> {
    if (!Array.isArray(requests)) {
      throw new TypeError(`enqueueMany expects an array, got ${typeof requests}`);
    }
    const now = this.#clock.now();
    const published = await this.#publishedFor(requests, now);
    const tasks = requests.map((request, index) => {
      try {
        const { task } = request as Partial<TypedEnqueueRequest>;
        const name = task && task.name === request.name ? task : request.name;
        return this.#build(name, request.args ?? {}, request.options ?? {}, now, published);
      } catch (error) {
        if (error instanceof Error) error.message = `Request ${index}: ${error.message}`;
        throw error;
      }
    });
    if (!tasks.length) return [];
    const keyed = await Promise.all(tasks.map((task) => this.#withKey(task)));
    const send = await openSendSpan(keyed);
    const results = await traced(send, this.#store.insert(keyed, splitTransaction(options)[1]));
    return results.map((result, i) => {
      const warning = tasks[i]!.warning;
      return { id: result.id, duplicate: !result.inserted, ...(warning ? { warning } : {}) };
    });
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

  /**
   * The full id of the one task whose id starts with `prefix` (a full id works too). Throws
   * {@linkcode TaskNotFoundError} when none does and {@linkcode AmbiguousIdError} when several do.
   */
  async resolveId(prefix: string): Promise<string> {
    if (typeof prefix !== "string" || !/^[0-9a-f-]{1,36}$/i.test(prefix)) {
      throw new TypeError(
        `id must be a task id or a prefix of one (hex digits and dashes), got ${
          JSON.stringify(prefix)
        }`,
      );
    }
    const lower = prefix.toLowerCase();
    const { tasks } = await this.#store.list({ idPrefix: lower, limit: AMBIGUOUS_SHOWN });
    if (tasks.length === 0) throw new TaskNotFoundError(prefix);
    if (tasks.length > 1 && tasks[0]!.id !== lower) {
      throw new AmbiguousIdError(prefix, tasks.map((task) => task.id));
    }
    return tasks.find((task) => task.id === lower)?.id ?? tasks[0]!.id;
  }

  /** Deletes a finished (COMPLETED, FAILED or CANCELLED) task; returns the record it deleted. */
  async delete(id: string): Promise<TaskRecord> {
    const task = await this.#store.get(id);
    if (!task) throw new TaskNotFoundError(id);
    if (!DELETABLE_STATUSES.includes(task.status)) {
      throw new IllegalTransitionError(id, "delete", task.status, DELETABLE_STATUSES);
    }
    const deleted = await this.#store.bulk({
      action: "delete",
      filter: { idPrefix: id, status: task.status },
      limit: 1,
      now: this.#clock.now(),
    });
    if (deleted === 0) return await this.#refuse(id, "delete", DELETABLE_STATUSES);
    return task;
  }

  /** How many tasks the filter selects. */
  count(filter: TaskFilter = {}): Promise<number> {
    return this.#store.count(checkFilter(filter));
  }

  /**
   * Applies `action` to every task the filter selects that it fits (retry: FAILED and CANCELLED;
   * cancel: waiting ones; delete: finished ones), in batches of {@linkcode BULK_BATCH} per
   * transaction; returns how many tasks it changed.
   */
  bulk(action: BulkRequest["action"], filter: TaskFilter = {}): Promise<number> {
    if (action !== "retry" && action !== "cancel" && action !== "delete") {
      throw new RangeError(
        `action must be "retry", "cancel" or "delete", got ${JSON.stringify(action)}`,
      );
    }
    const clean = checkFilter(filter);
    return untilDone(
      BULK_BATCH,
      () => this.#store.bulk({ action, filter: clean, limit: BULK_BATCH, now: this.#clock.now() }),
    );
  }

  /** Stops every worker process claiming from `queue`; enqueues are still accepted. */
  pauseQueue(queue: string): Promise<QueueState> {
    assertName(queue, "queue");
    return this.#store.setQueuePaused(queue, true, this.#clock.now());
  }

  /** Lets workers claim from `queue` again. */
  resumeQueue(queue: string): Promise<QueueState> {
    assertName(queue, "queue");
    return this.#store.setQueuePaused(queue, false, this.#clock.now());
  }

  /** Every queue with tasks or a stored state. */
  listQueues(): Promise<QueueState[]> {
    return this.#store.listQueues();
  }

  /**
   * Sets the flow limits of a queue, global across every worker process sharing the store:
   * `{ rateLimit: { limit: 10, per: "1s" }, maxRunning: 5 }`; a side left out or null is
   * unlimited, so `{}` removes the queue's limits.
   */
  async setQueueLimits(queue: string, limits: FlowLimitOptions): Promise<FlowLimit> {
    assertName(queue, "queue");
    return await this.#store.setLimits("queue", queue, parseFlowLimits(limits), this.#clock.now());
  }

  /** {@linkcode setQueueLimits} for every task of one name, whatever its queue. */
  async setTaskLimits(name: string, limits: FlowLimitOptions): Promise<FlowLimit> {
    assertName(name, "Task name");
    return await this.#store.setLimits("task", name, parseFlowLimits(limits), this.#clock.now());
  }

  /** Every stored flow limit. */
  listLimits(): Promise<FlowLimit[]> {
    return this.#store.listLimits();
  }

  /**
   * Creates or replaces the schedule `id`; every worker's scheduler fires it (each slot once
   * across all of them). A bad expression, zone or option throws a `TypeError`/`RangeError`
   * naming the schedule; nothing is written then. The task must be registered here, and its
   * schema must accept `args`.
   *
   * @example
   * ```ts
   * await dispatcher.schedule("nightly-report", {
   *   task: "report", cron: "0 3 * * *", timezone: "Europe/Berlin", args: { kind: "daily" },
   * });
   * ```
   */
  async schedule(id: string, options: ScheduleOptions): Promise<ScheduleRecord> {
    const input = parseSchedule(id, options, "api");
    const definition = this.#registry.get(input.task);
    parseArgs(definition, input.args);
    return await this.#store.upsertSchedule(input, this.#clock.now());
  }

  /** Deletes a schedule; returns whether it existed. */
  unschedule(id: string): Promise<boolean> {
    assertName(id, "Schedule id");
    return this.#store.deleteSchedule(id);
  }

  /** Every schedule with its next fire time. */
  async listSchedules(): Promise<ScheduleInfo[]> {
    const now = this.#clock.now();
    return (await this.#store.listSchedules()).map((schedule) => ({
      ...schedule,
      nextRunAt: schedule.retired ? null : nextRunOf(schedule, now),
    }));
  }

  /**
   * Fires one slot of a schedule (the scheduler calls this): builds its task as an enqueue
   * would and lets the store record the slot and insert the task in one transaction.
   */
  async fireSlot(schedule: ScheduleRecord, slotAt: number): Promise<SlotResult> {
    const now = this.#clock.now();
    const options: EnqueueOptions = {};
    if (schedule.queue !== null) options.queue = schedule.queue;
    if (schedule.priority !== null) options.priority = schedule.priority;
    const task = await this.#withKey(this.#build(schedule.task, schedule.args, options, now));
    const send = await openSendSpan([task], { [TracingAttributes.SCHEDULE_ID]: schedule.id });
    try {
      const slot = await this.#store.recordSlot({ scheduleId: schedule.id, slotAt, task, now });
      // A slot taken or skipped enqueued nothing; its span ends all the same.
      send?.end(slot.taskId ? [{ id: slot.taskId, inserted: slot.taskId === task.id }] : []);
      return slot;
    } catch (error) {
      send?.fail(error);
      throw error;
    }
  }

  /** Finished attempts per minute over the last `millis` (default an hour). */
  history(millis = 60 * 60_000): Promise<HistoryPoint[]> {
    const now = this.#clock.now();
    return this.#store.history(now - millis, now + 1);
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
    const clean: ListQuery = { ...checkFilter(query), limit };
    // The store made the cursor and is the one place that checks it (InvalidCursorError).
    if (query.cursor !== undefined) clean.cursor = query.cursor;
    return this.#store.list(clean);
  }

  /**
   * Counts per status, overall and per queue, plus each overall count under its lower-case name
   * (`stats.pending`, `stats.failed`, …) as the original module's `stats()` had them.
   */
  async stats(): Promise<DispatcherStats> {
    const stats = await this.#store.stats();
    const b = stats.byStatus;
    return {
      ...stats,
      pending: b.PENDING,
      scheduled: b.SCHEDULED,
      processing: b.PROCESSING,
      completed: b.COMPLETED,
      failed: b.FAILED,
      cancelled: b.CANCELLED,
      retrying: b.RETRYING,
    };
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

  #build(
    task: string | TaskDefinition<unknown, unknown>,
    args: unknown,
    options: EnqueueOptions,
    now: number,
    published?: PublishedTaskTypes,
  ): BuiltTask {
    const given = typeof task === "object" && task !== null ? task : undefined;
    // The one parser of enqueue input (shared with the CLI and the admin API).
    const taskName = checkEnqueueField("name", given ? given.name : task, "name") as string;
    let nobodyDefines = false;
    let publishedSchema: JsonValue | null = null;
    let definition: TaskDefinition;
    const flag = (options as { unregistered?: unknown } | null)?.unregistered;
    // A flag of the wrong type is named as such, not taken for an unknown task.
    if (flag !== undefined) checkEnqueueField("unregistered", flag, "unregistered");
    if (given && !this.#registry.has(taskName) && isDefinition(given)) {
      // A definition passed in (typed enqueue) stands in for a registration this registry lacks.
      definition = given as TaskDefinition;
    } else if (this.#registry.has(taskName) || !isUnregistered(options)) {
      definition = this.#registry.get(taskName);
    } else {
      const type = published?.types.get(taskName);
      const fromType = type && publishedDefinition(taskName, type);
      definition = fromType ?? plainDefinition(taskName);
      nobodyDefines = !type && !published?.anyName;
      if (fromType) publishedSchema = type.argsSchema ?? null;
    }
    const parsed = parseEnqueueOptions(options);
    parseArgs(definition, args);
    if (publishedSchema !== null) {
      // The JSON Schema a live worker published; the worker checks with valibot again.
      const issues = checkJsonSchema(publishedSchema, args);
      if (issues.length) throw new InvalidArgumentsError(taskName, issues);
    }
    const delay = parsed.delay ?? 0;
    const timeout = parsed.timeout === undefined ? definition.timeout : parsed.timeout;
    const retryConfig = parsed.retryConfig === undefined
      ? definition.retryConfig
      : resolveRetryConfig(parsed.retryConfig, definition.retryConfig);
    let unique: UniqueSpec | null = definition.unique ?? null;
    if (parsed.unique === false) unique = null;
    else if (parsed.unique !== undefined) unique = parseUnique(parsed.unique, "unique");
    const record: BuiltTask = newTaskRecord({
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
    if (unique) record.unique = unique;
    if (nobodyDefines) {
      record.warning = `No live worker defines task "${taskName}": it waits in queue ` +
        `"${record.queue}" until a worker that defines it runs`;
    }
    return record;
  }

  /**
   * What live workers publish, read only when a request is `unregistered` with a name this
   * process does not define.
   */
  async #publishedFor(
    requests: readonly { name: string; options?: EnqueueOptions }[],
    now: number,
  ): Promise<PublishedTaskTypes | undefined> {
    const needed = Array.isArray(requests) &&
      requests.some((r) =>
        typeof r === "object" && r !== null && isUnregistered(r.options) &&
        !this.#registry.has(r.name)
      );
    if (!needed) return undefined;
    const cached = this.#published;
    if (cached && now - cached.at >= 0 && now - cached.at < PUBLISHED_TYPES_TTL_MILLIS) {
      return cached.types;
    }
    return await this.loadTaskTypes();
  }

  /**
   * Task names with waiting tasks that no live worker defines (see `meta.taskTypes` in the
   * worker registry), most waiting first, at most `limit` (default 100). Empty while a live
   * worker claims every name (one whose executor publishes no task types) or when the store
   * cannot count per name. Costs a scan of the waiting tasks (see
   * `TaskStore.countWaitingByName`): for `stats`, not for a hot path.
   */
  async unrunnable(limit = 100): Promise<{ name: string; waiting: number }[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be an integer >= 1, got ${String(limit)}`);
    }
    if (!this.#store.countWaitingByName) return [];
    const published = await publishedTaskTypes(this.#store, this.#clock.now());
    if (published.anyName) return [];
    return await this.#store.countWaitingByName({ excluding: [...published.types.keys()], limit });
  }

  /** The task with its unique key computed (hashing is asynchronous), ready to insert. */
  async #withKey(task: BuiltTask): Promise<NewTask> {
    const { unique, warning: _warning, ...record } = task;
    if (!unique) return record;
    return {
      ...record,
      uniqueKey: await uniqueKey(unique, record, record.createdAt),
      uniqueStates: unique.states,
    };
  }

  async #refuse(id: string, action: string, allowed: readonly TaskStatus[]): Promise<never> {
    const task = await this.#store.get(id);
    if (!task) throw new TaskNotFoundError(id);
    throw new IllegalTransitionError(id, action, task.status, allowed);
  }
}

/** Whether `value` looks like a resolved definition (as `defineTask` or `register` made it). */
function isDefinition(value: object): value is TaskDefinition<unknown, unknown> {
  const d = value as Partial<TaskDefinition>;
  return typeof d.run === "function" && typeof d.retryConfig === "object" &&
    typeof d.queue === "string" && typeof d.priority === "string";
}

/** A built task, the uniqueness its key is computed from, and a warning for the caller. */
type BuiltTask = TaskRecord & { unique?: UniqueSpec; warning?: string };

/** Whether enqueue options ask for `unregistered` (checked as an option by the parser). */
function isUnregistered(options: unknown): boolean {
  return typeof options === "object" && options !== null &&
    (options as EnqueueOptions).unregistered === true;
}

/**
 * The definition of a name this process does not define, from the defaults a live worker
 * publishes; null when they are malformed (they come from the store). Its schema stays null:
 * the published JSON Schema is checked apart, and the worker checks its own.
 */
function publishedDefinition(name: string, type: TaskTypeInfo): TaskDefinition | null {
  try {
    assertName(type.queue, "queue");
    assertPriority(type.priority, "priority");
    assertTimeout(type.timeoutMillis, "timeoutMillis");
    const retryConfig = resolveRetryConfig(type.retry, undefined, "retry");
    return {
      ...plainDefinition(name),
      queue: type.queue,
      priority: type.priority,
      timeout: type.timeoutMillis,
      retryConfig,
    };
  } catch {
    return null;
  }
}

/** The definition of a name nobody publishes: the defaults of a task registered with no options. */
function plainDefinition(name: string): TaskDefinition {
  return {
    name,
    schema: null,
    retryConfig: { ...DEFAULT_RETRY_CONFIG },
    timeout: DEFAULT_TIMEOUT_MILLIS,
    queue: DEFAULT_QUEUE,
    priority: "NORMAL",
    run: () => {
      throw new Error(`Task "${name}" is not defined in this process`);
    },
  };
}

/**
 * The send span of an enqueue of `tasks` (stamping their `traceparent`), or null when tracing
 * is off; loads the optional OpenTelemetry API at the first enqueue after a tracer provider is
 * registered.
 */
function openSendSpan(
  tasks: TaskRecord[],
  attributes?: Record<string, string>,
): SendSpan | null | Promise<SendSpan | null> {
  const loading = readyForTracing();
  if (loading === undefined) return startSendSpan(tasks, attributes);
  return loading.then(() => startSendSpan(tasks, attributes));
}

/** The store's insert, ending `send` (if any) when it settles. */
function traced<T extends readonly { id: string; inserted: boolean }[]>(
  send: SendSpan | null,
  insert: Promise<T>,
): Promise<T> {
  if (send === null) return insert;
  return insert.then((results) => {
    send.end(results);
    return results;
  }, (error) => {
    send.fail(error);
    throw error;
  });
}

/** The next fire time of a schedule after `now` (or its last slot, if later). */
function nextRunOf(schedule: ScheduleRecord, now: number): number | null {
  const after = Math.max(now, schedule.lastSlotAt ?? -Infinity);
  try {
    return cronOf(schedule.cron, schedule.timezone).nextRun(new Date(after))?.getTime() ?? null;
  } catch {
    return null;
  }
}

/** Splits the `tx` of enqueue options from the task's own options. */
function splitTransaction<T extends EnqueueTransaction>(
  options: T,
): [Omit<T, "tx">, InsertOptions] {
  if (typeof options !== "object" || options === null || !Object.hasOwn(options, "tx")) {
    return [options, {}];
  }
  const { tx, ...rest } = options;
  return [rest, tx === undefined ? {} : { tx }];
}

/** A filter with only the known fields, each checked. */
function checkFilter(filter: TaskFilter): TaskFilter {
  if (typeof filter !== "object" || filter === null) {
    throw new TypeError(`filter must be an object, got ${String(filter)}`);
  }
  const clean: TaskFilter = {};
  const { status, name, queue, idPrefix, argsContains } = filter;
  if (status !== undefined) {
    if (!TASK_STATUSES.includes(status)) {
      throw new RangeError(
        `status must be one of ${TASK_STATUSES.join(", ")}, got ${String(status)}`,
      );
    }
    clean.status = status;
  }
  for (const [key, value] of [["name", name], ["queue", queue], ["argsContains", argsContains]]) {
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length === 0 || value.length > 1000) {
      throw new TypeError(`${key} must be a text of 1 to 1000 characters, got ${String(value)}`);
    }
    clean[key as "name" | "queue" | "argsContains"] = value;
  }
  if (idPrefix !== undefined) {
    if (typeof idPrefix !== "string" || !/^[0-9a-f-]{1,36}$/i.test(idPrefix)) {
      throw new TypeError(
        `idPrefix must be hex digits and dashes (at most 36), got ${JSON.stringify(idPrefix)}`,
      );
    }
    clean.idPrefix = idPrefix.toLowerCase();
  }
  return clean;
}
