/**
 * The PRODUCER span around an enqueue (`send <task name>`), whose context the tasks carry as
 * `traceparent`/`tracestate`, so each attempt's CONSUMER span can link back to it.
 * @module
 */

import type { Attributes, Span } from "@opentelemetry/api";
import type { TaskRecord } from "../task.ts";
import { activeTracer, tracingApi } from "./_api.ts";
import { MESSAGING_SYSTEM, TracingAttributes as A } from "./conventions.ts";
import { formatTraceparent, MAX_TRACESTATE_LENGTH } from "./traceparent.ts";

/** An open send span. */
export interface SendSpan {
  /** Ends the span after the store committed; `results` in the order of the tasks. */
  end(results: readonly { id: string; inserted: boolean }[]): void;
  /** Ends the span with the error the insert failed with. */
  fail(error: unknown): void;
}

/**
 * Starts the send span of an enqueue of `tasks` (one, or a batch) as a child of the active
 * context and stamps its context on each task. Null, touching nothing, when tracing is off.
 */
export function startSendSpan(tasks: TaskRecord[], extra: Attributes = {}): SendSpan | null {
  const tracer = activeTracer();
  const api = tracingApi();
  const first = tasks[0];
  if (tracer === null || api === null || first === undefined) return null;
  const oneName = tasks.every((task) => task.name === first.name);
  const oneQueue = tasks.every((task) => task.queue === first.queue);
  const attributes: Attributes = {
    [A.SYSTEM]: MESSAGING_SYSTEM,
    [A.OPERATION_TYPE]: "send",
    [A.OPERATION_NAME]: "send",
    ...extra,
  };
  if (oneQueue) attributes[A.DESTINATION] = first.queue;
  if (oneName) attributes[A.TASK_NAME] = first.name;
  if (tasks.length === 1) attributes[A.MESSAGE_ID] = first.id;
  else attributes[A.BATCH_COUNT] = tasks.length;
  const span: Span = tracer.startSpan(
    oneName ? `send ${first.name}` : "send",
    { kind: api.SpanKind.PRODUCER, attributes },
    api.context.active(),
  );
  // A span the sampler dropped still has a valid context (not sampled): stored all the same, so
  // the attempts follow the same decision.
  const spanContext = span.spanContext();
  if (api.isSpanContextValid(spanContext)) {
    const traceparent = formatTraceparent(spanContext);
    const tracestate = spanContext.traceState?.serialize() ?? "";
    for (const task of tasks) {
      task.traceparent = traceparent;
      if (tracestate && tracestate.length <= MAX_TRACESTATE_LENGTH) task.tracestate = tracestate;
    }
  }
  return {
    end(results) {
      const single = results.length === 1 ? results[0] : undefined;
      if (single && !single.inserted) {
        span.setAttributes({ [A.MESSAGE_ID]: single.id, [A.DUPLICATE]: true });
      }
      span.end();
    },
    fail(error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setAttribute(A.ERROR_TYPE, error instanceof Error ? error.name : "_OTHER");
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: errorMessage(error) });
      span.end();
    },
  };
}

/** The message of a thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
