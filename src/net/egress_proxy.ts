import { timingSafeEqual } from "node:crypto";
import { closeQuietly, writeAll } from "../conn_io.ts";
import type { AddressPolicy } from "./address_policy.ts";
import { hostOf, resolveAllowed, type Resolver, UrlRejectedError } from "./url_policy.ts";

/** What a run hears from the proxy about its own connections. */
export interface EgressEvents {
  /** A connection was refused by the URL policy; `message` names the host and the reason. */
  onRefused(host: string, message: string): void;
  /** A host could not be reached (not found, refused, timed out: deliberately not told apart). */
  onUnreachable(host: string): void;
}

/** One run's use of the proxy; disposing it revokes the credential and cuts its connections. */
export interface EgressSession extends Disposable {
  /** `http://<id>:<token>@127.0.0.1:<port>`, for yt-dlp's `--proxy` (yt-dlp hands it to ffmpeg). */
  readonly proxyUrl: string;
  /** Text that must not be shown to users (the credential appears in yt-dlp's proxy errors). */
  readonly secret: string;
  /** Bytes received from remote hosts so far: what the run downloaded, whichever program asked. */
  readonly bytesReceived: number;
}

/** The part of the proxy a download needs. */
export interface Egress {
  open(events: EgressEvents): EgressSession;
}

/** Settings of the proxy; the resolver and policy are the ones the submit check uses. */
export interface EgressProxyOptions {
  policy: AddressPolicy;
  resolve: Resolver;
  /** How long a connection to a remote host may take to open. */
  connectTimeoutMs?: number;
}

interface Session {
  token: Uint8Array;
  closed: boolean;
  received: number;
  events: EgressEvents;
  connections: Set<Deno.Conn>;
}

interface Head {
  lines: string[];
  rest: Uint8Array;
}

const MAX_HEAD_BYTES = 64 * 1024;
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
]);
const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();

/**
 * A forward proxy on loopback through which yt-dlp and its ffmpeg make every connection, so that
 * the URL policy holds for redirects, media URLs found in pages, manifest segments and each later
 * DNS answer alike. It resolves a name once, checks every address, and connects only to an address
 * it checked. `CONNECT` carries https (TLS stays end to end); absolute-form requests carry http,
 * one request per connection. Only runs holding a current credential may use it.
 */
export class EgressProxy implements Egress, AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #options: Required<EgressProxyOptions>;
  readonly #sessions = new Map<string, Session>();
  readonly #accepting: Promise<void>;

  private constructor(listener: Deno.TcpListener, options: EgressProxyOptions) {
    this.#listener = listener;
    this.#options = { ...options, connectTimeoutMs: options.connectTimeoutMs ?? 10_000 };
    this.#accepting = this.#accept();
  }

  /** Starts listening on a free loopback port. */
  static listen(options: EgressProxyOptions): EgressProxy {
    return new EgressProxy(Deno.listen({ hostname: "127.0.0.1", port: 0 }), options);
  }

  /** The loopback port, for tests. */
  get port(): number {
    return this.#listener.addr.port;
  }

  open(events: EgressEvents): EgressSession {
    const id = crypto.randomUUID();
    const token = Array.from(crypto.getRandomValues(new Uint8Array(24)), hex).join("");
    const session: Session = {
      token: encoder.encode(token),
      closed: false,
      received: 0,
      events,
      connections: new Set(),
    };
    this.#sessions.set(id, session);
    return {
      proxyUrl: `http://${id}:${token}@127.0.0.1:${this.port}`,
      secret: token,
      get bytesReceived() {
        return session.received;
      },
      [Symbol.dispose]: () => {
        this.#sessions.delete(id);
        session.closed = true;
        for (const conn of session.connections) closeQuietly(conn);
        session.connections.clear();
      },
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    closeQuietly(this.#listener);
    for (const session of this.#sessions.values()) {
      for (const conn of session.connections) closeQuietly(conn);
    }
    this.#sessions.clear();
    await this.#accepting;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#handle(conn).catch(() => closeQuietly(conn));
      }
    } catch {
      // The listener was closed.
    }
  }

  async #handle(client: Deno.TcpConn): Promise<void> {
    const head = await readHead(client);
    if (head === null) return closeQuietly(client);
    const [method = "", target = ""] = head.lines[0].split(" ");
    const session = this.#authenticate(header(head.lines, "proxy-authorization"));
    if (session === null) {
      return await reply(
        client,
        407,
        "proxy credentials required",
        'Proxy-Authenticate: Basic realm="ytdl-live"\r\n',
      );
    }
    session.connections.add(client);
    const url = targetUrl(method, target);
    if (url === null) return await reply(client, 400, "unsupported proxy request");

    const host = hostOf(url);
    let addresses: string[];
    try {
      addresses = await resolveAllowed(host, this.#options.policy, this.#options.resolve);
    } catch (error) {
      if (error instanceof UrlRejectedError) {
        session.events.onRefused(host, error.message);
        return await reply(client, 403, error.message);
      }
      // Not found, like every failure to reach a host, gets one answer that reveals nothing.
      session.events.onUnreachable(host);
      return await reply(client, 502, `could not reach '${host}'`);
    }
    const port = Number(url.port || 80);
    const upstream = await this.#connect(addresses, port);
    if (upstream === null) {
      session.events.onUnreachable(host);
      return await reply(client, 502, `could not reach '${host}'`);
    }
    if (session.closed) {
      closeQuietly(upstream);
      return closeQuietly(client);
    }
    session.connections.add(upstream);
    try {
      if (method === "CONNECT") {
        await writeAll(client, encoder.encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
        await writeAll(upstream, head.rest);
        await tunnel(client, upstream, null, session);
      } else {
        await writeAll(upstream, encoder.encode(forwardHead(method, url, head.lines)));
        await writeAll(upstream, head.rest);
        await tunnel(client, upstream, rewriteResponseHead, session);
      }
    } finally {
      session.connections.delete(upstream);
      session.connections.delete(client);
      closeQuietly(upstream);
      closeQuietly(client);
    }
  }

  #authenticate(value: string | null): Session | null {
    const match = value?.match(/^Basic\s+([A-Za-z0-9+/=]+)$/i);
    if (!match) return null;
    let decoded: string;
    try {
      decoded = atob(match[1]);
    } catch {
      return null;
    }
    const colon = decoded.indexOf(":");
    const session = this.#sessions.get(decoded.slice(0, colon));
    if (colon < 0 || !session) return null;
    const given = encoder.encode(decoded.slice(colon + 1));
    return given.length === session.token.length && timingSafeEqual(given, session.token)
      ? session
      : null;
  }

  async #connect(addresses: string[], port: number): Promise<Deno.TcpConn | null> {
    for (const hostname of addresses) {
      const attempt = Deno.connect({ hostname, port });
      const timer = Promise.withResolvers<null>();
      const id = setTimeout(() => timer.resolve(null), this.#options.connectTimeoutMs);
      try {
        const conn = await Promise.race([attempt, timer.promise]);
        if (conn !== null) return conn;
        attempt.then(closeQuietly, () => {});
      } catch {
        // Refused, unreachable: try the next address; the caller says only "could not reach".
      } finally {
        clearTimeout(id);
      }
    }
    return null;
  }
}

/** The destination of a proxy request: `CONNECT host:port`, or an absolute `http://` URL. */
function targetUrl(method: string, target: string): URL | null {
  try {
    if (method === "CONNECT") {
      const url = new URL(`http://${target}`);
      const plain = url.pathname === "/" && !url.search && !url.username && !url.password;
      return plain && /:\d+$/.test(target) ? url : null;
    }
    const url = new URL(target);
    return url.protocol === "http:" && !/\s/.test(method) && method !== "" ? url : null;
  } catch {
    return null;
  }
}

/** The request as the origin server should see it: origin-form, no proxy headers, one request. */
function forwardHead(method: string, url: URL, lines: string[]): string {
  const dropped = connectionTokens(lines);
  const kept = lines.slice(1).filter((line) => {
    const name = line.slice(0, line.indexOf(":")).trim().toLowerCase();
    return name !== "" && !HOP_BY_HOP.has(name) && !dropped.has(name);
  });
  if (!kept.some((line) => /^host\s*:/i.test(line))) kept.unshift(`Host: ${url.host}`);
  return `${method} ${url.pathname}${url.search} HTTP/1.1\r\n${
    kept.join("\r\n")
  }\r\nConnection: close\r\n\r\n`;
}

/** The origin's response head with its connection headers replaced by `Connection: close`. */
function rewriteResponseHead(lines: string[]): string {
  const dropped = connectionTokens(lines);
  const kept = lines.slice(1).filter((line) => {
    const name = line.slice(0, line.indexOf(":")).trim().toLowerCase();
    return !["connection", "keep-alive", "proxy-connection"].includes(name) && !dropped.has(name);
  });
  return `${[lines[0], ...kept].join("\r\n")}\r\nConnection: close\r\n\r\n`;
}

function connectionTokens(lines: string[]): Set<string> {
  const value = header(lines, "connection") ?? "";
  return new Set(value.split(",").map((t) => t.trim().toLowerCase()).filter(Boolean));
}

function header(lines: string[], name: string): string | null {
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) {
      return line.slice(colon + 1).trim();
    }
  }
  return null;
}

/** Reads up to the blank line that ends an HTTP head; null on EOF or an oversized head. */
async function readHead(conn: Deno.Conn): Promise<Head | null> {
  let data = new Uint8Array(0);
  const buffer = new Uint8Array(16 * 1024);
  while (data.length <= MAX_HEAD_BYTES) {
    const end = indexOfBlankLine(data);
    if (end >= 0) {
      return {
        lines: latin1.decode(data.subarray(0, end)).split("\r\n"),
        rest: data.slice(end + 4),
      };
    }
    const n = await conn.read(buffer);
    if (n === null) return null;
    const next = new Uint8Array(data.length + n);
    next.set(data);
    next.set(buffer.subarray(0, n), data.length);
    data = next;
  }
  return null;
}

function indexOfBlankLine(data: Uint8Array): number {
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * Copies bytes both ways until the remote side ends. With `rewrite`, the remote side's first head
 * is passed through it (http); without, bytes flow untouched (a CONNECT tunnel).
 */
async function tunnel(
  client: Deno.TcpConn,
  upstream: Deno.TcpConn,
  rewrite: ((lines: string[]) => string) | null,
  counter: { received: number },
): Promise<void> {
  const outbound = client.readable.pipeTo(upstream.writable, { preventClose: true })
    .then(() => upstream.closeWrite())
    .catch(() => {});
  try {
    if (rewrite !== null) {
      const head = await readHead(upstream);
      if (head === null) return;
      counter.received += head.rest.length;
      await writeAll(client, encoder.encode(rewrite(head.lines)));
      await writeAll(client, head.rest);
    }
    const count = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        counter.received += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    await upstream.readable.pipeThrough(count).pipeTo(client.writable, { preventClose: true });
  } catch {
    // Either side went away; the caller closes both.
  } finally {
    closeQuietly(client);
    await outbound;
  }
}

async function reply(conn: Deno.Conn, status: number, message: string, extra = ""): Promise<void> {
  const reasons: Record<number, string> = {
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    502: "Bad Gateway",
  };
  const body = encoder.encode(`${message}\n`);
  const head =
    `HTTP/1.1 ${status} ${reasons[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${body.length}\r\n${extra}Connection: close\r\n\r\n`;
  try {
    await writeAll(conn, encoder.encode(head));
    await writeAll(conn, body);
  } catch {
    // The client left first.
  } finally {
    closeQuietly(conn);
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
