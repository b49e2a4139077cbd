/**
 * Serves the `"aether-tasks"` module to handler files under Bun, from source and inside the
 * compiled binary, where no `node_modules` sits beside a handler. Importing this file installs
 * the plugin once per thread (the main entry and the Worker entry both import it); elsewhere it
 * does nothing.
 * @module
 */

import * as handlerApi from "../../handler_api.ts";

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
    },
  });
  host[INSTALLED] = true;
  return true;
}

installHandlerModule();
