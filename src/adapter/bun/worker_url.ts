/**
 * Finds a Worker entry inside an executable made by `bun build --compile`. There every module
 * shares the executable's `import.meta.url`, so a URL relative to the pool's source file misses:
 * the entry sits at its path relative to the build's root folder (the common folder of the entry
 * points unless `--root` says otherwise), with a `.js` extension. Elsewhere it changes nothing.
 * @module
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Whether `url` points into the virtual file system of a compiled Bun executable. */
export function isInCompiledBinary(url: string): boolean {
  return url.includes("/$bunfs/") || url.includes("/~BUN/");
}

/**
 * The URL to start a Worker with: `sourceUrl` from source; inside a compiled executable, the
 * embedded file of `projectPath` (relative to the project root, e.g. `src/pool/worker_entry.ts`),
 * tried from the longest to the shortest path suffix.
 */
export function workerEntryUrl(sourceUrl: string, projectPath: string): string {
  if (!isInCompiledBinary(sourceUrl)) return sourceUrl;
  const root = new URL("./", sourceUrl);
  const parts = projectPath.replace(/\.ts$/, ".js").split("/");
  for (let i = 0; i < parts.length; i++) {
    const candidate = new URL(parts.slice(i).join("/"), root);
    if (existsSync(fileURLToPath(candidate))) return candidate.href;
  }
  return sourceUrl;
}
