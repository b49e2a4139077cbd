/**
 * The admin endpoint's defences: bearer tokens compared in constant time, the Host allow-list
 * (against DNS rebinding), and the same-origin rule for requests that change state (against
 * cross-site request forgery).
 * @module
 */

const encoder = new TextEncoder();

/**
 * Whether two strings are equal, comparing their UTF-8 bytes in time that depends only on the
 * length of `actual` and `expected`, never on where they first differ.
 *
 * @example
 * ```ts
 * constantTimeEqual(presentedToken, configuredToken);
 * ```
 */
export function constantTimeEqual(actual: string, expected: string): boolean {
  const a = encoder.encode(actual);
  const b = encoder.encode(expected);
  let difference = a.length ^ b.length;
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return difference === 0;
}

/** The token of an `Authorization: Bearer <token>` header, or null when there is none. */
export function bearerToken(authorization: string | null): string | null {
  if (authorization === null) return null;
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
  return match ? match[1]! : null;
}

/** The host names the endpoint answers to whatever address it is bound to. */
export const LOOPBACK_HOSTS: readonly string[] = ["localhost", "127.0.0.1", "[::1]"];

/**
 * Whether `host` (a bind address or a host name) is a loopback address: `localhost`,
 * `127.0.0.0/8` or `::1`. Names that merely resolve to loopback do not count.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (bare === "localhost" || bare === "::1") return true;
  const octets = bare.split(".");
  return octets.length === 4 && octets[0] === "127" &&
    octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
}

/** A host name and optional port, as a `Host` header or an allow-list entry spells them. */
interface HostAndPort {
  name: string;
  port: string | null;
}

/**
 * Splits `example.com:8080`, `[::1]:7070` or `localhost`; null when malformed: characters a
 * host name cannot have (`@`, `%`, `/`, spaces, controls), or a port outside 1-65535.
 */
export function splitHost(host: string): HostAndPort | null {
  const match = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=-]+)(?::(\d{1,5}))?$/.exec(host.trim());
  if (!match) return null;
  const port = match[2] ?? null;
  if (port !== null && (Number(port) < 1 || Number(port) > 65535)) return null;
  return { name: match[1]!.toLowerCase(), port };
}

/** Whether a `Host` header is well formed: a host name or IP address, and a port of 1-65535. */
export function isValidHost(host: string): boolean {
  return splitHost(host) !== null;
}

/**
 * Decides which `Host` headers to answer. An entry is a host name (any port) or `name:port`;
 * `"*"` allows every host. A browser page on an attacker's domain that re-resolves to this
 * machine (DNS rebinding) still sends its own domain as `Host`, so it is refused.
 */
export class HostAllowList {
  readonly #any: boolean;
  readonly #entries: HostAndPort[];

  constructor(entries: readonly string[]) {
    this.#any = entries.includes("*");
    this.#entries = entries.filter((e) => e !== "*").map((entry, i) => {
      const parsed = typeof entry === "string" ? splitHost(entry) : null;
      if (!parsed) {
        throw new TypeError(
          `allowedHosts[${i}] must be a host name, "name:port" or "*", got ${
            JSON.stringify(entry)
          }`,
        );
      }
      return parsed;
    });
  }

  /** Whether a request whose `Host` header is `host` may be answered. */
  allows(host: string): boolean {
    if (this.#any) return true;
    const parsed = splitHost(host);
    if (!parsed) return false;
    return this.#entries.some((e) =>
      e.name === parsed.name && (e.port === null || e.port === parsed.port)
    );
  }
}

/**
 * Why a state-changing request must be refused as cross-origin, or null when it may proceed.
 * Browsers send `Origin` on every cross-origin POST and `Sec-Fetch-Site` on every request;
 * other clients (curl, scripts) send neither and pass.
 */
export function crossOriginRefusal(headers: Headers, host: string): string | null {
  const site = headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return `Cross-origin requests cannot change tasks (Sec-Fetch-Site: ${site})`;
  }
  const origin = headers.get("origin");
  if (origin === null) return null;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `Cross-origin requests cannot change tasks (Origin: ${origin})`;
  }
  if (originHost.toLowerCase() !== host.toLowerCase()) {
    return `Cross-origin requests cannot change tasks (Origin ${origin} is not ${host})`;
  }
  return null;
}
