import assert from "node:assert/strict";
import { AddressPolicy, parseNetworks } from "./address_policy.ts";
import { EgressProxy } from "./egress_proxy.ts";

/** An origin server on 127.0.0.2 (allowed) that echoes what it received. */
function origin() {
  const seen: { path: string; headers: Headers }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.2", port: 0, onListen: () => {} }, (request) => {
    seen.push({ path: new URL(request.url).pathname, headers: request.headers });
    return new Response("hello from origin", { headers: { "keep-alive": "timeout=5" } });
  });
  return { server, seen, port: server.addr.port };
}

function startProxy() {
  return EgressProxy.listen({
    policy: new AddressPolicy({ allowAll: false, allowedNetworks: parseNetworks("127.0.0.2") }),
    resolve: (host) =>
      Promise.resolve(
        host === "inside.test" ? ["127.0.0.1"] : host === "site.test" ? ["127.0.0.2"] : [],
      ),
  });
}

/** Writes `request` to the proxy and reads until it closes the connection. */
async function exchange(port: number, request: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  const chunks: string[] = [];
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) chunks.push(chunk);
  return chunks.join("");
}

const auth = (proxyUrl: string) => {
  const { username, password } = new URL(proxyUrl);
  return `Proxy-Authorization: Basic ${btoa(`${username}:${password}`)}\r\n`;
};

Deno.test("the proxy serves only current credentials", async () => {
  await using proxy = startProxy();
  const request = (extra: string) =>
    exchange(proxy.port, `GET http://site.test/ HTTP/1.1\r\nHost: site.test\r\n${extra}\r\n`);
  assert.match(await request(""), /^HTTP\/1\.1 407 /);
  const session = proxy.open({ onRefused: () => {}, onUnreachable: () => {} });
  const wrong = new URL(session.proxyUrl);
  wrong.password = "0".repeat(wrong.password.length);
  assert.match(await request(auth(wrong.href)), /^HTTP\/1\.1 407 /);
  session[Symbol.dispose]();
  assert.match(await request(auth(session.proxyUrl)), /^HTTP\/1\.1 407 /, "revoked");
});

Deno.test("absolute-form http is forwarded once, without proxy headers, and closed after", async () => {
  const site = origin();
  await using proxy = startProxy();
  using session = proxy.open({ onRefused: () => {}, onUnreachable: () => {} });
  const answer = await exchange(
    proxy.port,
    `GET http://site.test:${site.port}/a?b=1 HTTP/1.1\r\nHost: site.test:${site.port}\r\n` +
      `${auth(session.proxyUrl)}Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\n\r\n`,
  );
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /\r\nConnection: close\r\n/);
  assert.doesNotMatch(answer, /keep-alive/i);
  assert.ok(answer.endsWith("hello from origin"));
  assert.equal(site.seen[0].path, "/a");
  assert.equal(site.seen[0].headers.get("proxy-authorization"), null);
  await site.server.shutdown();
});

Deno.test("CONNECT opens a tunnel to an allowed host; an internal one is refused and reported", async () => {
  const site = origin();
  await using proxy = startProxy();
  const refused: string[] = [];
  using session = proxy.open({ onRefused: (_h, m) => refused.push(m), onUnreachable: () => {} });
  const tunnelled = await exchange(
    proxy.port,
    `CONNECT site.test:${site.port} HTTP/1.1\r\nHost: site.test:${site.port}\r\n${
      auth(session.proxyUrl)
    }\r\nGET /t HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n`,
  );
  assert.match(tunnelled, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 /);
  assert.equal(site.seen.at(-1)?.path, "/t");

  const answer = await exchange(
    proxy.port,
    `CONNECT inside.test:${site.port} HTTP/1.1\r\n${auth(session.proxyUrl)}\r\n`,
  );
  assert.match(answer, /^HTTP\/1\.1 403 /);
  assert.deepEqual(refused, [
    "host 'inside.test' is not allowed (it resolves to 127.0.0.1): 127.0.0.1 is a loopback address",
  ]);
  await site.server.shutdown();
});

Deno.test("ending a session cuts the connections it has open", async () => {
  const site = origin();
  await using proxy = startProxy();
  const session = proxy.open({ onRefused: () => {}, onUnreachable: () => {} });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  await conn.write(
    new TextEncoder().encode(
      `CONNECT site.test:${site.port} HTTP/1.1\r\n${auth(session.proxyUrl)}\r\n`,
    ),
  );
  const reader = conn.readable.getReader();
  const first = await reader.read();
  assert.match(new TextDecoder().decode(first.value), /^HTTP\/1\.1 200 /);
  session[Symbol.dispose]();
  const next = await reader.read();
  assert.equal(next.done, true, "the tunnel was closed");
  reader.releaseLock();
  await site.server.shutdown();
});
