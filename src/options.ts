/**
 * Checks shared by the constructors that validate their options once.
 * @module
 */

/** Returns `value` when it is a positive integer; else throws a `RangeError` naming the option. */
export function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
