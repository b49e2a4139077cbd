/**
 * A pool Worker run as a child process, for Deno: Deno 2.9's `Worker.terminate()` does not stop
 * a thread stuck in synchronous code (`while (true) {}`), which then keeps a core busy and the
 * process alive; killing a process always works. {@linkcode ProcessWorker} offers the part of
 * the Web `Worker` API the pool uses, with string messages carried over the child's stdin and
 * stdout (see `_stdio_frames.ts`); the child runs `process_worker_entry.ts`.
 * @module
 */

import { fileURLToPath } from "node:url";
import { decodeLine, encodeFrame, readLines, writeStdoutSync } from "./_stdio_frames.ts";

/** Whether pool Workers should be processes: under Deno (and not Bun, which can pose as it). */
export function runsWorkersAsProcesses(): boolean {
  return "Deno" in globalThis && !("Bun" in globalThis);
}

/** Options of {@linkcode ProcessWorker}. */
export interface ProcessWorkerOptions {
  /**
   * The heap the pool lets a Worker use, in MB; null: no limit. The child's V8 gets twice this
   * as a hard limit (`--max-old-space-size`), so the Worker's own sampling, which names the
   * task, usually catches a growing heap first; a burst that reaches the hard limit ends the
   * child (signal SIGTRAP).
   */
  maxHeapMegabytes: number | null;
}

const ENTRY = new URL("./process_worker_entry.ts", import.meta.url);
/** The project's deno.json, so the child resolves `"aether-tasks"` as the parent does. */
const CONFIG = new URL("../../../deno.json", import.meta.url);

let configFlags: string[] | undefined;

/** `--config` with the project's deno.json when it exists; else the child finds its own. */
function projectConfigFlags(): string[] {
  if (!configFlags) {
    let found = false;
    try {
      found = CONFIG.protocol === "file:" && Deno.statSync(CONFIG).isFile;
    } catch {
      // Not run from source: the child discovers a configuration as `deno run` does.
    }
    configFlags = found ? ["--config", fileURLToPath(CONFIG)] : [];
  }
  return configFlags;
}

/**
 * A Worker that is a `deno run` child process. `postMessage` takes strings only; `terminate`
 * kills the process (SIGKILL); a `close` event with the exit `code` and `signal` (or null) tells
 * that the child ended on its own (after a crash, or when V8 ran out of heap). The child reports
 * errors as messages, so `onerror` never fires.
 *
 * @example
 * ```ts
 * const worker = new ProcessWorker({ maxHeapMegabytes: 512 });
 * worker.onmessage = (event) => console.log(event.data);
 * worker.postMessage('[{"t":"init", ...}]');
 * worker.terminate();
 * ```
 */
export class ProcessWorker extends EventTarget {
  onmessage: ((event: MessageEvent<string>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  onmessageerror: ((event: MessageEvent) => void) | null = null;

  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();
  #terminated = false;

  /** Starts the child process; it is ready for messages at once (they wait in its stdin). */
  constructor(options: ProcessWorkerOptions) {
    super();
    const args = ["run", "-A", "--no-check", ...projectConfigFlags()];
    if (options.maxHeapMegabytes !== null) {
      args.push(`--v8-flags=--max-old-space-size=${options.maxHeapMegabytes * 2}`);
    }
    args.push(ENTRY.href);
    this.#child = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    Promise.all([this.#read(this.#child.stdout), this.#child.status]).then(([, status]) => {
      if (this.#terminated) return;
      this.#terminated = true;
      this.#stdin.close().catch(() => {});
      const { code, signal } = status;
      this.dispatchEvent(Object.assign(new Event("close"), { code, signal }));
    });
  }

  /** Sends `data` to the child; dropped once the child has ended. */
  postMessage(data: string): void {
    if (this.#terminated) return;
    // A write fails only when the child has ended, which the close event reports.
    this.#stdin.write(this.#encoder.encode(encodeFrame(data))).catch(() => {});
  }

  /** Kills the child process at once, whatever it is doing. No close event follows. */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#stdin.close().catch(() => {});
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // It has exited already.
    }
  }

  /** Hands each frame of the child's stdout to `onmessage`, until it ends; other output goes on. */
  async #read(stdout: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const line of readLines(stdout)) {
        if (this.#terminated) continue;
        let decoded: ReturnType<typeof decodeLine>;
        try {
          decoded = decodeLine(line);
        } catch {
          this.onmessageerror?.(new MessageEvent("messageerror"));
          continue;
        }
        if (decoded.data === undefined) {
          writeStdoutSync(decoded.output + "\n");
          continue;
        }
        if (decoded.output) writeStdoutSync(decoded.output);
        try {
          this.onmessage?.(new MessageEvent("message", { data: decoded.data }));
        } catch (error) {
          reportError(error);
        }
      }
    } catch {
      // The pipe broke: the child is gone, which its exit status reports.
    }
  }
}
