/**
 * The handlers folder of the CLI: `--handlers`, else `AETHER_HANDLERS`, else `./handlers`.
 * @module
 */

import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { loadHandlers } from "../handlers/load.ts";
import { TaskRegistry } from "../registry.ts";
import type { OptionSpec } from "./command.ts";
import { oneLine, UsageError } from "./exit.ts";
import { resolveSetting, type Setting, text } from "./settings.ts";

/** The handlers folder when neither `--handlers` nor `AETHER_HANDLERS` says otherwise. */
export const DEFAULT_HANDLERS_DIR = "./handlers";

/** `--handlers DIR`. */
export const HANDLERS_OPTION = {
  type: "string",
  value: "DIR",
  description: "Folder of task handler files",
  default: DEFAULT_HANDLERS_DIR,
  env: "AETHER_HANDLERS",
} as const satisfies OptionSpec;

/** The handlers folder from `--handlers`, `AETHER_HANDLERS` or the default. */
export function resolveHandlersDir(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Setting<string> {
  return resolveSetting("handlers", flag, "AETHER_HANDLERS", env, DEFAULT_HANDLERS_DIR, text);
}

/** Throws {@linkcode UsageError} unless `dir` is a folder; returns its absolute path. */
export async function requireHandlersDir(dir: string): Promise<string> {
  const found = await stat(dir).catch(() => null);
  if (!found) {
    throw new UsageError(
      `The handlers folder "${dir}" does not exist; create it or pass --handlers (or set AETHER_HANDLERS)`,
    );
  }
  if (!found.isDirectory()) throw new UsageError(`The handlers path "${dir}" is not a folder`);
  return resolve(dir);
}

/**
 * Loads every handler of `dir` into a new registry. A missing folder or a broken handler file
 * throws {@linkcode UsageError} naming the file and the problem.
 */
export async function loadRegistry(dir: string): Promise<TaskRegistry> {
  const absolute = await requireHandlersDir(dir);
  let definitions;
  try {
    definitions = await loadHandlers(absolute);
  } catch (error) {
    throw new UsageError(oneLine(error));
  }
  const registry = new TaskRegistry();
  for (const definition of definitions) registry.add(definition);
  return registry;
}
