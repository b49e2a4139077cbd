/**
 * Bun's errors for a module that does not parse. `import()` of such a file rejects with a
 * `BuildMessage` (one error) or an `AggregateError` whose `errors` are `BuildMessage`s (several:
 * "2 errors building …"); a module that cannot be resolved gives a `ResolveMessage`. Their
 * `message` has no place in the file; the place is in `position: { file, line, column, lineText }`.
 * @module
 */

/** Where a Bun build or resolve message points. */
interface BuildPosition {
  file: string;
  line: number;
  column: number;
  lineText?: string;
}

/** The shape of Bun's `BuildMessage` and `ResolveMessage`. */
interface BuildMessageLike {
  message: string;
  position: BuildPosition;
}

function isBuildMessage(value: unknown): value is BuildMessageLike {
  if (typeof value !== "object" || value === null) return false;
  const { message, position } = value as { message?: unknown; position?: unknown };
  if (typeof message !== "string" || typeof position !== "object" || position === null) {
    return false;
  }
  const { file, line, column } = position as Record<string, unknown>;
  return typeof file === "string" && typeof line === "number" && typeof column === "number";
}

/** One message as `file:line:column: message` followed by the offending line, trimmed. */
function formatMessage({ message, position }: BuildMessageLike): string {
  const where = `${position.file}:${position.line}:${position.column}`;
  const text = position.lineText?.trim();
  return `${where}: ${message}${text ? ` (${JSON.stringify(text)})` : ""}`;
}

/**
 * Describes a Bun build failure with the file, line and column of each error, e.g.
 * `/srv/handlers/resize.ts:4:26: Unexpected ; ("run: () => { return 1 +; },")`; several errors
 * are joined with `; `. Returns `undefined` when `error` is not such a failure (other runtimes,
 * errors thrown by the module's own code).
 */
export function describeBuildError(error: unknown): string | undefined {
  if (isBuildMessage(error)) return formatMessage(error);
  const errors = (error as { errors?: unknown } | null)?.errors;
  if (Array.isArray(errors) && errors.length > 0 && errors.every(isBuildMessage)) {
    const count = errors.length === 1 ? "" : `${errors.length} errors: `;
    return count + errors.map(formatMessage).join("; ");
  }
  return undefined;
}
