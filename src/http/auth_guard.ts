import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AuthStore, Credential } from "../auth/auth_store.ts";
import { type Scope, SCOPES } from "../auth/scopes.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "ytdl_session";

/** `none`: anyone who reaches the service may do anything; `password`: a login or a token. */
export type AuthMode = "none" | "password";

/** Who a request is from, once authenticated. */
export interface Principal {
  credential: Credential | null;
  scopes: ReadonlySet<Scope>;
  /** What rate limits count against: the token, the session, or the client's address. */
  key: string;
}

type Need = Scope | "public";

/**
 * What each route needs, first match wins. Reading (tasks, files, sockets, metrics) needs `read`;
 * anything that makes the service fetch or delete needs `download`; what changes the service
 * itself (yt-dlp, cookies, tokens, webhooks) needs `admin`. The page, its assets, logging in and
 * the API description are public.
 */
const RULES: [method: string, path: RegExp, need: Need][] = [
  // CORS preflights carry no credentials; they only learn which headers may be sent.
  ["OPTIONS", /.*/, "public"],
  [
    "GET",
    /^\/(static\/.*|login|setup|share|manifest\.webmanifest|favicon\.ico|openapi\.json|docs|ws-messages\.schema\.json)$/,
    "public",
  ],
  ["POST", /^\/auth\/(login|logout|setup)$/, "public"],
  ["GET", /^\/(healthz|api\/v1\/session)$/, "public"],
  ["*", /^\/api\/v1\/(tokens|webhooks|cookies)(\/.*)?$/, "admin"],
  ["POST", /^\/api\/v1\/ytdlp\/(update|rollback)$/, "admin"],
  ["GET", /^\/api\/v1\/formats$/, "download"],
  ["POST", /^\/api\/v1\/download(\/[^/]+\/retry)?$/, "download"],
  ["DELETE", /^\/api\/v1\/download\/[^/]+$/, "download"],
  ["*", /.*/, "read"],
];

/** The scope a request needs, or `public`. */
export function needOf(method: string, path: string): Need {
  const verb = method === "HEAD" ? "GET" : method;
  for (const [m, pattern, need] of RULES) {
    if ((m === "*" || m === verb) && pattern.test(path)) return need;
  }
  return "read";
}

/** Reads the credential a request carries: a bearer token, else the session cookie. */
function credentialOf(
  c: Context,
  store: AuthStore,
): { credential: Credential | null; bad: boolean } {
  const header = c.req.header("authorization");
  // Browsers cannot set headers on a WebSocket: sockets may carry the token in the URL instead.
  const query = c.req.path.startsWith("/ws/") ? c.req.query("access_token") : undefined;
  const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? query;
  if (bearer !== undefined) {
    const credential = store.token(bearer);
    return { credential, bad: credential === null };
  }
  const cookie = getCookie(c, SESSION_COOKIE);
  if (cookie !== undefined) {
    const credential = store.session(cookie);
    return { credential, bad: false };
  }
  return { credential: null, bad: false };
}

/** The client's address, for rate limits of anonymous requests. */
export function clientAddress(c: Context): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname ?? "local";
}

/**
 * Authenticates every request and enforces the route's scope: 401 without a valid credential
 * (the page itself redirects to /login instead), 403 when the credential lacks the scope. The
 * principal is left on the context for rate limits and logs.
 */
export function authGuard(mode: AuthMode, store: AuthStore): MiddlewareHandler {
  return async (c, next) => {
    const need = needOf(c.req.method, c.req.path);
    const { credential, bad } = mode === "none"
      ? { credential: null, bad: false }
      : credentialOf(c, store);
    const scopes = new Set<Scope>(mode === "none" ? SCOPES : credential?.scopes ?? []);
    const key = credential ? `${credential.kind}:${credential.id}` : `addr:${clientAddress(c)}`;
    c.set("principal", { credential, scopes, key } satisfies Principal);
    if (need === "public" || scopes.has(need)) return await next();
    if (credential === null) {
      if (c.req.method === "GET" && c.req.path === "/" && !bad) {
        const url = new URL(c.req.url);
        const next = url.search ? `?next=${encodeURIComponent(`/${url.search}`)}` : "";
        return c.redirect(`/login${next}`, 302);
      }
      c.header("WWW-Authenticate", 'Bearer realm="ytdl-live"');
      return c.json({
        error: bad
          ? { code: "invalid_token", message: "the token is unknown, revoked or expired" }
          : {
            code: "unauthorized",
            message: "log in, or send a token: Authorization: Bearer <token>",
          },
      }, 401);
    }
    return c.json({
      error: {
        code: "forbidden",
        message: `this ${credential.kind} lacks the '${need}' scope`,
      },
    }, 403);
  };
}

/** The principal the guard left on the context. */
export function principalOf(c: Context): Principal {
  return c.get("principal") as Principal;
}
