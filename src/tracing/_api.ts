/**
 * The optional `@opentelemetry/api`, loaded with a dynamic `import()` so aether-tasks works (and
 * the compiled binary builds and runs) without it. Tracing is on only while the package is
 * present AND the application registered a tracer provider; otherwise every hook returns at
 * once, with no trace context captured and no span object made.
 *
 * Loading the package costs 50 to 200 ms on a busy machine, so it is loaded only once a tracer
 * provider is registered: registering one (with any copy of API 1.x) puts the API's global
 * object on `globalThis`, which is all {@linkcode tracingRegistered} reads.
 * @module
 */

import type * as OtelApi from "@opentelemetry/api";
import packageJson from "../../package.json" with { type: "json" };

/** The `@opentelemetry/api` module. */
export type TracingApi = typeof OtelApi;

/** The instrumentation scope our tracer reports. */
export const TRACER_NAME = "aether-tasks";

/**
 * A variable, not a literal: bundlers (`bun build --compile`) leave the import to run time, so
 * a build without the package succeeds, and an application's own copy is the one loaded.
 */
const API_SPECIFIER = "@opentelemetry/api";
/** Where every copy of `@opentelemetry/api` 1.x keeps its registered globals. */
const API_GLOBALS = Symbol.for("opentelemetry.js.api.1");

const importApi = () => import(API_SPECIFIER) as Promise<TracingApi>;
let loader: () => Promise<TracingApi> = importApi;
let loading: Promise<TracingApi | null> | undefined;
let api: TracingApi | null = null;
let loaded = false;

/** The tracer of the provider registered last, and that provider. */
let cached: { provider: OtelApi.TracerProvider; tracer: OtelApi.Tracer } | undefined;
/** The API's no-op provider: what the global proxy delegates to while none is registered. */
let noopProvider: OtelApi.TracerProvider | undefined;

/**
 * Whether some copy of `@opentelemetry/api` 1.x has a tracer provider registered (its global
 * `trace` entry exists): one property read, without loading the package.
 */
export function tracingRegistered(): boolean {
  const globals = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[API_GLOBALS];
  return globals?.trace !== undefined;
}

/**
 * Loads `@opentelemetry/api` once; resolves with null when it is not installed. Never rejects.
 * Callers use {@linkcode readyForTracing} rather than calling this directly.
 */
export function loadTracingApi(): Promise<TracingApi | null> {
  loading ??= loader().then(
    (module) => {
      api = typeof module?.trace?.getTracerProvider === "function" ? module : null;
      noopProvider = api ? new api.ProxyTracerProvider().getDelegate() : undefined;
      loaded = true;
      return api;
    },
    () => {
      loaded = true;
      return (api = null);
    },
  );
  return loading;
}

/**
 * Undefined when {@linkcode activeTracer} can answer now: no provider is registered, or the API
 * is loaded (or known to be absent). Otherwise the promise of loading it, which the caller
 * awaits (an enqueue) or starts and does without (an attempt that begins meanwhile).
 */
export function readyForTracing(): Promise<unknown> | undefined {
  if (loaded || !tracingRegistered()) return undefined;
  return loadTracingApi();
}

/**
 * Our tracer when tracing is on: a tracer provider is registered and the API is loaded. Null
 * otherwise; without a provider the check is one property read.
 */
export function activeTracer(): OtelApi.Tracer | null {
  if (api === null || !tracingRegistered()) return null;
  let provider: OtelApi.TracerProvider = api.trace.getTracerProvider();
  if (provider instanceof api.ProxyTracerProvider) provider = provider.getDelegate();
  if (provider === noopProvider) return null;
  if (cached?.provider !== provider) {
    cached = { provider, tracer: provider.getTracer(TRACER_NAME, packageJson.version) };
  }
  return cached.tracer;
}

/** The loaded API, or null before it is loaded or without the package. */
export function tracingApi(): TracingApi | null {
  return api;
}

/**
 * Replaces how the API is loaded and forgets what was loaded, for tests (a loader that rejects
 * stands for the package being absent); with no argument, restores the real `import()`.
 */
export function setTracingApiLoaderForTests(load?: () => Promise<TracingApi>): void {
  loader = load ?? importApi;
  loading = undefined;
  loaded = false;
  api = null;
  cached = undefined;
  noopProvider = undefined;
}
