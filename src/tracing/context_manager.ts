/**
 * An OpenTelemetry context manager over `AsyncLocalStorage` (`node:async_hooks`, on Bun and
 * Deno alike), for applications that have none: without one the API's `context.with` is a
 * no-op, so an enqueue cannot see the caller's span and a handler's spans are no children of
 * its attempt. It does what `@opentelemetry/context-async-hooks`'s manager does, without the
 * dependency.
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, ContextManager } from "@opentelemetry/api";

/** The empty context, for code outside any `with` (the API's `ROOT_CONTEXT` works the same). */
class EmptyContext implements Context {
  readonly #values: ReadonlyMap<symbol, unknown>;
  constructor(values: ReadonlyMap<symbol, unknown> = new Map()) {
    this.#values = values;
  }
  getValue(key: symbol): unknown {
    return this.#values.get(key);
  }
  setValue(key: symbol, value: unknown): Context {
    return new EmptyContext(new Map(this.#values).set(key, value));
  }
  deleteValue(key: symbol): Context {
    const values = new Map(this.#values);
    values.delete(key);
    return new EmptyContext(values);
  }
}

const ROOT: Context = new EmptyContext();

/**
 * Keeps the active OpenTelemetry context across `await`, timers and callbacks.
 *
 * @example
 * ```ts
 * import { context, trace } from "@opentelemetry/api";
 * import { AsyncLocalContextManager } from "aether-tasks";
 *
 * context.setGlobalContextManager(new AsyncLocalContextManager().enable());
 * trace.setGlobalTracerProvider(provider); // e.g. a BasicTracerProvider with an exporter
 * ```
 */
export class AsyncLocalContextManager implements ContextManager {
  #storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.#storage.getStore() ?? ROOT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(context, () => fn.apply(thisArg, args));
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== "function") return target;
    const storage = this.#storage;
    const bound = function (this: unknown, ...args: unknown[]) {
      return storage.run(context, () => (target as (...a: unknown[]) => unknown).apply(this, args));
    };
    return bound as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#storage.disable();
    this.#storage = new AsyncLocalStorage<Context>();
    return this;
  }
}
