// Patches the `postgres` client (3.4.9) against an uncatchable crash when a connection closes
// with a small write still queued (porsager/postgres#1066, #1154, #1208): `nextWrite` runs from
// a setImmediate after `closed()` set the socket to null and throws a TypeError that no caller
// can catch, so a PostgreSQL restart would kill the worker. The patch skips that write (the
// queries it carried were already rejected with CONNECTION_CLOSED) and resets the write
// buffer on close, so the reconnected connection starts clean. Idempotent; run by `npm install` and
// `npm ci` in this checkout (package.json `prepare`, which does not run where aether-tasks is
// installed as a dependency), so tests, benchmarks and the binary built here carry it. Remove it
// once the client ships the guard.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "node_modules", "postgres");
const MARK = "/* aether-tasks: guarded nextWrite */";
const edits = [
  [
    "  function nextWrite(fn) {\n",
    `  function nextWrite(fn) {\n    ${MARK}\n    if (!socket) return (chunk = nextWriteTimer = null, false)\n`,
  ],
  [
    "    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)",
    "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener('data', data)",
  ],
];

let patched = 0;
for (const dir of ["src", "cjs/src", "cf/src"]) {
  const file = join(root, dir, "connection.js");
  if (!existsSync(file)) continue;
  let text = readFileSync(file, "utf8");
  if (text.includes(MARK)) continue;
  for (const [from, to] of edits) {
    if (!text.includes(from)) {
      console.error(`patch_postgres: ${file} does not look like postgres 3.4.9; left alone`);
      process.exit(0);
    }
    text = text.replace(from, to);
  }
  writeFileSync(file, text);
  patched++;
}
if (patched) console.error(`patch_postgres: guarded nextWrite in ${patched} file(s)`);
