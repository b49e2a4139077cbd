/**
 * An example handler, written by `aether-tasks init`. Every `*.ts` file of the handlers folder (not
 * starting with `_` or `.`) default-exports one `defineTask(...)`; `"aether-tasks"` is provided by
 * the binary (`types/` only describes it, for editors and `deno check handlers/`).
 */

import { defineTask, v } from "aether-tasks";

export default defineTask({
  name: "hello",
  // Args are checked against this schema at enqueue and before each run; `run` gets them typed.
  args: v.object({ name: v.pipe(v.string(), v.minLength(1)) }),
  retryConfig: { maxAttempts: 3 },
  timeout: 10_000,
  async run({ name }, ctx) {
    ctx.log(`greeting ${name}, attempt ${ctx.attempt} of ${ctx.maxAttempts}`);
    await ctx.progress({ step: 1, of: 1 });
    // Handlers must be idempotent (a task may run twice): use ctx.taskId as a key.
    return { greeting: `Hello, ${name}!`, taskId: ctx.taskId };
  },
});
