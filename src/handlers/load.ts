/**
 * Loads handler modules from a folder. Which files count:
 * - only the folder's own entries, no subfolders (keep helpers in a subfolder or in `_*.ts`);
 * - names ending in `.ts` or `.js` (not `.d.ts`) that start with neither `_` nor `.`;
 * - regular files, or symbolic links to one (deployments often link files into place).
 *
 * Files load in name order. The folder decides which code runs; a task name is only ever a key
 * in the resulting list, never part of a path.
 * @module
 */

import "../adapter/bun/plugin.ts";
import { describeBuildError } from "../adapter/bun/build_message.ts";
import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { TaskDefinition } from "../registry.ts";
import { isDefinedTask } from "./define.ts";

/** A handler file or folder could not be loaded; `file` names it, `problem` says why. */
export class HandlerLoadError extends Error {
  override name = "HandlerLoadError";
  constructor(readonly file: string, readonly problem: string) {
    super(`Cannot load handler ${file}: ${problem}`);
  }
}

const HANDLER_FILE = /^[^._].*\.(ts|js)$/;

/** Whether a folder entry named `name` is a handler file by its name. */
export function isHandlerFileName(name: string): boolean {
  return HANDLER_FILE.test(name) && !name.endsWith(".d.ts");
}

/** The absolute paths of the handler files in `dir`, sorted by name. */
export async function listHandlerFiles(dir: string): Promise<string[]> {
  const folder = resolve(dir);
  let names: string[];
  try {
    if (!(await stat(folder)).isDirectory()) {
      throw new HandlerLoadError(folder, "it is not a folder");
    }
    names = await readdir(folder);
  } catch (error) {
    if (error instanceof HandlerLoadError) throw error;
    throw new HandlerLoadError(folder, `the handlers folder cannot be read: ${describe(error)}`);
  }
  const files: string[] = [];
  for (const name of names.sort()) {
    if (!isHandlerFileName(name)) continue;
    const file = join(folder, name);
    const info = await stat(file).catch(() => null);
    if (info?.isFile()) files.push(file);
  }
  return files;
}

/** Imports the given handler files; each must default-export a {@linkcode defineTask} result. */
export async function loadHandlerFiles(files: readonly string[]): Promise<TaskDefinition[]> {
  const byName = new Map<string, string>();
  const definitions: TaskDefinition[] = [];
  for (const file of files) {
    let module: Record<string, unknown>;
    try {
      module = await import(pathToFileURL(file).href);
    } catch (error) {
      const problem = describeBuildError(error) ?? describe(error);
      throw new HandlerLoadError(file, `the module failed to load: ${problem}`);
    }
    const exported = module.default;
    if (exported === undefined) {
      throw new HandlerLoadError(
        file,
        "it has no default export; write `export default defineTask({ ... })`",
      );
    }
    if (!isDefinedTask(exported)) {
      throw new HandlerLoadError(
        file,
        `its default export is ${
          kindOf(exported)
        }, not a task made by defineTask() from "aether-tasks"`,
      );
    }
    const other = byName.get(exported.name);
    if (other !== undefined) {
      throw new HandlerLoadError(
        file,
        `it defines task "${exported.name}", which ${other} defines too`,
      );
    }
    byName.set(exported.name, file);
    definitions.push(exported);
  }
  return definitions;
}

/**
 * Loads every handler of `dir` (see the module notes for which files count). Throws a
 * {@linkcode HandlerLoadError} naming the file when a module fails to import, has no valid
 * definition, or repeats a task name.
 *
 * @example
 * ```ts
 * const registry = new TaskRegistry();
 * for (const definition of await loadHandlers("./handlers")) registry.add(definition);
 * ```
 */
export async function loadHandlers(dir: string): Promise<TaskDefinition[]> {
  return await loadHandlerFiles(await listHandlerFiles(dir));
}

function describe(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
