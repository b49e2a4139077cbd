/**
 * Renders an email from a template and writes it, as an RFC 5322 message, to an outbox folder
 * that a mail relay picks up. The file is named after the task, so a retry overwrites instead
 * of sending twice; it is written to a temporary name first, then renamed.
 *
 * Outbox: the `outbox` arg, else `$AETHER_OUTBOX`, else `./data/outbox`.
 */

import { mkdir, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import process from "node:process";
import { defineTask, v } from "aether-tasks";

const TEMPLATES = {
  welcome: {
    subject: "Welcome, {{name}}!",
    body: "Hello {{name}},\n\nyour account {{account}} is ready.\n\nSee you soon,\nThe team\n",
  },
  receipt: {
    subject: "Your receipt {{number}}",
    body: "Hello {{name}},\n\nwe received {{amount}} for order {{number}}. Thank you!\n",
  },
} as const;

/** One header line: no line breaks, so no header can be injected. */
const headerText = v.pipe(v.string(), v.regex(/^[^\r\n]*$/, "must not contain line breaks"));

export default defineTask({
  name: "send-email",
  args: v.object({
    to: v.pipe(v.string(), v.email()),
    from: v.optional(v.pipe(v.string(), v.email()), "noreply@example.com"),
    template: v.picklist(Object.keys(TEMPLATES) as (keyof typeof TEMPLATES)[]),
    data: v.record(v.string(), v.union([v.string(), v.number()])),
    replyTo: v.optional(v.pipe(v.string(), v.email())),
    outbox: v.optional(headerText),
  }),
  retryConfig: { maxAttempts: 5, baseDelayMillis: 2_000 },
  timeout: 30_000,
  queue: "email",
  async run(args, ctx) {
    const template = TEMPLATES[args.template];
    const subject = render(template.subject, args.data);
    if (/[\r\n]/.test(subject)) throw new Error("The rendered subject contains a line break");
    const headers = [
      `From: ${args.from}`,
      `To: ${args.to}`,
      ...(args.replyTo ? [`Reply-To: ${args.replyTo}`] : []),
      `Subject: ${encodeHeader(subject)}`,
      `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
      `Message-ID: <${ctx.taskId}@aether-tasks>`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
    ];
    const body = render(template.body, args.data).replace(/\r?\n/g, "\r\n");
    const message = `${headers.join("\r\n")}\r\n\r\n${body}`;

    const outbox = resolve(args.outbox ?? process.env.AETHER_OUTBOX ?? "./data/outbox");
    await mkdir(outbox, { recursive: true });
    // The task id is a UUID the queue generated; check it anyway before it names a file.
    if (!/^[0-9a-f-]{36}$/.test(ctx.taskId)) throw new Error(`Unexpected task id ${ctx.taskId}`);
    const path = join(outbox, `${ctx.taskId}.eml`);
    const partial = `${path}.partial`;
    await writeFile(partial, message, { signal: ctx.signal });
    await rename(partial, path);
    ctx.log(`wrote ${args.template} email to ${args.to}`);
    return { path, bytes: new TextEncoder().encode(message).length };
  },
});

/** Replaces `{{key}}` with `data[key]`; a missing key is an error, not an empty string. */
function render(text: string, data: Record<string, string | number>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = data[key];
    if (value === undefined) throw new Error(`The template needs data.${key}`);
    return String(value);
  });
}

/** RFC 2047 encoding for a header value that is not plain ASCII. */
function encodeHeader(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const bytes = new TextEncoder().encode(value);
  return `=?UTF-8?B?${btoa(String.fromCharCode(...bytes))}?=`;
}
