/**
 * `aether-tasks init [DIR]`: scaffolds a handlers project — an example handler and the type
 * declarations of `"aether-tasks"` with editor settings — so handlers written next to the binary
 * are checked by an editor or `deno check`.
 * @module
 */

import { mkdir, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK, oneLine, UsageError } from "../exit.ts";

/** The folder `init` writes into when none is given. */
export const DEFAULT_INIT_DIR = ".";

/** The `init` command. */
export const initCommand = defineCommand({
  name: "init",
  summary: "Create a handlers folder with an example and type declarations for editors",
  usage: "[DIR]",
  positionals: [0, 1],
  options: { json: JSON_OPTION },
  details: [
    "Writes handlers/hello.ts, types/aether-tasks.d.ts and types/valibot.d.mts (the module " +
    "handler files import, for type checking only: the binary provides the code), deno.json and " +
    "tsconfig.json (both map the module names to those declarations). DIR is created when " +
    "missing. Nothing is overwritten: if any of these files exists, nothing is written (exit 2).",
    "Examples:\n" +
    "  aether-tasks init my-tasks && cd my-tasks\n" +
    "  deno check handlers/           # optional: type-check the handlers\n" +
    "  aether-tasks worker            # runs ./handlers",
  ],
  async run({ positionals, values, out }) {
    const dir = positionals[0] ?? DEFAULT_INIT_DIR;
    // Loaded on demand: the embedded declarations (~640 KB of text) cost nothing to other commands.
    const { scaffoldFiles } = await import("../init/files.ts");
    const files = scaffoldFiles();
    const found = await stat(dir).catch(() => null);
    if (found && !found.isDirectory()) {
      throw new UsageError(`init: "${dir}" is a file; give a folder`);
    }
    for (const file of files) {
      if (await stat(join(dir, file.path)).catch(() => null)) {
        throw new UsageError(
          `init: ${
            join(dir, file.path)
          } already exists; nothing was written (init never overwrites)`,
        );
      }
    }
    for (const file of files) {
      const path = join(dir, file.path);
      try {
        await mkdir(dirname(path), { recursive: true });
        // "wx": fail rather than overwrite a file created since the check above.
        await writeFile(path, file.text, { flag: "wx" });
      } catch (error) {
        throw new UsageError(`init: cannot write ${path}: ${oneLine(error)}`);
      }
    }
    const paths = files.map((file) => join(dir, file.path));
    if (values.json) {
      await out.printJson({ dir: resolve(dir), files: paths });
      return EXIT_OK;
    }
    const handlers = join(dir, "handlers");
    await out.print(
      [
        ...paths.map((path) => `created ${path}`),
        "",
        "Next:",
        `  edit ${join(handlers, "hello.ts")} (or add files beside it)`,
        `  aether-tasks worker --handlers ${handlers}`,
        `  aether-tasks enqueue hello '{"name":"Ada"}' --handlers ${handlers} --wait`,
        "",
      ].join("\n"),
    );
    return EXIT_OK;
  },
});
