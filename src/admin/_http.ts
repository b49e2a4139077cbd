/**
 * HTTP helpers of the admin handler: JSON error responses and a bounded, timed body reader.
 * @module
 */

import { type LongTimer, setLongTimeout } from "../long_timer.ts";

/** A request the handler refuses; becomes `{ "error": message, "details": details }`. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Headers every admin response carries. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** A JSON response with the common headers. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...COMMON_HEADERS, "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** The JSON response for an {@linkcode HttpError}. */
export function errorResponse(error: HttpError): Response {
  const body = error.details === undefined
    ? { error: error.message }
    : { error: error.message, details: error.details };
  return jsonResponse(body, error.status, error.headers);
}

/** Throws 415 unless the request says its body is JSON. */
export function requireJsonContentType(request: Request): void {
  const type = request.headers.get("content-type");
  const media = type?.split(";")[0]?.trim().toLowerCase();
  if (media !== "application/json") {
    throw new HttpError(
      415,
      `Requests that change tasks must have Content-Type: application/json, got ${
        type === null ? "none" : JSON.stringify(type)
      }`,
    );
  }
}

/**
 * Reads the body as JSON: 413 past `maxBytes` (by `Content-Length`, and by counting as it
 * reads, for bodies that lie or stream), 408 when it takes longer than `timeoutMillis`, 400 when
 * it is not UTF-8 JSON. An empty body reads as `undefined`.
 */
export async function readJsonBody(
  request: Request,
  maxBytes: number,
  timeoutMillis: number,
): Promise<unknown> {
  const tooLarge = () =>
    new HttpError(413, `The request body is larger than the limit of ${maxBytes} bytes`, {
      limit: maxBytes,
    });
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (!/^\d+$/.test(declared.trim())) {
      throw new HttpError(
        400,
        `Content-Length must be a number of bytes, got ${JSON.stringify(declared)}`,
      );
    }
    if (Number(declared) > maxBytes) throw tooLarge();
  }
  if (!request.body) return undefined;
  let timer: LongTimer | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setLongTimeout(
      () =>
        reject(new HttpError(408, `The request body did not arrive within ${timeoutMillis} ms`)),
      timeoutMillis,
    );
  });
  let bytes: Uint8Array;
  try {
    bytes = await readCounting(request.body, maxBytes, timedOut, tooLarge);
  } finally {
    timer?.clear();
  }
  if (bytes.byteLength === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "The request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Reads a body, counting as it goes: gives up (and cancels the stream, which closes a stalled
 * upload) as soon as it passes `maxBytes` or `timedOut` rejects.
 */
async function readCounting(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  timedOut: Promise<never>,
  tooLarge: () => HttpError,
): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), timedOut]);
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge();
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
  return chunks.length === 1 ? chunks[0]! : concat(chunks, size);
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
