import type { YtdlpHealth } from "./app.ts";

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
