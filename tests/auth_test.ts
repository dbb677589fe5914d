// Logins, tokens and scopes on every route and both sockets, the setup link, sessions, CORS for
// tokens, and rate limits.
import assert from "node:assert/strict";
import { join } from "node:path";
import { rawRequest, upgradeLines } from "./fixtures/raw_http.ts";
import { startService, type TestService } from "./fixtures/service.ts";

const PASSWORD = "correct horse battery";
const DAY = 86400_000;

type Need = "public" | "read" | "download" | "admin";

/**
 * What each route should need, written out here rather than taken from the guard, so a route added
 * without a decision (or a rule that slipped) fails below.
 */
const EXPECTED: Record<string, Need> = {
  "GET /": "read",
  "GET /static/*": "public",
  "GET /favicon.ico": "public",
  "GET /login": "public",
  "GET /setup": "public",
  "GET /manifest.webmanifest": "public",
  "GET /share": "public",
  "GET /healthz": "public",
  "GET /openapi.json": "public",
  "GET /docs": "public",
  "GET /ws-messages.schema.json": "public",
  "POST /auth/login": "public",
  "POST /auth/logout": "public",
  "POST /auth/setup": "public",
  "GET /api/v1/session": "public",
  "GET /metrics": "read",
  "GET /api/v1/downloads": "read",
  "GET /api/v1/download/:id": "read",
  "GET /api/v1/download/:id/file": "read",
  "GET /api/v1/download/:id/thumbnail": "read",
  "GET /api/v1/ytdlp": "read",
  "GET /ws/downloads": "read",
  "GET /ws/download/:id": "read",
  "POST /api/v1/download": "download",
  "POST /api/v1/download/:id/retry": "download",
  "DELETE /api/v1/download/:id": "download",
  "GET /api/v1/formats": "download",
  "POST /api/v1/ytdlp/update": "admin",
  "POST /api/v1/ytdlp/rollback": "admin",
  "GET /api/v1/cookies": "admin",
  "PUT /api/v1/cookies": "admin",
  "DELETE /api/v1/cookies": "admin",
  "GET /api/v1/tokens": "admin",
  "POST /api/v1/tokens": "admin",
  "DELETE /api/v1/tokens/:id": "admin",
  "GET /api/v1/webhooks": "admin",
  "POST /api/v1/webhooks": "admin",
  "GET /api/v1/webhooks/:id": "admin",
  "DELETE /api/v1/webhooks/:id": "admin",
  "GET /api/v1/webhooks/:id/deliveries": "admin",
  "POST /api/v1/webhooks/:id/ping": "admin",
};

/** Every method and path the app registers (middleware aside). */
function routesOf(service: TestService): string[] {
  const routes = new Set<string>();
  for (const route of service.app.routes) {
    if (route.method !== "ALL") routes.add(`${route.method} ${route.path}`);
  }
  return [...routes];
}

function concrete(path: string): string {
  return path.replace(":id", "abc123").replace("*", "style.css");
}

async function token(service: TestService, scopes: string[], days: number | null = null) {
  const { token } = await service.auth.createToken(
    scopes.join("+") || "none",
    scopes as never,
    days === null ? null : new Date(Date.now() + days * DAY),
  );
  return token;
}

function call(service: TestService, key: string, headers: Record<string, string> = {}) {
  const [method, path] = key.split(" ");
  return service.app.request(concrete(path), { method, headers });
}

Deno.test("every route and both sockets refuse no credentials, a wrong scope, an expired and a revoked token", async () => {
  let clock = Date.now();
  await using service = await startService({
    authMode: "password",
    password: PASSWORD,
    now: () => clock,
  });
  const routes = routesOf(service);
  const undecided = routes.filter((route) => !(route in EXPECTED));
  assert.deepEqual(undecided, [], "every route has an expected scope in this test");
  const missing = Object.keys(EXPECTED).filter((route) => !routes.includes(route));
  assert.deepEqual(missing, [], "every route this test expects is served");

  const expiring = await token(service, ["read", "download", "admin"], 1);
  const revoked = await token(service, ["read", "download", "admin"]);
  const revokedId = revoked.split("_")[1];
  assert.equal(await service.auth.revokeToken(revokedId), true);
  clock += 2 * DAY;
  const allButOne: Record<string, string> = {};
  for (const scope of ["read", "download", "admin"]) {
    allButOne[scope] = await token(
      service,
      ["read", "download", "admin"].filter((s) => s !== scope),
    );
  }

  for (const route of routes) {
    const need = EXPECTED[route];
    const anonymous = await call(service, route);
    if (need === "public") {
      assert.ok(![401, 403].includes(anonymous.status), `${route} is public: ${anonymous.status}`);
      continue;
    }
    if (route === "GET /") {
      assert.equal(anonymous.status, 302);
      assert.equal(anonymous.headers.get("location"), "/login");
    } else {
      assert.equal(anonymous.status, 401, `${route} without credentials`);
      assert.equal((await anonymous.json()).error.code, "unauthorized");
      assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Bearer /);
    }

    const wrong = await call(service, route, { authorization: `Bearer ${allButOne[need]}` });
    assert.equal(wrong.status, 403, `${route} with a token lacking '${need}'`);
    const body = await wrong.json();
    assert.equal(body.error.code, "forbidden");
    assert.match(body.error.message, new RegExp(`'${need}'`));

    for (const [label, value] of [["expired", expiring], ["revoked", revoked]]) {
      const refused = await call(service, route, { authorization: `Bearer ${value}` });
      assert.equal(refused.status, 401, `${route} with an ${label} token`);
      assert.equal((await refused.json()).error.code, "invalid_token");
    }

    const right = await token(service, [need]);
    const allowed = await call(service, route, { authorization: `Bearer ${right}` });
    const text = await allowed.text();
    assert.ok(![401, 403].includes(allowed.status), `${route} with '${need}': ${text}`);
  }

  // The sockets, over the wire: browsers send the token in the URL, scripts in the header.
  const port = Number(new URL(service.origin).port);
  const host = `127.0.0.1:${port}`;
  for (const path of ["/ws/downloads", "/ws/download/abc123"]) {
    const upgrade = (query: string, extra: string[] = []) =>
      rawRequest(port, upgradeLines(`${path}${query}`, host, extra));
    assert.equal((await upgrade("")).status, 401, `${path} without credentials`);
    assert.equal((await upgrade(`?access_token=${allButOne.read}`)).status, 403);
    assert.equal((await upgrade(`?access_token=${expiring}`)).status, 401);
    assert.equal((await upgrade(`?access_token=${revoked}`)).status, 401);
    assert.equal((await upgrade("", [`Authorization: Bearer ${revoked}`])).status, 401);
    const reader = await token(service, ["read"]);
    assert.equal(
      (await upgrade(`?access_token=${reader}`)).status,
      101,
    );
    assert.equal(
      (await upgrade("", [`Authorization: Bearer ${reader}`])).status,
      101,
    );
  }
});

Deno.test("a socket opened with a token or a session streams tasks; the URL's token never reaches the logs", async () => {
  await using service = await startService({ authMode: "password", password: PASSWORD });
  const reader = await token(service, ["read"]);
  const socket = new WebSocket(service.wsUrl(`/ws/downloads?access_token=${reader}`));
  const summary = await new Promise<{ type: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message within 10 s")), 10_000);
    socket.onmessage = (event) => {
      clearTimeout(timer);
      resolve(JSON.parse(event.data));
    };
    socket.onerror = () => reject(new Error("socket failed"));
  });
  assert.equal(summary.type, "summary");
  socket.close();

  const login = await service.app.request("/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ password: PASSWORD }),
  });
  const cookie = login.headers.get("set-cookie")!.split(";")[0];
  const port = Number(new URL(service.origin).port);
  const upgrade = await rawRequest(
    port,
    upgradeLines("/ws/downloads", `127.0.0.1:${port}`, [
      `Cookie: ${cookie}`,
      `Origin: ${service.origin}`,
    ]),
  );
  assert.equal(upgrade.status, 101);
  // The secret is everything after `ytdl_<id>_` (it may itself contain underscores).
  const secret = reader.replace(/^ytdl_[A-Za-z0-9]+_/, "");
  assert.ok(secret.length >= 32, secret);
  assert.ok(!service.logs.some((line) => line.includes(secret)));
});

Deno.test("login: wrong password refused, cookie HttpOnly and Lax (Secure behind https), logout ends the session", async () => {
  await using service = await startService({ authMode: "password", password: PASSWORD });
  const login = (password: string, headers: Record<string, string> = {}) =>
    service.app.request("/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ password }),
    });
  const wrong = await login("not the password");
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error.code, "invalid_password");
  assert.equal(wrong.headers.get("set-cookie"), null);

  const ok = await login(PASSWORD);
  assert.equal(ok.status, 204);
  const setCookie = ok.headers.get("set-cookie")!;
  assert.match(setCookie, /^ytdl_session=[\w-]+\.[\w-]+;/);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Lax/);
  assert.doesNotMatch(setCookie, /Secure/, "plain http: a Secure cookie would never come back");
  const behindTls = await login(PASSWORD, { "x-forwarded-proto": "https" });
  assert.match(behindTls.headers.get("set-cookie")!, /Secure/);

  const cookie = setCookie.split(";")[0];
  const list = await service.app.request("/api/v1/downloads", { headers: { cookie } });
  assert.equal(list.status, 200);
  const session = await (await service.app.request("/api/v1/session", { headers: { cookie } }))
    .json();
  assert.deepEqual(
    { kind: session.kind, scopes: session.scopes, authenticated: session.authenticated },
    { kind: "session", scopes: ["read", "download", "admin"], authenticated: true },
  );

  // Another site's page posting with the user's cookie is refused; the page's own origin is not.
  const foreign = await service.app.request("/api/v1/download", {
    method: "POST",
    headers: { cookie, origin: "https://evil.example", "content-type": "application/json" },
    body: JSON.stringify({ url: "http://127.0.0.1:1/x" }),
  });
  assert.equal(foreign.status, 403);
  assert.equal((await foreign.json()).error.code, "origin_not_allowed");
  assert.equal(service.manager.list(10).tasks.length, 0);
  const own = await service.app.request("http://127.0.0.1/api/v1/tokens", {
    method: "POST",
    headers: { cookie, origin: "http://127.0.0.1", "content-type": "application/json" },
    body: JSON.stringify({ name: "ci", scopes: ["read"] }),
  });
  assert.equal(own.status, 201);

  const logout = await service.app.request("/auth/logout", {
    method: "POST",
    headers: { cookie },
  });
  assert.equal(logout.status, 204);
  assert.match(logout.headers.get("set-cookie")!, /ytdl_session=;.*Max-Age=0/);
  const after = await service.app.request("/api/v1/downloads", { headers: { cookie } });
  assert.equal(after.status, 401, "the old cookie is dead even if a browser kept it");
});

Deno.test("setup link: sets the first password once, stored only as a scrypt hash, file private", async () => {
  await using service = await startService({ authMode: "password" });
  const setup = (token: string, password: string) =>
    service.app.request("/auth/setup", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, password }),
    });
  const before = await (await service.app.request("/api/v1/session")).json();
  assert.equal(before.setup_needed, true);
  assert.equal(before.authenticated, false);

  const secret = service.setupToken()!;
  assert.equal((await setup("wrong", PASSWORD)).status, 403);
  const short = await setup(secret, "short");
  assert.equal(short.status, 422);
  assert.match((await short.json()).error.message, /at least 8/);
  const done = await setup(secret, PASSWORD);
  assert.equal(done.status, 204);
  assert.match(done.headers.get("set-cookie")!, /ytdl_session=/, "logged in right away");
  const again = await setup(secret, "another password");
  assert.equal(again.status, 409);
  assert.equal((await again.json()).error.code, "already_set");

  const file = join(service.dataDir, "auth.json");
  const text = await Deno.readTextFile(file);
  assert.ok(!text.includes(PASSWORD));
  assert.match(text, /scrypt/);
  assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  const login = await service.app.request("/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ password: PASSWORD }),
  });
  assert.equal(login.status, 204);
});

Deno.test("tokens: shown once, stored hashed, last use noted, expiry and scopes validated, revoked in one call", async () => {
  await using service = await startService({ authMode: "password", password: PASSWORD });
  const admin = await token(service, ["admin"]);
  const api = (path: string, init: RequestInit = {}) =>
    service.app.request(path, {
      ...init,
      headers: {
        authorization: `Bearer ${admin}`,
        "content-type": "application/json",
        ...init.headers,
      },
    });
  const created = await api("/api/v1/tokens", {
    method: "POST",
    body: JSON.stringify({ name: "nightly script", scopes: ["read", "download"] }),
  });
  assert.equal(created.status, 201);
  const made = await created.json();
  assert.match(made.token, /^ytdl_[A-Za-z0-9]+_[\w-]{40,}$/);
  assert.deepEqual(made.scopes, ["read", "download"]);
  assert.equal(made.expires_at, null);
  assert.equal(made.last_used_at, null);

  // The whole secret (it may itself hold "_"), never a piece short enough to occur by chance.
  const secret = made.token.slice(`ytdl_${made.id}_`.length);
  assert.ok(made.token.startsWith(`ytdl_${made.id}_`) && secret.length >= 40);
  const listed = await (await api("/api/v1/tokens")).json();
  const mine = listed.find((t: { id: string }) => t.id === made.id);
  assert.equal(mine.name, "nightly script");
  assert.ok(!JSON.stringify(listed).includes(secret), "never shown again");
  assert.ok(!("hash" in mine));
  const stored = await Deno.readTextFile(join(service.dataDir, "auth.json"));
  assert.ok(!stored.includes(secret), "only a hash on disk");

  const used = await service.app.request("/api/v1/downloads", {
    headers: { authorization: `Bearer ${made.token}` },
  });
  assert.equal(used.status, 200);
  const afterUse = (await (await api("/api/v1/tokens")).json())
    .find((t: { id: string }) => t.id === made.id);
  assert.ok(afterUse.last_used_at !== null);

  for (
    const bad of [
      { name: "", scopes: ["read"] },
      { name: "x", scopes: [] },
      { name: "x", scopes: ["root"] },
      { name: "x", scopes: ["read"], expires_in_days: 0 },
      { name: "x", scopes: ["read"], extra: true },
    ]
  ) {
    const response = await api("/api/v1/tokens", { method: "POST", body: JSON.stringify(bad) });
    assert.equal(response.status, 422, JSON.stringify(bad));
    assert.equal((await response.json()).error.code, "validation_failed");
  }
  const expiring = await (await api("/api/v1/tokens", {
    method: "POST",
    body: JSON.stringify({ name: "week", scopes: ["read"], expires_in_days: 7 }),
  })).json();
  const days = (Date.parse(expiring.expires_at) - Date.now()) / DAY;
  assert.ok(days > 6.9 && days <= 7, `expires in ${days} days`);

  const revoke = await api(`/api/v1/tokens/${made.id}`, { method: "DELETE" });
  assert.equal(revoke.status, 204);
  assert.equal((await api(`/api/v1/tokens/${made.id}`, { method: "DELETE" })).status, 404);
  const gone = await service.app.request("/api/v1/downloads", {
    headers: { authorization: `Bearer ${made.token}` },
  });
  assert.equal(gone.status, 401);
  assert.equal(service.auth.tokens().length, 2, "the admin token and the weekly one");
});

Deno.test("CORS: other sites may call the API with a token, never with the cookie, and a fake bearer earns nothing", async () => {
  for (const mode of ["password", "none"] as const) {
    await using service = await startService({ authMode: mode, password: PASSWORD });
    const origin = "https://video.example";
    const preflight = await service.app.request("/api/v1/download", {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), origin);
    assert.match(preflight.headers.get("access-control-allow-headers")!, /authorization/);

    // A header that is no valid token: with logins off the service would otherwise grant all.
    const fake = await service.app.request("/api/v1/download", {
      method: "POST",
      headers: {
        origin,
        authorization: "Bearer nothing",
        "content-type": "application/json",
      },
      body: JSON.stringify({ url: "http://127.0.0.1:1/x" }),
    });
    assert.equal(fake.status, mode === "none" ? 403 : 401, mode);
    // With logins on, the caller may read why its token was refused, and nothing else.
    assert.equal(
      fake.headers.get("access-control-allow-origin"),
      mode === "none" ? null : origin,
      mode,
    );
    if (mode === "password") {
      assert.equal((await fake.json()).error.code, "invalid_token");
    }
    const read = await service.app.request("/api/v1/downloads", {
      headers: { origin, authorization: "Bearer nothing" },
    });
    // Never the list itself: with logins off it is answered but not readable by the other site.
    assert.equal(read.status, mode === "none" ? 200 : 401);
    if (mode === "none") assert.equal(read.headers.get("access-control-allow-origin"), null);
    await read.body?.cancel();
    assert.equal(service.manager.list(10).tasks.length, 0);

    if (mode === "password") {
      const real = await token(service, ["read", "download"]);
      const listed = await service.app.request("/api/v1/downloads", {
        headers: { origin, authorization: `Bearer ${real}` },
      });
      assert.equal(listed.status, 200);
      assert.equal(listed.headers.get("access-control-allow-origin"), origin);
      assert.equal(listed.headers.get("access-control-allow-credentials"), null);
    }
  }
});

Deno.test("rate limits: RateLimit headers count down per token, 429 with Retry-After, other callers unaffected", async () => {
  await using service = await startService({
    authMode: "password",
    password: PASSWORD,
    rateSubmit: "2/60",
    rateFormats: "1/30",
    rateLogin: "3/300",
  });
  const [first, second] = [await token(service, ["download"]), await token(service, ["download"])];
  const submit = (bearer: string) =>
    service.app.request("/api/v1/download", {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify({ url: "not a url" }),
    });
  const answers = [await submit(first), await submit(first), await submit(first)];
  assert.deepEqual(answers.map((r) => r.status), [422, 422, 429]);
  for (const response of answers) {
    assert.equal(response.headers.get("ratelimit-policy"), '"submit";q=2;w=60');
  }
  assert.match(answers[0].headers.get("ratelimit")!, /^"submit";r=1;t=\d+$/);
  assert.match(answers[1].headers.get("ratelimit")!, /^"submit";r=0;t=\d+$/);
  const limited = await answers[2].json();
  assert.equal(limited.error.code, "rate_limited");
  const retryAfter = Number(answers[2].headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  assert.equal((await submit(second)).status, 422, "another token has its own budget");

  const formats = (bearer: string) =>
    service.app.request("/api/v1/formats?url=ftp%3A%2F%2Fx", {
      headers: { authorization: `Bearer ${bearer}` },
    });
  assert.equal((await formats(first)).status, 422);
  const formatsLimited = await formats(first);
  assert.equal(formatsLimited.status, 429);
  assert.equal(formatsLimited.headers.get("ratelimit-policy"), '"formats";q=1;w=30');

  const login = () =>
    service.app.request("/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password: "guessing" }),
    });
  const guesses = [await login(), await login(), await login(), await login()];
  assert.deepEqual(guesses.map((r) => r.status), [401, 401, 401, 429], "password guessing");
});

Deno.test("the page: without a session it sends you to the login, carrying a shared link along", async () => {
  await using service = await startService({ authMode: "password", password: PASSWORD });
  const shared = await service.app.request(
    "/share?title=Clip&text=" + encodeURIComponent("Look at this https://video.example/v/1 !"),
  );
  assert.equal(shared.status, 303);
  const target = shared.headers.get("location")!;
  assert.equal(target, `/?share=${encodeURIComponent("https://video.example/v/1")}`);
  const page = await service.app.request(target);
  assert.equal(page.status, 302);
  assert.equal(page.headers.get("location"), `/login?next=${encodeURIComponent(target)}`);
  assert.equal(service.manager.list(10).tasks.length, 0, "sharing alone fetches nothing");

  const manifest = await service.app.request("/manifest.webmanifest");
  assert.equal(manifest.headers.get("content-type"), "application/manifest+json");
  const json = await manifest.json();
  assert.equal(json.share_target.action, "/share");
  assert.equal(json.share_target.method, "GET");
});
