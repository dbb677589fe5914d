import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { processesMentioning } from "./fixtures/processes.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { listFiles, sha256 } from "./fixtures/service.ts";
import { spawnService, submitDownload } from "./fixtures/service_process.ts";
import { connect } from "./fixtures/ws_client.ts";

const mediaDir = await fixtureMedia();

async function getTask(origin: string, id: string) {
  const response = await fetch(`${origin}/api/v1/download/${id}`);
  return { status: response.status, body: await response.json() };
}

Deno.test("after SIGKILL mid-download: finished tasks are served, running ones failed as interrupted, queued ones run", async () => {
  await using source = startFixtureServer(mediaDir);
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-restart-" });
  const env = { MAX_CONCURRENT_DOWNLOADS: "1" };
  const slowUrl = source.url(MEDIA.large, { rate: 300_000 });
  let done: string, running: string, queued: string;
  {
    await using first = await spawnService(dataDir, env);
    done = await submitDownload(first.origin, source.url(MEDIA.mp4));
    await using doneWs = connect(`${first.origin.replace("http", "ws")}/ws/download/${done}`);
    await doneWs.next((m) => m.type === "complete");
    running = await submitDownload(first.origin, slowUrl);
    queued = await submitDownload(first.origin, source.url(MEDIA.mp4, { rate: 400_000 }));
    await using ws = connect(`${first.origin.replace("http", "ws")}/ws/download/${running}`);
    await ws.next((m) => m.type === "progress" && (m.data.downloaded_bytes as number) > 0);
    const status = await first.stop("SIGKILL");
    assert.equal(status.signal, "SIGKILL");
  }
  {
    await using second = await spawnService(dataDir, env);
    const finished = await getTask(second.origin, done);
    assert.equal(finished.body.status, "completed");
    const file = await fetch(`${second.origin}/api/v1/download/${done}/file`);
    assert.equal(
      await sha256(new Uint8Array(await file.arrayBuffer())),
      await sha256(join(mediaDir, MEDIA.mp4)),
    );

    const interrupted = await getTask(second.origin, running);
    assert.equal(interrupted.body.status, "failed");
    assert.equal(interrupted.body.error.code, "interrupted");
    assert.deepEqual(await processesMentioning(slowUrl), [], "the orphaned yt-dlp was stopped");
    assert.deepEqual(await listFiles(join(dataDir, "tasks", running)), []);

    await using queuedWs = connect(`${second.origin.replace("http", "ws")}/ws/download/${queued}`);
    await queuedWs.next((m) => m.type === "complete");
  }
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("SIGTERM: sockets close with 1001, yt-dlp stops, exit 0, and the download runs again on start", async () => {
  await using source = startFixtureServer(mediaDir);
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-restart-" });
  const url = source.url(MEDIA.mp4, { rate: 60_000 });
  let id: string;
  {
    await using service = await spawnService(dataDir);
    id = await submitDownload(service.origin, url);
    await using ws = connect(`${service.origin.replace("http", "ws")}/ws/downloads`);
    await ws.next((m) => m.type === "progress" && m.task_id === id);
    const status = await service.stop("SIGTERM");
    assert.equal(status.code, 0, service.output.join("\n"));
    assert.equal((await ws.closed).code, 1001);
    assert.deepEqual(await processesMentioning(url), []);
    assert.deepEqual(await listFiles(join(dataDir, "tasks", id)), []);
  }
  {
    await using service = await spawnService(dataDir);
    await using ws = connect(`${service.origin.replace("http", "ws")}/ws/download/${id}`);
    const complete = await ws.next((m) => m.type === "complete");
    assert.equal(complete.data.filesize, (await Deno.stat(join(mediaDir, MEDIA.mp4))).size);
  }
  await Deno.remove(dataDir, { recursive: true });
});
