/**
 * The CLI: picks the command, parses its arguments, runs it and turns what it threw into one line
 * on stderr and an exit code (0 success, 1 operation failed, 2 usage error).
 * @module
 */

import { suggest } from "../suggest.ts";
import { type Command, commandHelp, defineCommand, parseCommandArgs } from "./command.ts";
import { cancelCommand } from "./commands/cancel.ts";
import { deleteCommand } from "./commands/delete.ts";
import { enqueueCommand } from "./commands/enqueue.ts";
import { getCommand } from "./commands/get.ts";
import { initCommand } from "./commands/init.ts";
import { listCommand } from "./commands/list.ts";
import { migrateCommand } from "./commands/migrate.ts";
import { pruneCommand } from "./commands/prune.ts";
import { queuesCommand } from "./commands/queues.ts";
import { schedulesCommand } from "./commands/schedules.ts";
import { retryCommand } from "./commands/retry.ts";
import { statsCommand } from "./commands/stats.ts";
import { versionCommand } from "./commands/version.ts";
import { workerCommand } from "./commands/worker.ts";
import { workersCommand } from "./commands/workers.ts";
import { EXIT_OK, EXIT_USAGE, exitCodeOf, isExpected, oneLine, UsageError } from "./exit.ts";
import { Output } from "./output.ts";
import { VERSION } from "./version.ts";
import { cliErrorLine, wantsJsonLog } from "./worker_log.ts";

/** The `help` command. */
export const helpCommand: Command = defineCommand({
  name: "help",
  summary: "Show the commands, or the options of one",
  usage: "[COMMAND]",
  positionals: [0, 1],
  options: {},
  async run({ positionals, out }) {
    const name = positionals[0];
    await out.print(name === undefined ? overview() : commandHelp(findCommand(name)));
    return EXIT_OK;
  },
});

/** Every command, in the order help lists them. */
export const COMMANDS: readonly Command[] = [
  workerCommand,
  enqueueCommand,
  getCommand,
  listCommand,
  statsCommand,
  workersCommand,
  cancelCommand,
  retryCommand,
  deleteCommand,
  migrateCommand,
  pruneCommand,
  queuesCommand,
  schedulesCommand,
  versionCommand,
  initCommand,
  helpCommand,
];

/** The command called `name`, or a {@linkcode UsageError} with near matches. */
export function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (command) return command;
  const near = suggest(name, COMMANDS.map((c) => c.name), 1);
  throw new UsageError(
    `unknown command ${JSON.stringify(name)}` +
      (near.length
        ? `; did you mean "${near[0]}"?`
        : "; run aether-tasks help for the list of commands"),
  );
}

/** The help without a command: what aether-tasks is and its commands. */
export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `aether-tasks ${VERSION}: a persistent background task queue`,
    "",
    "Usage: aether-tasks COMMAND [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run aether-tasks help COMMAND (or COMMAND --help) for its options.",
    "Exit codes: 0 success, 1 the operation failed, 2 the command line or configuration is wrong.",
    "",
  ].join("\n");
}

/**
 * Runs the CLI with `args` (without the program name); resolves with the exit code. Never throws:
 * errors are printed as one line on stderr (with the stack for unexpected ones when
 * `AETHER_DEBUG=1`).
 */
export async function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const out = new Output(env);
  try {
    const [first, ...rest] = args;
    if (first === undefined) {
      await out.note(overview());
      return EXIT_USAGE;
    }
    if (first === "--version" || first === "-v") {
      return await runCommand(versionCommand, rest, out, env);
    }
    if (first === "--help" || first === "-h") return await runCommand(helpCommand, rest, out, env);
    return await runCommand(findCommand(first), rest, out, env);
  } catch (error) {
    const code = exitCodeOf(error);
    const debug = env.AETHER_DEBUG === "1" && !isExpected(error) && error instanceof Error &&
      error.stack;
    if (wantsJsonLog(args, env)) {
      await out.note(cliErrorLine(debug || oneLine(error), code));
      return code;
    }
    await out.note(
      `${out.errorPalette.red("aether-tasks:")} ${debug ? error.stack : oneLine(error)}\n`,
    );
    return code;
  }
}

async function runCommand(
  command: Command,
  args: readonly string[],
  out: Output,
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const { values, positionals } = parseCommandArgs(command, args);
  if (values.help) {
    await out.print(commandHelp(command));
    return EXIT_OK;
  }
  return await command.run({ values, positionals, out, env });
}
