import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { finishedFiles, listFiles, startService, waitForEnd } from "./fixtures/service.ts";
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

  const first = await service.sweep(t0 + 3600_000 + 1);
  assert.deepEqual(first.expired, [early.task_id]);
  assert.deepEqual(first.orphans, ["orphan-dir"]);
  assert.deepEqual(first.errors, []);
  assert.equal(manager.state(early.task_id), "unknown");
  assert.equal((await service.app.request(`/api/v1/download/${early.task_id}`)).status, 404);
  assert.deepEqual(
    (await listFiles(manager.tasksDir)).sort(),
    finishedFiles(manager.get(late.task_id).filename!).map((f) => `${late.task_id}/${f}`),
  );
  await watcher.next((m) => m.type === "removed" && m.task_id === early.task_id);
  assert.equal(service.hub.size, hubBefore, "the feed subscriber stays");

  const late_file = await fetch(`${service.origin}/api/v1/download/${late.task_id}/file`);
  assert.equal(late_file.status, 200);
  await late_file.body?.cancel();

  const second = await service.sweep(t0 + 1800_000 + 3600_000);
  assert.deepEqual(second.expired.sort(), [late.task_id, failed.task_id].sort());
  assert.deepEqual(manager.list(100).tasks, []);
  assert.deepEqual(await listFiles(manager.tasksDir), []);
  assert.deepEqual(await service.sweep(t0 + 10 * 3600_000), {
    expired: [],
    orphans: [],
    errors: [],
  });
});

Deno.test("the sweep leaves a running download alone", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 100_000 }) });
  await using ws = connect(service.wsUrl(`/ws/download/${task.task_id}`));
  await ws.next((m) => m.type === "progress");
  const result = await service.sweep(Date.now() + 365 * 86400_000);
  assert.deepEqual(result, { expired: [], orphans: [], errors: [] });
  await ws.next((m) => m.type === "complete");
});

Deno.test("retention follows the value configured at sweep time, not the one when the task ended", async () => {
  await using source = startFixtureServer(mediaDir);
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-retention-" });
  const finishedAt = Date.parse("2026-11-29T10:00:00Z");
  let taskId: string;
  {
    await using service = await startService({
      dataDir,
      retentionSeconds: 86400,
      now: () => finishedAt,
    });
    const task = await service.submit({ url: source.url(MEDIA.mp4) });
    taskId = task.task_id;
    assert.equal((await waitForEnd(service.manager, taskId)).status, "completed");
    assert.equal(
      service.manager.get(taskId).expires_at,
      new Date(finishedAt + 86400_000).toISOString(),
    );
  }
  {
    // Restarted with a day lowered to a minute: the task is a minute past due, and is swept.
    await using service = await startService({ dataDir, retentionSeconds: 60 });
    assert.equal(
      service.manager.get(taskId).expires_at,
      new Date(finishedAt + 60_000).toISOString(),
    );
    assert.deepEqual((await service.sweep(finishedAt + 59_000)).expired, []);
    assert.deepEqual((await service.sweep(finishedAt + 61_000)).expired, [taskId]);
  }
  await Deno.remove(dataDir, { recursive: true });
});
