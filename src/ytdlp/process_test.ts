import assert from "node:assert/strict";
import { fixtureMedia, MEDIA } from "../../tests/fixtures/media.ts";
import { processesMentioning } from "../../tests/fixtures/processes.ts";
import { startFixtureServer } from "../../tests/fixtures/server.ts";
import { testYtdlp } from "../../tests/fixtures/ytdlp.ts";
import { childEnv, runYtdlp, YtdlpNotFoundError } from "./process.ts";

Deno.test("a listener that throws stops the run: the child is killed and awaited, the error surfaces", async () => {
  await using source = startFixtureServer(await fixtureMedia());
  const url = source.url(MEDIA.large, { rate: 100_000 });
  const dir = await Deno.makeTempDir();
  let lines = 0;
  await assert.rejects(
    runYtdlp({
      executable: await testYtdlp(),
      args: ["--ignore-config", "--newline", "-P", dir, "--", url],
      cwd: dir,
      env: childEnv(Deno.env.toObject()),
      signal: new AbortController().signal,
      onLine: () => {
        lines++;
        throw new Error("listener broke");
      },
    }),
    /listener broke/,
  );
  assert.equal(lines, 1, "no line after the failure");
  assert.deepEqual(await processesMentioning(url), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a missing executable is told apart, with and without flock", async () => {
  for (const lockPath of [null, `${await Deno.makeTempDir()}/run.lock`]) {
    await assert.rejects(
      runYtdlp({
        executable: "/nonexistent/yt-dlp",
        args: ["--version"],
        cwd: "/",
        env: {},
        signal: new AbortController().signal,
        onLine: () => {},
        lockPath,
      }),
      YtdlpNotFoundError,
    );
  }
});

Deno.test("the child gets no proxy variables: the egress proxy is its only way out", () => {
  assert.deepEqual(
    childEnv({ PATH: "/bin", http_proxy: "x", HTTPS_PROXY: "y", no_proxy: "*", ALL_PROXY: "z" }),
    { PATH: "/bin" },
  );
});
