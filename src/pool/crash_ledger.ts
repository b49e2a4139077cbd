/**
 * The pool's crash rules as a pure ledger: which task a crash is blamed on, when a task becomes
 * poison, which tasks are suspects that must run alone. No Workers, no timers: tested directly.
 * @module
 */

import type { CrashCause, WireError } from "./_protocol.ts";

/** Tasks whose crash count or suspicion the ledger keeps at most (oldest forgotten first). */
export const MAX_TRACKED_TASKS = 10_000;

/** What a Worker's crash means for the attempt it is blamed on. */
export interface Blame {
  error: Error;
  /** The task crashed its Worker `poisonThreshold` times: fail it for good. */
  quarantined: boolean;
}

/** Crash counts and suspects of one pool, bounded. */
export class CrashLedger {
  readonly #counts = new Map<string, number>();
  readonly #suspects = new Map<string, true>();

  constructor(
    private readonly poisonThreshold: number,
    private readonly maxTracked = MAX_TRACKED_TASKS,
  ) {}

  /** Ran in a Worker that crashed without naming a culprit: must next run alone. */
  isSuspect(taskId: string): boolean {
    return this.#suspects.has(taskId);
  }

  /** Picks the attempt a crash is blamed on: the one the Worker named, else the only one. */
  culprit<J>(named: J | undefined, running: readonly J[]): J | undefined {
    return named ?? (running.length === 1 ? running[0] : undefined);
  }

  /** A bystander of a crash with no culprit: it runs alone next time. */
  suspect(taskId: string): void {
    this.#remember(this.#suspects, taskId, true);
  }

  /** The Worker reported how the attempt ended: it is no suspect, and a success clears its count. */
  reported(taskId: string, completed: boolean): void {
    this.#suspects.delete(taskId);
    if (completed) this.#counts.delete(taskId);
  }

  /** Counts a crash against the task and says how its attempt fails. */
  blame(taskId: string, cause: CrashCause | "died", wire: WireError): Blame {
    const count = (this.#counts.get(taskId) ?? 0) + 1;
    this.#counts.delete(taskId);
    this.#suspects.delete(taskId);
    const what = describeCrash(cause, wire);
    const error = new Error(what);
    error.name = "WorkerCrashError";
    const quarantined = count >= this.poisonThreshold;
    if (quarantined) {
      error.message =
        `Quarantined as poison: this task crashed its Worker ${count} times. Last crash: ${what}`;
    } else {
      this.#remember(this.#counts, taskId, count);
    }
    if (wire.stack) error.stack = `${error.name}: ${error.message}\n  caused by: ${wire.stack}`;
    return { error, quarantined };
  }

  /** Sets `key` as the newest entry of `map`, forgetting the oldest past the bound. */
  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > this.maxTracked) map.delete(map.keys().next().value!);
  }
}

/** The message of an attempt whose Worker crashed. */
export function describeCrash(cause: CrashCause | "died", wire: WireError): string {
  return cause === "uncaught"
    ? `The Worker running this task crashed with an uncaught error (thrown in a callback or an unawaited promise): ${wire.message}`
    : cause === "died"
    ? `The Worker running this task died: ${wire.message}`
    : wire.message;
}
