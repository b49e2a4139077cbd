/**
 * Task ids: UUIDv7 strings, which sort by creation time and fit PostgreSQL's `uuid` type.
 * @module
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const POOL_SIZE = 16 * 256;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

let lastMillis = 0;
let sequence = 0;

/**
 * A new UUIDv7. Ids made by one process in the same millisecond still sort in creation order
 * (a 12-bit counter fills the `rand_a` field; past 4096 ids in a millisecond the timestamp field
 * runs ahead by a millisecond).
 */
export function newTaskId(now: number = Date.now()): string {
  if (now > lastMillis) {
    lastMillis = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    lastMillis++;
    sequence = 0;
  }
  if (poolOffset + 8 > POOL_SIZE) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const r = poolOffset;
  poolOffset += 8;
  const ms = lastMillis.toString(16).padStart(12, "0");
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${(sequence >> 8).toString(16)}${
    HEX[sequence & 0xff]
  }-${HEX[0x80 | (pool[r]! & 0x3f)]}${HEX[pool[r + 1]!]}-${HEX[pool[r + 2]!]}${HEX[pool[r + 3]!]}${
    HEX[pool[r + 4]!]
  }${HEX[pool[r + 5]!]}${HEX[pool[r + 6]!]}${HEX[pool[r + 7]!]}`;
}
