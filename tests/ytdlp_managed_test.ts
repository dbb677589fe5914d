/**
 * The managed yt-dlp as `deno task start` runs it, on a machine with no yt-dlp: installed with pip
 * on first start, updated without disturbing a running download, a broken release refused by the
 * self-test, rolled back. pip installs from a local index of real wheels, so this runs offline.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { sha256 } from "./fixtures/service.ts";
import { spawnService } from "./fixtures/service_process.ts";
import { connect } from "./fixtures/ws_client.ts";
import { RELEASES, startPackageIndex, ytdlpWheels } from "./fixtures/ytdlp.ts";

const mediaDir = await fixtureMedia();

/** PATH without any directory that holds a yt-dlp, as on a fresh machine. */
function pathWithoutYtdlp(): string {
  return (Deno.env.get("PATH") ?? "").split(":").filter((dir) => {
    try {
      Deno.statSync(join(dir, "yt-dlp"));
      return false;
    } catch {
      return true;
    }
  }).join(":");
}

/** A release that installs and reports its version but cannot download. */
async function brokenRelease(version: string): Promise<string> {
  const out = await Deno.makeTempDir({ prefix: "ytdl-broken-" });
  const wheel = join(await ytdlpWheels(), `yt_dlp-${RELEASES.current}-py3-none-any.whl`);
  const result = await new Deno.Command(Deno.env.get("PYTHON") ?? "python3", {
    args: [join(import.meta.dirname!, "fixtures", "broken_wheel.py"), wheel, version, out],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
  return new TextDecoder().decode(result.stdout).trim();
}

Deno.test("managed yt-dlp: first-start install, update, a broken release refused, rollback", async () => {
  await using source = startFixtureServer(mediaDir);
  await using index = await startPackageIndex(await ytdlpWheels());
  index.hide(RELEASES.current);
  await using service = await spawnService(undefined, {
    YTDLP_PATH: "",
    PATH: pathWithoutYtdlp(),
    YTDLP_PIP_INDEX: index.url,
  }, 180_000);
  const api = async (path: string, method = "GET") => {
    const response = await fetch(`${service.origin}${path}`, { method });
    return { status: response.status, body: await response.json() };
  };
  const download = async (url: string) => {
    const response = await fetch(`${service.origin}/api/v1/download`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url }),
    });
    assert.equal(response.status, 202);
    return (await response.json()).task_id as string;
  };
  const finished = async (id: string) => {
    await using ws = connect(`${service.origin.replace("http", "ws")}/ws/download/${id}`);
    return await ws.next((m) => m.type === "complete" || m.type === "error", 120_000);
  };

  // First start: installed from the index, with pip's progress in the log.
  const log = service.output.join("\n");
  assert.match(log, /none installed .*installing yt-dlp\[default\] with pip/);
  assert.match(log, /yt-dlp: pip: .*(Collecting|Processing|Installing)/);
  const installed = (await api("/api/v1/ytdlp")).body;
  assert.equal(installed.managed, true);
  assert.equal(installed.version, RELEASES.old);
  assert.equal(installed.channel, "stable");
  assert.match(installed.js_runtime, /^deno-/);
  assert.equal(installed.ejs, "0.8.0");
  assert.ok(installed.release_age_days >= 0);
  assert.equal(installed.path.startsWith(join(service.dataDir, "yt-dlp", "venvs")), true);
  assert.equal(installed.update.last_attempt.outcome, "updated");
  const health = await api("/healthz");
  assert.equal(health.status, 200);
  assert.equal(health.body.ytdlp.version, RELEASES.old);

  // An update while a download runs: the download finishes on the yt-dlp it started with.
  const running = await download(source.url(MEDIA.mp4, { rate: 100_000 }));
  index.show(RELEASES.current);
  const updated = await api("/api/v1/ytdlp/update", "POST");
  assert.equal(updated.status, 200);
  assert.deepEqual(
    [updated.body.attempt.outcome, updated.body.attempt.from, updated.body.attempt.to],
    ["updated", RELEASES.old, RELEASES.current],
  );
  assert.equal(updated.body.ytdlp.version, RELEASES.current);
  assert.equal(updated.body.ytdlp.previous, RELEASES.old);
  assert.equal((await finished(running)).type, "complete");
  const after = await download(source.url(MEDIA.mp4));
  assert.equal((await finished(after)).type, "complete");
  // Downloads fork from a server for the new release: the old one stopped with its last run.
  const forked = (await api("/healthz")).body.fork_server;
  assert.deepEqual([forked.state, forked.version], ["ready", RELEASES.current]);
  const file = await fetch(`${service.origin}/api/v1/download/${after}/file`);
  assert.equal(
    await sha256(new Uint8Array(await file.arrayBuffer())),
    await sha256(join(mediaDir, MEDIA.mp4)),
  );

  assert.equal((await api("/api/v1/ytdlp/update", "POST")).body.attempt.outcome, "up_to_date");

  // A newer release that cannot download: refused by the self-test, the current one stays.
  index.add(await brokenRelease("2026.12.1"));
  const refused = (await api("/api/v1/ytdlp/update", "POST")).body;
  assert.equal(refused.attempt.outcome, "failed");
  assert.equal(refused.attempt.to, "2026.12.1");
  assert.match(refused.attempt.reason, /self-test: test download failed/);
  assert.equal(refused.ytdlp.version, RELEASES.current);
  const venvs = [...Deno.readDirSync(join(service.dataDir, "yt-dlp", "venvs"))];
  assert.equal(venvs.length, 2, "the broken venv is gone; current and previous stay");
  const unhealthyNote = (await api("/healthz")).body.ytdlp.update.last_attempt;
  assert.equal(unhealthyNote.outcome, "failed");

  // Rollback to the release before.
  const rolled = (await api("/api/v1/ytdlp/rollback", "POST")).body;
  assert.equal(rolled.attempt.outcome, "rolled_back");
  assert.equal(rolled.ytdlp.version, RELEASES.old);
  assert.equal(rolled.ytdlp.previous, RELEASES.current);
  const again = await download(source.url(MEDIA.mp4));
  assert.equal((await finished(again)).type, "complete");
  assert.equal((await api("/healthz")).body.fork_server.version, RELEASES.old);
});

Deno.test("an operator's own yt-dlp (YTDLP_PATH) is reported and never updated", async () => {
  await using service = await spawnService();
  const info = await (await fetch(`${service.origin}/api/v1/ytdlp`)).json();
  assert.equal(info.managed, false);
  assert.equal(info.version, RELEASES.current);
  assert.equal(info.update, null);
  const update = await fetch(`${service.origin}/api/v1/ytdlp/update`, { method: "POST" });
  assert.equal(update.status, 409);
  assert.equal((await update.json()).error.code, "not_managed");
});
