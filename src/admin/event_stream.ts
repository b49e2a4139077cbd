/**
 * Task life-cycle events as a Server-Sent Events stream, from a worker's signals and the store's
 * own events.
 * @module
 */

import type { TaskSignals } from "../signals.ts";
import type { TaskStore } from "../store/store.ts";
import type { TaskRecord } from "../task.ts";

/**
 * Events a stream sends, by SSE event name:
 * - `task:started`, `task:completed`, `task:cancelled`: `{ task }`
 * - `task:failed`: `{ task, error }`; `task:retrying`: `{ task, error, nextRunAt }`
 * - `task:progress`: `{ taskId, progress }`; `lease:lost`: `{ taskId, workerId, outcome }`
 * - `tasks:inserted`: `{ queue, runAt }`; `tasks:finished`: `{ ids }`;
 *   `task:cancel-requested`: `{ id }` (from the store, also for tasks other processes handle)
 * - `store:changed`: `{}`, another process wrote to the store and what it wrote is unknown (a
 *   SQLite store notices by polling; read again what you show)
 *
 * `task` is a {@linkcode TaskSummary}; `error` is `{ name, message }`.
 */
export type TaskEventName =
  | "task:started"
  | "task:completed"
  | "task:failed"
  | "task:retrying"
  | "task:cancelled"
  | "task:progress"
  | "lease:lost"
  | "tasks:inserted"
  | "tasks:finished"
  | "task:cancel-requested"
  | "store:changed";

/** The fields of a task an event carries (no args, result or logs: fetch the task for those). */
export interface TaskSummary {
  id: string;
  name: string;
  queue: string;
  status: string;
  priority: string;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  error: string | null;
}

/** Options of {@linkcode taskEventStream}. */
export interface TaskEventStreamOptions {
  store: TaskStore;
  signals?: TaskSignals | undefined;
  /** A comment line is sent this often, so proxies and clients see the stream is alive. */
  heartbeatMillis: number;
  /** Ends the stream (the server is stopping). A client that leaves cancels the stream. */
  signal: AbortSignal;
  /** A client that leaves this many events unread is cut off (it reconnects and reloads). */
  maxBufferedEvents?: number;
  /** Called once when the stream ends, for whatever reason. */
  onClose?: () => void;
}

/** Default {@linkcode TaskEventStreamOptions.maxBufferedEvents}. */
export const DEFAULT_MAX_BUFFERED_EVENTS = 1000;
const MAX_ERROR_LENGTH = 500;

const encoder = new TextEncoder();

/** The summary of a task that events carry. */
export function summarizeTask(task: TaskRecord): TaskSummary {
  return {
    id: task.id,
    name: task.name,
    queue: task.queue,
    status: task.status,
    priority: task.priority,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    runAt: task.runAt,
    createdAt: task.createdAt,
    startedAt: task.startedAt,
    completedAt: task.completedAt,
    error: task.lastError ? task.lastError.message.slice(0, MAX_ERROR_LENGTH) : null,
  };
}

const errorSummary = (error: Error) => ({
  name: error.name,
  message: error.message.slice(0, MAX_ERROR_LENGTH),
});

/**
 * A `text/event-stream` body that sends every life-cycle event until `signal` aborts or the
 * client cancels the stream (servers do when the connection closes); both disconnect every
 * listener.
 *
 * @example
 * ```ts
 * const stopping = new AbortController();
 * const body = taskEventStream({ store, signals, heartbeatMillis: 15_000, signal: stopping.signal });
 * return new Response(body, { headers: { "content-type": "text/event-stream" } });
 * ```
 */
export function taskEventStream(options: TaskEventStreamOptions): ReadableStream<Uint8Array> {
  const { store, signals, heartbeatMillis, signal } = options;
  const maxBuffered = options.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED_EVENTS;
  const disconnect: (() => void)[] = [];
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  let onAbort = () => {};

  const cleanup = () => {
    if (closed) return false;
    closed = true;
    clearInterval(heartbeat);
    signal.removeEventListener("abort", onAbort);
    for (const off of disconnect.splice(0)) off();
    options.onClose?.();
    return true;
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (text: string) => {
        if (closed) return;
        if ((controller.desiredSize ?? 0) <= 0) {
          cleanup();
          controller.error(new Error("The event stream client stopped reading"));
          return;
        }
        controller.enqueue(encoder.encode(text));
      };
      const send = (event: TaskEventName, data: unknown) =>
        write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

      onAbort = () => {
        if (cleanup()) controller.close();
      };
      if (signal.aborted) {
        cleanup();
        controller.close();
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      write(`retry: 3000\n: connected\n\n`);
      heartbeat = setInterval(() => write(`: heartbeat\n\n`), heartbeatMillis);

      if (signals) {
        disconnect.push(
          signals.taskStarted.connect(({ task }) =>
            send("task:started", { task: summarizeTask(task) })
          ),
          signals.taskCompleted.connect(({ task }) =>
            send("task:completed", { task: summarizeTask(task) })
          ),
          signals.taskFailed.connect(({ task, error }) =>
            send("task:failed", { task: summarizeTask(task), error: errorSummary(error) })
          ),
          signals.taskRetrying.connect(({ task, error, nextRunAt }) =>
            send("task:retrying", {
              task: summarizeTask(task),
              error: errorSummary(error),
              nextRunAt,
            })
          ),
          signals.taskCancelled.connect(({ task }) =>
            send("task:cancelled", { task: summarizeTask(task) })
          ),
          signals.taskProgress.connect(({ taskId, progress }) =>
            send("task:progress", { taskId, progress })
          ),
          signals.leaseLost.connect((event) => send("lease:lost", event)),
        );
      }
      disconnect.push(store.listen((event) => {
        if (event.type === "inserted") {
          send("tasks:inserted", { queue: event.queue, runAt: event.runAt });
        } else if (event.type === "finished") send("tasks:finished", { ids: event.ids });
        else if (event.type === "cancelRequested") send("task:cancel-requested", { id: event.id });
        else if (event.type === "changed") send("store:changed", {});
      }));
    },
    cancel() {
      cleanup();
    },
  }, new CountQueuingStrategy({ highWaterMark: maxBuffered }));
}
