/**
 * The optional `@opentelemetry/api`, loaded once with a dynamic `import()` so aether-tasks works
 * (and the compiled binary builds and runs) without it. Tracing is on only while the package is
 * present AND the application registered a tracer provider; otherwise every hook returns at
 * once, with no trace context captured and no span object made.
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

let loader: () => Promise<TracingApi> = () => import(API_SPECIFIER) as Promise<TracingApi>;
let loading: Promise<TracingApi | null> | undefined;
let api: TracingApi | null = null;
let loaded = false;

/** The tracer of the provider registered last, and that provider. */
let cached: { provider: OtelApi.TracerProvider; tracer: OtelApi.Tracer } | undefined;
/** The API's no-op provider: what the global proxy delegates to while none is registered. */
let noopProvider: OtelApi.TracerProvider | undefined;

/**
 * Loads `@opentelemetry/api` once; resolves with null when it is not installed. Never rejects.
 * Callers await it once (the worker at start, the dispatcher at its first enqueue) and use
 * {@linkcode activeTracer} afterwards.
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

/** Whether {@linkcode loadTracingApi} has settled (so {@linkcode activeTracer} can answer). */
export function tracingLoaded(): boolean {
  return loaded;
}

/** The loaded API, or null before {@linkcode loadTracingApi} resolved or without the package. */
export function tracingApi(): TracingApi | null {
  return api;
}

/**
 * Our tracer when tracing is on: the API is loaded and a tracer provider is registered. Null
 * otherwise; the check is two property reads and a comparison.
 */
export function activeTracer(): OtelApi.Tracer | null {
  if (api === null) return null;
  let provider: OtelApi.TracerProvider = api.trace.getTracerProvider();
  if (provider instanceof api.ProxyTracerProvider) provider = provider.getDelegate();
  if (provider === noopProvider) return null;
  if (cached?.provider !== provider) {
    cached = { provider, tracer: provider.getTracer(TRACER_NAME, packageJson.version) };
  }
  return cached.tracer;
}

/**
 * Replaces how the API is loaded and forgets what was loaded, for tests (a loader that rejects
 * stands for the package being absent); with no argument, restores the real `import()`.
 */
export function setTracingApiLoaderForTests(load?: () => Promise<TracingApi>): void {
  loader = load ?? (() => import(API_SPECIFIER) as Promise<TracingApi>);
  loading = undefined;
  loaded = false;
  api = null;
  cached = undefined;
  noopProvider = undefined;
}
