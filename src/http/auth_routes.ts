import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import type { AuthStore } from "../auth/auth_store.ts";
import { type Scope, SCOPES } from "../auth/scopes.ts";
import { RequestError } from "../model/errors.ts";
import { type AuthMode, clientAddress, principalOf, SESSION_COOKIE } from "./auth_guard.ts";
import { rateLimit, type RateLimiter } from "./rate_limit.ts";
import { jsonBody, parseJson } from "./json_body.ts";

/** What the login and token routes need. */
export interface AuthRoutesDeps {
  mode: AuthMode;
  store: AuthStore;
  /** The one-time setup secret while no admin password exists, else null. */
  setupToken: () => string | null;
  /** Called once the setup link was used. */
  setupDone: () => void;
  loginLimiter: RateLimiter;
}

const passwordSchema = z.string().min(8, "must be at least 8 characters").max(1024);
export const loginSchema = z.strictObject({ password: z.string().max(1024) });
export const setupSchema = z.strictObject({ token: z.string().max(200), password: passwordSchema });
export const tokenRequestSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z.array(z.enum(SCOPES as [Scope, ...Scope[]])).min(1),
  expires_in_days: z.number().int().min(1).max(3650).nullable().default(null),
});

/** Cookies are `Secure` when the page was reached over https (directly or through a proxy). */
function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
}

async function startSession(c: Context, store: AuthStore): Promise<void> {
  const { value, expires } = await store.createSession();
  setCookie(c, SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: "Lax",
    secure: isHttps(c),
    path: "/",
    expires,
  });
}

/**
 * `POST /auth/login`, `/auth/logout`, `/auth/setup` (the one-time link printed in the log when no
 * admin password is set), `GET /api/v1/session` (who am I), and the API tokens under
 * `/api/v1/tokens`: made with a name, scopes and an optional expiry, shown once, stored hashed.
 */
export function authRoutes(deps: AuthRoutesDeps): Hono {
  const { mode, store } = deps;
  const routes = new Hono();

  routes.post(
    "/auth/login",
    rateLimit(deps.loginLimiter, (c) => `addr:${clientAddress(c)}`),
    jsonBody(),
    async (c) => {
      const { password } = await parseJson(c, loginSchema);
      if (mode === "none") throw new RequestError(409, "auth_off", "this service needs no login");
      if (!(await store.verifyPassword(password))) {
        throw new RequestError(401, "invalid_password", "that password is not right");
      }
      await startSession(c, store);
      return c.body(null, 204);
    },
  );

  routes.post("/auth/logout", async (c) => {
    const value = getCookie(c, SESSION_COOKIE);
    if (value !== undefined) await store.deleteSession(value);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.body(null, 204);
  });

  routes.post(
    "/auth/setup",
    rateLimit(deps.loginLimiter, (c) => `addr:${clientAddress(c)}`),
    jsonBody(),
    async (c) => {
      const { token, password } = await parseJson(c, setupSchema);
      const expected = deps.setupToken();
      if (expected === null) {
        throw new RequestError(409, "already_set", "an admin password is already set");
      }
      if (token !== expected) {
        throw new RequestError(403, "forbidden", "the setup link is not valid");
      }
      await store.setPassword(password);
      deps.setupDone();
      await startSession(c, store);
      return c.body(null, 204);
    },
  );

  routes.get("/api/v1/session", (c) => {
    const { credential, scopes } = principalOf(c);
    return c.json({
      auth_mode: mode,
      authenticated: mode === "none" || credential !== null,
      kind: credential?.kind ?? null,
      scopes: [...scopes],
      setup_needed: deps.setupToken() !== null,
    });
  });

  routes.post("/api/v1/tokens", jsonBody(), async (c) => {
    const { name, scopes, expires_in_days } = await parseJson(c, tokenRequestSchema);
    const expires = expires_in_days === null
      ? null
      : new Date(Date.now() + expires_in_days * 86400_000);
    const { token, view } = await store.createToken(name, scopes, expires);
    return c.json({ ...view, token }, 201);
  });

  routes.get("/api/v1/tokens", (c) => c.json(store.tokens()));

  routes.delete("/api/v1/tokens/:id", async (c) => {
    if (!(await store.revokeToken(c.req.param("id")))) {
      throw new RequestError(404, "not_found", `no token with id '${c.req.param("id")}'`);
    }
    return c.body(null, 204);
  });

  return routes;
}
