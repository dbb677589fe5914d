import type { YtdlpFeatures } from "./args.ts";

/** What a yt-dlp executable is, as far as the service cares; `problem` when it is unusable. */
export interface YtdlpProbe {
  version: string | null;
  /** `stable` or `nightly`, from the build's own header. */
  channel: string | null;
  /** Version of the yt-dlp-ejs package (YouTube's JavaScript challenge solver), if installed. */
  ejs: string | null;
  /** The JavaScript runtime yt-dlp found, e.g. `deno-2.9.6`; null when none. */
  jsRuntime: string | null;
  features: YtdlpFeatures;
  problem: string | null;
}

const NO_FEATURES: YtdlpFeatures = { progressDelta: false, jsRuntimes: false };

/**
 * Asks an executable what it is: `--help` for the options it accepts, then one verbose run (against
 * a closed loopback port, so it ends at once) whose header names the version, the channel, the
 * optional libraries and the JavaScript runtimes. A missing or broken executable is reported in
 * `problem`, never thrown.
 */
export async function probeYtdlp(
  executable: string,
  denoPath: string,
  env?: Record<string, string>,
): Promise<YtdlpProbe> {
  const run = async (args: string[]) => {
    const output = await new Deno.Command(executable, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(env ? { env, clearEnv: true } : {}),
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { ...output, text: decode(output.stdout) + decode(output.stderr) };
  };
  try {
    const help = await run(["--ignore-config", "--help"]);
    if (!help.success) {
      return blank(
        `yt-dlp --help exited with code ${help.code}: ${help.text.trim().slice(0, 300)}`,
      );
    }
    const features: YtdlpFeatures = {
      progressDelta: help.text.includes("--progress-delta"),
      jsRuntimes: help.text.includes("--js-runtimes"),
    };
    const verbose = await run([
      "-v",
      "--ignore-config",
      ...(features.jsRuntimes ? ["--js-runtimes", `deno:${denoPath}`] : []),
      "--simulate",
      "--no-warnings",
      "--socket-timeout",
      "2",
      "--",
      "http://127.0.0.1:9/",
    ]);
    return { ...parseVerboseHeader(verbose.text), features, problem: null };
  } catch (error) {
    return blank(
      error instanceof Deno.errors.NotFound
        ? `yt-dlp not found at '${executable}'`
        : String((error as Error)?.message ?? error),
    );
  }
}

/** Reads the `[debug]` header yt-dlp prints with `-v`. */
export function parseVerboseHeader(
  text: string,
): Pick<YtdlpProbe, "version" | "channel" | "ejs" | "jsRuntime"> {
  const version = text.match(/^\[debug\] yt-dlp version (?:(\w+)@)?(\S+)/m);
  const libraries = text.match(/^\[debug\] Optional libraries: (.*)$/m)?.[1] ?? "";
  const runtimes = text.match(/^\[debug\] JS runtimes: (.*)$/m)?.[1]?.trim() ?? "none";
  return {
    version: version?.[2] ?? null,
    channel: version ? version[1] ?? "stable" : null,
    ejs: libraries.match(/\byt_dlp_ejs-([\w.]+)/)?.[1] ?? null,
    jsRuntime: runtimes === "none" ? null : runtimes.split(",")[0].trim(),
  };
}

function blank(problem: string): YtdlpProbe {
  return {
    version: null,
    channel: null,
    ejs: null,
    jsRuntime: null,
    features: NO_FEATURES,
    problem,
  };
}

/** Whether flock(1) from util-linux is on PATH (Debian and its images always have it). */
export async function hasFlock(): Promise<boolean> {
  try {
    const output = await new Deno.Command("flock", {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}
