/**
 * What commands print: tables and key/value blocks on a terminal, JSON with `--json`, colors only
 * when the stream is a terminal and `NO_COLOR` is unset. Command output goes to stdout; progress,
 * notes and logs to stderr.
 * @module
 */

import process from "node:process";
import type { TaskStatus } from "../task.ts";

/** ANSI styles, or plain text when colors are off. */
export interface Palette {
  enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  blue(text: string): string;
  cyan(text: string): string;
}

/**
 * Colors for a stream: on when it is a terminal and `NO_COLOR` is unset or empty
 * (https://no-color.org).
 */
export function paletteFor(
  stream: { isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>>,
): Palette {
  const enabled = stream.isTTY === true && !env.NO_COLOR;
  const style = (open: number, close: number) => (text: string) =>
    enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  return {
    enabled,
    bold: style(1, 22),
    dim: style(2, 22),
    red: style(31, 39),
    green: style(32, 39),
    yellow: style(33, 39),
    blue: style(34, 39),
    cyan: style(36, 39),
  };
}

/** Colors a status the same way everywhere. */
export function paintStatus(palette: Palette, status: TaskStatus): string {
  switch (status) {
    case "COMPLETED":
      return palette.green(status);
    case "FAILED":
      return palette.red(status);
    case "RETRYING":
    case "CANCELLED":
      return palette.yellow(status);
    case "PROCESSING":
      return palette.cyan(status);
    default:
      return status;
  }
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** The width of text as a terminal shows it (without color codes). */
export function visibleWidth(text: string): number {
  return text.replace(ANSI, "").length;
}

/** A table with a header row; columns are padded to their widest cell (numbers right-aligned). */
export function formatTable(
  palette: Palette,
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ("left" | "right")[] = [],
): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => visibleWidth(r[i] ?? "")))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => {
      const pad = " ".repeat(Math.max(0, widths[i]! - visibleWidth(cell)));
      return align[i] === "right" ? pad + cell : i === cells.length - 1 ? cell : cell + pad;
    }).join("  ").trimEnd();
  return [palette.bold(line(header)), ...rows.map(line)].join("\n") + "\n";
}

/** `key  value` lines with the keys padded to the longest. */
export function formatFields(
  palette: Palette,
  fields: readonly (readonly [string, string])[],
): string {
  const width = Math.max(...fields.map(([key]) => key.length));
  return fields.map(([key, value]) => {
    const indent = " ".repeat(width + 2);
    return `${palette.dim(key.padEnd(width))}  ${value.replaceAll("\n", `\n${indent}`)}`;
  }).join("\n") + "\n";
}

/** Where a command prints. */
export class Output {
  /** Colors for stdout. */
  readonly palette: Palette;
  /** Colors for stderr. */
  readonly errorPalette: Palette;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;

  constructor(env: Readonly<Record<string, string | undefined>> = process.env) {
    this.stdoutIsTTY = process.stdout.isTTY === true;
    this.stderrIsTTY = process.stderr.isTTY === true;
    this.palette = paletteFor(process.stdout, env);
    this.errorPalette = paletteFor(process.stderr, env);
  }

  /** Writes to stdout; resolves once the text is handed to the OS. */
  print(text: string): Promise<void> {
    return write(process.stdout, text);
  }

  /** Writes `value` as JSON: indented on a terminal, on one line otherwise. */
  printJson(value: unknown): Promise<void> {
    return this.print(`${JSON.stringify(value, null, this.stdoutIsTTY ? 2 : undefined)}\n`);
  }

  /** Writes to stderr (notes, progress, warnings). */
  note(text: string): Promise<void> {
    return write(process.stderr, text);
  }
}

/** The part of `process.stdout`/`process.stderr` the CLI writes through. */
interface TextSink {
  write(text: string, callback: (error?: Error | null) => void): boolean;
}

function write(stream: TextSink, text: string): Promise<void> {
  if (text === "") return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.write(text, (error?: Error | null) => (error ? reject(error) : resolve()));
  });
}
