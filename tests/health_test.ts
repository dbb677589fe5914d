/** /healthz is cheap and tells the truth about yt-dlp and storage; failed writes reach the caller. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { startService, waitForEnd, waitForTask } from "./fixtures/service.ts";
import { stub } from "./fixtures/stub.ts";
import { testYtdlp } from "./fixtures/ytdlp.ts";

const mediaDir = await fixtureMedia();

/** Real yt-dlp behind a script that notes each start, to count the Pythons the service runs. */
async function countingYtdlp(): Promise<{ path: string; starts(): Promise<number> }> {
  const dir = await Deno.makeTempDir({ prefix: "ytdl-count-" });
  const log = join(dir, "starts");
  const path = join(dir, "yt-dlp");
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\necho "$*" >> '${log}'\nexec '${await testYtdlp()}' "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return {
    path,
    starts: async () => (await Deno.readTextFile(log)).trim().split("\n").length,
  };
}

Deno.test("a hundred concurrent health checks start no yt-dlp and report the service's state", async () => {
  const ytdlp = await countingYtdlp();
  await using service = await startService({ ytdlpPath: ytdlp.path, maxQueued: 50 });
  const atStart = await ytdlp.starts();
  const responses = await Promise.all(
    Array.from({ length: 100 }, () => service.app.request("/healthz")),
  );
  const bodies = await Promise.all(responses.map((r) => r.json()));
  assert.ok(responses.every((r) => r.status === 200));
  assert.equal(await ytdlp.starts(), atStart, "no yt-dlp started for a health check");
  const body = bodies[0];
  assert.equal(body.status, "ok");
  assert.match(body.ytdlp.version, /^\d{4}\.\d{2}\.\d{2}/);
  assert.equal(body.storage.writable, true);
  assert.ok(body.storage.free_bytes > 0);
  assert.deepEqual(body.queue, {
    queued: 0,
    running: 0,
    total: 0,
    max_queued: 50,
    max_running: 3,
  });
});

Deno.test("when writes fail: POST answers 503 and creates nothing, /healthz answers 503, both recover", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  {
    using _kv = stub(Deno.Kv.prototype, "set", () => Promise.reject(new Error("disk full")));
    using _probe = stub(
      Deno,
      "writeTextFile",
      (original, path, data, options) =>
        String(path).endsWith(".write-probe")
          ? Promise.reject(new Error("No space left on device (os error 28)"))
          : original(path, data, options),
    );
    const response = await service.post({ url: source.url(MEDIA.mp4) });
    assert.equal(response.status, 503);
    const body = await response.json();
    assert.equal(body.error.code, "storage_unavailable");
    assert.match(body.error.message, /disk full/);
    assert.equal(service.manager.counts().total, 0, "nothing was queued");

    const health = await service.app.request("/healthz");
    assert.equal(health.status, 503);
    const reasons = (await health.json()).reasons.join("\n");
    assert.match(reasons, /DATA_DIR is not writable: No space left/);
    assert.match(reasons, /task records cannot be saved: disk full/);
  }
  const task = await service.submit({ url: source.url(MEDIA.mp4) });
  assert.equal((await waitForEnd(service.manager, task.task_id)).status, "completed");
  assert.equal((await service.app.request("/healthz")).status, 200);
});

Deno.test("a record that cannot be saved is flagged on the task, and saved once writes work again", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await service.submit({ url: source.url(MEDIA.mp4, { rate: 150_000 }) });
  await waitForTask(service.manager, task.task_id, (t) => t.progress !== null);
  {
    using _kv = stub(Deno.Kv.prototype, "set", () => Promise.reject(new Error("disk full")));
    const flagged = await waitForTask(
      service.manager,
      task.task_id,
      (t) => t.status === "completed" && t.storage_error !== null,
    );
    assert.match(flagged.storage_error!, /could not be saved.*disk full/);
    assert.equal((await service.app.request("/healthz")).status, 503);
  }
  // The next successful write (another task) clears the alarm and saves the flagged record.
  const next = await service.submit({ url: source.url(MEDIA.mp4) });
  const saved = await waitForTask(service.manager, task.task_id, (t) => t.storage_error === null);
  assert.equal(saved.status, "completed");
  await waitForEnd(service.manager, next.task_id);
  assert.equal((await service.app.request("/healthz")).status, 200);
});
