/**
 * POSTs a JSON payload to a webhook URL with a timeout. A 2xx answer completes the task; any
 * other status, a network error or the timeout fails the attempt, which is retried. When
 * `$AETHER_WEBHOOK_SECRET` is set, the body is signed (HMAC-SHA256, hex) in
 * `X-Aether-Signature: sha256=…` so the receiver can check where it came from.
 */

import process from "node:process";
import { defineTask, v } from "aether-tasks";

export default defineTask({
  name: "post-webhook",
  args: v.object({
    url: v.pipe(v.string(), v.url(), v.regex(/^https?:\/\//i, "must be an http or https URL")),
    payload: v.unknown(),
    headers: v.optional(v.record(v.pipe(v.string(), v.regex(/^[\w-]+$/)), v.string()), {}),
    timeoutMillis: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(120_000)),
      10_000,
    ),
  }),
  retryConfig: { maxAttempts: 6, baseDelayMillis: 5_000, maxDelayMillis: 300_000 },
  timeout: 130_000,
  queue: "webhooks",
  async run({ url, payload, headers, timeoutMillis }, ctx) {
    const body = JSON.stringify(payload ?? null);
    const secret = process.env.AETHER_WEBHOOK_SECRET;
    const signature = secret
      ? { "x-aether-signature": `sha256=${await hmacHex(secret, body)}` }
      : {};
    const started = performance.now();
    const response = await fetch(url, {
      method: "POST",
      headers: {
        ...headers,
        ...signature,
        "content-type": "application/json",
        "idempotency-key": ctx.taskId,
        "user-agent": "aether-tasks",
      },
      body,
      redirect: "manual",
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMillis)]),
    });
    const text = await response.text();
    const millis = Math.round(performance.now() - started);
    ctx.log(`POST ${url} -> ${response.status} in ${millis} ms`);
    if (!response.ok) {
      throw new Error(
        `The webhook answered ${response.status} ${response.statusText}: ${text.slice(0, 200)}`,
      );
    }
    return { status: response.status, millis, response: text.slice(0, 1000) };
  },
});

async function hmacHex(secret: string, body: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}
