import assert from "node:assert/strict";
import { buildYtdlpArgs } from "./args.ts";
import type { DownloadRequest } from "../model/task.ts";

const features = { progressDelta: true };

const base: DownloadRequest = {
  url: "https://example.com/watch?v=1",
  format: "video",
  quality: "best",
  audio_format: "mp3",
};

Deno.test("argv ends with -- and the URL, so a URL can never become an option", () => {
  const args = buildYtdlpArgs(
    { ...base, url: "https://example.com/--exec=rm" },
    "/data/tasks/t1",
    features,
  );
  assert.deepEqual(args.slice(-2), ["--", "https://example.com/--exec=rm"]);
  assert.equal(args.filter((a) => a === "--").length, 1);
  assert.equal(args[0], "--ignore-config");
});

Deno.test("every path yt-dlp writes is inside the task directory", () => {
  const args = buildYtdlpArgs(base, "/data/tasks/t1", features);
  const paths = args.flatMap((a, i) => (args[i - 1] === "-P" ? [a] : []));
  assert.deepEqual(paths, ["home:/data/tasks/t1", "temp:/data/tasks/t1/.tmp"]);
  assert.ok(args.includes("--no-cache-dir"));
  const template = args[args.indexOf("-o") + 1];
  assert.ok(!template.includes("/") && !template.startsWith("."), template);
});

Deno.test("quality caps resolution and audio extracts with the chosen codec", () => {
  const capped = buildYtdlpArgs({ ...base, quality: "720p" }, "/d", features);
  assert.equal(capped[capped.indexOf("-S") + 1], "res:720");
  assert.ok(!buildYtdlpArgs(base, "/d", features).includes("-S"));
  const audio = buildYtdlpArgs({ ...base, format: "audio", audio_format: "opus" }, "/d", features);
  assert.ok(audio.includes("-x"));
  assert.equal(audio[audio.indexOf("--audio-format") + 1], "opus");
});

Deno.test("progress is asked for in fixed small reads, not yt-dlp's once-a-second default", () => {
  const args = buildYtdlpArgs(base, "/d", features);
  assert.ok(args.includes("--no-resize-buffer"));
  assert.equal(args[args.indexOf("--buffer-size") + 1], "64K");
  assert.ok(args.includes("--newline") && args.includes("--progress"));
  assert.equal(args[args.indexOf("--progress-delta") + 1], "0.05");
  assert.ok(!buildYtdlpArgs(base, "/d", { progressDelta: false }).includes("--progress-delta"));
});
