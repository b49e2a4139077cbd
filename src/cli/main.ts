/**
 * The `aether-tasks` executable: `bun build --compile src/cli/main.ts` makes the binary; from
 * source, `bun src/cli/main.ts` or `deno run -A src/cli/main.ts`.
 * @module
 */

// First: lets handler files import "aether-tasks" under Bun (inside the binary too).
import "../adapter/bun/plugin.ts";
import process from "node:process";
import { runCli } from "./run.ts";

const code = await runCli(process.argv.slice(2), process.env);
// Exit explicitly: a runtime may keep the process alive for a handle nobody needs any more.
process.exit(code);
