/**
 * The entry of a pool Worker run as a child process (see `process_worker.ts`): gives this
 * process the Worker globals `worker_entry.ts` uses, over stdio (`postMessage` writes a frame
 * to stdout, each frame read from stdin goes to `onmessage`), then runs that same entry. Errors
 * and exit calls are reported by it, as in a Web Worker. The process ends when the pool closes
 * its end of stdin, or is killed.
 * @module
 */

import { decodeLine, encodeFrame, readLines, writeStdoutSync } from "./_stdio_frames.ts";

/** The Worker globals this file provides. */
interface WorkerGlobals {
  postMessage(message: string): void;
  onmessage: ((event: MessageEvent<string>) => void) | null;
}

// Kept before worker_entry.ts replaces Deno.exit with a crash report.
const exit = Deno.exit;
const globals: WorkerGlobals = {
  postMessage: (message) => writeStdoutSync(encodeFrame(message)),
  onmessage: null,
};
const scope = Object.assign(globalThis, globals);

await import("../../pool/worker_entry.ts");

for await (const line of readLines(Deno.stdin.readable)) {
  let data: string | undefined;
  try {
    data = decodeLine(line).data;
  } catch (error) {
    reportError(error);
    continue;
  }
  if (data === undefined) continue;
  try {
    scope.onmessage?.(new MessageEvent("message", { data }));
  } catch (error) {
    reportError(error);
  }
}
exit(0);
