/**
 * Replaces `Deno.exit` in a Worker (Deno ends a Worker that calls it without telling its parent).
 * Elsewhere it does nothing.
 * @module
 */

/** Makes `Deno.exit(code)` call `onExit(description)` instead; returns whether it did. */
export function interceptDenoExit(onExit: (description: string) => never): boolean {
  const host = globalThis as typeof globalThis & { Deno?: { exit(code?: number): never } };
  if (!host.Deno) return false;
  host.Deno.exit = (code?: number) => onExit(`Deno.exit(${code ?? ""})`);
  return true;
}
