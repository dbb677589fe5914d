import assert from "node:assert/strict";
import { buildYtdlpArgs } from "./args.ts";
import type { DownloadRequest } from "../model/task.ts";

const features = { progressDelta: true };
const PROXY = "http://run:token@127.0.0.1:9";
const PATHS = { home: "/d", temp: "/d/.tmp" };

const base: DownloadRequest = {
  url: "https://example.com/watch?v=1",
  format: "video",
  quality: "best",
  audio_format: "mp3",
};

Deno.test("argv ends with -- and the URL, so a URL can never become an option", () => {
  const args = buildYtdlpArgs(
    { ...base, url: "https://example.com/--exec=rm" },
    { home: "/data/tasks/t1", temp: "/data/tasks/t1/.tmp" },
    features,
    PROXY,
  );
  assert.deepEqual(args.slice(-2), ["--", "https://example.com/--exec=rm"]);
  assert.equal(args.filter((a) => a === "--").length, 1);
  assert.equal(args[0], "--ignore-config");
});

Deno.test("every path yt-dlp writes is inside the task directory", () => {
  const args = buildYtdlpArgs(
    base,
    { home: "/data/tasks/t1", temp: "/data/tasks/t1/.tmp" },
    features,
    PROXY,
  );
  const paths = args.flatMap((a, i) => (args[i - 1] === "-P" ? [a] : []));
  assert.deepEqual(paths, ["home:/data/tasks/t1", "temp:/data/tasks/t1/.tmp"]);
  assert.ok(args.includes("--no-cache-dir"));
  const template = args[args.indexOf("-o") + 1];
  assert.ok(!template.includes("/") && !template.startsWith("."), template);
});

Deno.test("quality caps resolution and audio extracts with the chosen codec", () => {
  const capped = buildYtdlpArgs({ ...base, quality: "720p" }, PATHS, features, PROXY);
  assert.equal(capped[capped.indexOf("-S") + 1], "res:720");
  assert.ok(!buildYtdlpArgs(base, PATHS, features, PROXY).includes("-S"));
  const audio = buildYtdlpArgs(
    { ...base, format: "audio", audio_format: "opus" },
    PATHS,
    features,
    PROXY,
  );
  assert.ok(audio.includes("-x"));
  assert.equal(audio[audio.indexOf("--audio-format") + 1], "opus");
});

Deno.test("progress is asked for in fixed small reads, not yt-dlp's once-a-second default", () => {
  const args = buildYtdlpArgs(base, PATHS, features, PROXY);
  assert.ok(args.includes("--no-resize-buffer"));
  assert.equal(args[args.indexOf("--buffer-size") + 1], "64K");
  assert.ok(args.includes("--newline") && args.includes("--progress"));
  assert.equal(args[args.indexOf("--progress-delta") + 1], "0.05");
  assert.ok(
    !buildYtdlpArgs(base, PATHS, { progressDelta: false }, PROXY).includes("--progress-delta"),
  );
});

Deno.test("every connection goes through the egress proxy, and a missing fragment is an error", () => {
  const args = buildYtdlpArgs(base, PATHS, features, PROXY);
  assert.equal(args[args.indexOf("--proxy") + 1], PROXY);
  assert.ok(args.includes("--abort-on-unavailable-fragments"));
  assert.ok(args.indexOf("--proxy") < args.indexOf("--"));
});
