import type { LogFields } from "../log/logger.ts";
import { basename, dirname, join, resolve } from "node:path";
import {
  clip,
  type DownloadRequest,
  MAX_MESSAGE_LENGTH,
  MAX_TITLE_LENGTH,
  type Progress,
  type TaskError,
  type TaskFile,
} from "../model/task.ts";
import type { Egress } from "../net/egress_proxy.ts";
import { scrub, urlSecrets } from "../net/redact.ts";
import { buildYtdlpArgs, THUMBNAIL_NAME } from "../ytdlp/args.ts";
import { failureReason } from "../ytdlp/failure_reason.ts";
import { parseYtdlpLine } from "../ytdlp/output.ts";
import { runYtdlp, type YtdlpLauncher, YtdlpNotFoundError } from "../ytdlp/process.ts";
import { ProgressTracker } from "../ytdlp/progress_tracker.ts";
import type { YtdlpSource } from "../ytdlp/source.ts";
import type { CookieStore } from "./cookie_store.ts";
import type { TaskLayout } from "./task_layout.ts";

/** One download to run: the task's id and what was asked, with the URL as submitted. */
export interface DownloadJob {
  taskId: string;
  request: DownloadRequest;
}

/** One entry of a playlist that has a URL of its own (YouTube's, a feed's). */
export interface PlaylistEntry {
  url: string;
  index: number;
  title: string | null;
  playlistTitle: string | null;
  duration: number | null;
}

/** What a run reports while it goes; called synchronously, in order. */
export interface RunEvents {
  title(title: string): void;
  /** The video's length and whether its thumbnail is kept, once yt-dlp knows. */
  details(details: { duration: number | null; thumbnail: boolean }): void;
  progress(progress: Progress): void;
  /** yt-dlp started post-processing (merging, converting). */
  processing(): void;
  /** The URL is a playlist; its entries stream in as yt-dlp lists them. */
  entry(entry: PlaylistEntry): void;
}

/**
 * How a run ended. `stopped`: its signal was aborted (a cancel or a shutdown). `playlist`: the URL
 * is a playlist; its entries went out through `entry`, or (`byIndex`) they are reachable only by
 * their index in the page, which lists `byIndex.count` of them.
 */
export type RunOutcome =
  | {
    kind: "completed";
    filename: string;
    filesize: number;
    files: TaskFile[];
    thumbnail: boolean;
    /** Seconds, from the site or else from the file itself. */
    duration: number | null;
    progress: Progress;
  }
  | {
    kind: "playlist";
    title: string | null;
    byIndex: { count: number } | null;
    /** Listing stopped at `maxEntries`. */
    truncated: boolean;
  }
  | { kind: "failed"; error: TaskError }
  | { kind: "stopped" };

/** Runs one job until it ends; the manager's only view of yt-dlp. */
export type RunJob = (
  job: DownloadJob,
  events: RunEvents,
  signal: AbortSignal,
) => Promise<RunOutcome>;

/** Everything a run needs besides the job; built once by main.ts. */
export interface RunnerOptions {
  /** Where each run gets its yt-dlp (the managed one, or `YTDLP_PATH`). */
  ytdlp: YtdlpSource;
  /** The running Deno, named to yt-dlp as its JavaScript runtime. */
  denoPath: string;
  egress: Egress;
  /** Cookies used for every download that does not opt out; null: none kept. */
  cookies?: CookieStore | null;
  /** Seconds yt-dlp waits between requests, and before each download (polite pacing). */
  sleepRequests?: number;
  sleepInterval?: number;
  /** The whole environment of yt-dlp (see `childEnv`). */
  env: Record<string, string>;
  /** Whether flock(1) is there to mark the run's lifetime (see orphans.ts). */
  runLocks: boolean;
  layout: TaskLayout;
  /** Fail with `file_too_large` past this many bytes downloaded or written; null: no cap. */
  maxFilesize: number | null;
  /** Fail with `stalled` after this long without a byte received or written. */
  stallTimeoutMs: number;
  /** Entries of a playlist beyond this many are not listed (`MAX_PLAYLIST_ITEMS`). */
  maxEntries?: number;
  /** Speed cap when the request names none (`DEFAULT_RATE_LIMIT`). */
  defaultRateLimit?: string | null;
  /** How often the size cap and the stall are checked. */
  watchIntervalMs?: number;
  /** How long yt-dlp and its ffmpeg get between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** How yt-dlp is started: the fork server's launcher, or a spawn (the default). */
  launch?: YtdlpLauncher;
  /** HLS and DASH fragments fetched at once (`CONCURRENT_FRAGMENTS`). */
  concurrentFragments?: number;
  now?: () => number;
  /** Where failures to clean up are reported (they are retried by the sweep). */
  log?: (message: string, fields?: LogFields) => void;
}

/** Binds the options, giving the manager a plain `(job, events, signal) → outcome`. */
export function createRunner(options: RunnerOptions): RunJob {
  return (job, events, signal) => runDownload(options, job, events, signal);
}

/**
 * Runs yt-dlp for one job and says how it ended. Every connection goes through the egress proxy
 * (a refused one ends the run as `url_not_allowed`); bytes are watched for the size cap and for a
 * stall; whatever the end, the process group has exited when this resolves, and every file but a
 * completed download's own is gone from the task's directory.
 */
export async function runDownload(
  options: RunnerOptions,
  job: DownloadJob,
  events: RunEvents,
  signal: AbortSignal,
): Promise<RunOutcome> {
  const { layout, now = Date.now, log = console.error } = options;
  const { taskId, request } = job;
  const dir = layout.dir(taskId);

  // Stops the run from inside (refusal, size, stall) as well as from outside (cancel, shutdown).
  const stop = new AbortController();
  let verdict: TaskError | null = null;
  const end = (error: TaskError) => {
    verdict ??= error;
    stop.abort();
  };
  const onOuterAbort = () => stop.abort();
  signal.addEventListener("abort", onOuterAbort, { once: true });
  if (signal.aborted) stop.abort();

  let unreachable: string | null = null;
  using binary = options.ytdlp.acquire();
  using egress = options.egress.open({
    onRefused: (_host, message) => end({ code: "url_not_allowed", message }),
    onUnreachable: (host) => {
      unreachable ??= host;
    },
  });
  const secrets = [...urlSecrets(request.url), egress.secret];
  const tracker = new ProgressTracker(request.format === "audio");
  let filePath: string | null = null;
  let downloading = false;
  let errorLine: string | null = null;
  let lastStderr: string | null = null;
  let tooLarge: string | null = null;
  let titled = false;
  let duration: number | null = null;
  // The generic extractor's "Title (1)" for a page with one video, to take out of file names too.
  let suffixed: string | null = null;
  const nameTitle = (id: string | null, title: string | null) => {
    if (title === null) return;
    // A page with one <video> is a playlist of one to yt-dlp's generic extractor, which names it
    // "Title (1)": the suffix belongs neither to the title nor to the file names.
    if (id?.endsWith("-1") && title.endsWith(" (1)")) suffixed = title;
    if (titled) return;
    titled = true;
    events.title(clip(suffixed === title ? title.slice(0, -4) : title, MAX_TITLE_LENGTH));
  };
  // A playlist: entries listed so far, its title, and whether the run stopped itself for it.
  let entries = 0;
  let playlistTitle: string | null = null;
  let byIndex: { count: number } | null = null;
  let truncated = false;
  let listed = false;
  const maxEntries = options.maxEntries ?? Infinity;
  const endListing = () => {
    listed = true;
    stop.abort();
  };
  const thumbnailPath = join(dir, `${THUMBNAIL_NAME}.jpg`);
  let runRecord: Promise<void> = Promise.resolve();

  const watchdog = new Watchdog({
    dir,
    received: () => egress.bytesReceived,
    maxBytes: options.maxFilesize,
    stallMs: options.stallTimeoutMs,
    intervalMs: options.watchIntervalMs ?? 1000,
    now,
    onViolation: end,
  });

  const removeDir = async () => {
    try {
      await Deno.remove(dir, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        log("could not remove a partial file", { task_id: taskId, path: dir, error });
      }
    }
  };
  const failed = async (error: TaskError): Promise<RunOutcome> => {
    await removeDir();
    return {
      kind: "failed",
      error: { code: error.code, message: clip(scrub(error.message, secrets), MAX_MESSAGE_LENGTH) },
    };
  };

  try {
    await Deno.mkdir(dir, { recursive: true });
    const cookiesFile = request.cookies === false || !options.cookies
      ? null
      : await options.cookies.copyTo(layout.cookies(taskId));
    let exit;
    try {
      watchdog.start();
      exit = await (options.launch ?? runYtdlp)({
        executable: binary.path,
        args: buildYtdlpArgs(request, { home: dir, temp: layout.temp(taskId) }, {
          features: binary.features,
          proxyUrl: egress.proxyUrl,
          denoPath: options.denoPath,
          maxFilesize: options.maxFilesize,
          cookiesFile,
          sleepRequests: options.sleepRequests,
          sleepInterval: options.sleepInterval,
          defaultRateLimit: options.defaultRateLimit,
          concurrentFragments: options.concurrentFragments,
        }),
        cwd: dir,
        env: options.env,
        signal: stop.signal,
        graceMs: options.killGraceMs,
        lockPath: options.runLocks ? layout.runLock(taskId) : null,
        onSpawn: (pgid) => {
          runRecord = Deno.writeTextFile(
            layout.runRecord(taskId),
            JSON.stringify({ pgid, started_at: new Date(now()).toISOString() }),
          );
        },
        onLine: (line, stream) => {
          // Once the run is known to be a playlist's listing, the rest is the first entry's.
          if (listed) return;
          if (stream === "stderr" && line.trim() !== "") lastStderr = line;
          for (const record of parseYtdlpLine(line)) {
            switch (record.kind) {
              case "entry":
                // A playlist's entry reached by its index is the very video this task is for.
                if (record.playlist_index === null || request.playlist_item !== null) {
                  nameTitle(record.id, record.title);
                  break;
                }
                playlistTitle ??= record.playlist_title;
                if (record.link && record.url !== null) {
                  events.entry({
                    url: record.url,
                    index: record.playlist_index,
                    title: record.title === null ? null : clip(record.title, MAX_TITLE_LENGTH),
                    playlistTitle,
                    duration: record.duration,
                  });
                  entries++;
                  if (entries >= maxEntries) {
                    truncated = true;
                    endListing();
                  }
                } else {
                  // An entry yt-dlp extracted in full would be downloaded here, in this task:
                  // stop, and let each entry be a task of its own, reached by its index.
                  byIndex = { count: record.playlist_count ?? record.playlist_index };
                  endListing();
                }
                break;
              case "info":
                nameTitle(record.id, record.title);
                duration ??= record.duration;
                events.details({
                  duration: record.duration,
                  thumbnail: existsSync(thumbnailPath),
                });
                tracker.plan(record.streams);
                break;
              case "progress":
                downloading = true;
                watchdog.active();
                events.progress(tracker.update(record));
                break;
              case "postprocess":
                // Post-processors before the first byte (the thumbnail converter) are not the
                // processing after the download: the task stays `downloading` until then.
                if (
                  downloading && record.status === "started" && record.postprocessor !== "MoveFiles"
                ) {
                  events.processing();
                }
                break;
              case "file":
                filePath = record.path;
                break;
              case "error":
                errorLine = record.message;
                break;
              case "too_large":
                tooLarge = record.message;
                break;
            }
          }
        },
      });
    } finally {
      watchdog.stop();
      // The process has exited: its lifetime markers go before anyone hears the outcome.
      await runRecord.catch(() => {});
      // The cookies copy goes with the process: a finished download keeps only its files.
      for (
        const path of [layout.runRecord(taskId), layout.runLock(taskId), layout.cookies(taskId)]
      ) {
        await Deno.remove(path).catch(() => {});
      }
    }

    if (signal.aborted) {
      await removeDir();
      return { kind: "stopped" };
    }
    if (verdict !== null) return await failed(verdict);
    if (listed || (entries > 0 && exit.code === 0)) {
      await removeDir();
      return { kind: "playlist", title: playlistTitle, byIndex, truncated };
    }
    if (tooLarge !== null) return await failed({ code: "file_too_large", message: tooLarge });
    const path: string | null = filePath;
    if (exit.code === 0) {
      await Deno.remove(layout.temp(taskId), { recursive: true }).catch(() => {});
      // Set from inside the line callback, which the type checker cannot follow.
      const single = suffixed as string | null;
      if (single !== null) await renameSuffixed(dir, layout, single);
      // Every file the run left is the task's: split chapters, subtitles saved beside the video.
      const files = await outputFiles(dir, layout);
      const named = path !== null && resolve(dirname(path)) === resolve(dir)
        ? basename(path)
        : null;
      const reported = named !== null && single !== null
        ? named.replace(single, single.slice(0, -4))
        : named;
      const main = files.find((f) => f.name === reported) ?? files[0];
      if (main === undefined) {
        return await failed({ code: "no_file", message: "yt-dlp finished but reported no file" });
      }
      const total = files.reduce((sum, f) => sum + f.size, 0);
      if (options.maxFilesize !== null && total > options.maxFilesize) {
        return await failed(tooLargeError(total, options.maxFilesize));
      }
      return {
        kind: "completed",
        filename: main.name,
        filesize: main.size,
        files,
        thumbnail: existsSync(thumbnailPath),
        duration: duration ?? await mediaDuration(join(dir, main.name)),
        progress: tracker.complete(main.size),
      };
    }
    if (unreachable !== null) {
      return await failed({ code: "unreachable", message: `could not reach '${unreachable}'` });
    }
    return await failed(failureReason(errorLine, exit.code, lastStderr));
  } catch (error) {
    if (signal.aborted) {
      await removeDir();
      return { kind: "stopped" };
    }
    if (verdict !== null) return await failed(verdict);
    if (listed) {
      await removeDir();
      return { kind: "playlist", title: playlistTitle, byIndex, truncated };
    }
    return await failed(
      error instanceof YtdlpNotFoundError
        ? { code: "ytdlp_missing", message: error.message }
        : { code: "internal_error", message: String((error as Error)?.message ?? error) },
    );
  } finally {
    signal.removeEventListener("abort", onOuterAbort);
  }
}

/** A media file's length by ffprobe, for sites that do not say; null when it cannot tell. */
async function mediaDuration(path: string): Promise<number | null> {
  try {
    const output = await new Deno.Command("ffprobe", {
      args: ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const seconds = Number(new TextDecoder().decode(output.stdout).trim());
    return output.success && Number.isFinite(seconds) && seconds > 0 ? seconds : null;
  } catch {
    return null;
  }
}

/** Takes the generic extractor's " (1)" out of the names of a single video's files. */
async function renameSuffixed(dir: string, layout: TaskLayout, title: string): Promise<void> {
  const clean = title.slice(0, -4);
  for (const file of await outputFiles(dir, layout)) {
    if (!file.name.includes(title)) continue;
    const target = join(dir, file.name.replace(title, clean));
    if (existsSync(target)) continue;
    await Deno.rename(join(dir, file.name), target);
  }
}

/** The files a finished run left in its directory, bookkeeping aside, by name. */
async function outputFiles(dir: string, layout: TaskLayout): Promise<TaskFile[]> {
  const files: TaskFile[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || layout.isBookkeeping(entry.name) || entry.name.startsWith(".")) continue;
    files.push({ name: entry.name, size: (await Deno.stat(join(dir, entry.name))).size });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function tooLargeError(size: number, max: number): TaskError {
  return {
    code: "file_too_large",
    message: `the download reached ${size} bytes, over MAX_FILESIZE (${max} bytes)`,
  };
}

interface WatchdogOptions {
  dir: string;
  /** Bytes received from the network so far. */
  received: () => number;
  maxBytes: number | null;
  stallMs: number;
  intervalMs: number;
  now: () => number;
  onViolation: (error: TaskError) => void;
}

/**
 * Checks a run every interval: over the size cap (bytes received through the proxy, which counts
 * ffmpeg's fetches too; bytes on disk would count a merge twice), or no byte received or written
 * for the stall timeout. `--max-filesize` alone misses sources that announce no size, and yt-dlp
 * has no stall timeout.
 */
class Watchdog {
  readonly #options: WatchdogOptions;
  #timer: ReturnType<typeof setInterval> | null = null;
  #checking = false;
  #lastReceived = 0;
  #lastOnDisk = 0;
  #lastActivity = 0;

  constructor(options: WatchdogOptions) {
    this.#options = options;
  }

  start(): void {
    this.#lastActivity = this.#options.now();
    this.#timer = setInterval(() => {
      if (this.#checking) return;
      this.#checking = true;
      this.#check().catch(() => {}).finally(() => this.#checking = false);
    }, this.#options.intervalMs);
  }

  /** yt-dlp reported progress: the run is alive even if no byte moved (e.g. a fragment list). */
  active(): void {
    this.#lastActivity = this.#options.now();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #check(): Promise<void> {
    const { maxBytes, stallMs, now, onViolation } = this.#options;
    const received = this.#options.received();
    if (maxBytes !== null && received > maxBytes) {
      onViolation(tooLargeError(received, maxBytes));
      return;
    }
    const onDisk = await bytesUnder(this.#options.dir);
    if (received !== this.#lastReceived || onDisk !== this.#lastOnDisk) {
      this.#lastReceived = received;
      this.#lastOnDisk = onDisk;
      this.#lastActivity = now();
    } else if (now() - this.#lastActivity >= stallMs) {
      onViolation({
        code: "stalled",
        message: `no data arrived for ${Math.round(stallMs / 1000)} s (STALL_TIMEOUT_SECONDS)`,
      });
    }
  }
}

/** Total size of the files under a directory; files that vanish while it looks are skipped. */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) total += await bytesUnder(path);
      else if (entry.isFile) total += await Deno.stat(path).then((s) => s.size, () => 0);
    }
  } catch {
    // The directory is gone or being replaced.
  }
  return total;
}
