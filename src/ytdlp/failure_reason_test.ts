import assert from "node:assert/strict";
import { failureReason, TRANSIENT_CODES } from "./failure_reason.ts";
import { parseYtdlpLine } from "./output.ts";

/**
 * ERROR lines as yt-dlp 2026.10.26 prints them: the HTTP ones recorded against a local server, the
 * YouTube ones in the wording of yt-dlp's own extractor (a video's playability reason followed by
 * its login hint).
 */
const RECORDED: [string, string, boolean][] = [
  [
    "ERROR: [generic] v: Unable to download webpage: HTTP Error 403: Forbidden (caused by <HTTPError 403: Forbidden>)",
    "source_unavailable",
    false,
  ],
  [
    "ERROR: [generic] v: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: Not Found>)",
    "source_unavailable",
    false,
  ],
  [
    "ERROR: [generic] v: Unable to download webpage: HTTP Error 410: Gone (caused by <HTTPError 410: Gone>)",
    "source_unavailable",
    false,
  ],
  [
    "ERROR: [generic] v: Unable to download webpage: HTTP Error 429: Too Many Requests (caused by <HTTPError 429: Too Many Requests>)",
    "rate_limited",
    true,
  ],
  [
    "ERROR: [generic] v: Unable to download webpage: HTTP Error 500: Internal Server Error (caused by <HTTPError 500: Internal Server Error>)",
    "source_error",
    true,
  ],
  [
    "ERROR: [generic] v: Unable to download webpage: HTTP Error 503: Service Unavailable (caused by <HTTPError 503: Service Unavailable>)",
    "source_error",
    true,
  ],
  ["ERROR: Unsupported URL: http://example.com/page.html", "unsupported_url", false],
  [
    "ERROR: \r[download] Got error: 1000 bytes read, 999000 more expected. Giving up after 1 retries",
    "connection_lost",
    true,
  ],
  [
    "ERROR: [youtube] jNQXAC9IVRw: Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on effectively exporting YouTube cookies",
    "login_required",
    false,
  ],
  [
    "ERROR: [youtube] jNQXAC9IVRw: Sign in to confirm your age. This video may be inappropriate for some users. Use --cookies-from-browser or --cookies for the authentication.",
    "login_required",
    false,
  ],
  [
    "ERROR: [youtube] jNQXAC9IVRw: Join this channel to get access to members-only content like this video, and other exclusive perks.",
    "login_required",
    false,
  ],
  [
    "ERROR: [youtube] jNQXAC9IVRw: Private video. Sign in if you've been granted access to this video. Use --cookies-from-browser or --cookies for the authentication.",
    "private_video",
    false,
  ],
  [
    "ERROR: [youtube] jNQXAC9IVRw: Video unavailable. This video has been removed by the uploader",
    "video_removed",
    false,
  ],
  [
    "ERROR: [youtube] jNQXAC9IVRw: The uploader has not made this video available in your country",
    "geo_blocked",
    false,
  ],
  [
    "ERROR: [vimeo] 76979871: This video is not available from your location due to geo restriction",
    "geo_blocked",
    false,
  ],
  [
    "ERROR: [generic] v: Requested format is not available. Use --list-formats for a list of available formats",
    "format_unavailable",
    false,
  ],
];

Deno.test("recorded yt-dlp errors map to stable codes, transient or permanent as they should retry", () => {
  for (const [line, code, transient] of RECORDED) {
    const [record] = parseYtdlpLine(line);
    assert.ok(record?.kind === "error", line);
    const reason = failureReason(record.message, 1);
    assert.equal(reason.code, code, line);
    assert.equal(TRANSIENT_CODES.has(reason.code), transient, `${code} transient`);
    assert.ok(!reason.message.includes("\r") && !reason.message.startsWith("ERROR"));
  }
  assert.deepEqual(failureReason(null, 2), {
    code: "download_failed",
    message: "yt-dlp exited with code 2 without saying why",
  });
  assert.deepEqual(failureReason(null, 66, "flock: cannot open lock file x: No such file\n"), {
    code: "download_failed",
    message: "yt-dlp exited with code 66: flock: cannot open lock file x: No such file",
  });
});
