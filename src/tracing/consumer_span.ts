/**
 * The CONSUMER span of one attempt (`process <task name>`): a new trace linked to the producer's
 * span (the task's stored `traceparent`), so a retry days later does not stretch the enqueue's
 * trace. The handler runs inside its context (its own spans are children), and a Worker or a
 * remote worker receives its `traceparent` to continue it.
 * @module
 */

import type { Link, Span, SpanContext } from "@opentelemetry/api";
import type { Outcome } from "../store/store.ts";
import type { TaskRecord } from "../task.ts";
import { activeTracer, type TracingApi, tracingApi } from "./_api.ts";
import {
  MESSAGING_SYSTEM,
  RETRY_AT_ATTRIBUTE,
  RETRY_EVENT,
  TracingAttributes as A,
} from "./conventions.ts";
import { errorMessage } from "./producer_span.ts";
import { formatTraceparent, MAX_TRACESTATE_LENGTH, parseTraceparent } from "./traceparent.ts";

/** An open process span. */
export interface ProcessSpan {
  /** The span's own `traceparent`, for a handler that continues the trace elsewhere. */
  readonly traceparent: string;
  /** Runs `fn` with the span as the active context. */
  run<T>(fn: () => T): T;
  /**
   * Ends the span with the attempt's outcome (`error`: what the handler threw, for its class);
   * null when the lease was lost and nothing was written.
   */
  end(outcome: Outcome | null, error?: unknown): void;
}

/** Starts the process span of `task`'s current attempt; null when tracing is off. */
export function startProcessSpan(task: TaskRecord, workerId: string): ProcessSpan | null {
  const tracer = activeTracer();
  const api = tracingApi();
  if (tracer === null || api === null) return null;
  const producer = producerContext(api, task);
  const links: Link[] = producer ? [{ context: producer }] : [];
  const span: Span = tracer.startSpan(`process ${task.name}`, {
    kind: api.SpanKind.CONSUMER,
    links,
    attributes: {
      [A.SYSTEM]: MESSAGING_SYSTEM,
      [A.OPERATION_TYPE]: "process",
      [A.OPERATION_NAME]: "process",
      [A.DESTINATION]: task.queue,
      [A.MESSAGE_ID]: task.id,
      [A.CLIENT_ID]: workerId,
      [A.TASK_NAME]: task.name,
      [A.ATTEMPT]: task.attempts,
      [A.MAX_ATTEMPTS]: task.maxAttempts,
    },
    // A root: the worker's own async context (a claim, an insert heard) is no parent of it.
  }, api.ROOT_CONTEXT);
  const context = api.trace.setSpan(api.ROOT_CONTEXT, span);
  return {
    traceparent: formatTraceparent(span.spanContext()),
    run: (fn) => api.context.with(context, fn),
    end(outcome, error) {
      const kind = outcome === null ? "lease_lost" : outcome.kind;
      span.setAttribute(A.OUTCOME, kind);
      if (outcome === null) {
        span.setStatus({
          code: api.SpanStatusCode.ERROR,
          message: "The lease was lost; the outcome was not written",
        });
      } else if (outcome.kind === "retry" || outcome.kind === "failed") {
        const thrown = error ?? Object.assign(new Error(outcome.error.message), outcome.error);
        span.recordException(thrown instanceof Error ? thrown : String(thrown));
        span.setAttribute(A.ERROR_TYPE, thrown instanceof Error ? thrown.name : "_OTHER");
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: errorMessage(thrown) });
        if (outcome.kind === "retry") {
          span.addEvent(RETRY_EVENT, { [RETRY_AT_ATTRIBUTE]: outcome.runAt });
        }
      }
      span.end();
    },
  };
}

/** The producer's span context as the task stored it, or null (none, or not valid). */
function producerContext(api: TracingApi, task: TaskRecord): SpanContext | null {
  const parsed = parseTraceparent(task.traceparent);
  if (parsed === null) return null;
  const context: SpanContext = { ...parsed, isRemote: true };
  const state = task.tracestate;
  if (typeof state === "string" && state.length > 0 && state.length <= MAX_TRACESTATE_LENGTH) {
    context.traceState = api.createTraceState(state);
  }
  return context;
}
