import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { sha256, startService, waitForEnd } from "./fixtures/service.ts";
import { connect, type Message, percentages } from "./fixtures/ws_client.ts";

const mediaDir = await fixtureMedia();

function assertMonotonicTo100(messages: Message[]) {
  const values = percentages(messages);
  assert.ok(values.length >= 3, `expected several progress messages, got ${values}`);
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i] >= values[i - 1], `went back: ${values[i - 1]} → ${values[i]}`);
  }
  assert.equal(values.at(-1), 100);
  for (const m of messages.filter((m) => m.type === "progress")) {
    for (const value of Object.values(m.data)) assert.ok(!Number.isNaN(value), "no NaN");
  }
}

Deno.test("a watcher sees snapshot, live progress, completed, complete, then a normal close", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 150_000 }) });
  await using ws = connect(service.wsUrl(`/ws/download/${task.task_id}`));
  const complete = await ws.next((m) => m.type === "complete");
  const close = await ws.closed;
  assert.equal(close.code, 1000);

  const types = ws.messages.map((m) => m.type);
  assert.equal(types[0], "status", "snapshot first");
  assert.ok(["queued", "downloading"].includes(ws.messages[0].data.status as string));
  assert.ok(ws.messages.every((m) => m.task_id === task.task_id));
  assert.ok(types.filter((t) => t === "progress").length >= 3);
  const completedAt = ws.messages.findIndex((m) =>
    m.type === "status" && m.data.status === "completed"
  );
  assert.ok(completedAt > 0 && types.indexOf("progress") < completedAt);
  assert.equal(types.at(-1), "complete");
  assertMonotonicTo100(ws.messages);

  const progress = ws.messages.find((m) => m.type === "progress" && m.data.total_bytes !== null)!;
  for (
    const key of [
      "percentage",
      "downloaded_bytes",
      "total_bytes",
      "speed",
      "eta",
      "speed_bps",
      "eta_seconds",
    ]
  ) {
    assert.ok(key in progress.data, key);
  }
  assert.equal(complete.data.download_url, `/api/v1/download/${task.task_id}/file`);
  const file = await fetch(service.origin + complete.data.download_url);
  assert.equal(
    await sha256(new Uint8Array(await file.arrayBuffer())),
    await sha256(join(mediaDir, MEDIA.mp4)),
  );
  assert.equal(complete.data.filesize, (await Deno.stat(join(mediaDir, MEDIA.mp4))).size);
});

Deno.test("a late joiner gets the snapshot and the terminal message, then a normal close", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const ok = await service.submit({ url: source.url(MEDIA.mp4) });
  const bad = await service.submit({ url: source.url("missing.mp4") });
  await waitForEnd(service.manager, ok.task_id);
  await waitForEnd(service.manager, bad.task_id);

  await using late = connect(service.wsUrl(`/ws/download/${ok.task_id}`));
  assert.equal((await late.closed).code, 1000);
  assert.deepEqual(late.messages.map((m) => m.type), ["status", "complete"]);
  assert.equal(late.messages[0].data.status, "completed");
  assert.equal(late.messages[0].data.title, "clip");

  await using failed = connect(service.wsUrl(`/ws/download/${bad.task_id}`));
  assert.equal((await failed.closed).code, 1000);
  assert.deepEqual(failed.messages.map((m) => m.type), ["status", "error"]);
  assert.equal(failed.messages[1].data.code, "source_unavailable");
  assert.match(failed.messages[1].data.message as string, /404/);
});

Deno.test("an unknown task id gets not_found and close code 4404", async () => {
  await using service = await startService();
  await using ws = connect(service.wsUrl(`/ws/download/${crypto.randomUUID()}`));
  const close = await ws.closed;
  assert.equal(close.code, 4404);
  assert.equal(ws.messages.length, 1);
  assert.equal(ws.messages[0].type, "error");
  assert.equal(ws.messages[0].data.code, "not_found");
});

Deno.test("ping gets pong and garbage from the client is ignored", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 100_000 }) });
  await using ws = connect(service.wsUrl(`/ws/download/${task.task_id}`));
  await ws.opened;
  ws.socket.send("not json at all");
  ws.socket.send(JSON.stringify({ type: "subscribe", task_id: "other" }));
  ws.socket.send(new Uint8Array([1, 2, 3]));
  ws.socket.send(JSON.stringify({ type: "ping" }));
  const pong = await ws.next((m) => m.type === "pong");
  assert.equal(pong.task_id, task.task_id);
  await ws.next((m) => m.type === "complete");
  assert.equal((await ws.closed).code, 1000);
});

Deno.test("five downloads, each with its own socket, get only their own messages", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 5 });
  const tasks = await Promise.all(
    Array.from(
      { length: 5 },
      () => service.submit({ url: source.url(MEDIA.mp4, { rate: 200_000 }) }),
    ),
  );
  const sockets = tasks.map((t) => connect(service.wsUrl(`/ws/download/${t.task_id}`)));
  try {
    await Promise.all(sockets.map((s) => s.next((m) => m.type === "complete")));
    for (const [i, ws] of sockets.entries()) {
      assert.ok(ws.messages.every((m) => m.task_id === tasks[i].task_id));
      assertMonotonicTo100(ws.messages);
    }
    assert.equal(source.maxInFlight, 5);
  } finally {
    for (const ws of sockets) await ws[Symbol.asyncDispose]();
  }
});

for (const [name, path] of [["DASH", MEDIA.dash], ["HLS", MEDIA.hls]] as const) {
  Deno.test(`${name}: one percentage, never backwards, processing before completed, 100 at the end`, async () => {
    await using source = startFixtureServer(mediaDir);
    await using service = await startService();
    const task = await service.submit({ url: source.url(path, { rate: 300_000 }) });
    await using ws = connect(service.wsUrl(`/ws/download/${task.task_id}`));
    await ws.next((m) => m.type === "complete");
    assertMonotonicTo100(ws.messages);
    const statuses = ws.messages.filter((m) => m.type === "status").map((m) => m.data.status);
    assert.deepEqual(statuses.slice(-2), ["processing", "completed"]);
    if (name === "DASH") {
      // yt-dlp's own counters restart for the audio stream; the percentage above did not.
      const fragments = ws.messages.filter((m) => m.type === "progress").map((m) =>
        m.data.fragment_index as number
      );
      assert.ok(fragments.some((v, i) => i > 0 && v < fragments[i - 1]), `fragments: ${fragments}`);
    }
  });
}

Deno.test("the global feed sees every task, from a snapshot on", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const before = await service.submit({ url: source.url(MEDIA.mp4) });
  await waitForEnd(service.manager, before.task_id);
  await using feed = connect(service.wsUrl("/ws/downloads"));
  await feed.next((m) => m.type === "complete" && m.task_id === before.task_id);
  const after = await Promise.all([
    service.submit({ url: source.url(MEDIA.mp4, { rate: 300_000 }) }),
    service.submit({ url: source.url("missing.mp4") }),
  ]);
  await feed.next((m) => m.type === "complete" && m.task_id === after[0].task_id);
  await feed.next((m) => m.type === "error" && m.task_id === after[1].task_id);
  const response = await service.app.request(`/api/v1/download/${before.task_id}`, {
    method: "DELETE",
  });
  assert.equal(response.status, 204);
  await feed.next((m) => m.type === "removed" && m.task_id === before.task_id);
  assert.equal(feed.socket.readyState, WebSocket.OPEN, "the feed stays open");
});

Deno.test("a subscriber that never reads does not hold up the others", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 200_000 }) });
  // A raw client that completes the handshake and then never reads a byte.
  const port = Number(new URL(service.origin).port);
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await stuck.write(new TextEncoder().encode(
    `GET /ws/download/${task.task_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  try {
    await using reader = connect(service.wsUrl(`/ws/download/${task.task_id}`));
    await reader.next((m) => m.type === "complete");
    assertMonotonicTo100(reader.messages);
  } finally {
    stuck.close();
  }
});

Deno.test("a plain GET on a socket endpoint says it is one: 426 upgrade_required", async () => {
  await using service = await startService();
  for (const path of ["/ws/downloads", `/ws/download/${crypto.randomUUID()}`]) {
    const response = await fetch(`${service.origin}${path}`);
    assert.equal(response.status, 426, path);
    assert.equal((await response.json()).error.code, "upgrade_required");
  }
});

Deno.test("a download reads `downloading` while its bytes arrive; `processing` only comes after", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  // The thumbnail converter runs before the download starts: that is not processing yet.
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 100_000 }) });
  await using ws = connect(service.wsUrl(`/ws/download/${task.task_id}`));
  await ws.next((m) => m.type === "complete");
  const statuses = ws.messages.filter((m) => m.type === "status").map((m) => m.data.status);
  const firstProgress = ws.messages.findIndex((m) => m.type === "progress");
  const before = ws.messages.slice(0, firstProgress).filter((m) => m.type === "status")
    .map((m) => m.data.status);
  assert.ok(!before.includes("processing"), `statuses before the first byte: ${before}`);
  assert.equal(statuses.at(-1), "completed");
});
