import assert from "node:assert/strict";
import { join } from "node:path";
import { sweep } from "../src/downloads/cleanup.ts";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { listFiles, startService, waitForEnd } from "./fixtures/service.ts";
import { connect } from "./fixtures/ws_client.ts";

const mediaDir = await fixtureMedia();

Deno.test("the sweep removes exactly the expired tasks, orphan directories and stray partial files", async () => {
  await using source = startFixtureServer(mediaDir);
  const t0 = Date.parse("2026-11-29T10:00:00Z");
  let now = t0;
  await using service = await startService({ now: () => now, retentionSeconds: 3600 });
  const { manager } = service;

  const early = await service.submit({ url: source.url(MEDIA.mp4) });
  await waitForEnd(manager, early.task_id);
  now = t0 + 1800_000;
  const late = await service.submit({ url: source.url(MEDIA.mp4) });
  const failed = await service.submit({ url: source.url("missing.mp4") });
  await waitForEnd(manager, late.task_id);
  await waitForEnd(manager, failed.task_id);
  assert.equal(manager.get(early.task_id).expires_at, new Date(t0 + 3600_000).toISOString());

  // Left behind by a crash: a directory of no task, and partial files of a task that is not running.
  await Deno.mkdir(join(manager.tasksDir, "orphan-dir", ".tmp"), { recursive: true });
  await Deno.writeTextFile(join(manager.tasksDir, "orphan-dir", ".tmp", "x.mp4.part"), "partial");
  await Deno.mkdir(manager.taskDir(failed.task_id), { recursive: true });
  await Deno.writeTextFile(join(manager.taskDir(failed.task_id), "clip.f1.mp4.part"), "partial");
  await Deno.mkdir(join(manager.taskDir(late.task_id), ".tmp"), { recursive: true });
  await Deno.writeTextFile(join(manager.taskDir(late.task_id), ".tmp", "clip.mp4.ytdl"), "{}");

  await using watcher = connect(service.wsUrl("/ws/downloads"));
  await watcher.next((m) => m.type === "complete" && m.task_id === late.task_id);
  const hubBefore = service.hub.size;

  const first = await sweep(manager, t0 + 3600_000 + 1);
  assert.deepEqual(first.expired, [early.task_id]);
  assert.deepEqual(first.orphans, ["orphan-dir"]);
  assert.equal(manager.state(early.task_id), "unknown");
  assert.equal((await service.app.request(`/api/v1/download/${early.task_id}`)).status, 404);
  assert.deepEqual(
    (await listFiles(manager.tasksDir)).sort(),
    [`${late.task_id}/${manager.get(late.task_id).filename}`],
  );
  await watcher.next((m) => m.type === "removed" && m.task_id === early.task_id);
  assert.equal(service.hub.size, hubBefore, "the feed subscriber stays");

  const late_file = await fetch(`${service.origin}/api/v1/download/${late.task_id}/file`);
  assert.equal(late_file.status, 200);
  await late_file.body?.cancel();

  const second = await sweep(manager, t0 + 1800_000 + 3600_000);
  assert.deepEqual(second.expired.sort(), [late.task_id, failed.task_id].sort());
  assert.deepEqual(manager.list(), []);
  assert.deepEqual(await listFiles(manager.tasksDir), []);
  assert.deepEqual(await sweep(manager, t0 + 10 * 3600_000), { expired: [], orphans: [] });
});

Deno.test("the sweep leaves a running download alone", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 100_000 }) });
  await using ws = connect(service.wsUrl(`/ws/download/${task.task_id}`));
  await ws.next((m) => m.type === "progress");
  const result = await sweep(service.manager, Date.now() + 365 * 86400_000);
  assert.deepEqual(result, { expired: [], orphans: [] });
  await ws.next((m) => m.type === "complete");
});
