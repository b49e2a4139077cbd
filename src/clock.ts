/**
 * The clock everything that schedules reads; tests inject their own.
 * @module
 */

/** A source of the current time, in epoch milliseconds. */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };
