/**
 * Serves the `"aether-tasks"` module to handler files under Bun, from source and inside the
 * compiled binary, where no `node_modules` sits beside a handler. Inside the binary it also
 * serves `"valibot"` (the copy the binary embeds, which `v` is), so `import * as v from "valibot"`
 * works in a handler with nothing installed; other packages resolve from a `node_modules` folder
 * beside the handlers as usual. Importing this file installs the plugin once per thread (the main
 * entry and the Worker entry both import it); elsewhere it does nothing.
 * @module
 */

import * as valibot from "valibot";
import * as handlerApi from "../../handler_api.ts";

/**
 * Whether this code runs inside a `bun build --compile` executable, whose files live under
 * Bun's virtual `/$bunfs/` folder.
 */
export const IN_COMPILED_BINARY: boolean = import.meta.url.includes("/$bunfs/");

/** The part of `Bun.plugin` this file uses. */
interface BunPluginHost {
  plugin(plugin: {
    name: string;
    setup(build: {
      module(
        specifier: string,
        load: () => { exports: Record<string, unknown>; loader: "object" },
      ): void;
    }): void;
  }): void;
}

const INSTALLED = Symbol.for("aether-tasks.bunPluginInstalled");

/** Installs the virtual `"aether-tasks"` module in this thread; returns whether it did. */
export function installHandlerModule(): boolean {
  const host = globalThis as typeof globalThis & { Bun?: BunPluginHost; [INSTALLED]?: true };
  if (!host.Bun || host[INSTALLED]) return false;
  host.Bun.plugin({
    name: "aether-tasks handler module",
    setup(build) {
      build.module("aether-tasks", () => ({ exports: { ...handlerApi }, loader: "object" }));
      // From source, "valibot" resolves from node_modules like any package; an application's own
      // copy is never replaced.
      if (IN_COMPILED_BINARY) {
        build.module("valibot", () => ({ exports: { ...valibot }, loader: "object" }));
      }
    },
  });
  host[INSTALLED] = true;
  return true;
}

installHandlerModule();
