/**
 * Starting one pool Worker: a Web Worker, or under Deno a child process (see the pool's notes).
 * @module
 */

import { workerEntryUrl } from "../adapter/bun/worker_url.ts";
import { ProcessWorker, runsWorkersAsProcesses } from "../adapter/deno/process_worker.ts";

/**
 * Files `bun build --compile` must take as extra entry points beside the main one, relative to
 * the project root, so the pool's Workers exist inside the binary.
 */
export const POOL_ENTRY_POINTS: readonly string[] = ["src/pool/worker_entry.ts"];

/** The part of the Web `Worker` API the pool uses; a {@linkcode ProcessWorker} has it too. */
export interface WorkerHandle {
  postMessage(message: string): void;
  onmessage: ((event: MessageEvent<string>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  onmessageerror: ((event: MessageEvent) => void) | null;
  addEventListener(type: "close", listener: (event: Event) => void): void;
  terminate(): void;
}

/** Starts a Worker running `worker_entry.ts`: a Web Worker, or under Deno a child process. */
export function startWorker(maxHeapBytes: number | null): WorkerHandle {
  if (runsWorkersAsProcesses()) {
    return new ProcessWorker({
      maxHeapMegabytes: maxHeapBytes === null ? null : maxHeapBytes / 1_048_576,
    });
  }
  const source = new URL("./worker_entry.ts", import.meta.url).href;
  return new Worker(workerEntryUrl(source, POOL_ENTRY_POINTS[0]!), { type: "module" });
}
