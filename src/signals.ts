/**
 * Life-cycle signals: typed events a worker emits as tasks move.
 * @module
 */

import type { TaskRecord } from "./task.ts";
import { logErrorTo } from "./log.ts";

/** A listener receives the event and may return a promise (which is not awaited). */
export type Listener<T> = (event: T) => unknown;

/**
 * One event stream. A listener that throws or rejects is reported to `onListenerError` and never
 * breaks the emitter.
 *
 * @example
 * ```ts
 * const disconnect = signals.taskCompleted.connect(({ task }) => console.log(task.id));
 * disconnect();
 * ```
 */
export class Signal<T> {
  #listeners = new Set<Listener<T>>();
  constructor(
    readonly name: string,
    private readonly onListenerError: (error: unknown, signal: string) => void,
  ) {}

  /** Adds a listener; returns a function that removes it. */
  connect(listener: Listener<T>): () => void {
    // Wrap so the same function can be connected twice and disconnected independently.
    const entry: Listener<T> = (event) => listener(event);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  /** Calls every listener with `event`. */
  emit(event: T): void {
    for (const listener of this.#listeners) {
      try {
        const returned = listener(event);
        if (returned instanceof Promise) {
          returned.catch((error) => this.onListenerError(error, this.name));
        }
      } catch (error) {
        this.onListenerError(error, this.name);
      }
    }
  }

  /** Whether any listener is connected (lets emitters skip building events). */
  get connected(): boolean {
    return this.#listeners.size > 0;
  }
}

/** An event about one task. */
export interface TaskEvent {
  task: TaskRecord;
}

/** A task's attempt ended in failure and it will run again. */
export interface TaskRetryingEvent extends TaskEvent {
  error: Error;
  /** When the next attempt is due. */
  nextRunAt: number;
}

/** A task failed for good. */
export interface TaskFailedEvent extends TaskEvent {
  error: Error;
}

/** A completed attempt's outcome was rejected because its lease had moved on. */
export interface LeaseLostEvent {
  taskId: string;
  workerId: string;
  /** What the stale attempt tried to record. */
  outcome: string;
}

/** A running task reported progress. */
export interface TaskProgressEvent {
  taskId: string;
  progress: unknown;
}

/** The default: log listener errors (LogTape category `["aether-tasks", "signals"]`). */
export function reportListenerError(error: unknown, signal: string): void {
  logErrorTo("signals", `a ${signal} listener threw`)(error);
}

/**
 * The signals of a worker. Workers not given their own emit to {@linkcode defaultSignals}, which
 * the class's static members reach, as in the original module:
 * `TaskSignals.taskStarted.connect(({ task }) => …)`.
 *
 * @example
 * ```ts
 * const signals = new TaskSignals();
 * signals.taskFailed.connect(({ task, error }) => alert(task.name, error.message));
 * const worker = new TaskWorker(store, { registry, signals });
 * ```
 */
export class TaskSignals {
  readonly taskStarted: Signal<TaskEvent>;
  readonly taskCompleted: Signal<TaskEvent>;
  readonly taskFailed: Signal<TaskFailedEvent>;
  readonly taskRetrying: Signal<TaskRetryingEvent>;
  readonly taskCancelled: Signal<TaskEvent>;
  readonly taskProgress: Signal<TaskProgressEvent>;
  readonly leaseLost: Signal<LeaseLostEvent>;

  /** `taskStarted` of {@linkcode defaultSignals}. */
  static get taskStarted(): Signal<TaskEvent> {
    return defaultSignals.taskStarted;
  }
  /** `taskCompleted` of {@linkcode defaultSignals}. */
  static get taskCompleted(): Signal<TaskEvent> {
    return defaultSignals.taskCompleted;
  }
  /** `taskFailed` of {@linkcode defaultSignals}. */
  static get taskFailed(): Signal<TaskFailedEvent> {
    return defaultSignals.taskFailed;
  }
  /** `taskRetrying` of {@linkcode defaultSignals}. */
  static get taskRetrying(): Signal<TaskRetryingEvent> {
    return defaultSignals.taskRetrying;
  }
  /** `taskCancelled` of {@linkcode defaultSignals}. */
  static get taskCancelled(): Signal<TaskEvent> {
    return defaultSignals.taskCancelled;
  }
  /** `taskProgress` of {@linkcode defaultSignals}. */
  static get taskProgress(): Signal<TaskProgressEvent> {
    return defaultSignals.taskProgress;
  }
  /** `leaseLost` of {@linkcode defaultSignals}. */
  static get leaseLost(): Signal<LeaseLostEvent> {
    return defaultSignals.leaseLost;
  }

  /** `onListenerError` defaults to {@linkcode reportListenerError}. */
  constructor(onListenerError: (error: unknown, signal: string) => void = reportListenerError) {
    const make = <T>(name: string) => new Signal<T>(name, onListenerError);
    this.taskStarted = make("taskStarted");
    this.taskCompleted = make("taskCompleted");
    this.taskFailed = make("taskFailed");
    this.taskRetrying = make("taskRetrying");
    this.taskCancelled = make("taskCancelled");
    this.taskProgress = make("taskProgress");
    this.leaseLost = make("leaseLost");
  }
}

/** The process-wide signals every worker emits to unless given its own, like `defaultRegistry`. */
export const defaultSignals: TaskSignals = new TaskSignals();
