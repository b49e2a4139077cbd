/**
 * The limits of the HTTP worker protocol's requests (see `docs/PROTOCOL.md`, "Limits").
 * @module
 */

/** The most tasks one `fetch` (or the `fetch` of a `complete`) hands out: 100. */
export const MAX_FETCH = 100;
/** The most outcomes one batched `complete`, and leases one `heartbeat`, may carry: 1000. */
export const MAX_BATCH = 1000;
/** The longest a `fetch` long-polls: 30 s. */
export const MAX_FETCH_WAIT_MILLIS = 30_000;
/** The shortest lease a remote worker may ask for: 1 s. */
export const MIN_REMOTE_LEASE_MILLIS = 1_000;
/** The longest lease a remote worker may ask for: 10 minutes. */
export const MAX_REMOTE_LEASE_MILLIS: number = 10 * 60_000;
/** The most concurrency a remote worker may declare: 10,000. */
export const MAX_REMOTE_CONCURRENCY = 10_000;
