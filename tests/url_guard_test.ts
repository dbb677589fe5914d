/**
 * The URL policy on every connection. A fixture server on 127.0.0.2 plays the public site (allowed
 * through ALLOWED_PRIVATE_NETWORKS=127.0.0.2/32); it redirects to, embeds, and lists HLS segments
 * on a second server on 127.0.0.1, the "internal" one, which must never see a request.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { rawRequest, upgradeLines } from "./fixtures/raw_http.ts";
import { type FixtureServer, startFixtureServer } from "./fixtures/server.ts";
import { listFiles, sha256, startService, waitForEnd } from "./fixtures/service.ts";
import { connect } from "./fixtures/ws_client.ts";

const mediaDir = await fixtureMedia();
const PUBLIC = "127.0.0.2";
const CREDENTIALS = { user: "alice", password: "s3cret-Pa55" };

/** The internal server, and a public one that points at it in every way a page can. */
function startSites(): { internal: FixtureServer; site: FixtureServer } & AsyncDisposable {
  const internal = startFixtureServer(mediaDir);
  const port = Number(new URL(internal.origin).port);
  const hls = Deno.readTextFileSync(join(mediaDir, MEDIA.hls));
  const site = startFixtureServer(mediaDir, {
    hostname: PUBLIC,
    // The same port as the internal server, so a rebound name reaches it if the guard fails.
    port,
    extra: (request) => {
      const { pathname } = new URL(request.url);
      switch (pathname) {
        case "/redirect-internal":
          return Response.redirect(`${internal.origin}/${MEDIA.mp4}`, 302);
        case "/redirect-metadata":
          return Response.redirect("http://169.254.169.254/latest/meta-data/", 302);
        case "/redirect-mapped":
          return Response.redirect(`http://[::ffff:127.0.0.1]:${port}/${MEDIA.mp4}`, 302);
        case "/embed-internal.html":
          return new Response(
            `<!doctype html><title>Embed</title><video src="${internal.origin}/${MEDIA.mp4}"></video>`,
            { headers: { "content-type": "text/html" } },
          );
        case "/hls-internal.m3u8":
          return new Response(
            hls.replace(/^(seg\d+\.ts)$/gm, `${internal.origin}/hls/$1`),
            { headers: { "content-type": "application/vnd.apple.mpegurl" } },
          );
        case "/auth/clip.mp4": {
          const expected = `Basic ${btoa(`${CREDENTIALS.user}:${CREDENTIALS.password}`)}`;
          if (request.headers.get("authorization") !== expected) {
            return new Response("login", {
              status: 401,
              headers: { "www-authenticate": 'Basic realm="x"' },
            });
          }
          return new Response(Deno.readFileSync(join(mediaDir, MEDIA.mp4)), {
            headers: { "content-type": "video/mp4" },
          });
        }
      }
      return null;
    },
  });
  return {
    internal,
    site,
    async [Symbol.asyncDispose]() {
      await site[Symbol.asyncDispose]();
      await internal[Symbol.asyncDispose]();
    },
  };
}

const guarded = (resolve?: (host: string) => Promise<string[]>) =>
  startService({ allowedNetworks: `${PUBLIC}/32`, resolve });

Deno.test("redirects, embedded media and HLS segments pointing inside are refused on connect", async () => {
  await using sites = startSites();
  await using service = await guarded();
  for (const path of ["redirect-internal", "embed-internal.html", "hls-internal.m3u8"]) {
    const submitted = await service.submit({ url: `${sites.site.origin}/${path}` });
    const task = await waitForEnd(service.manager, submitted.task_id);
    assert.equal(task.status, "failed", path);
    assert.equal(task.error?.code, "url_not_allowed", `${path}: ${JSON.stringify(task.error)}`);
    assert.match(task.error!.message, /host '127\.0\.0\.1' is not allowed/, path);
    assert.deepEqual(await listFiles(service.manager.taskDir(task.task_id)), [], path);
  }
  const metadata = await service.submit({ url: `${sites.site.origin}/redirect-metadata` });
  const refused = await waitForEnd(service.manager, metadata.task_id);
  assert.equal(refused.error?.code, "url_not_allowed");
  assert.match(refused.error!.message, /169\.254\.169\.254 is a link-local address/);
  assert.deepEqual(sites.internal.requests, [], "the internal server saw no request");
});

Deno.test("an IPv4-mapped IPv6 redirect is judged by the IPv4 address inside it", async () => {
  await using sites = startSites();
  await using service = await guarded();
  const submitted = await service.submit({ url: `${sites.site.origin}/redirect-mapped` });
  const task = await waitForEnd(service.manager, submitted.task_id);
  assert.equal(task.error?.code, "url_not_allowed", JSON.stringify(task.error));
  assert.match(task.error!.message, /127\.0\.0\.1 \(inside ::ffff:7f00:1\) is a loopback address/);
  assert.deepEqual(sites.internal.requests, []);
});

Deno.test("IPv6 spellings of internal addresses get a 422 at submit, real public ranges do not", async () => {
  await using service = await guarded();
  const port = 8000;
  for (
    const host of [
      "[::ffff:127.0.0.1]",
      "[::ffff:a9fe:a9fe]",
      "[::7f00:1]",
      "[2002:7f00:1::]",
      "[64:ff9b::a9fe:a9fe]",
      "[::1]",
      "0x7f.1",
      "2130706433",
      "192.0.0.8",
    ]
  ) {
    const response = await service.app.request("/api/v1/download", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: `http://${host}:${port}/v.mp4` }),
    });
    const body = await response.json();
    assert.equal(response.status, 422, host);
    assert.equal(body.error.code, "url_not_allowed", host);
    assert.match(body.error.message, /ALLOWED_PRIVATE_NETWORKS/, "the message names the setting");
  }
  // 192.0.1.0/24 is ordinary public space; only 192.0.0.0/24 is special. It passes the check and
  // is then simply unreachable from this machine.
  const publicRange = await service.submit({ url: "http://192.0.1.1:9/v.mp4" });
  assert.ok(["queued", "downloading"].includes(publicRange.status), publicRange.status);
  const cancelled = await service.app.request(`/api/v1/download/${publicRange.task_id}`, {
    method: "DELETE",
  });
  await cancelled.body?.cancel();
  assert.ok(cancelled.status === 200 || cancelled.status === 204);
});

Deno.test("DNS rebinding: the name checked at submit is resolved again at connect and refused", async () => {
  await using sites = startSites();
  let lookups = 0;
  // The first answer is the allowed site, every later one the internal server (same port).
  await using service = await guarded((host) => {
    if (host !== "rebind.test") return Promise.reject(new Error("NXDOMAIN"));
    return Promise.resolve([lookups++ === 0 ? PUBLIC : "127.0.0.1"]);
  });
  const port = new URL(sites.site.origin).port;
  const submitted = await service.submit({ url: `http://rebind.test:${port}/${MEDIA.mp4}` });
  const task = await waitForEnd(service.manager, submitted.task_id);
  assert.equal(task.error?.code, "url_not_allowed", JSON.stringify(task.error));
  assert.match(
    task.error!.message,
    /'rebind\.test' is not allowed \(it resolves to 127\.0\.0\.1\)/,
  );
  assert.ok(lookups >= 2, "resolved again when connecting");
  assert.deepEqual(sites.internal.requests, []);
  assert.deepEqual(sites.site.requests, [], "nor did the public site: the name now points inside");
});

Deno.test("the allowed network downloads end to end, mp4 and HLS", async () => {
  await using sites = startSites();
  await using service = await guarded();
  const mp4 = await service.submit({ url: sites.site.url(MEDIA.mp4) });
  const hls = await service.submit({ url: sites.site.url(MEDIA.hls) });
  for (const submitted of [mp4, hls]) {
    const task = await waitForEnd(service.manager, submitted.task_id);
    assert.equal(task.status, "completed", JSON.stringify(task.error));
  }
  assert.equal(
    await sha256((await service.manager.file(mp4.task_id)).path),
    await sha256(join(mediaDir, MEDIA.mp4)),
  );
  assert.deepEqual(sites.internal.requests, []);
});

Deno.test("failures to reach a host read the same whether or not something listens there", async () => {
  await using sites = startSites();
  const free = Deno.listen({ hostname: PUBLIC, port: 0 });
  const closedPort = free.addr.port;
  free.close();
  await using service = await guarded((host) =>
    host === "gone.test" ? Promise.reject(new Error("NXDOMAIN")) : Promise.resolve([PUBLIC])
  );
  // A closed port on an allowed host, and a name that stopped resolving after submit.
  const closed = await service.submit({ url: `http://${PUBLIC}:${closedPort}/v.mp4` });
  const closedTask = await waitForEnd(service.manager, closed.task_id);
  assert.deepEqual(closedTask.error, {
    code: "unreachable",
    message: `could not reach '${PUBLIC}'`,
  });
  assert.doesNotMatch(JSON.stringify(closedTask), /refused/i);

  // Inside addresses are refused before any connection: listening or not, the answer is the same.
  const listening = new URL(sites.internal.origin).port;
  const answers = [];
  for (const port of [listening, String(closedPort)]) {
    const response = await service.app.request("/api/v1/download", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/` }),
    });
    answers.push(await response.json());
  }
  assert.deepEqual(answers[0], answers[1]);
  assert.deepEqual(sites.internal.requests, []);
});

Deno.test("credentials in a URL are used for the fetch and shown nowhere", async () => {
  await using sites = startSites();
  await using service = await guarded();
  const { user, password } = CREDENTIALS;
  const url = `http://${user}:${password}@${PUBLIC}:${
    new URL(sites.site.origin).port
  }/auth/clip.mp4`;
  await using feed = connect(service.wsUrl("/ws/downloads"));
  await feed.opened;
  const submitted = await service.submit({ url });
  assert.equal(
    submitted.url,
    `http://***@${PUBLIC}:${new URL(sites.site.origin).port}/auth/clip.mp4`,
  );
  const task = await waitForEnd(service.manager, submitted.task_id);
  assert.equal(task.status, "completed", JSON.stringify(task.error));
  assert.equal(
    await sha256((await service.manager.file(task.task_id)).path),
    await sha256(join(mediaDir, MEDIA.mp4)),
  );
  // Wrong credentials: the failure says 401 without echoing them.
  const wrong = await service.submit({ url: url.replace(password, "not-the-Pa55word") });
  const failed = await waitForEnd(service.manager, wrong.task_id);
  assert.equal(failed.status, "failed");
  await feed.next((m) => m.type === "error" && m.task_id === wrong.task_id);

  const list = await (await service.app.request("/api/v1/downloads")).text();
  const seen = [
    list,
    JSON.stringify(feed.messages),
    JSON.stringify(failed),
    ...await Promise.all((await listFiles(service.dataDir)).map(async (file) => {
      const bytes = await Deno.readFile(join(service.dataDir, file));
      return new TextDecoder("latin1").decode(bytes);
    })),
  ].join("\n");
  for (const secret of [password, "not-the-Pa55word"]) {
    assert.ok(!seen.includes(secret), `'${secret}' appears in the API, sockets or DATA_DIR`);
  }
});

Deno.test("WebSocket handshakes from other sites' pages get 403; no Origin, own and listed origins pass", async () => {
  await using service = await startService({ allowedOrigins: ["https://dash.example"] });
  const port = Number(new URL(service.origin).port);
  const host = `127.0.0.1:${port}`;
  const hostile = await rawRequest(
    port,
    upgradeLines("/ws/downloads", host, ["Origin: https://evil.example"]),
  );
  assert.equal(hostile.status, 403);
  assert.equal(JSON.parse(hostile.body).error.code, "origin_not_allowed");
  const single = await rawRequest(
    port,
    upgradeLines(`/ws/download/${crypto.randomUUID()}`, host, ["Origin: http://localhost:1"]),
  );
  assert.equal(single.status, 403);
  for (
    const extra of [[], [`Origin: http://${host}`], ["Origin: https://dash.example"]]
  ) {
    const ok = await rawRequest(port, upgradeLines("/ws/downloads", host, extra));
    assert.equal(ok.status, 101, JSON.stringify(extra));
  }
});

Deno.test("on loopback, a Host that is not a loopback name gets 421 (DNS rebinding against the API)", async () => {
  await using service = await startService({ allowedHosts: ["media.lan"] });
  const port = Number(new URL(service.origin).port);
  const get = (host: string, path = "/api/v1/downloads") =>
    rawRequest(port, [`GET ${path} HTTP/1.1`, `Host: ${host}`]);
  for (const host of ["evil.example", `evil.example:${port}`, "127.0.0.1.nip.io"]) {
    const response = await get(host);
    assert.equal(response.status, 421, host);
    assert.equal(JSON.parse(response.body).error.code, "misdirected_request");
  }
  const socket = await rawRequest(port, upgradeLines("/ws/downloads", "evil.example"));
  assert.equal(socket.status, 421);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "media.lan"]) {
    assert.equal((await get(host)).status, 200, host);
  }
});

Deno.test("the page is served with a strict CSP, nosniff, no referrer and no framing", async () => {
  await using service = await startService();
  const response = await fetch(`${service.origin}/`);
  await response.body?.cancel();
  assert.equal(response.status, 200);
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  assert.equal(response.headers.get("x-frame-options"), "DENY");
});
