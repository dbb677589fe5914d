import type { TaskError } from "../model/task.ts";

const KNOWN: [RegExp, string][] = [
  [/Unsupported URL/i, "unsupported_url"],
  [/HTTP Error 4\d\d|404: Not Found|403: Forbidden/i, "source_unavailable"],
  [/HTTP Error 5\d\d/i, "source_error"],
  [
    /Giving up after \d+ retries|Connection reset|timed out|IncompleteRead|Remote end closed/i,
    "connection_lost",
  ],
  [/ffmpeg|ffprobe|Postprocessing|Conversion failed/i, "postprocessing_failed"],
  [/Requested format is not available/i, "format_unavailable"],
];

/**
 * Turns yt-dlp's last ERROR line (or its exit alone) into the reason shown to the user; the code
 * lets API clients branch without parsing English.
 */
export function failureReason(errorLine: string | null, exitCode: number): TaskError {
  if (errorLine === null) {
    return {
      code: "download_failed",
      message: `yt-dlp exited with code ${exitCode} without saying why`,
    };
  }
  const code = KNOWN.find(([pattern]) => pattern.test(errorLine))?.[1] ?? "download_failed";
  return { code, message: errorLine };
}
