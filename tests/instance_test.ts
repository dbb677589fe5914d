/** The service as `deno task start` runs it: one per DATA_DIR, clear exits, a damaged index survived. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { sha256 } from "./fixtures/service.ts";
import { runUntilExit, spawnService, submitDownload } from "./fixtures/service_process.ts";
import { connect } from "./fixtures/ws_client.ts";

const mediaDir = await fixtureMedia();

Deno.test("a second instance on the same DATA_DIR exits 2 naming it and the holder; the first is untouched", async () => {
  await using source = startFixtureServer(mediaDir);
  await using first = await spawnService();
  const id = await submitDownload(first.origin, source.url(MEDIA.mp4, { rate: 150_000 }));
  await using ws = connect(`${first.origin.replace("http", "ws")}/ws/download/${id}`);
  await ws.next((m) => m.type === "progress");

  const second = await runUntilExit({ DATA_DIR: first.dataDir });
  assert.equal(second.code, 2);
  assert.match(
    second.stderr,
    new RegExp(`DATA_DIR '${first.dataDir}' is in use .*\\(pid ${first.pid}\\)`),
  );
  assert.doesNotMatch(second.stderr, /\bat\b.*\.ts:\d+/, "no stack trace");

  const complete = await ws.next((m) => m.type === "complete");
  assert.equal(complete.data.filesize, (await Deno.stat(join(mediaDir, MEDIA.mp4))).size);
});

Deno.test("a port in use is one clear line, before any recovery or sweep", async () => {
  await using first = await spawnService();
  const port = new URL(first.origin).port;
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-port-" });
  const second = await runUntilExit({ DATA_DIR: dataDir, PORT: port });
  assert.equal(second.code, 2);
  assert.equal(
    second.stderr.trim(),
    `port ${port} on 127.0.0.1 is already in use (set PORT to another one)`,
  );
  assert.deepEqual(
    [...Deno.readDirSync(dataDir)].map((e) => e.name),
    [".lock"],
    "nothing else touched",
  );
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("every bad setting exits 2 naming the variable, before anything starts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-config-" });
  for (
    const [name, value] of [
      ["PORT", "0x50"],
      ["PORT", "80.0"],
      ["CLEANUP_SCHEDULE", "99 99 * * *"],
      ["TASK_RETENTION_SECONDS", "10000000000000"],
      ["MAX_CONCURRENT_DOWNLOADS", "1e3"],
      ["MAX_FILESIZE", "lots"],
      ["ALLOWED_PRIVATE_NETWORKS", "lan"],
      ["ALLOWED_ORIGINS", "not an origin"],
    ]
  ) {
    const run = await runUntilExit({ DATA_DIR: dataDir, [name]: value });
    assert.equal(run.code, 2, `${name}=${value}: ${run.stderr}`);
    assert.match(
      run.stderr,
      new RegExp(`${name}=${JSON.stringify(value).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `),
    );
    assert.doesNotMatch(run.stdout, /listening/);
  }
  assert.deepEqual([...Deno.readDirSync(dataDir)], [], "DATA_DIR was not touched");
  await Deno.remove(dataDir);
});

for (
  const [damage, corrupt] of [
    ["zeroed pages (Deno itself panics on it)", async (path: string) => {
      const size = (await Deno.stat(path)).size;
      using file = await Deno.open(path, { write: true });
      await file.seek(4096, Deno.SeekMode.Start);
      await file.write(new Uint8Array(Math.max(size - 4096, 4096)));
    }],
    ["random bytes", async (path: string) => {
      await Deno.writeFile(path, crypto.getRandomValues(new Uint8Array(20_000)));
    }],
  ] as const
) {
  Deno.test(`a tasks.kv with ${damage} is set aside and the finished files adopted again`, async () => {
    await using source = startFixtureServer(mediaDir);
    const dataDir = await Deno.makeTempDir({ prefix: "ytdl-corrupt-" });
    let id: string;
    {
      await using service = await spawnService(dataDir);
      id = await submitDownload(service.origin, source.url(MEDIA.mp4));
      await using ws = connect(`${service.origin.replace("http", "ws")}/ws/download/${id}`);
      await ws.next((m) => m.type === "complete");
      assert.equal((await service.stop("SIGTERM")).code, 0);
    }
    await corrupt(join(dataDir, "tasks.kv"));
    {
      await using service = await spawnService(dataDir);
      const log = service.output.join("\n");
      assert.match(log, /tasks\.kv could not be used .*moved it to .*tasks\.kv\.corrupt-/);
      const aside = [...Deno.readDirSync(dataDir)].filter((e) =>
        e.name.startsWith("tasks.kv.corrupt-")
      );
      assert.equal(aside.length, 1);
      const task = await (await fetch(`${service.origin}/api/v1/download/${id}`)).json();
      assert.equal(task.status, "completed");
      const file = await fetch(`${service.origin}/api/v1/download/${id}/file`);
      assert.equal(
        await sha256(new Uint8Array(await file.arrayBuffer())),
        await sha256(join(mediaDir, MEDIA.mp4)),
      );
    }
    await Deno.remove(dataDir, { recursive: true });
  });
}

Deno.test("a relative DATA_DIR (the default is ./data) works: yt-dlp runs elsewhere", async () => {
  await using source = startFixtureServer(mediaDir);
  const relative = `test-data-${crypto.randomUUID()}`;
  const root = join(import.meta.dirname!, "..");
  try {
    await using service = await spawnService(relative);
    assert.equal(service.dataDir, relative);
    const id = await submitDownload(service.origin, source.url(MEDIA.mp4));
    await using ws = connect(`${service.origin.replace("http", "ws")}/ws/download/${id}`);
    const complete = await ws.next((m) => m.type === "complete" || m.type === "error");
    assert.equal(complete.type, "complete", JSON.stringify(complete.data));
    const file = await fetch(`${service.origin}/api/v1/download/${id}/file`);
    assert.equal(
      await sha256(new Uint8Array(await file.arrayBuffer())),
      await sha256(join(mediaDir, MEDIA.mp4)),
    );
    await Deno.stat(join(root, relative, "tasks", id));
  } finally {
    await Deno.remove(join(root, relative), { recursive: true }).catch(() => {});
  }
});
