/**
 * The W3C Trace Context `traceparent` header value, written and read by us rather than through
 * the globally configured propagator: the stored field is a `traceparent` whichever propagator
 * (or none) the application configured, and reading it back never depends on one either.
 * See https://www.w3.org/TR/trace-context/.
 * @module
 */

import type { SpanContext } from "@opentelemetry/api";

/** The length of a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`. */
export const TRACEPARENT_LENGTH = 55;
/** The longest `tracestate` the W3C spec lets a vendor send (and we store). */
export const MAX_TRACESTATE_LENGTH = 512;

// Version, trace id, parent id, flags; a future version may append fields after a dash.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

/** The `traceparent` of a span context: `00-<trace id>-<span id>-<flags>`. */
export function formatTraceparent(context: SpanContext): string {
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, "0");
  return `00-${context.traceId}-${context.spanId}-${flags}`;
}

/** The fields of a `traceparent`. */
export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/**
 * The fields of a `traceparent`, or null for a value the spec says to ignore: not text, not the
 * pattern, version `ff`, extra fields on version 00, or an all-zero trace or span id.
 */
export function parseTraceparent(value: unknown): ParsedTraceparent | null {
  if (typeof value !== "string") return null;
  const match = TRACEPARENT.exec(value);
  if (!match) return null;
  const [, version, traceId, spanId, flags, rest] = match as unknown as string[];
  if (version === "ff" || (version === "00" && rest !== undefined)) return null;
  if (ALL_ZERO.test(traceId!) || ALL_ZERO.test(spanId!)) return null;
  return { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) };
}
