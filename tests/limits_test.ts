/** Limits with clear answers: queue size, list size, snapshot size, socket input, file size, stalls. */
import assert from "node:assert/strict";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { listFiles, startService, waitForEnd, waitForTask } from "./fixtures/service.ts";
import { connect } from "./fixtures/ws_client.ts";

const mediaDir = await fixtureMedia();

Deno.test("a full queue answers 429 queue_full with Retry-After and creates nothing", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 1, maxQueued: 3 });
  const running = await service.submit({ url: source.url(MEDIA.large, { rate: 100_000 }) });
  await waitForTask(service.manager, running.task_id, (t) => t.status === "downloading");
  for (let i = 0; i < 3; i++) await service.submit({ url: source.url(MEDIA.mp4) });
  const refused = await service.post({ url: source.url(MEDIA.mp4) });
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "30");
  const body = await refused.json();
  assert.equal(body.error.code, "queue_full");
  assert.match(body.error.message, /MAX_QUEUED_TASKS/);
  assert.equal(service.manager.counts().total, 4);
});

Deno.test("the list is paginated, newest first, and a cursor walks it without gaps or repeats", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 1 });
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) {
    ids.push(
      (await service.submit({ url: source.url(MEDIA.large, { rate: 50_000 + i }) })).task_id,
    );
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = cursor ? `?limit=3&cursor=${cursor}` : "?limit=3";
    const page = await (await service.app.request(`/api/v1/downloads${query}`)).json();
    assert.ok(page.tasks.length <= 3);
    seen.push(...page.tasks.map((t: { task_id: string }) => t.task_id));
    cursor = page.next_cursor;
    pages++;
  } while (cursor !== null);
  assert.equal(pages, 3);
  assert.deepEqual(seen, [...ids].reverse());
  const all = await (await service.app.request("/api/v1/downloads")).json();
  assert.equal(all.tasks.length, 7, "default page size is 100");

  for (
    const [query, status, code] of [
      ["?limit=0", 422, "validation_failed"],
      ["?limit=1001", 422, "validation_failed"],
      ["?limit=0x10", 422, "validation_failed"],
      ["?cursor=bm9wZQ", 400, "invalid_cursor"],
      ["?sort=asc", 422, "validation_failed"],
    ] as const
  ) {
    const response = await service.app.request(`/api/v1/downloads${query}`);
    assert.equal(response.status, status, query);
    assert.equal((await response.json()).error.code, code, query);
  }
});

Deno.test("the all-tasks snapshot is bounded: newest 100, the running ones, and the counts", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 1 });
  const first = await service.submit({ url: source.url(MEDIA.large, { rate: 50_000 }) });
  await waitForTask(service.manager, first.task_id, (t) => t.status === "downloading");
  for (let i = 0; i < 150; i++) await service.submit({ url: source.url(MEDIA.mp4) });
  await using feed = connect(service.wsUrl("/ws/downloads"));
  const summary = await feed.next((m) => m.type === "summary");
  assert.equal(summary.data.total, 151);
  assert.equal(summary.data.queued, 150);
  assert.equal(summary.data.shown, 101, "the newest 100 and the running one");
  // Everything sent on connect is the summary and one status per shown task, newest last.
  const newest = service.manager.list(1).tasks[0];
  await feed.next((m) => m.type === "status" && m.task_id === newest.task_id);
  assert.equal(feed.messages.filter((m) => m.type === "status").length, 101);
  assert.equal(feed.socket.readyState, WebSocket.OPEN);
});

Deno.test("socket input is capped: a big frame closes 1009, a flood closes 1008", async () => {
  await using service = await startService();
  {
    await using ws = connect(service.wsUrl("/ws/downloads"));
    await ws.opened;
    ws.socket.send(JSON.stringify({ type: "ping", pad: "x".repeat(5000) }));
    const close = await ws.closed;
    assert.equal(close.code, 1009);
  }
  {
    await using ws = connect(service.wsUrl("/ws/downloads"));
    await ws.opened;
    for (let i = 0; i < 200; i++) ws.socket.send(JSON.stringify({ type: "ping" }));
    const close = await ws.closed;
    assert.equal(close.code, 1008);
    const pongs = ws.messages.filter((m) => m.type === "pong").length;
    assert.ok(pongs >= 1 && pongs <= 25, `${pongs} pongs`);
  }
  assert.equal(service.hub.size, 0);
});

Deno.test("MAX_FILESIZE stops a source that never ends and one that announces too much", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxFilesize: 2 * 1024 * 1024, watchIntervalMs: 100 });
  const endless = await service.submit({ url: source.url("endless.mp4") });
  const huge = await service.submit({ url: source.url("huge.mp4") });
  const small = await service.submit({ url: source.url(MEDIA.mp4) });
  for (const submitted of [endless, huge]) {
    const task = await waitForEnd(service.manager, submitted.task_id);
    assert.equal(task.status, "failed");
    assert.equal(task.error?.code, "file_too_large", JSON.stringify(task.error));
    assert.deepEqual(await listFiles(service.manager.taskDir(task.task_id)), []);
  }
  assert.equal((await waitForEnd(service.manager, small.task_id)).status, "completed");
});

Deno.test("a stalled source fails as stalled and frees its slot for the next task", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({
    maxConcurrent: 1,
    stallTimeoutMs: 2000,
    watchIntervalMs: 100,
  });
  const stalled = await service.submit({ url: source.url("stall.mp4") });
  const next = await service.submit({ url: source.url(MEDIA.mp4) });
  const task = await waitForEnd(service.manager, stalled.task_id);
  assert.equal(task.status, "failed");
  assert.equal(task.error?.code, "stalled");
  assert.match(task.error!.message, /STALL_TIMEOUT_SECONDS/);
  assert.deepEqual(await listFiles(service.manager.taskDir(task.task_id)), []);
  assert.equal((await waitForEnd(service.manager, next.task_id)).status, "completed");
});

Deno.test("below MIN_FREE_DISK_MB new tasks get 507 insufficient_storage", async () => {
  await using service = await startService({ minFreeBytes: Number.MAX_SAFE_INTEGER });
  const response = await service.post({ url: "http://127.0.0.1:9/v.mp4" });
  assert.equal(response.status, 507);
  const body = await response.json();
  assert.equal(body.error.code, "insufficient_storage");
  assert.match(body.error.message, /MIN_FREE_DISK_MB/);
  assert.equal(service.manager.counts().total, 0);
});
