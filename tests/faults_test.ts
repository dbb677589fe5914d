/**
 * Faults the real world produces but not on demand (a slow `stat`, an EACCES, a file deleted behind
 * the service's back), injected with stubs, and hostile remote data.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { listFiles, sha256, startService, waitForEnd, waitForTask } from "./fixtures/service.ts";
import { stub } from "./fixtures/stub.ts";

const mediaDir = await fixtureMedia();

/** A gate a stub waits at: the test learns when it is reached and decides when it opens. */
function gate() {
  const reached = Promise.withResolvers<void>();
  const open = Promise.withResolvers<void>();
  return {
    reached: reached.promise,
    open: () => open.resolve(),
    async wait() {
      reached.resolve();
      await open.promise;
    },
  };
}

Deno.test("a DELETE while the run checks its finished file wins: cancelled, no file, no 500", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 200_000 }) });
  const dir = service.manager.taskDir(task.task_id);
  const finalStat = gate();
  let deleted: Promise<Response>;
  {
    using _stat = stub(Deno, "stat", async (original, path) => {
      if (String(path).startsWith(dir) && String(path).endsWith(".mp4")) await finalStat.wait();
      return await original(path);
    });
    await finalStat.reached;
    deleted = fetch(`${service.origin}/api/v1/download/${task.task_id}`, { method: "DELETE" });
    await waitForTask(service.manager, task.task_id, (t) => t.status === "cancelled");
    finalStat.open();
  }
  const response = await deleted;
  assert.equal(response.status, 200);
  assert.equal((await response.json()).status, "cancelled");
  assert.equal(service.manager.get(task.task_id).status, "cancelled");
  const file = await service.app.request(`/api/v1/download/${task.task_id}/file`);
  assert.equal(file.status, 409);
  assert.equal((await file.json()).error.code, "no_file");
  assert.deepEqual(await listFiles(dir), []);
});

Deno.test("a DELETE while a failed run cleans up stays a cancel, not a failure", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url("missing.mp4") });
  const dir = service.manager.taskDir(task.task_id);
  const cleanup = gate();
  let deleted: Promise<Response>;
  {
    using _remove = stub(Deno, "remove", async (original, path, options) => {
      if (String(path) === dir) await cleanup.wait();
      return await original(path, options);
    });
    await cleanup.reached;
    deleted = fetch(`${service.origin}/api/v1/download/${task.task_id}`, { method: "DELETE" });
    await waitForTask(service.manager, task.task_id, (t) => t.status === "cancelled");
    cleanup.open();
    assert.equal((await deleted).status, 200);
  }
  const final = service.manager.get(task.task_id);
  assert.equal(final.status, "cancelled");
  assert.equal(final.error, null);
});

Deno.test("a cleanup that fails with EACCES is logged; the task still ends and the service goes on", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const failing = await service.submit({ url: source.url("missing.mp4") });
  const dir = service.manager.taskDir(failing.task_id);
  {
    using _remove = stub(
      Deno,
      "remove",
      (original, path, options) =>
        String(path) === dir
          ? Promise.reject(new Deno.errors.PermissionDenied("Permission denied (os error 13)"))
          : original(path, options),
    );
    const ended = await waitForEnd(service.manager, failing.task_id);
    assert.equal(ended.status, "failed");
    assert.equal(ended.error?.code, "source_unavailable", JSON.stringify(ended.error));
  }
  assert.ok(service.logs.some((line) => /could not remove .*Permission denied/.test(line)));
  // The sweep, which runs later, removes what was left.
  const swept = await service.sweep(Date.now());
  assert.deepEqual(swept.errors, []);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  const next = await service.submit({ url: source.url(MEDIA.mp4) });
  assert.equal((await waitForEnd(service.manager, next.task_id)).status, "completed");
});

Deno.test("a sweep that cannot delete says so and carries on with the rest", async () => {
  await using service = await startService();
  await Deno.mkdir(join(service.manager.tasksDir, "orphan-a"));
  await Deno.mkdir(join(service.manager.tasksDir, "orphan-b"));
  using _remove = stub(
    Deno,
    "remove",
    (original, path, options) =>
      String(path).endsWith("orphan-a")
        ? Promise.reject(new Deno.errors.PermissionDenied("Permission denied (os error 13)"))
        : original(path, options),
  );
  const result = await service.sweep(Date.now());
  assert.deepEqual(result.orphans, ["orphan-b"]);
  assert.equal(result.errors.length, 1);
  assert.match(result.errors[0], /could not remove orphan-a: Permission denied/);
  assert.ok(service.logs.some((line) => JSON.parse(line).msg === result.errors[0]));
});

Deno.test("a finished file deleted behind the service's back answers 410, not 500", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4) });
  await waitForEnd(service.manager, task.task_id);
  const { path } = await service.manager.file(task.task_id);
  await Deno.remove(path);
  for (const method of ["GET", "HEAD"]) {
    const response = await service.app.request(`/api/v1/download/${task.task_id}/file`, { method });
    assert.equal(response.status, 410, method);
    if (method === "GET") assert.equal((await response.json()).error.code, "file_gone");
  }
});

Deno.test("a 100,000-character title is cut for storage and headers, and survives a restart", async () => {
  await using source = startFixtureServer(mediaDir);
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-title-" });
  let taskId: string;
  {
    await using service = await startService({ dataDir });
    const task = await service.submit({ url: source.url("long-title.html") });
    taskId = task.task_id;
    const ended = await waitForEnd(service.manager, taskId);
    assert.equal(ended.status, "completed", JSON.stringify(ended.error));
    assert.ok([...ended.title!].length <= 300, `title of ${ended.title!.length}`);
    assert.ok(ended.title!.startsWith("긴제목긴제목"));
    assert.equal(ended.storage_error, null);
  }
  {
    await using service = await startService({ dataDir });
    const task = service.manager.get(taskId);
    assert.equal(task.status, "completed");
    const response = await fetch(`${service.origin}/api/v1/download/${taskId}/file`);
    assert.equal(response.status, 200);
    const disposition = response.headers.get("content-disposition")!;
    assert.ok(disposition.length < 2048, `Content-Disposition of ${disposition.length} bytes`);
    assert.equal(
      await sha256(new Uint8Array(await response.arrayBuffer())),
      await sha256(join(mediaDir, MEDIA.mp4)),
    );
  }
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("restored records are validated; a bad one is dropped and its finished files adopted", async () => {
  await using source = startFixtureServer(mediaDir);
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-records-" });
  let good: string;
  let bad: string;
  {
    await using service = await startService({ dataDir });
    good = (await service.submit({ url: source.url(MEDIA.mp4) })).task_id;
    bad = (await service.submit({ url: source.url(MEDIA.koreanPage) })).task_id;
    await waitForEnd(service.manager, good);
    await waitForEnd(service.manager, bad);
  }
  // Damage one record the way a bug or an old version might leave it.
  {
    using kv = await Deno.openKv(join(dataDir, "tasks.kv"));
    await kv.set(["tasks", bad], { version: 1, task: { task_id: bad, status: "exploded" } });
    await kv.set(["tasks", "not-a-task"], "garbage");
  }
  {
    await using service = await startService({ dataDir });
    assert.equal(service.manager.get(good).status, "completed");
    const adopted = service.manager.get(bad);
    assert.equal(adopted.status, "completed");
    assert.match(adopted.title!, /한국어 제목/);
    const events = service.logs.map((line) => JSON.parse(line));
    assert.ok(events.some((e) => e.task_id === bad && /stored record is invalid/.test(e.msg)));
    assert.ok(events.some((e) => e.task_id === bad && e.msg === "adopted from its directory"));
    const file = await fetch(`${service.origin}/api/v1/download/${bad}/file`);
    assert.equal(file.status, 200);
    await file.body?.cancel();
  }
  await Deno.remove(dataDir, { recursive: true });
});
