/** Cookies for sites that want a login: stored privately, used by every download that wants them. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { listFiles, sha256, startService, waitForEnd } from "./fixtures/service.ts";
import { connect } from "./fixtures/ws_client.ts";

const mediaDir = await fixtureMedia();
const SESSION = "members-only-7f3a9c";

/** A site that serves its video only to a visitor with the right session cookie. */
function membersSite() {
  return startFixtureServer(mediaDir, {
    extra: (request) => {
      if (new URL(request.url).pathname !== "/members/clip.mp4") return null;
      const cookie = request.headers.get("cookie") ?? "";
      if (!cookie.split(/;\s*/).includes(`session=${SESSION}`)) {
        return new Response("members only", { status: 403 });
      }
      return new Response(Deno.readFileSync(join(mediaDir, MEDIA.mp4)), {
        headers: { "content-type": "video/mp4" },
      });
    },
  });
}

const cookiesTxt = (value: string) =>
  `# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t2000000000\tsession\t${value}\n`;

Deno.test("uploaded cookies open a members-only video; opting out or deleting them closes it", async () => {
  await using site = membersSite();
  await using service = await startService();
  const put = await service.app.request("/api/v1/cookies", {
    method: "PUT",
    headers: { "content-type": "text/plain" },
    body: cookiesTxt(SESSION),
  });
  assert.equal(put.status, 200);
  assert.deepEqual((await put.json()).domains, [
    { domain: "127.0.0.1", cookies: 1, expires_at: new Date(2_000_000_000_000).toISOString() },
  ]);
  const stored = join(service.dataDir, "cookies.txt");
  assert.equal((await Deno.stat(stored)).mode! & 0o777, 0o600);

  await using feed = connect(service.wsUrl("/ws/downloads"));
  await feed.opened;
  const url = site.url("members/clip.mp4");
  const withCookies = await waitForEnd(service.manager, (await service.submit({ url })).task_id);
  assert.equal(withCookies.status, "completed", JSON.stringify(withCookies.error));
  assert.equal(
    await sha256((await service.manager.file(withCookies.task_id)).path),
    await sha256(join(mediaDir, MEDIA.mp4)),
  );
  assert.deepEqual(
    (await listFiles(service.manager.taskDir(withCookies.task_id))).filter((f) =>
      f.includes("cookie")
    ),
    [],
    "the run's copy of the cookies is gone",
  );

  const optedOut = await waitForEnd(
    service.manager,
    (await service.submit({ url, cookies: false })).task_id,
  );
  assert.equal(optedOut.status, "failed");
  assert.equal(optedOut.error?.code, "source_unavailable");

  const summary = await service.app.request("/api/v1/cookies");
  const text = JSON.stringify(await summary.json());
  assert.ok(!text.includes(SESSION), "the summary never carries a value");
  const everywhere = [text, JSON.stringify(feed.messages), service.logs.join("\n")].join("\n");
  assert.ok(!everywhere.includes(SESSION), "no value in the API, the sockets or the logs");

  assert.equal((await service.app.request("/api/v1/cookies", { method: "DELETE" })).status, 204);
  assert.equal((await service.app.request("/api/v1/cookies")).status, 404);
  const without = await waitForEnd(service.manager, (await service.submit({ url })).task_id);
  assert.equal(without.status, "failed");
});

Deno.test("a file that is not cookies.txt is refused with the line, and nothing is stored", async () => {
  await using service = await startService();
  const put = (body: string, type = "text/plain") =>
    service.app.request("/api/v1/cookies", {
      method: "PUT",
      headers: { "content-type": type },
      body,
    });
  const json = await put('[{"domain": ".youtube.com", "name": "SID", "value": "x"}]');
  assert.equal(json.status, 422);
  assert.match((await json.json()).error.message, /JSON.*Netscape/);
  const spaces = await put("# Netscape HTTP Cookie File\n.youtube.com TRUE / TRUE 0 SID x\n");
  assert.equal(spaces.status, 422);
  const body = await spaces.json();
  assert.equal(body.error.code, "invalid_cookies");
  assert.match(body.error.message, /line 2: expected 7 tab-separated fields/);
  assert.equal((await put(cookiesTxt("x"), "application/json")).status, 415);
  assert.equal((await put("x".repeat(1024 * 1024 + 1))).status, 413);
  assert.equal((await service.app.request("/api/v1/cookies")).status, 404);
});
