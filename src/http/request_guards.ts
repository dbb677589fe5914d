import ipaddr from "ipaddr.js";
import type { MiddlewareHandler } from "hono";
import { RequestError } from "../model/errors.ts";

/** True for `localhost`, `*.localhost` and loopback addresses: names that never leave the machine. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  try {
    return ipaddr.process(name).range() === "loopback";
  } catch {
    return false;
  }
}

/**
 * While the service listens on loopback, refuses requests whose `Host` is any other name: a page on
 * a hostile site can point its own name at 127.0.0.1 (DNS rebinding) and would otherwise talk to
 * the service as same-origin. 421 says the request reached the wrong server.
 */
export function hostGuard(allowedHosts: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedHosts.map((host) => host.toLowerCase()));
  return async (c, next) => {
    const host = new URL(c.req.url).hostname;
    if (!isLoopbackHost(host) && !allowed.has(host.toLowerCase())) {
      throw new RequestError(
        421,
        "misdirected_request",
        `host '${host}' is not served here; add it to ALLOWED_HOSTS to reach the service by that name`,
      );
    }
    await next();
  };
}

/**
 * Refuses WebSocket handshakes from other sites' pages before the upgrade: browsers apply no CORS
 * to WebSockets, so without this any page could read every task. Clients that send no `Origin`
 * (scripts, curl) are not browsers acting for another site and pass.
 */
export function wsOriginGuard(allowedOrigins: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedOrigins);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && !allowed.has(origin) && !sameHost(origin, c.req.url)) {
      throw new RequestError(
        403,
        "origin_not_allowed",
        `pages from ${origin} may not open this WebSocket; list the origin in ALLOWED_ORIGINS to allow it`,
      );
    }
    await next();
  };
}

/**
 * Refuses state-changing requests (POST, PUT, PATCH, DELETE) sent by another site's page: a form
 * there could otherwise start downloads or an update. Browsers always send `Origin` with such
 * requests; scripts send none and pass.
 */
export function sameOriginWrites(allowedOrigins: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedOrigins);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (
      !["GET", "HEAD", "OPTIONS"].includes(c.req.method) && origin !== undefined &&
      !allowed.has(origin) && !sameHost(origin, c.req.url)
    ) {
      throw new RequestError(403, "origin_not_allowed", `requests from ${origin} are not accepted`);
    }
    await next();
  };
}

function sameHost(origin: string, requestUrl: string): boolean {
  try {
    return new URL(origin).host === new URL(requestUrl).host;
  } catch {
    return false;
  }
}
