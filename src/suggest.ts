/**
 * "Did you mean …?" for unknown names.
 * @module
 */

/** Edit distance between two strings (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidates close to `name`, nearest first: within an edit distance of a third of the
 * name's length (at least 2), or containing it, ignoring case.
 *
 * @example
 * ```ts
 * suggest("send-emial", ["send-email", "resize-image"]); // ["send-email"]
 * ```
 */
export function suggest(name: string, candidates: Iterable<string>, max = 3): string[] {
  const wanted = name.toLowerCase();
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  return [...candidates]
    .map((candidate) => {
      const lower = candidate.toLowerCase();
      const distance = lower.includes(wanted) || wanted.includes(lower)
        ? Math.min(1, editDistance(wanted, lower))
        : editDistance(wanted, lower);
      return { candidate, distance };
    })
    .filter((c) => c.distance <= limit)
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, max)
    .map((c) => c.candidate);
}
