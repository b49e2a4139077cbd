/**
 * How a CLI command is declared, how its arguments are parsed (strictly, with `node:util`
 * `parseArgs` and "did you mean" for unknown flags) and how its help is written.
 * @module
 */

import { parseArgs } from "node:util";
import { suggest } from "../suggest.ts";
import { UsageError } from "./exit.ts";
import type { Output } from "./output.ts";

/** One `--flag` of a command. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** The placeholder of the value in help, e.g. `PATH`. */
  value?: string;
  description: string;
  /** The default, as help shows it. */
  default?: string;
  /** The environment variable the option falls back to. */
  env?: string;
}

/** The values parsed for a command's options: strings and booleans, absent when not given. */
export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string;
};

/** What a command's `run` receives. */
export interface CommandInput<O extends Record<string, OptionSpec>> {
  values: OptionValues<O>;
  positionals: string[];
  out: Output;
  /** The environment (`process.env`), for options that fall back to it. */
  env: Readonly<Record<string, string | undefined>>;
}

/** A command of the CLI. */
export interface Command<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** What follows the command name in the usage line, e.g. `NAME [ARGS_JSON]`. */
  usage: string;
  /** Least and most positional arguments. */
  positionals: readonly [min: number, max: number];
  options: O;
  /** More help: notes and examples, one paragraph per entry. */
  details?: readonly string[];
  /** Runs the command; resolves with the exit code. */
  run(input: CommandInput<O>): Promise<number>;
}

/** Declares a command, keeping the option names typed in `run`. */
export function defineCommand<const O extends Record<string, OptionSpec>>(
  command: Command<O>,
): Command {
  return command as unknown as Command;
}

/** `--json`, which every command that prints something accepts. */
export const JSON_OPTION = {
  type: "boolean",
  description: "Print JSON instead of a table",
} as const satisfies OptionSpec;

/** `--help`, which every command accepts. */
export const HELP_OPTION = {
  type: "boolean",
  short: "h",
  description: "Show this help",
} as const satisfies OptionSpec;

/**
 * Parses `args` against the command's options; throws {@linkcode UsageError} naming the unknown
 * flag (with near matches), the missing value or the extra argument.
 */
export function parseCommandArgs(
  command: Command,
  args: readonly string[],
): { values: OptionValues<Record<string, OptionSpec>>; positionals: string[] } {
  const options: Record<string, OptionSpec> = { ...command.options, help: HELP_OPTION };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          spec.short ? { type: spec.type, short: spec.short } : { type: spec.type },
        ]),
      ),
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(command, options, error));
  }
  const values = parsed.values as OptionValues<Record<string, OptionSpec>>;
  const positionals = parsed.positionals;
  if (values.help) return { values, positionals };
  const [min, max] = command.positionals;
  if (positionals.length < min) {
    throw new UsageError(
      `${command.name}: missing ${command.usage.split(" ")[positionals.length] ?? "argument"}; ` +
        `usage: aether-tasks ${command.name} ${command.usage}`,
    );
  }
  if (positionals.length > max) {
    const extra = positionals[max]!;
    const hint = extra.startsWith("-")
      ? ""
      : max === 0
      ? `; ${command.name} takes no arguments`
      : `; usage: aether-tasks ${command.name} ${command.usage}`;
    throw new UsageError(`${command.name}: unexpected argument ${JSON.stringify(extra)}${hint}`);
  }
  return { values, positionals };
}

function describeParseError(
  command: Command,
  options: Record<string, OptionSpec>,
  error: unknown,
): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message.split("\n")[0]! : String(error);
  const flag = /'(-{1,2}[^' =]+)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    const names = Object.keys(options).map((name) => `--${name}`);
    const near = suggest(flag.startsWith("--") ? flag : `-${flag}`, names, 1);
    const hint = near.length
      ? `; did you mean ${near[0]}?`
      : `; see aether-tasks help ${command.name}`;
    return `${command.name}: unknown option ${flag}${hint}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    const name = flag.replace(/^-+/, "");
    const spec = options[name] ?? Object.values(options).find((o) => o.short === name);
    return spec?.type === "boolean"
      ? `${command.name}: ${flag} takes no value`
      : `${command.name}: ${flag} needs a value${spec?.value ? ` (${spec.value})` : ""}`;
  }
  return `${command.name}: ${message}`;
}

/** Help lines are wrapped to this many columns. */
const HELP_WIDTH = 100;

/** The help text of one command. */
export function commandHelp(command: Command): string {
  const options: Record<string, OptionSpec> = { ...command.options, help: HELP_OPTION };
  const rows = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.value ? ` ${spec.value}` : ""
    }`;
    const notes = [
      spec.default !== undefined ? `default ${spec.default}` : "",
      spec.env ? `env ${spec.env}` : "",
    ].filter(Boolean);
    return [flag, spec.description + (notes.length ? ` (${notes.join("; ")})` : "")] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const indent = " ".repeat(width + 4);
  return [
    `Usage: aether-tasks ${command.name}${command.usage ? ` ${command.usage}` : ""} [options]`,
    "",
    command.summary,
    "",
    "Options:",
    ...rows.map(([flag, text]) =>
      `  ${flag.padEnd(width)}  ${wrap(text, HELP_WIDTH - indent.length).join(`\n${indent}`)}`
    ),
    // A paragraph with line breaks (examples) is kept as written.
    ...(command.details ?? []).flatMap((
      p,
    ) => ["", ...(p.includes("\n") ? [p] : wrap(p, HELP_WIDTH))]),
    "",
  ].join("\n");
}

/** Splits `text` into lines of at most `width` characters, at spaces (at least 40 wide). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > Math.max(40, width)) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}
