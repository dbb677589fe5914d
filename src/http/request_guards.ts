import ipaddr from "ipaddr.js";
import type { Context, MiddlewareHandler } from "hono";
import type { Principal } from "./auth_guard.ts";
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
 * Refuses state-changing requests (POST, PUT, PATCH, DELETE) sent by another site's page with the
 * browser's own credentials (the session cookie): a form there could otherwise start downloads or
 * an update. Browsers always send `Origin` with such requests; scripts send none and pass. A
 * request authenticated by a valid API token names its credential itself, so it may come from
 * anywhere (the token bookmarklet runs on the video's site). Any other `Authorization` header,
 * with logins off included, is no credential and earns nothing.
 */
export function sameOriginWrites(allowedOrigins: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedOrigins);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (
      !["GET", "HEAD", "OPTIONS"].includes(c.req.method) && origin !== undefined &&
      !heldToken(c) &&
      !allowed.has(origin) && !sameHost(origin, c.req.url)
    ) {
      throw new RequestError(403, "origin_not_allowed", `requests from ${origin} are not accepted`);
    }
    await next();
  };
}

/** True when the auth guard authenticated the request by an API token. */
function heldToken(c: Context): boolean {
  return (c.get("principal") as Principal | undefined)?.credential?.kind === "token";
}

function sameHost(origin: string, requestUrl: string): boolean {
  try {
    return new URL(origin).host === new URL(requestUrl).host;
  } catch {
    return false;
  }
}

/**
 * CORS for requests authenticated by a valid API token (never cookies): any site may call the API
 * with a token, as the token bookmarklet does from the video's page, and learns when its token is
 * refused. Preflights are answered here; they reveal nothing but the allowed headers.
 */
export function tokenCors(): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin === undefined || !c.req.path.startsWith("/api/")) return await next();
    if (c.req.method === "OPTIONS") {
      return c.body(null, 204, {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
        "Access-Control-Allow-Headers": "authorization, content-type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
      });
    }
    await next();
    // A refused token may read why (revoked, expired): the answer holds nothing else.
    const refusedToken = c.res.status === 401 &&
      /^Bearer\s/i.test(c.req.header("authorization") ?? "");
    if (heldToken(c) || refusedToken) {
      c.res.headers.set("Access-Control-Allow-Origin", origin);
      c.res.headers.append("Vary", "Origin");
    }
  };
}
