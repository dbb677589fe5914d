import type { DownloadRequest } from "../model/task.ts";
import { ytdlpTemplate } from "./filename_template.ts";

/** Separates yt-dlp's machine-readable records from anything else it prints; JSON never holds it raw. */
export const RECORD_MARK = "\x1e";

/**
 * Fixed read size for HTTP downloads. yt-dlp normally grows its buffer until one read takes about a
 * second, so progress would arrive once per second; a fixed 64 KiB keeps reports under 70 ms apart
 * at 1 MB/s. Printing every read would cost ~10% on a fast local fetch, so where yt-dlp supports it
 * `--progress-delta` caps the lines at 20 a second (see docs/benchmarks.md).
 */
export const BUFFER_SIZE = "64K";

/** Seconds between progress lines, matching the hub's 20 messages a second. */
export const PROGRESS_DELTA = "0.05";

/** Where yt-dlp puts finished files (`home`) and partial ones until it moves them (`temp`). */
export interface OutputPaths {
  home: string;
  temp: string;
}

/** Options the installed yt-dlp may lack (Debian's 2023.03.04 has neither of these). */
export interface YtdlpFeatures {
  progressDelta: boolean;
  /** `--js-runtimes`, which lets the service name its own Deno for YouTube's challenge solver. */
  jsRuntimes: boolean;
}

const PROGRESS_FIELDS =
  "status,downloaded_bytes,total_bytes,total_bytes_estimate,speed,eta,elapsed,fragment_index,fragment_count";

/** How one run is set up, besides what was asked for and where files go. */
export interface RunSettings {
  features: YtdlpFeatures;
  /** The egress proxy every connection goes through (yt-dlp passes it on to ffmpeg). */
  proxyUrl: string;
  /** The running Deno, named as yt-dlp's JavaScript runtime so YouTube's solver needs no PATH. */
  denoPath: string;
  /** Bytes; yt-dlp refuses announced sizes above it before the first byte. */
  maxFilesize?: number | null;
  /** A Netscape cookies file of the run's own (yt-dlp writes cookies back into it). */
  cookiesFile?: string | null;
  /** HLS and DASH fragments fetched at once (`--concurrent-fragments`); 1 or unset: one by one. */
  concurrentFragments?: number;
  /** Seconds to wait between a run's requests, and before each download. */
  sleepRequests?: number;
  sleepInterval?: number;
  /** Speed cap when the request names none (`DEFAULT_RATE_LIMIT`). */
  defaultRateLimit?: string | null;
}

/** Where a task's thumbnail is kept (beside its files, as bookkeeping). */
export const THUMBNAIL_NAME = ".thumbnail";

/** The default file name: the title and the id, each capped. */
export const DEFAULT_TEMPLATE = "%(title).120B [%(id).40B].%(ext)s";

/**
 * Builds the argv for one task. The URL is always the last element, after `--`, so no URL can be
 * read as an option; every path yt-dlp may write is pinned inside `paths`; every connection goes
 * through the egress proxy.
 */
export function buildYtdlpArgs(
  request: DownloadRequest,
  paths: OutputPaths,
  settings: RunSettings,
): string[] {
  const { features, maxFilesize = null, cookiesFile = null } = settings;
  return [
    "--ignore-config",
    // Refused before the first byte when the source announces its size; the run watches the rest.
    ...(maxFilesize === null ? [] : ["--max-filesize", String(maxFilesize)]),
    ...(features.progressDelta ? ["--progress-delta", PROGRESS_DELTA] : []),
    ...(features.jsRuntimes ? ["--js-runtimes", `deno:${settings.denoPath}`] : []),
    ...(cookiesFile === null ? [] : ["--cookies", cookiesFile]),
    ...((settings.concurrentFragments ?? 1) > 1
      ? ["--concurrent-fragments", String(settings.concurrentFragments)]
      : []),
    ...(settings.sleepRequests ? ["--sleep-requests", String(settings.sleepRequests)] : []),
    ...(settings.sleepInterval ? ["--sleep-interval", String(settings.sleepInterval)] : []),
    ...((request.rate_limit ?? settings.defaultRateLimit)
      ? ["--limit-rate", (request.rate_limit ?? settings.defaultRateLimit)!]
      : []),
    "--proxy",
    settings.proxyUrl,
    // A fragment that cannot be fetched fails the download instead of leaving a hole in the file.
    "--abort-on-unavailable-fragments",
    // --print would otherwise silence yt-dlp's own notices (such as a file over --max-filesize).
    "--no-quiet",
    "--no-cache-dir",
    "--no-playlist",
    // A playlist's entries are listed, not downloaded: each becomes a task of its own.
    "--flat-playlist",
    ...(request.playlist_item !== null
      ? ["--playlist-items", String(request.playlist_item)]
      : request.playlist_items !== null
      ? ["--playlist-items", request.playlist_items]
      : []),
    "--no-mtime",
    "--no-colors",
    "--newline",
    "--no-resize-buffer",
    "--buffer-size",
    BUFFER_SIZE,
    "--progress",
    "--progress-template",
    `download:${RECORD_MARK}progress %(progress.{${PROGRESS_FIELDS}})j %(info.{format_id})j`,
    "--progress-template",
    `postprocess:${RECORD_MARK}postprocess %(progress.{status,postprocessor})j\n`,
    "--print",
    `video:${RECORD_MARK}entry %(.{id,title,url,webpage_url,playlist_index,playlist_count,playlist_title,_type,duration})j`,
    "--print",
    `before_dl:${RECORD_MARK}info %(.{id,title,ext,duration})j %(requested_formats.:.{format_id,filesize,filesize_approx,tbr})j`,
    "--print",
    `after_move:${RECORD_MARK}file %(filepath)j`,
    "-P",
    `home:${paths.home}`,
    "-P",
    `temp:${paths.temp}`,
    "-o",
    request.filename_template === null
      ? DEFAULT_TEMPLATE
      : ytdlpTemplate(request.filename_template),
    // The thumbnail is kept for the page (served from here, never fetched by the browser).
    "--write-thumbnail",
    "--convert-thumbnails",
    "jpg",
    "-o",
    `thumbnail:${THUMBNAIL_NAME}.%(ext)s`,
    ...formatArgs(request),
    ...extraArgs(request),
    "--",
    request.url,
  ];
}

function formatArgs(request: DownloadRequest): string[] {
  if (request.format === "subtitles") return ["--skip-download"];
  if (request.format === "audio") {
    return [
      "-f",
      request.format_id ?? "ba/b",
      "-x",
      "--audio-format",
      request.audio_format,
      "--audio-quality",
      "0",
    ];
  }
  const sort = [
    ...(request.quality === "best" ? [] : [`res:${request.quality.slice(0, -1)}`]),
    ...(request.codec === null ? [] : [`vcodec:${CODEC_SORT[request.codec]}`]),
  ];
  return [
    "-f",
    request.format_id ?? "bv*+ba/b",
    ...(sort.length ? ["-S", sort.join(",")] : []),
    // A container that takes thumbnails, chapters and subtitles unless webm was asked for.
    ...(request.container === null
      ? ["--merge-output-format", "mp4/mkv", "--remux-video", "webm>mkv"]
      : ["--merge-output-format", request.container, "--remux-video", request.container]),
  ];
}

const CODEC_SORT = { h264: "h264", h265: "h265", av1: "av01", vp9: "vp9" } as const;

/** Subtitles, what is embedded, chapters and clips. */
function extraArgs(request: DownloadRequest): string[] {
  const video = request.format === "video";
  const args: string[] = [];
  if (request.subtitles !== null) {
    args.push(
      "--write-subs",
      "--sub-langs",
      request.subtitles === "all" ? "all" : request.subtitles.join(","),
      "--convert-subs",
      request.subtitle_format,
    );
    if (request.auto_subtitles) args.push("--write-auto-subs");
    // mp4 and mkv hold subtitles; otherwise (audio, webm) they are saved beside the file.
    if (video && request.embed_subtitles && request.container !== "webm") args.push("--embed-subs");
  }
  if (request.format !== "subtitles") {
    if (request.embed_metadata) args.push("--embed-metadata");
    if (request.embed_chapters) args.push("--embed-chapters");
    // Every audio format here takes a cover; of the video containers, webm does not.
    const holdsThumbnail = !video || request.container !== "webm";
    if (request.embed_thumbnail && holdsThumbnail) args.push("--embed-thumbnail");
    if (request.split_chapters) {
      args.push(
        "--split-chapters",
        "-o",
        "chapter:%(title).80B - %(section_number)03d %(section_title).80B [%(id).40B].%(ext)s",
      );
    }
    if (request.section !== null) {
      args.push("--download-sections", `*${request.section.start}-${request.section.end}`);
    }
  }
  return args;
}
