// The yt-dlp fork server as users meet it: downloads fork from one warm Python (shown in ps as the
// yt-dlp command they run), a dead server is replaced, and without a usable Python downloads
// spawn yt-dlp as before while /healthz says why.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { processesMentioning } from "./fixtures/processes.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { startService, waitForEnd, waitForTask } from "./fixtures/service.ts";
import { testYtdlp } from "./fixtures/ytdlp.ts";
import { ForkServer, pythonOf } from "../src/ytdlp/fork_server.ts";

const mediaDir = await fixtureMedia();

async function parentOf(pid: number): Promise<number> {
  const output = await new Deno.Command("ps", { args: ["-o", "ppid=", "-p", String(pid)] })
    .output();
  return Number(new TextDecoder().decode(output.stdout).trim());
}

async function health(service: { app: { request(path: string): Promise<Response> | Response } }) {
  return await (await service.app.request("/healthz")).json();
}

Deno.test("downloads fork from the warm yt-dlp, which ps shows as the command it runs", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const url = source.url(MEDIA.large, { rate: 400_000 });
  const task = await service.submit({ url });
  await waitForTask(service.manager, task.task_id, (t) => (t.progress?.downloaded_bytes ?? 0) > 0);
  const serverPid = await service.forkServer.serverPid();
  assert.ok(serverPid !== null, "a fork server runs");
  const [child] = await processesMentioning(url);
  assert.match(child.cmd, /^yt-dlp --ignore-config .* -- http:\/\/127\.0\.0\.1/);
  assert.equal(await parentOf(child.pid), serverPid, "forked by the server, not spawned");
  const state = (await health(service)).fork_server;
  assert.equal(state.state, "ready");
  assert.equal(state.version, service.ytdlp.info().version);
  await service.app.request(`/api/v1/download/${task.task_id}`, { method: "DELETE" });
  assert.deepEqual(await processesMentioning(url), []);
  // The same service, many downloads: one server for all of them.
  const quick = await service.submit({ url: source.url(MEDIA.mp4) });
  assert.equal((await waitForEnd(service.manager, quick.task_id)).status, "completed");
  assert.equal(await service.forkServer.serverPid(), serverPid);
});

Deno.test("a fork server that dies fails its running downloads with the reason, and is replaced", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const url = source.url(MEDIA.large, { rate: 300_000 });
  const task = await service.submit({ url });
  await waitForTask(service.manager, task.task_id, (t) => (t.progress?.downloaded_bytes ?? 0) > 0);
  const serverPid = (await service.forkServer.serverPid())!;
  Deno.kill(serverPid, "SIGKILL");
  const failed = await waitForEnd(service.manager, task.task_id);
  assert.equal(failed.status, "failed");
  assert.match(failed.error!.message, /fork server stopped/, JSON.stringify(failed.error));
  assert.deepEqual(await processesMentioning(url), [], "its yt-dlp was stopped too");
  const next = await service.submit({ url: source.url(MEDIA.mp4) });
  assert.equal((await waitForEnd(service.manager, next.task_id)).status, "completed");
  const replaced = await service.forkServer.serverPid();
  assert.ok(replaced !== null && replaced !== serverPid, "a new server took over");
  assert.equal((await health(service)).fork_server.state, "ready");
});

Deno.test("without a Python that imports yt-dlp, downloads spawn yt-dlp and /healthz says why", async () => {
  await using source = startFixtureServer(mediaDir);
  // A yt-dlp whose neighbouring python is broken (an injected fault): the entry script works.
  const dir = await Deno.makeTempDir({ prefix: "ytdl-broken-venv-" });
  try {
    const real = await testYtdlp();
    await Deno.writeTextFile(
      join(dir, "python"),
      "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'yt_dlp'\" >&2\nexit 1\n",
      { mode: 0o755 },
    );
    await Deno.writeTextFile(join(dir, "yt-dlp"), `#!/bin/sh\nexec '${real}' "$@"\n`, {
      mode: 0o755,
    });
    await using service = await startService({ ytdlpPath: join(dir, "yt-dlp") });
    const task = await service.submit({ url: source.url(MEDIA.mp4) });
    assert.equal((await waitForEnd(service.manager, task.task_id)).status, "completed");
    const body = await health(service);
    assert.equal(body.status, "ok", "still healthy: downloads work");
    assert.equal(body.fork_server.state, "fallback");
    assert.match(body.fork_server.problem, /No module named 'yt_dlp'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("garbage, unknown slots and oversized requests close their connection, never the server", async () => {
  const executable = await testYtdlp();
  await using server = await ForkServer.start({
    python: (await pythonOf(executable))!,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    log: () => {},
  });
  const exchange = async (bytes: Uint8Array) => {
    using conn = await Deno.connect({ transport: "unix", path: server.socketPath });
    try {
      for (let written = 0; written < bytes.length;) {
        written += await conn.write(bytes.subarray(written));
      }
    } catch {
      // The server hung up first (the oversized request).
    }
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of conn.readable) chunks.push(chunk);
    } catch {
      // Reset by the server: nothing more to read.
    }
    return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  };
  const text = (s: string) => new TextEncoder().encode(s);
  assert.match(await exchange(text("not json\n")), /"error"/);
  assert.match(await exchange(text('{"op":"format disk"}\n')), /unknown op/);
  assert.match(
    await exchange(text('{"op":"run","argv":[],"cwd":"/","env":{},"stdout":"x","stderr":"y"}\n')),
    /unknown stream slot/,
  );
  assert.equal(await exchange(new Uint8Array(5 * 1024 * 1024).fill(0x61)), "");
  assert.equal(server.alive, true);
  // Still serving: a real run works.
  const lines: string[] = [];
  const exit = await server.run({
    executable,
    args: ["--version"],
    cwd: "/",
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    signal: new AbortController().signal,
    onLine: (line) => lines.push(line),
  });
  assert.equal(exit.code, 0);
  assert.deepEqual(lines, [server.version]);
});

// What the server computes once for its children must be what each run would compute itself:
// certificates are still verified, and each YoutubeDL still gets the extractors it asked for.
const WARM_CHECK = `
import os, ssl, sys
sys.path.insert(0, sys.argv[1])
import fork_server
yt_dlp, _ = fork_server.warm()
from yt_dlp.utils import orderedSet_from_options as original
pid = os.fork()
if pid == 0:
    try:
        common = sys.modules["yt_dlp.networking.common"]
        first = common.make_ssl_context(verify=True, legacy_support=False, use_certifi=True)
        second = common.make_ssl_context(verify=True, legacy_support=False, use_certifi=True)
        loose = common.make_ssl_context(verify=False)
        fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        import certifi
        fresh.load_verify_locations(cafile=certifi.where())
        assert first is not second, "the prepared context is handed out once"
        for context in (first, second):
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
            assert len(context.get_ca_certs()) == len(fresh.get_ca_certs()) > 100
        assert loose.verify_mode == ssl.CERT_NONE and not loose.check_hostname
        with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
            remembered = list(ydl._ies)
        with yt_dlp.YoutubeDL({"quiet": True, "allowed_extractors": ["generic"]}) as ydl:
            assert list(ydl._ies) == ["Generic"], list(ydl._ies)
        with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
            assert list(ydl._ies) == remembered
        sys.modules["yt_dlp.YoutubeDL"].orderedSet_from_options = original
        with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
            assert list(ydl._ies) == remembered and len(remembered) > 1000
        print("ok", flush=True)
        os._exit(0)
    except BaseException as error:
        print(repr(error), flush=True)
        os._exit(1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

Deno.test("what the server prepares for its children (TLS context, extractor choice) is what a run would make itself", async () => {
  const python = await pythonOf(await testYtdlp());
  assert.ok(python);
  const serverDir = new URL("../src/ytdlp/", import.meta.url).pathname;
  const output = await new Deno.Command(python, {
    args: ["-c", WARM_CHECK, serverDir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(output.stdout).trim();
  assert.equal(said, "ok", new TextDecoder().decode(output.stderr));
});

// In a container the service is pid 1, so the server's parent is pid 1 too: that must not read as
// "the service died before I started".
Deno.test("the fork server starts when the service is pid 1, as in a container", async () => {
  const python = (await pythonOf(await testYtdlp()))!;
  const dir = await Deno.makeTempDir({ prefix: "ytdl-pid1-" });
  try {
    const script = join(dir, "as_init.ts");
    const module = new URL("../src/ytdlp/fork_server.ts", import.meta.url).href;
    const options = JSON.stringify({ python, env: { PATH: "/usr/bin:/bin" } });
    await Deno.writeTextFile(
      script,
      `import { ForkServer } from ${JSON.stringify(module)};
const server = await ForkServer.start({ ...${options}, log: () => {} });
console.log(JSON.stringify({ pid: Deno.pid, version: server.version, alive: server.alive }));
await server[Symbol.asyncDispose]();`,
    );
    const output = await new Deno.Command("unshare", {
      args: ["--pid", "--fork", "--kill-child", "--", Deno.execPath(), "run", "-A", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(output.stdout).trim();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const state = JSON.parse(said);
    assert.equal(state.pid, 1, "the service really ran as pid 1");
    assert.equal(state.alive, true);
    assert.match(state.version, /^\d{4}\.\d{2}\.\d{2}/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
