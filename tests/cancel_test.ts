import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { processesMentioning } from "./fixtures/processes.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { listFiles, startService, waitForEnd, waitForTask } from "./fixtures/service.ts";
import { connect } from "./fixtures/ws_client.ts";
import { testYtdlp } from "./fixtures/ytdlp.ts";

const mediaDir = await fixtureMedia();
const del = (origin: string, id: string) =>
  fetch(`${origin}/api/v1/download/${id}`, { method: "DELETE" });

Deno.test("cancelling a queued task removes it from the queue; it never starts", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 1 });
  const running = await service.submit({ url: source.url(MEDIA.mp4, { rate: 150_000 }) });
  const queued = await service.submit({ url: source.url(MEDIA.mp4, { rate: 150_001 }) });
  assert.equal(service.manager.get(queued.task_id).status, "queued");
  const response = await del(service.origin, queued.task_id);
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.status, "cancelled");
  assert.ok(body.finished_at);
  await waitForEnd(service.manager, running.task_id);
  assert.equal(service.manager.get(queued.task_id).status, "cancelled");
  assert.ok(!source.requests.some((p) => p.startsWith("/rate/150001/")), "never fetched");
  assert.deepEqual(await listFiles(service.manager.taskDir(queued.task_id)), []);
});

Deno.test("cancelling a running download stops yt-dlp, deletes its files, and tells the watchers", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const url = source.url(MEDIA.large, { rate: 300_000 });
  const task = await service.submit({ url });
  await using ws = connect(service.wsUrl(`/ws/download/${task.task_id}`));
  await ws.next((m) => m.type === "progress" && (m.data.downloaded_bytes as number) > 100_000);
  assert.ok((await processesMentioning(url)).length >= 1, "yt-dlp is running");
  assert.ok(
    (await listFiles(service.manager.taskDir(task.task_id))).some((f) => f.endsWith(".part")),
  );

  const response = await del(service.origin, task.task_id);
  assert.equal(response.status, 200);
  assert.equal((await response.json()).status, "cancelled");
  const cancelled = await ws.next((m) => m.type === "status" && m.data.status === "cancelled");
  assert.equal((await ws.closed).code, 1000);
  assert.equal(ws.messages.at(-1), cancelled, "nothing after the cancel");

  assert.deepEqual(await processesMentioning(url), []);
  await assert.rejects(Deno.stat(service.manager.taskDir(task.task_id)), Deno.errors.NotFound);
  const api = await (await service.app.request(`/api/v1/download/${task.task_id}`)).json();
  assert.equal(api.status, "cancelled");
  assert.equal(api.status, cancelled.data.status);
});

Deno.test("cancelling during a DASH download leaves no fragment or pre-merge files", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const url = source.url(MEDIA.dash, { rate: 60_000 });
  const task = await service.submit({ url });
  await waitForTask(
    service.manager,
    task.task_id,
    (t) => (t.progress?.downloaded_bytes ?? 0) > 30_000,
  );
  const response = await del(service.origin, task.task_id);
  assert.equal(response.status, 200);
  assert.deepEqual(await processesMentioning(url), []);
  assert.deepEqual(await listFiles(service.manager.taskDir(task.task_id)), []);
});

Deno.test("cancelling a stream that yt-dlp hands to ffmpeg stops ffmpeg too", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const url = source.url(MEDIA.liveHls, { rate: 100_000 });
  const task = await service.submit({ url });
  const ffmpegRunning = async () =>
    (await processesMentioning(url)).filter((p) => /^\S*ffmpeg /.test(p.cmd));
  // Segments are requested by ffmpeg itself, so the first one starting means ffmpeg is up.
  await source.started(".ts");
  assert.equal((await ffmpegRunning()).length, 1, "ffmpeg is downloading");

  const response = await del(service.origin, task.task_id);
  assert.equal(response.status, 200);
  assert.deepEqual(await processesMentioning(url), [], "neither yt-dlp nor ffmpeg is left");
  await assert.rejects(Deno.stat(service.manager.taskDir(task.task_id)), Deno.errors.NotFound);
});

Deno.test("a yt-dlp that ignores SIGINT and SIGTERM is still stopped", async () => {
  await using source = startFixtureServer(mediaDir);
  // Real yt-dlp with SIGINT and SIGTERM ignored (as when started from a shell that ignores them):
  // only SIGKILL of its process group stops it. Ignored dispositions survive exec.
  const stubborn = join(await Deno.makeTempDir(), "stubborn-yt-dlp");
  await Deno.writeTextFile(
    stubborn,
    `#!/bin/sh\ntrap '' INT TERM\nexec '${await testYtdlp()}' "$@"\n`,
  );
  await Deno.chmod(stubborn, 0o755);
  await using service = await startService({ ytdlpPath: stubborn });
  const url = source.url(MEDIA.large, { rate: 200_000 });
  const task = await service.submit({ url });
  await waitForTask(service.manager, task.task_id, (t) => (t.progress?.downloaded_bytes ?? 0) > 0);
  const response = await del(service.origin, task.task_id);
  assert.equal(response.status, 200);
  assert.deepEqual(await processesMentioning(url), []);
  await assert.rejects(Deno.stat(service.manager.taskDir(task.task_id)), Deno.errors.NotFound);
});

Deno.test("DELETE of a finished task removes it and its file; 404 after", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4) });
  await waitForEnd(service.manager, task.task_id);
  const dir = service.manager.taskDir(task.task_id);
  assert.equal((await listFiles(dir)).length, 2, "the file and its record");
  const response = await del(service.origin, task.task_id);
  assert.equal(response.status, 204);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  assert.equal((await service.app.request(`/api/v1/download/${task.task_id}`)).status, 404);
  assert.equal((await service.app.request(`/api/v1/download/${task.task_id}/file`)).status, 404);
  assert.equal((await del(service.origin, task.task_id)).status, 404);
});

Deno.test("two DELETEs at once, and a DELETE racing completion, end in one consistent state", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 5 });
  const url = source.url(MEDIA.large, { rate: 300_000 });
  const task = await service.submit({ url });
  await waitForTask(service.manager, task.task_id, (t) => t.progress !== null);
  const [a, b] = await Promise.all([
    del(service.origin, task.task_id),
    del(service.origin, task.task_id),
  ]);
  // The first cancels; the second finds a finished (cancelled) task and removes it.
  assert.deepEqual([a.status, b.status], [200, 204]);
  assert.equal((await a.json()).status, "cancelled");
  assert.deepEqual(await processesMentioning(url), []);
  await assert.rejects(Deno.stat(service.manager.taskDir(task.task_id)), Deno.errors.NotFound);
  const after = await service.app.request(`/api/v1/download/${task.task_id}`);
  assert.equal(after.status, 404);
  await after.text();

  // Racing completion: DELETE issued the moment the last bytes are sent.
  const racing = await Promise.all(
    Array.from({ length: 3 }, () => service.submit({ url: source.url(MEDIA.mp4) })),
  );
  const responses = await Promise.all(racing.map(async (t) => {
    await waitForTask(service.manager, t.task_id, (x) => (x.progress?.percentage ?? 0) > 0);
    return (await del(service.origin, t.task_id)).status;
  }));
  for (const [i, t] of racing.entries()) {
    assert.ok([200, 204].includes(responses[i]));
    const state = await service.app.request(`/api/v1/download/${t.task_id}`);
    const body = JSON.parse(await state.text());
    if (responses[i] === 204) assert.equal(state.status, 404);
    else assert.equal(body.status, "cancelled");
    assert.deepEqual(await listFiles(service.manager.taskDir(t.task_id)), []);
  }
});
