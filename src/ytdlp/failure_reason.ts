import type { TaskError } from "../model/task.ts";

/**
 * yt-dlp's error lines mapped to stable codes, most specific first (a YouTube bot check arrives as
 * a plain message, a geo block can come with a 403). Codes are what API clients and the page branch
 * on; the message stays yt-dlp's own words.
 */
const KNOWN: [RegExp, string][] = [
  [
    /Sign in to confirm (you.re not a bot|your age)|only available for registered users|members-only|Join this channel to get access|This video is age-restricted|login required|requires? (an? )?(account|login|authentication)/i,
    "login_required",
  ],
  [/Private video|This video is private/i, "private_video"],
  [
    /not made this video available in your country|not available (from|in) your (location|country)|geo[- ]?restrict/i,
    "geo_blocked",
  ],
  [
    /Video unavailable|has been removed|no longer available|account (associated with this video )?has been terminated|This video does not exist/i,
    "video_removed",
  ],
  [/Unsupported URL/i, "unsupported_url"],
  [/HTTP Error 429|Too Many Requests/i, "rate_limited"],
  [/HTTP Error 5\d\d/i, "source_error"],
  [/HTTP Error 4\d\d|404: Not Found|403: Forbidden/i, "source_unavailable"],
  [
    /Giving up after \d+ retries|Connection reset|Connection refused|timed out|IncompleteRead|Remote end closed|more expected|Temporary failure in name resolution/i,
    "connection_lost",
  ],
  [/Requested format is not available/i, "format_unavailable"],
  [/ffmpeg|ffprobe|Postprocessing|Conversion failed/i, "postprocessing_failed"],
];

/**
 * Failures worth another try after a pause: the network, the site's load, our own stall timer.
 * Everything else (a 404, a private or removed video, a geo block, a login wall, a refused URL)
 * fails the same way every time, so it is reported at once instead.
 */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  "connection_lost",
  "source_error",
  "rate_limited",
  "unreachable",
  "stalled",
]);

/**
 * Turns yt-dlp's last ERROR line (or its exit alone) into the reason shown to the user; the code
 * lets API clients branch without parsing English.
 */
export function failureReason(
  errorLine: string | null,
  exitCode: number,
  lastStderrLine: string | null = null,
): TaskError {
  if (errorLine === null) {
    return {
      code: "download_failed",
      message: lastStderrLine
        ? `yt-dlp exited with code ${exitCode}: ${lastStderrLine.trim()}`
        : `yt-dlp exited with code ${exitCode} without saying why`,
    };
  }
  const message = errorLine.replaceAll("\r", "").replace(/\s+/g, " ").trim();
  const code = KNOWN.find(([pattern]) => pattern.test(message))?.[1] ?? "download_failed";
  return { code, message };
}
