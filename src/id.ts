/**
 * Task ids: UUIDv7 strings, which sort by creation time and fit PostgreSQL's `uuid` type.
 * @module
 */

let lastMillis = 0;
let sequence = 0;

/**
 * A new UUIDv7. Ids made by one process in the same millisecond still sort in creation order
 * (a 12-bit counter fills the `rand_a` field).
 */
export function newTaskId(now: number = Date.now()): string {
  if (now > lastMillis) {
    lastMillis = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    lastMillis++;
    sequence = 0;
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let ms = lastMillis;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}
