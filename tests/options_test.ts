/** The per-download options people reach for, over real yt-dlp and fixture media. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CHAPTERS, fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { probe, sha256, startService, waitForEnd } from "./fixtures/service.ts";

const mediaDir = await fixtureMedia();

/** Seconds of video in a file, by its frames (25 a second in the fixtures). */
async function videoSeconds(path: string): Promise<number> {
  const output = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-count_packets",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=nb_read_packets",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(output.stdout).trim()) / 25;
}

/** Streams and chapters of a media file, as ffprobe sees them. */
async function inspect(path: string) {
  const output = await new Deno.Command("ffprobe", {
    args: ["-v", "error", "-show_streams", "-show_chapters", "-show_format", "-of", "json", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const json = JSON.parse(new TextDecoder().decode(output.stdout));
  return {
    streams: json.streams as { codec_type: string; disposition?: { attached_pic?: number } }[],
    chapters: (json.chapters as { tags?: { title?: string } }[]).map((c) => c.tags?.title),
    duration: Number(json.format.duration),
    format: String(json.format.format_name),
  };
}

Deno.test("GET /formats lists what yt-dlp sees, under the URL policy, and remembers it a while", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ allowedNetworks: "127.0.0.1/32" });
  const url = source.url(MEDIA.dash);
  const response = await service.app.request(`/api/v1/formats?url=${encodeURIComponent(url)}`);
  assert.equal(response.status, 200);
  const listing = await response.json();
  assert.equal(listing.kind, "video");
  const ids = listing.formats.map((f: { format_id: string }) => f.format_id).sort();
  assert.deepEqual(ids, ["0", "1"]);
  const video = listing.formats.find((f: { vcodec: string | null }) =>
    f.vcodec?.startsWith("avc1")
  );
  assert.equal(video.resolution, "320x240");
  assert.ok(video.tbr > 0);
  const requests = source.requests.length;
  const again = await (await service.app.request(`/api/v1/formats?url=${encodeURIComponent(url)}`))
    .json();
  assert.deepEqual(again, listing);
  assert.equal(source.requests.length, requests, "answered from the cache");

  const inside = await service.app.request(
    `/api/v1/formats?url=${encodeURIComponent("http://10.0.0.1/v.mp4")}`,
  );
  assert.equal(inside.status, 422);
  assert.equal((await inside.json()).error.code, "url_not_allowed");
  const missing = await service.app.request(
    `/api/v1/formats?url=${encodeURIComponent(source.url("missing.mp4"))}`,
  );
  assert.equal(missing.status, 422);
  assert.equal((await missing.json()).error.code, "source_unavailable");
  assert.equal((await service.app.request("/api/v1/formats?url=ftp://x")).status, 422);
});

Deno.test("a chosen format id and container are what the file has", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const videoOnly = await waitForEnd(
    service.manager,
    (await service.submit({ url: source.url(MEDIA.dash), format_id: "0" })).task_id,
  );
  assert.equal(videoOnly.status, "completed", JSON.stringify(videoOnly.error));
  assert.equal(videoOnly.format_id, "0", "the task says what was asked");
  assert.deepEqual((await probe((await service.manager.file(videoOnly.task_id)).path)).streams, [
    "video",
  ]);

  const mkv = await waitForEnd(
    service.manager,
    (await service.submit({ url: source.url(MEDIA.dash), container: "mkv", codec: "h264" }))
      .task_id,
  );
  assert.equal(mkv.status, "completed", JSON.stringify(mkv.error));
  assert.match(mkv.filename!, /\.mkv$/);
  assert.match((await inspect((await service.manager.file(mkv.task_id)).path)).format, /matroska/);
  for (
    const body of [{ format_id: "-x" }, { format_id: "0;ls" }, { container: "avi" }, { codec: "x" }]
  ) {
    assert.equal((await service.post({ url: source.url(MEDIA.dash), ...body })).status, 422);
  }
});

Deno.test("subtitles: embedded in the video, or saved beside it, or on their own", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const url = source.url(MEDIA.subtitlesPage);
  const embedded = await waitForEnd(
    service.manager,
    (await service.submit({ url, subtitles: ["en"] })).task_id,
  );
  assert.equal(embedded.status, "completed", JSON.stringify(embedded.error));
  const streams = (await inspect((await service.manager.file(embedded.task_id)).path)).streams;
  assert.ok(streams.some((s) => s.codec_type === "subtitle"), "a subtitle stream in the mp4");

  const beside = await waitForEnd(
    service.manager,
    (await service.submit({
      url,
      subtitles: ["en"],
      embed_subtitles: false,
      subtitle_format: "srt",
    }))
      .task_id,
  );
  const names = beside.files.map((f) => f.name);
  assert.equal(names.length, 2, `${names}`);
  const srt = names.find((n) => n.endsWith(".en.srt"))!;
  const served = await fetch(
    `${service.origin}/api/v1/download/${beside.task_id}/file?name=${encodeURIComponent(srt)}`,
  );
  assert.equal(served.status, 200);
  assert.match(await served.text(), /Hello from the fixture/);

  const only = await waitForEnd(
    service.manager,
    (await service.submit({ url, format: "subtitles", subtitles: "all", subtitle_format: "vtt" }))
      .task_id,
  );
  assert.equal(only.status, "completed", JSON.stringify(only.error));
  assert.equal(only.files.length, 1);
  assert.match(only.files[0].name, /^Subtitled clip \[subs-1\]\.en\.vtt$/);
  const missing = await service.app.request(
    `/api/v1/download/${beside.task_id}/file?name=${encodeURIComponent("../../tasks.kv")}`,
  );
  assert.equal(missing.status, 404, "only the task's own files are served");
});

Deno.test("the thumbnail is kept and served from the task, and embedded on request", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await waitForEnd(
    service.manager,
    (await service.submit({ url: source.url(MEDIA.subtitlesPage), embed_thumbnail: true })).task_id,
  );
  assert.equal(task.status, "completed", JSON.stringify(task.error));
  assert.equal(task.thumbnail, true);
  const image = await fetch(`${service.origin}/api/v1/download/${task.task_id}/thumbnail`);
  assert.equal(image.status, 200);
  assert.equal(image.headers.get("content-type"), "image/jpeg");
  const bytes = new Uint8Array(await image.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8], "a JPEG");
  const streams = (await inspect((await service.manager.file(task.task_id)).path)).streams;
  assert.ok(streams.some((s) => s.disposition?.attached_pic === 1), "cover art in the mp4");
  assert.ok(!task.files.some((f) => f.name.includes("thumbnail")), "not listed as a file");
});

Deno.test("chapters are kept by default, and split into one served file per chapter", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const url = source.url(MEDIA.chaptersPage);
  const whole = await waitForEnd(service.manager, (await service.submit({ url })).task_id);
  assert.equal(whole.status, "completed", JSON.stringify(whole.error));
  assert.deepEqual(
    (await inspect((await service.manager.file(whole.task_id)).path)).chapters,
    CHAPTERS.map(([, , title]) => title),
  );
  const split = await waitForEnd(
    service.manager,
    (await service.submit({ url, split_chapters: true })).task_id,
  );
  assert.equal(split.status, "completed", JSON.stringify(split.error));
  const parts = split.files.filter((f) => / - 00\d /.test(f.name));
  assert.equal(parts.length, 3, JSON.stringify(split.files));
  for (const [i, [start, end, title]] of CHAPTERS.entries()) {
    const part = parts.find((f) => f.name.includes(`00${i + 1} ${title}`))!;
    const response = await fetch(
      `${service.origin}/api/v1/download/${split.task_id}/file?name=${
        encodeURIComponent(part.name)
      }`,
    );
    assert.equal(response.status, 200);
    const saved = join(await Deno.makeTempDir(), "part.mp4");
    await Deno.writeFile(saved, new Uint8Array(await response.arrayBuffer()));
    // The container's own duration is copied from the whole; the frames tell the truth.
    const seconds = await videoSeconds(saved);
    assert.ok(Math.abs(seconds - (end - start)) < 0.6, `${title}: ${seconds} s of video`);
  }
});

Deno.test("a clip is only the section asked for; a file name follows a safe template", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const clip = await waitForEnd(
    service.manager,
    (await service.submit({
      url: source.url(MEDIA.mp4),
      section: { start: "00:00:01", end: "00:00:03" },
      filename_template: "%(title)s - clip [%(id)s].%(ext)s",
    })).task_id,
  );
  assert.equal(clip.status, "completed", JSON.stringify(clip.error));
  assert.equal(clip.filename, "clip - clip [clip].mp4");
  const seconds = await videoSeconds((await service.manager.file(clip.task_id)).path);
  assert.ok(Math.abs(seconds - 2) < 0.6, `clip of ${seconds} s of video`);
  assert.deepEqual(clip.section, { start: "00:00:01", end: "00:00:03" });
  for (
    const body of [
      { section: { start: "00:00:03", end: "00:00:01" } },
      { section: { start: "soon", end: "later" } },
      { filename_template: "../%(title)s.%(ext)s" },
      { filename_template: "%(filepath)s.%(ext)s" },
      { rate_limit: "fast" },
    ]
  ) {
    const response = await service.post({ url: source.url(MEDIA.mp4), ...body });
    assert.equal(response.status, 422, JSON.stringify(body));
  }
  const limited = await service.submit({ url: source.url(MEDIA.mp4), rate_limit: "500K" });
  assert.equal(limited.rate_limit, "500K");
  assert.equal((await waitForEnd(service.manager, limited.task_id)).status, "completed");
  assert.equal(
    await sha256((await service.manager.file(limited.task_id)).path),
    await sha256(join(mediaDir, MEDIA.mp4)),
  );
});
