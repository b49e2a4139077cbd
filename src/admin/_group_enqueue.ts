/**
 * Group commit for enqueues that arrive over HTTP at about the same time.
 * @module
 */

import { setImmediate } from "node:timers";
import type {
  EnqueueOptions,
  EnqueueRequest,
  EnqueueResult,
  TaskDispatcher,
} from "../dispatcher.ts";

interface Pending {
  request: EnqueueRequest;
  resolve: (result: EnqueueResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the enqueues that arrive within one turn of the event loop and stores them with one
 * `enqueueMany` (one transaction): a single-row SQLite commit costs about as much as eight rows
 * in one. Each caller still gets its own answer: when the batch is refused (one request is
 * invalid, or the store failed), every request is retried on its own.
 */
export class GroupEnqueue {
  #pending: Pending[] = [];

  constructor(private readonly dispatcher: TaskDispatcher) {}

  /** Resolves with the task's id once it is committed, like `TaskDispatcher.enqueue`. */
  async enqueue(name: string, args: unknown, options: EnqueueOptions): Promise<string> {
    return (await this.enqueueDetailed(name, args, options)).id;
  }

  /**
   * Resolves with the task's id and whether it was a duplicate of a unique task, like
   * `TaskDispatcher.enqueueDetailed`.
   */
  enqueueDetailed(name: string, args: unknown, options: EnqueueOptions): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ request: { name, args, options }, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length > 1) {
      try {
        const results = await this.dispatcher.enqueueManyDetailed(batch.map((p) => p.request));
        batch.forEach((pending, i) => pending.resolve(results[i]!));
        return;
      } catch {
        // Fall through: each request on its own, so only the bad one fails, with its own error.
      }
    }
    for (const { request, resolve, reject } of batch) {
      this.dispatcher.enqueueDetailed(request.name, request.args, request.options).then(
        resolve,
        reject,
      );
    }
  }
}
