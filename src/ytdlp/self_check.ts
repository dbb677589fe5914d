import { join } from "node:path";
import { probeYtdlp, type YtdlpProbe } from "./probe.ts";

/** Raised when a yt-dlp fails its self-test; the message says which check failed. */
export class SelfTestError extends Error {
  override name = "SelfTestError";
}

/** What a self-test needs besides the executable. */
export interface SelfTestOptions {
  denoPath: string;
  /** A scratch directory the test may fill (the media file is cached there too). */
  workDir: string;
  /** The environment yt-dlp runs with. */
  env: Record<string, string>;
  /** The version the executable must report, when known. */
  expectedVersion?: string | null;
}

/**
 * Checks a freshly installed yt-dlp before anything depends on it: it runs and reports the
 * expected version, finds the JavaScript runtime (the running Deno), has YouTube's challenge
 * solver (yt-dlp-ejs), and really downloads a small media file that this process serves to it on
 * loopback, byte for byte.
 */
export async function selfTestYtdlp(path: string, options: SelfTestOptions): Promise<YtdlpProbe> {
  const probe = await probeYtdlp(path, options.denoPath, options.env);
  if (probe.problem !== null) throw new SelfTestError(probe.problem);
  if (options.expectedVersion && probe.version !== options.expectedVersion) {
    throw new SelfTestError(`reports version ${probe.version}, not ${options.expectedVersion}`);
  }
  if (!probe.jsRuntime?.startsWith("deno")) {
    throw new SelfTestError(
      `finds no JavaScript runtime (JS runtimes: ${probe.jsRuntime ?? "none"})`,
    );
  }
  if (probe.ejs === null) throw new SelfTestError("has no yt-dlp-ejs (YouTube's challenge solver)");

  await Deno.mkdir(options.workDir, { recursive: true });
  const media = await selfTestMedia(options.workDir);
  const bytes = await Deno.readFile(media);
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    (request) =>
      new URL(request.url).pathname === "/selftest.mp4"
        ? new Response(bytes, { headers: { "content-type": "video/mp4" } })
        : new Response("not found", { status: 404 }),
  );
  const out = join(options.workDir, "out");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const timeout = AbortSignal.timeout(120_000);
  try {
    const result = await new Deno.Command(path, {
      args: [
        "--ignore-config",
        "--no-cache-dir",
        ...(probe.features.jsRuntimes ? ["--js-runtimes", `deno:${options.denoPath}`] : []),
        "-P",
        out,
        "-o",
        "selftest.%(ext)s",
        "--",
        `http://127.0.0.1:${server.addr.port}/selftest.mp4`,
      ],
      env: options.env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: timeout,
    }).output();
    if (!result.success) {
      const error = new TextDecoder().decode(result.stderr).trim().split("\n").at(-1) ?? "";
      throw new SelfTestError(`test download failed (exit ${result.code}): ${error.slice(0, 400)}`);
    }
    const got = await Deno.readFile(join(out, "selftest.mp4")).catch(() => null);
    if (got === null || got.length !== bytes.length || !got.every((b, i) => b === bytes[i])) {
      throw new SelfTestError("test download did not produce the served file byte for byte");
    }
    return probe;
  } finally {
    controller.abort();
    await server.finished;
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

/** A one-second mp4 made with ffmpeg, cached in `dir`. */
async function selfTestMedia(dir: string): Promise<string> {
  const path = join(dir, "selftest.mp4");
  try {
    await Deno.stat(path);
    return path;
  } catch {
    // Made below.
  }
  const scratch = `${path}.tmp.mp4`;
  const output = await new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=160x120:rate=10:duration=1",
      "-c:v",
      "libx264",
      "-pix_fmt",
      "yuv420p",
      scratch,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output().catch((error) => {
    throw new SelfTestError(`cannot make the test media with ffmpeg: ${error.message}`);
  });
  if (!output.success) {
    throw new SelfTestError(`ffmpeg failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  await Deno.rename(scratch, path);
  return path;
}
