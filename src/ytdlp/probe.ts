import type { YtdlpFeatures } from "./args.ts";

/** Result of asking yt-dlp for its version; null version means it is unusable. */
export interface YtdlpHealth {
  version: string | null;
  reason?: string;
}

/** Asks yt-dlp for its version; a missing or broken executable is reported, not thrown. */
export async function probeYtdlp(executable: string, signal?: AbortSignal): Promise<YtdlpHealth> {
  try {
    const output = await new Deno.Command(executable, {
      args: ["--ignore-config", "--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
    const version = new TextDecoder().decode(output.stdout).trim();
    if (output.success && version !== "") return { version };
    return { version: null, reason: `yt-dlp --version exited with code ${output.code}` };
  } catch (error) {
    return {
      version: null,
      reason: error instanceof Deno.errors.NotFound
        ? `yt-dlp not found at '${executable}'`
        : String(error),
    };
  }
}

/** Reads `--help` once at start-up to learn which optional flags this yt-dlp accepts. */
export async function probeYtdlpFeatures(executable: string): Promise<YtdlpFeatures> {
  try {
    const output = await new Deno.Command(executable, {
      args: ["--ignore-config", "--help"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return { progressDelta: new TextDecoder().decode(output.stdout).includes("--progress-delta") };
  } catch {
    return { progressDelta: false };
  }
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
