// Metrics and logs as an operator sees them: /metrics after real downloads, failures, cancels and
// socket drops, and one structured log line per request and per task change.
import assert from "node:assert/strict";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { startService, waitForEnd, waitForTask } from "./fixtures/service.ts";
import { connect } from "./fixtures/ws_client.ts";
import { spawnService } from "./fixtures/service_process.ts";

const mediaDir = await fixtureMedia();

/** Parses the Prometheus text format into `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = line.match(/^([a-z_:]+(?:\{.*\})?) (\S+)$/);
    assert.ok(match, `not a sample line: ${line}`);
    map.set(match[1], Number(match[2]));
  }
  return map;
}

Deno.test("metrics: outcomes, codes, bytes, tasks, queue, sockets, drops, requests, yt-dlp", async () => {
  await using fixtures = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 1 });
  const completed = await service.submit({ url: `${fixtures.origin}/${MEDIA.mp4}` });
  const done = await waitForEnd(service.manager, completed.task_id);
  assert.equal(done.status, "completed");
  const missing = await service.submit({ url: `${fixtures.origin}/missing.mp4` });
  assert.equal(
    (await waitForEnd(service.manager, missing.task_id)).error?.code,
    "source_unavailable",
  );
  // One slow download holds the only slot, so the next one waits in the queue.
  const slow = await service.submit({ url: `${fixtures.origin}/rate/20000/${MEDIA.large}` });
  await waitForTask(service.manager, slow.task_id, (t) => t.status === "downloading");
  const waiting = await service.submit({ url: `${fixtures.origin}/${MEDIA.mp4}` });

  // A socket that stays, and one that sends a frame above the limit and is dropped for it.
  await using watcher = connect(service.wsUrl("/ws/downloads"));
  await watcher.next((m) => m.type === "summary");
  await using rude = connect(service.wsUrl("/ws/downloads"));
  await rude.opened;
  rude.socket.send("x".repeat(10_000));
  assert.equal((await rude.closed).code, 1009);
  // A hostile path must not become a label value.
  await fetch(`${service.origin}/api/v1/download/%3Cscript%3E-${crypto.randomUUID()}`).then((r) =>
    r.body?.cancel()
  );
  await fetch(`${service.origin}/no/such/${crypto.randomUUID()}`).then((r) => r.body?.cancel());

  const response = await fetch(`${service.origin}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const m = samples(text);
  assert.equal(m.get('ytdl_downloads_finished_total{outcome="completed",code="none"}'), 1);
  assert.equal(
    m.get('ytdl_downloads_finished_total{outcome="failed",code="source_unavailable"}'),
    1,
  );
  assert.equal(m.get("ytdl_downloaded_bytes_total"), done.filesize);
  assert.equal(m.get('ytdl_tasks{status="completed"}'), 1);
  assert.equal(m.get('ytdl_tasks{status="failed"}'), 1);
  assert.equal(m.get('ytdl_tasks{status="downloading"}'), 1);
  assert.equal(m.get("ytdl_queue_depth"), 1);
  assert.equal(m.get("ytdl_downloads_running"), 1);
  assert.equal(m.get("ytdl_websocket_connections"), 1);
  assert.equal(m.get('ytdl_websocket_drops_total{reason="too_large"}'), 1);
  const version = service.ytdlp.info().version!;
  assert.equal(
    m.get(
      `ytdl_ytdlp_info{version="${version}",channel="${service.ytdlp.info().channel}",managed="false"}`,
    ),
    1,
  );
  assert.equal(
    m.get('ytdl_http_requests_total{method="GET",route="/api/v1/download/:id",status="404"}'),
    1,
  );
  assert.equal(m.get('ytdl_http_requests_total{method="GET",route="unmatched",status="404"}'), 1);
  assert.ok(
    (m.get('ytdl_http_request_duration_seconds_count{method="GET",route="/api/v1/download/:id"}') ??
      0) >= 1,
  );
  assert.ok(
    m.has(
      'ytdl_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/download/:id"}',
    ),
  );
  assert.ok(!text.includes("script") && !text.includes("/no/such"), "paths leaked into labels");

  // Cancelling counts too, once, however many events report it.
  await service.app.request(`/api/v1/download/${slow.task_id}`, { method: "DELETE" });
  await service.app.request(`/api/v1/download/${waiting.task_id}`, { method: "DELETE" });
  const after = samples(await (await fetch(`${service.origin}/metrics`)).text());
  assert.equal(after.get('ytdl_downloads_finished_total{outcome="cancelled",code="none"}'), 2);
  assert.equal(after.get("ytdl_queue_depth"), 0);
  assert.equal(after.get("ytdl_downloads_running"), 0);
});

Deno.test("metrics need a token with read scope when logins are on", async () => {
  await using service = await startService({ authMode: "password", password: "correct horse" });
  const anonymous = await fetch(`${service.origin}/metrics`);
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).error.code, "unauthorized");
  const { token } = await service.auth.createToken("prometheus", ["read"], null);
  const scraped = await fetch(`${service.origin}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(scraped.status, 200);
  assert.match(await scraped.text(), /^# HELP ytdl_/m);
});

Deno.test("logs: one JSON line per request and per task change, tied by request and task ids", async () => {
  await using fixtures = startFixtureServer(mediaDir);
  await using service = await startService();
  const submitted = await fetch(`${service.origin}/api/v1/download`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-request-id": "import-job-7" },
    body: JSON.stringify({ url: `${fixtures.origin}/${MEDIA.mp4}` }),
  });
  assert.equal(submitted.status, 202);
  assert.equal(submitted.headers.get("x-request-id"), "import-job-7");
  const task = await submitted.json();
  await waitForEnd(service.manager, task.task_id);
  // A forged id (JSON to confuse a log reader) is replaced; a query never reaches the log.
  const forged = await fetch(`${service.origin}/share?url=https%3A%2F%2Fsecret.example%2Fx`, {
    headers: { "x-request-id": '{"level":"error"}' },
    redirect: "manual",
  });
  await forged.body?.cancel();
  const forgedId = forged.headers.get("x-request-id")!;
  assert.match(forgedId, /^[0-9a-f-]{36}$/);

  const events = service.logs.map((line) => {
    assert.ok(!line.includes("\n"));
    return JSON.parse(line);
  });
  for (const event of events) {
    assert.match(event.time, /^\d{4}-\d\d-\d\dT/);
    assert.ok(["info", "warn", "error"].includes(event.level));
  }
  const post = events.find((e) => e.msg === "request" && e.request_id === "import-job-7");
  assert.ok(post, JSON.stringify(events));
  assert.equal(post.method, "POST");
  assert.equal(post.route, "/api/v1/download");
  assert.equal(post.status, 202);
  assert.equal(post.task_id, task.task_id);
  assert.equal(typeof post.duration_ms, "number");
  const changes = events.filter((e) => e.task_id === task.task_id && e.msg !== "request");
  // Each change once, in order (post-processing may or may not be a step of its own).
  assert.deepEqual(changes.map((e) => e.msg).filter((msg) => msg !== "task processing"), [
    "task queued",
    "task downloading",
    "task completed",
  ]);
  assert.equal(changes.at(-1).bytes, (await service.manager.get(task.task_id)).filesize);
  const share = events.find((e) => e.request_id === forgedId);
  assert.equal(share.path, "/share");
  assert.ok(!service.logs.join("\n").includes("secret.example"));
});

Deno.test("LOG_FORMAT=json: every line the real service prints is one JSON object", async () => {
  await using service = await spawnService(undefined, { LOG_FORMAT: "json" });
  const response = await fetch(`${service.origin}/healthz`);
  await response.body?.cancel();
  const stopped = await service.stop("SIGTERM");
  assert.equal(stopped.code, 0);
  const events = service.output.filter((line) => line !== "").map((line) => JSON.parse(line));
  assert.ok(events.some((e) => /^listening on http:/.test(e.msg)));
  assert.ok(events.some((e) => e.msg === "request" && e.route === "/healthz" && e.status === 200));
  assert.ok(events.some((e) => e.msg === "shutting down"));
});
