import assert from "node:assert/strict";
import { defaultRequest, type DownloadRequest } from "../model/task.ts";
import { buildYtdlpArgs, type RunSettings } from "./args.ts";

const settings: RunSettings = {
  features: { progressDelta: true, jsRuntimes: true },
  proxyUrl: "http://run:token@127.0.0.1:9",
  denoPath: "/opt/deno/bin/deno",
};
const PATHS = { home: "/d", temp: "/d/.tmp" };

const base: DownloadRequest = defaultRequest("https://example.com/watch?v=1");

const valueOf = (args: string[], option: string) => args[args.indexOf(option) + 1];

Deno.test("argv ends with -- and the URL, so a URL can never become an option", () => {
  const args = buildYtdlpArgs({ ...base, url: "https://example.com/--exec=rm" }, PATHS, settings);
  assert.deepEqual(args.slice(-2), ["--", "https://example.com/--exec=rm"]);
  assert.equal(args.filter((a) => a === "--").length, 1);
  assert.equal(args[0], "--ignore-config");
});

Deno.test("every path yt-dlp writes is inside the task directory", () => {
  const args = buildYtdlpArgs(base, { home: "/data/tasks/t1", temp: "/data/tasks/t1/.tmp" }, {
    ...settings,
    cookiesFile: "/data/tasks/t1/.cookies.txt",
  });
  const paths = args.flatMap((a, i) => (args[i - 1] === "-P" ? [a] : []));
  assert.deepEqual(paths, ["home:/data/tasks/t1", "temp:/data/tasks/t1/.tmp"]);
  assert.equal(valueOf(args, "--cookies"), "/data/tasks/t1/.cookies.txt");
  assert.ok(args.includes("--no-cache-dir"));
  const template = valueOf(args, "-o");
  assert.ok(!template.includes("/") && !template.startsWith("."), template);
});

Deno.test("quality caps resolution and audio extracts with the chosen codec", () => {
  const capped = buildYtdlpArgs({ ...base, quality: "720p" }, PATHS, settings);
  assert.equal(valueOf(capped, "-S"), "res:720");
  assert.ok(!buildYtdlpArgs(base, PATHS, settings).includes("-S"));
  const audio = buildYtdlpArgs({ ...base, format: "audio", audio_format: "opus" }, PATHS, settings);
  assert.ok(audio.includes("-x"));
  assert.equal(valueOf(audio, "--audio-format"), "opus");
});

Deno.test("progress is asked for in fixed small reads, not yt-dlp's once-a-second default", () => {
  const args = buildYtdlpArgs(base, PATHS, settings);
  assert.ok(args.includes("--no-resize-buffer"));
  assert.equal(valueOf(args, "--buffer-size"), "64K");
  assert.ok(args.includes("--newline") && args.includes("--progress"));
  assert.equal(valueOf(args, "--progress-delta"), "0.05");
  const old = { ...settings, features: { progressDelta: false, jsRuntimes: false } };
  assert.ok(!buildYtdlpArgs(base, PATHS, old).includes("--progress-delta"));
});

Deno.test("every connection goes through the egress proxy, and a missing fragment is an error", () => {
  const args = buildYtdlpArgs(base, PATHS, settings);
  assert.equal(valueOf(args, "--proxy"), settings.proxyUrl);
  assert.ok(args.includes("--abort-on-unavailable-fragments"));
  assert.ok(args.indexOf("--proxy") < args.indexOf("--"));
});

Deno.test("the running Deno is always named as the JavaScript runtime, where yt-dlp knows the option", () => {
  assert.equal(
    valueOf(buildYtdlpArgs(base, PATHS, settings), "--js-runtimes"),
    "deno:/opt/deno/bin/deno",
  );
  const old = { ...settings, features: { progressDelta: true, jsRuntimes: false } };
  assert.ok(!buildYtdlpArgs(base, PATHS, old).includes("--js-runtimes"));
});

Deno.test("pacing and size limits become yt-dlp's own options only when set", () => {
  const plain = buildYtdlpArgs(base, PATHS, settings);
  for (const option of ["--sleep-requests", "--sleep-interval", "--max-filesize", "--cookies"]) {
    assert.ok(!plain.includes(option), option);
  }
  const paced = buildYtdlpArgs(base, PATHS, {
    ...settings,
    sleepRequests: 1.5,
    sleepInterval: 3,
    maxFilesize: 2048,
  });
  assert.equal(valueOf(paced, "--sleep-requests"), "1.5");
  assert.equal(valueOf(paced, "--sleep-interval"), "3");
  assert.equal(valueOf(paced, "--max-filesize"), "2048");
});

Deno.test("HLS and DASH fragments are fetched CONCURRENT_FRAGMENTS at once; 1 keeps the default", () => {
  const four = buildYtdlpArgs(base, PATHS, { ...settings, concurrentFragments: 4 });
  assert.equal(valueOf(four, "--concurrent-fragments"), "4");
  assert.ok(four.indexOf("--concurrent-fragments") < four.indexOf("--"));
  assert.ok(
    !buildYtdlpArgs(base, PATHS, { ...settings, concurrentFragments: 1 }).includes(
      "--concurrent-fragments",
    ),
  );
  assert.ok(!buildYtdlpArgs(base, PATHS, settings).includes("--concurrent-fragments"));
});
