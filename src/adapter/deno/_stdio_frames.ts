/**
 * How a process-backed pool Worker and its parent exchange messages over stdin and stdout: one
 * frame per line, a record separator followed by the message as a JSON string. JSON text holds
 * no raw control characters, so neither the separator nor a line break can occur inside a frame,
 * whatever the message contains. Anything else on a line is output of the child's own (a
 * handler's `console.log`), which the parent passes through.
 * @module
 */

const FRAME_START = "\x1e";
const encoder = new TextEncoder();

/** The frame of `data`, with its line break. */
export function encodeFrame(data: string): string {
  return FRAME_START + JSON.stringify(data) + "\n";
}

/**
 * A line read back: the message it frames (undefined for plain output) and any plain output
 * before the frame (a frame holds no separator, so the last one starts it). Throws a
 * `SyntaxError` for a frame that is cut or corrupted.
 */
export function decodeLine(line: string): { output: string; data: string | undefined } {
  const start = line.lastIndexOf(FRAME_START);
  if (start < 0) return { output: line, data: undefined };
  const data: unknown = JSON.parse(line.slice(start + 1));
  if (typeof data !== "string") throw new SyntaxError("A frame must hold a JSON string");
  return { output: line.slice(0, start), data };
}

/** Writes `text` to this process's stdout at once, in order with `console.log`. */
export function writeStdoutSync(text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

/** The lines of a UTF-8 stream, without their line breaks; a last unterminated line too. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  // Pieces of the current line: a long frame arrives in many chunks; joined once complete.
  let pieces: string[] = [];
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    let start = 0;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
      pieces.push(text.slice(start, end));
      const line = pieces.join("");
      pieces = [];
      start = end + 1;
      yield line;
    }
    if (start < text.length) pieces.push(text.slice(start));
  }
  if (pieces.length) yield pieces.join("");
}
