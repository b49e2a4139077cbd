/**
 * The entry of each pool Worker: loads the handler files it is given, runs attempts, and tells
 * the main thread how each ended. It keeps no store and no leases. It reports instead of dying
 * when a handler throws outside its promise, calls an exit function, or outgrows its heap, so
 * the pool can blame the right task and replace this Worker.
 * @module
 */

import "../adapter/bun/plugin.ts";
import { AsyncLocalStorage } from "node:async_hooks";
import process from "node:process";
import { interceptDenoExit } from "../adapter/deno/exit.ts";
import { formatLogPart, runAttempt } from "../attempt.ts";
import { AttemptAborted } from "../executor.ts";
import { HandlerLoadError, loadHandlerFiles } from "../handlers/load.ts";
import type { JsonValue } from "../json.ts";
import type { TaskDefinition } from "../registry.ts";
import {
  type CrashCause,
  decodeBatch,
  encodeBatch,
  type FromWorker,
  type RunCommand,
  toWireError,
  type ToWorker,
  type WorkerInit,
} from "./_protocol.ts";
import { Outbox } from "./outbox.ts";

/** The part of the Worker global scope this file uses. */
interface WorkerScope {
  postMessage(message: string): void;
  onmessage: ((event: MessageEvent<string>) => void) | null;
  addEventListener(type: "error", listener: (event: ErrorEvent) => void): void;
  addEventListener(
    type: "unhandledrejection",
    listener: (event: PromiseRejectionEvent) => void,
  ): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
/** The job whose handler code is running, across awaits and callbacks where the runtime tracks it. */
const currentJob = new AsyncLocalStorage<number>();

let handlers: Map<string, TaskDefinition> | undefined;
/** Runs that arrived before the handlers finished loading. */
let early: RunCommand[] = [];
const running = new Map<number, AbortController>();
const progressRequests = new Map<number, { resolve(): void; reject(error: Error): void }>();
let nextProgressRequest = 0;
let crashed = false;

const outbox = new Outbox<FromWorker>((batch) => {
  let data: string;
  try {
    data = encodeBatch(batch);
  } catch {
    data = encodeBatch(batch.map(encodable));
  }
  scope.postMessage(data);
});

function send(message: FromWorker): void {
  outbox.push(message);
}

/** The message, or for one that cannot be encoded (a result too long for a string), a failure. */
function encodable(message: FromWorker): FromWorker {
  try {
    encodeBatch([message]);
    return message;
  } catch (error) {
    const job = "job" in message ? message.job : null;
    const problem = new RangeError(
      `The ${message.t} report could not be sent to the main thread: ${toWireError(error).message}`,
    );
    if (job === null || message.t === "crash") {
      return { t: "crash", cause: "uncaught", error: toWireError(problem), job };
    }
    return { t: "failed", job, error: toWireError(problem), permanent: false };
  }
}

/** Tells the main thread this Worker cannot go on; the pool terminates and replaces it. */
function reportCrash(cause: CrashCause, error: unknown, job: number | null): void {
  if (crashed) return;
  crashed = true;
  outbox.flush();
  scope.postMessage(encodeBatch([{ t: "crash", cause, error: toWireError(error), job }]));
}

function exitCalled(description: string): never {
  const error = new Error(`The handler called ${description}, which would end its Worker`);
  // While the handlers load, the throw fails the import, which names the file.
  if (handlers) reportCrash("exit", error, currentJob.getStore() ?? null);
  throw error;
}

process.exit =
  ((code?: number) => exitCalled(`process.exit(${code ?? ""})`)) as typeof process.exit;
scope.close = () => exitCalled("self.close()");
interceptDenoExit(exitCalled);

/** The `console` methods captured during an attempt, and the level of their lines. */
const CAPTURED_CONSOLE = {
  log: "info",
  info: "info",
  debug: "debug",
  warn: "warning",
  error: "error",
} as const;

// A handler's console output during an attempt goes to the main thread with its job (stored
// with the task, logged with its id); outside an attempt (while loading) it is printed as usual.
for (const method of Object.keys(CAPTURED_CONSOLE) as (keyof typeof CAPTURED_CONSOLE)[]) {
  const original = console[method].bind(console);
  console[method] = (...parts: unknown[]) => {
    const job = currentJob.getStore();
    if (job === undefined || !running.has(job)) return original(...parts);
    const line = parts.map(formatLogPart).join(" ");
    send({ t: "log", job, line, level: CAPTURED_CONSOLE[method], console: method });
  };
}

scope.addEventListener("error", (event) => {
  event.preventDefault();
  reportCrash("uncaught", event.error ?? event.message, currentJob.getStore() ?? null);
});
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  reportCrash("uncaught", event.reason, currentJob.getStore() ?? null);
});

scope.onmessage = (event) => {
  for (const message of decodeBatch<ToWorker>(event.data)) {
    switch (message.t) {
      case "init":
        void start(message.init);
        break;
      case "run":
        if (handlers) void run(message, handlers);
        else early.push(message);
        break;
      case "abort":
        abort(message.job, new AttemptAborted(message.kind, message.message));
        break;
      case "progressAck": {
        const request = progressRequests.get(message.request);
        progressRequests.delete(message.request);
        if (message.error === null) request?.resolve();
        else request?.reject(new Error(message.error));
        break;
      }
    }
  }
};

async function start(init: WorkerInit): Promise<void> {
  try {
    const definitions = await loadHandlerFiles(init.files);
    handlers = new Map(definitions.map((d) => [d.name, d]));
  } catch (error) {
    const wire = toWireError(error);
    if (error instanceof HandlerLoadError) {
      Object.assign(wire, { file: error.file, problem: error.problem });
    }
    send({ t: "loadFailed", error: wire });
    return;
  }
  send({ t: "ready", names: [...handlers.keys()] });
  if (init.maxHeapBytes !== null) watchHeap(init.maxHeapBytes, init.heapCheckMillis);
  const runs = early;
  early = [];
  for (const command of runs) void run(command, handlers);
}

function abort(job: number, reason: AttemptAborted): void {
  const controller = running.get(job);
  if (controller) return controller.abort(reason);
  const index = early.findIndex((command) => command.job === job);
  if (index >= 0) {
    early.splice(index, 1);
    send({ t: "failed", job, error: toWireError(reason), permanent: false });
  }
}

async function run(command: RunCommand, definitions: Map<string, TaskDefinition>): Promise<void> {
  const { job } = command;
  const controller = new AbortController();
  running.set(job, controller);
  try {
    const outcome = await runAttempt(definitions.get(command.name), command, {
      signal: controller.signal,
      progress: (value) => requestProgress(job, value),
      log: (line) => send({ t: "log", job, line }),
    }, {
      settleOnAbort: false,
      missing: "loaded in this Worker",
      call: (fn) => currentJob.run(job, fn),
    });
    if (outcome.kind === "completed") send({ t: "completed", job, result: outcome.result });
    else if (outcome.kind === "snoozed") {
      send({ t: "snoozed", job, delayMillis: outcome.delayMillis });
    } else {
      const { error, permanent, retryDelay } = outcome;
      send({
        t: "failed",
        job,
        error: toWireError(error),
        permanent,
        ...(retryDelay === undefined ? {} : { retryDelay }),
      });
    }
  } finally {
    running.delete(job);
  }
}

function requestProgress(job: number, value: JsonValue): Promise<void> {
  const request = nextProgressRequest++;
  return new Promise((resolve, reject) => {
    progressRequests.set(request, { resolve, reject });
    send({ t: "progress", job, request, value });
  });
}

function watchHeap(limit: number, every: number): void {
  const megabytes = (bytes: number) => Math.round(bytes / 1_048_576);
  setInterval(() => {
    const used = process.memoryUsage().heapUsed;
    if (used <= limit) return;
    const error = new RangeError(
      `The Worker exceeded its heap limit: ${megabytes(used)} MB in use, over ${
        megabytes(limit)
      } MB`,
    );
    reportCrash("memory", error, null);
  }, every);
}
