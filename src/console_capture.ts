/**
 * Captures `console.*` calls of handlers that run in this process, per task: once
 * {@linkcode captureConsoleOutput} is called, `console.log/info/debug/warn/error` made by a
 * handler (in its async context: after awaits, in its timers) is stored with its task and logged
 * under `["aether-tasks", "task"]`, like `ctx.log`. Calls outside a handler are untouched.
 *
 * `console` is process-wide and handlers run concurrently, so the call is tied to its attempt
 * through an `AsyncLocalStorage` that the in-process executor enters for each attempt. Opt-in,
 * since it replaces methods of the global `console`. (Handlers in the Web Worker pool are
 * always captured: each Worker has its own `console`.)
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { getConfig } from "@logtape/logtape";
import { formatLogPart } from "./attempt.ts";
import type { HandlerLogLevel } from "./executor.ts";

/** Where a captured line goes: the attempt's log. */
type AttemptLog = (line: string, level: HandlerLogLevel) => void;

/** The `console` methods captured, and the level of their lines. */
const METHODS = {
  log: "info",
  info: "info",
  debug: "debug",
  warn: "warning",
  error: "error",
} as const;

const attemptLog = new AsyncLocalStorage<AttemptLog>();
let uninstall: (() => void) | null = null;
/** Set while a captured line is logged: a LogTape sink that writes to `console` is not captured. */
let forwarding = false;

/**
 * Starts capturing the `console` output of in-process handlers (see the module notes); returns
 * the function that restores `console`. Calling it again while capturing returns the same one.
 * Without a LogTape configuration a captured line is also printed as before.
 *
 * @example
 * ```ts
 * const restore = captureConsoleOutput();
 * const worker = new TaskWorker(store, { registry });
 * ```
 */
export function captureConsoleOutput(): () => void {
  if (uninstall) return uninstall;
  const originals = new Map<keyof typeof METHODS, (...parts: unknown[]) => void>();
  for (const method of Object.keys(METHODS) as (keyof typeof METHODS)[]) {
    const original = console[method];
    originals.set(method, original);
    console[method] = (...parts: unknown[]) => {
      const log = attemptLog.getStore();
      if (!log || forwarding) return original.apply(console, parts);
      forwarding = true;
      try {
        log(parts.map(formatLogPart).join(" "), METHODS[method]);
      } finally {
        forwarding = false;
      }
      if (getConfig() === null) original.apply(console, parts);
    };
  }
  const restore = () => {
    if (uninstall !== restore) return;
    for (const [method, original] of originals) console[method] = original;
    uninstall = null;
  };
  uninstall = restore;
  return restore;
}

/** Runs `fn` as part of an attempt whose console output goes to `log` (while capturing). */
export function runCapturingConsole<T>(log: AttemptLog, fn: () => T): T {
  return uninstall ? attemptLog.run(log, fn) : fn();
}
