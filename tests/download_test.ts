import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import {
  finishedFiles,
  listFiles,
  probe,
  sha256,
  startService,
  waitForEnd,
  waitForTask,
} from "./fixtures/service.ts";

const mediaDir = await fixtureMedia();

Deno.test("full flow: submit, read the task, fetch the file byte-exact with ranges", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const submitted = await service.submit({ url: source.url(MEDIA.mp4) });
  assert.ok(["queued", "downloading"].includes(submitted.status), submitted.status);
  assert.equal(submitted.format, "video");
  assert.equal(submitted.quality, "best");

  const task = await waitForEnd(service.manager, submitted.task_id);
  assert.equal(task.status, "completed", JSON.stringify(task.error));
  assert.equal(task.title, "clip");
  assert.equal(task.progress?.percentage, 100);
  assert.ok(task.started_at && task.finished_at && task.expires_at);
  assert.equal(Date.parse(task.expires_at) - Date.parse(task.finished_at), 3600_000);

  const viaApi = await (await service.app.request(`/api/v1/download/${task.task_id}`)).json();
  assert.deepEqual(viaApi, task);

  const source_sha = await sha256(join(mediaDir, MEDIA.mp4));
  const response = await fetch(`${service.origin}/api/v1/download/${task.task_id}/file`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "video/mp4");
  assert.equal(response.headers.get("accept-ranges"), "bytes");
  assert.equal(Number(response.headers.get("content-length")), task.filesize);
  assert.match(response.headers.get("content-disposition")!, /filename\*=UTF-8''clip\.mp4/);
  assert.equal(await sha256(new Uint8Array(await response.arrayBuffer())), source_sha);

  const whole = await Deno.readFile(join(mediaDir, MEDIA.mp4));
  const ranged = await fetch(`${service.origin}/api/v1/download/${task.task_id}/file`, {
    headers: { Range: "bytes=1000-1999" },
  });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get("content-range"), `bytes 1000-1999/${whole.length}`);
  assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), whole.subarray(1000, 2000));
  const beyond = await fetch(`${service.origin}/api/v1/download/${task.task_id}/file`, {
    headers: { Range: `bytes=${whole.length}-` },
  });
  assert.equal(beyond.status, 416);
  await beyond.body?.cancel();

  assert.deepEqual(
    await listFiles(service.manager.taskDir(task.task_id)),
    finishedFiles("clip [clip].mp4"),
  );
});

Deno.test("an HTML page with <video> and a Korean title downloads under that title", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const submitted = await service.submit({ url: source.url(MEDIA.koreanPage) });
  const task = await waitForEnd(service.manager, submitted.task_id);
  assert.equal(task.status, "completed", JSON.stringify(task.error));
  assert.match(task.title!, /^테스트 영상: 한국어 제목/);
  const response = await fetch(`${service.origin}/api/v1/download/${task.task_id}/file`);
  const disposition = response.headers.get("content-disposition")!;
  const encoded = disposition.match(/filename\*=UTF-8''(.+)$/)![1];
  assert.equal(decodeURIComponent(encoded), `${task.title}.mp4`);
  assert.equal(
    await sha256(new Uint8Array(await response.arrayBuffer())),
    await sha256(join(mediaDir, MEDIA.mp4)),
  );
});

for (
  const [name, path] of [["HLS", MEDIA.hls], ["DASH with separate audio and video", MEDIA.dash]]
) {
  Deno.test(`${name} downloads into one file with video and audio`, async () => {
    await using source = startFixtureServer(mediaDir);
    await using service = await startService();
    const submitted = await service.submit({ url: source.url(path) });
    const statuses: string[] = [];
    const unsubscribe = service.manager.subscribe((event) => {
      if (event.type === "status" && event.task.task_id === submitted.task_id) {
        statuses.push(event.task.status);
      }
    });
    const task = await waitForEnd(service.manager, submitted.task_id);
    unsubscribe();
    assert.equal(task.status, "completed", JSON.stringify(task.error));
    assert.ok(statuses.includes("processing"), `statuses: ${statuses}`);
    const { path: file } = await service.manager.file(task.task_id);
    const media = await probe(file);
    assert.deepEqual(media.streams, ["audio", "video"]);
    assert.ok(Math.abs(media.duration - 6) < 0.5, `duration ${media.duration}`);
    assert.deepEqual(
      await listFiles(service.manager.taskDir(task.task_id)),
      finishedFiles(task.filename!),
    );
  });
}

Deno.test("audio-only extracts an mp3 with ffmpeg", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const submitted = await service.submit({
    url: source.url(MEDIA.mp4),
    format: "audio",
    audio_format: "mp3",
  });
  const task = await waitForEnd(service.manager, submitted.task_id);
  assert.equal(task.status, "completed", JSON.stringify(task.error));
  assert.match(task.filename!, /\.mp3$/);
  const media = await probe((await service.manager.file(task.task_id)).path);
  assert.deepEqual(media.streams, ["audio"]);
  const response = await fetch(`${service.origin}/api/v1/download/${task.task_id}/file`);
  assert.equal(response.headers.get("content-type"), "audio/mpeg");
  await response.body?.cancel();
});

Deno.test("a source 404 and a connection dropped mid-file end failed with a reason and no files", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const missing = await service.submit({ url: source.url("missing.mp4") });
  const dropped = await service.submit({ url: source.url(MEDIA.mp4, { drop: true }) });

  const notFound = await waitForEnd(service.manager, missing.task_id);
  assert.equal(notFound.status, "failed");
  assert.equal(notFound.error?.code, "source_unavailable");
  assert.match(notFound.error!.message, /404/);

  const cut = await waitForEnd(service.manager, dropped.task_id, 120_000);
  assert.equal(cut.status, "failed");
  assert.equal(cut.error?.code, "connection_lost");
  assert.match(cut.error!.message, /more expected/);
  assert.ok(source.requests.filter((p) => p.startsWith("/drop/")).length >= 1);

  for (const task of [notFound, cut]) {
    assert.deepEqual(await listFiles(service.manager.taskDir(task.task_id)), []);
    const file = await service.app.request(`/api/v1/download/${task.task_id}/file`);
    assert.equal(file.status, 409);
    assert.equal((await file.json()).error.code, "no_file");
  }
});

Deno.test("five downloads at once with MAX_CONCURRENT_DOWNLOADS=5 overlap and all complete", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 5 });
  const expected = await sha256(join(mediaDir, MEDIA.mp4));
  const tasks = await Promise.all(
    Array.from(
      { length: 5 },
      () => service.submit({ url: source.url(MEDIA.mp4, { rate: 250_000 }) }),
    ),
  );
  assert.equal(new Set(tasks.map((t) => t.task_id)).size, 5);
  const ended = await Promise.all(tasks.map((t) => waitForEnd(service.manager, t.task_id)));
  for (const task of ended) {
    assert.equal(task.status, "completed", JSON.stringify(task.error));
    assert.equal(await sha256((await service.manager.file(task.task_id)).path), expected);
  }
  assert.equal(source.maxInFlight, 5, "all five transfers were in flight together");
});

Deno.test("with the limit at 2, the others wait as queued and start as slots free", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 2 });
  const tasks = [];
  for (let i = 0; i < 4; i++) {
    tasks.push(await service.submit({ url: source.url(MEDIA.mp4, { rate: 400_000 }) }));
  }
  const statuses = tasks.map((t) => service.manager.get(t.task_id).status);
  assert.deepEqual(statuses, ["downloading", "downloading", "queued", "queued"]);
  const listed = await (await service.app.request("/api/v1/downloads")).json();
  assert.equal(listed.next_cursor, null);
  assert.deepEqual(
    listed.tasks.map((t: { task_id: string }) => t.task_id),
    tasks.map((t) => t.task_id).reverse(),
  );

  const file = await service.app.request(`/api/v1/download/${tasks[3].task_id}/file`);
  assert.equal(file.status, 409);
  await file.body?.cancel();

  await waitForTask(service.manager, tasks[2].task_id, (t) => t.status !== "queued");
  const ended = await Promise.all(tasks.map((t) => waitForEnd(service.manager, t.task_id)));
  assert.ok(ended.every((t) => t.status === "completed"));
  assert.equal(source.maxInFlight, 2);
});
