/**
 * The admin HTTP server: serves {@linkcode createAdminHandler} with `Bun.serve` or `Deno.serve`,
 * whichever runtime runs it, and refuses to expose it beyond loopback without a token.
 * @module
 */

import {
  type AdminConnection,
  type AdminHandler,
  type AdminHandlerOptions,
  createAdminHandler,
  DEFAULT_MAX_BODY_BYTES,
} from "./handler.ts";
import { isLoopbackHost, LOOPBACK_HOSTS } from "./security.ts";
import { logErrorTo } from "../log.ts";

/** The address the admin server binds by default: loopback only. */
export const DEFAULT_ADMIN_HOST = "127.0.0.1";
/** The port the admin server binds by default. */
export const DEFAULT_ADMIN_PORT = 7070;
/** The environment variable the CLI reads the admin token from. */
export const ADMIN_TOKEN_ENV = "AETHER_ADMIN_TOKEN";
/** The environment variable the CLI reads the admin endpoint's allowed `Host` names from. */
export const ADMIN_ALLOWED_HOSTS_ENV = "AETHER_ADMIN_ALLOWED_HOSTS";

/**
 * The admin address is taken (typically by another worker on this host, on the default port).
 * `host` and `port` are those asked for.
 */
export class AdminPortInUseError extends Error {
  override name = "AdminPortInUseError";
  constructor(readonly host: string, readonly port: number, options?: ErrorOptions) {
    const shown = host.includes(":") ? `[${host}]` : host;
    super(
      `Cannot serve the admin endpoint on ${shown}:${port}: the port is in use (another worker ` +
        `on this host?); give this worker another one with --admin ${shown}:0 (any free port) ` +
        `or --admin ${shown}:${port === 65535 ? port - 1 : port + 1}, or start it with --no-admin`,
      options,
    );
  }
}

/**
 * Options of {@linkcode AdminServer}: where to listen, and those of the handler. Default of
 * `allowedHosts`: bound to a loopback address, {@linkcode LOOPBACK_HOSTS} and the address bound;
 * bound to any other address (which needs a `token`), any Host: the token already defeats DNS
 * rebinding, and remote dashboards, load balancers and scrapers by IP send Hosts no one can
 * list in advance.
 */
export interface AdminServerOptions extends AdminHandlerOptions {
  /** Address to bind. Any non-loopback address needs a `token`. Default `"127.0.0.1"`. */
  host?: string;
  /** Port to bind; 0 picks a free one (read it from `port` after `start()`). Default 7070. */
  port?: number;
}

/** What a runtime adapter is asked to serve. */
export interface HttpServeOptions {
  hostname: string;
  port: number;
  handler: (request: Request, connection: AdminConnection) => Promise<Response>;
  /** The runtime may refuse larger bodies before the handler sees them. */
  maxRequestBodyBytes: number;
  onError: (error: unknown) => void;
}

/** A listening server, as a runtime adapter returns it. */
export interface HttpListener {
  readonly hostname: string;
  readonly port: number;
  /** Stops listening and closes open connections. */
  stop(): Promise<void>;
}

/**
 * Splits `HOST:PORT`, `[IPv6]:PORT`, `HOST` or `:PORT` (the CLI's `--admin` value); a missing part
 * takes its default. Throws a `RangeError` naming the value when it is malformed.
 *
 * @example
 * ```ts
 * parseAdminAddress("0.0.0.0:8080"); // { host: "0.0.0.0", port: 8080 }
 * parseAdminAddress("[::1]:7070"); // { host: "::1", port: 7070 }
 * ```
 */
export function parseAdminAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:\[\]]*))(?::(\d{1,5}))?$/.exec(address.trim());
  const port = match?.[3] === undefined ? DEFAULT_ADMIN_PORT : Number(match[3]);
  if (
    !match || port > 65535 || (match[1] === undefined && match[2] === "" && match[3] === undefined)
  ) {
    throw new RangeError(
      `The admin address must be HOST:PORT, [IPv6]:PORT, HOST or :PORT, got ${
        JSON.stringify(address)
      }`,
    );
  }
  return { host: match[1] ?? (match[2] || DEFAULT_ADMIN_HOST), port };
}

/**
 * The admin endpoint on a socket. `start()` listens, `stop()` ends event streams and long polls
 * and closes the socket.
 *
 * Binding anything but a loopback address without a `token` throws: the API can enqueue, cancel
 * and read every task, so it must not be reachable from the network without one.
 *
 * @example
 * ```ts
 * await using admin = new AdminServer({ store, dispatcher, signals: worker.signals, port: 0 });
 * await admin.start();
 * console.log(`dashboard at ${admin.url}`);
 * ```
 */
export class AdminServer {
  readonly host: string;
  readonly #requestedPort: number;
  readonly #handler: AdminHandler;
  readonly #onError: (error: unknown) => void;
  readonly #maxBodyBytes: number;
  #listener: HttpListener | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    const { host = DEFAULT_ADMIN_HOST, port = DEFAULT_ADMIN_PORT, ...handlerOptions } = options;
    if (typeof host !== "string" || host.trim() === "" || /[\s/]/.test(host)) {
      throw new TypeError(`host must be a host name or IP address, got ${JSON.stringify(host)}`);
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`port must be an integer from 0 to 65535, got ${String(port)}`);
    }
    const bare = host.replace(/^\[(.*)\]$/, "$1");
    if (!isLoopbackHost(bare) && handlerOptions.token === undefined) {
      throw new RangeError(
        `Refusing to serve the admin endpoint on ${host} without a token: anyone who can reach that ` +
          `address could read, enqueue, cancel and retry tasks. Set a token (the token option, ` +
          `--admin-token or ${ADMIN_TOKEN_ENV}) or bind a loopback address such as ${DEFAULT_ADMIN_HOST}.`,
      );
    }
    this.host = bare;
    this.#requestedPort = port;
    this.#onError = handlerOptions.onError ?? logErrorTo("admin", "admin endpoint");
    this.#maxBodyBytes = handlerOptions.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const bound = bare.includes(":") ? `[${bare}]` : bare;
    this.#handler = createAdminHandler({
      ...handlerOptions,
      // Bound to loopback: loopback names and the address bound (a local reverse proxy must
      // pass one of them or be allowed). Bound to anything else, which needs a token: the
      // handler's default with a token, any Host (remote dashboards, probes and scrapes by IP).
      allowedHosts: handlerOptions.allowedHosts ??
        (isLoopbackHost(bare) ? [...LOOPBACK_HOSTS, bound] : undefined),
    });
  }

  /** The port listened on (the real one when 0 was asked for); null before `start()`. */
  get port(): number | null {
    return this.#listener?.port ?? null;
  }

  /** `http://host:port` once started; null before. */
  get url(): string | null {
    if (!this.#listener) return null;
    const host = this.host === "0.0.0.0" || this.host === "::" ? DEFAULT_ADMIN_HOST : this.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${this.#listener.port}`;
  }

  /** Listens; resolves once the socket is bound. Calling it again returns the same promise. */
  start(): Promise<void> {
    if (this.#stopping) {
      return Promise.reject(new Error("A stopped AdminServer cannot start again"));
    }
    this.#starting ??= this.#listen();
    return this.#starting;
  }

  /** Ends event streams and long polls, closes the socket. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #listen(): Promise<void> {
    // String-literal imports, so `bun build --compile` bundles both adapters.
    const { serveHttp } = "Bun" in globalThis
      ? await import("../adapter/bun/serve.ts")
      : await import("../adapter/deno/serve.ts");
    try {
      this.#listener = await serveHttp({
        hostname: this.host,
        port: this.#requestedPort,
        handler: this.#handler,
        maxRequestBodyBytes: this.#maxBodyBytes,
        onError: this.#onError,
      });
    } catch (error) {
      if ((error as { code?: unknown })?.code === "EADDRINUSE") {
        throw new AdminPortInUseError(this.host, this.#requestedPort, { cause: error });
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Cannot serve the admin endpoint on ${this.host}:${this.#requestedPort}: ${reason}`,
        {
          cause: error,
        },
      );
    }
  }

  async #shutdown(): Promise<void> {
    await this.#starting?.catch(() => {});
    this.#handler.close();
    await this.#listener?.stop();
  }
}
