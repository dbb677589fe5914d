/**
 * Lifecycle of a download; the last three are terminal (a failed or cancelled one can be queued
 * again by a retry someone asks for). `retrying` waits out a pause after a transient failure.
 */
export type TaskStatus =
  | "queued"
  | "downloading"
  | "processing"
  | "retrying"
  | "completed"
  | "failed"
  | "cancelled";

/** Every status, in lifecycle order. */
export const TASK_STATUSES: readonly TaskStatus[] = [
  "queued",
  "downloading",
  "processing",
  "retrying",
  "completed",
  "failed",
  "cancelled",
];

/** Statuses after which nothing about the task changes except its removal. */
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  "completed",
  "failed",
  "cancelled",
]);

export type MediaFormat = "video" | "audio" | "subtitles";
export type Quality = "best" | "2160p" | "1440p" | "1080p" | "720p" | "480p" | "360p";
export type AudioFormat = "mp3" | "m4a" | "opus";

export type Container = "mp4" | "mkv" | "webm";
export type Codec = "h264" | "h265" | "av1" | "vp9";

/** What a user asked for; everything yt-dlp is told derives from this alone. */
export interface DownloadRequest {
  url: string;
  /** `subtitles` downloads only the subtitles. */
  format: MediaFormat;
  quality: Quality;
  audio_format: AudioFormat;
  /** Whether the stored cookies are sent (when there are any). */
  cookies: boolean;
  /** A format from `GET /formats` (`137`, or `137+140`), instead of the quality presets. */
  format_id: string | null;
  container: Container | null;
  /** Preferred video codec, where there is a choice. */
  codec: Codec | null;
  /** Subtitle languages (`["ko","en"]`) or `all`; null: none. */
  subtitles: string[] | "all" | null;
  subtitle_format: "srt" | "vtt";
  /** Also take automatic (machine) captions. */
  auto_subtitles: boolean;
  /** Subtitles inside the file (mp4/mkv) rather than beside it. */
  embed_subtitles: boolean;
  embed_thumbnail: boolean;
  embed_metadata: boolean;
  embed_chapters: boolean;
  /** One file per chapter; the task lists and serves every one. */
  split_chapters: boolean;
  /** A clip: `{start, end}` as `[HH:]MM:SS[.ms]`. */
  section: { start: string; end: string } | null;
  /** A file name made of safe fields, e.g. `%(upload_date)s %(title)s.%(ext)s`. */
  filename_template: string | null;
  /** Download speed cap, e.g. `2M` (bytes per second). */
  rate_limit: string | null;
  /** Which entries of a playlist, in yt-dlp's syntax (`1-3,7`); null: all (up to the cap). */
  playlist_items: string | null;
  /** Set on a playlist's child that is reachable only by its index in the playlist's page. */
  playlist_item: number | null;
}

/** What a request asks for when it does not say; the request schema's defaults are these. */
export const REQUEST_DEFAULTS: Omit<DownloadRequest, "url"> = {
  format: "video",
  quality: "best",
  audio_format: "mp3",
  cookies: true,
  format_id: null,
  container: null,
  codec: null,
  subtitles: null,
  subtitle_format: "srt",
  auto_subtitles: false,
  embed_subtitles: true,
  embed_thumbnail: false,
  embed_metadata: false,
  embed_chapters: true,
  split_chapters: false,
  section: null,
  filename_template: null,
  rate_limit: null,
  playlist_items: null,
  playlist_item: null,
};

/** A request for `url` with every default. */
export function defaultRequest(url: string): DownloadRequest {
  return { url, ...REQUEST_DEFAULTS };
}

/** A file a finished task produced, as served by `GET …/file?name=`. */
export interface TaskFile {
  name: string;
  size: number;
}

/** How a playlist's entries stand. */
export interface GroupEntries {
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** More entries may still come while the playlist is being read. */
  expanding: boolean;
}

/** Progress as every client sees it: one overall figure per task, never NaN. */
export interface Progress {
  percentage: number | null;
  downloaded_bytes: number | null;
  total_bytes: number | null;
  speed: string | null;
  eta: string | null;
  speed_bps: number | null;
  eta_seconds: number | null;
  fragment_index: number | null;
  fragment_count: number | null;
}

/** Why a task failed, in words a person can act on. */
export interface TaskError {
  code: string;
  message: string;
}

/** The public task record, exactly as the API and the WebSocket snapshot show it. */
export interface Task extends DownloadRequest {
  task_id: string;
  /** A single video, or a playlist whose entries are child tasks. */
  kind: "video" | "playlist";
  /** The playlist this task is an entry of. */
  group_id: string | null;
  playlist_index: number | null;
  /** A playlist's child task ids, in playlist order. */
  children: string[] | null;
  entries: GroupEntries | null;
  status: TaskStatus;
  title: string | null;
  /** Seconds, when the site says. */
  duration: number | null;
  /** Whether a thumbnail is kept (served by `GET …/thumbnail`; the browser never fetches it). */
  thumbnail: boolean;
  /** Every file the task produced; `filename` is the main one. */
  files: TaskFile[];
  progress: Progress | null;
  filename: string | null;
  filesize: number | null;
  error: TaskError | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** `finished_at` plus the retention configured now, not when the task finished. */
  expires_at: string | null;
  /** Set while this task's record could not be saved (it would be lost on a restart). */
  storage_error: string | null;
  /** Which try this is (1 for the first), of at most `max_attempts`. */
  attempt: number;
  max_attempts: number;
  /** When a `retrying` task goes back to the queue. */
  retry_at: string | null;
}

/** Longest title kept; remote sites can send anything (100,000 characters were seen). */
export const MAX_TITLE_LENGTH = 300;
/** Longest error message kept (yt-dlp's lines can quote whole pages). */
export const MAX_MESSAGE_LENGTH = 2000;

/** True once a task can no longer change state on its own. */
export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** Cuts text to at most `max` characters (code points, so no surrogate is split), marking the cut. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}
