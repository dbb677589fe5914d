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

export type MediaFormat = "video" | "audio";
export type Quality = "best" | "2160p" | "1440p" | "1080p" | "720p" | "480p" | "360p";
export type AudioFormat = "mp3" | "m4a" | "opus";

/** What a user asked for; everything yt-dlp is told derives from this alone. */
export interface DownloadRequest {
  url: string;
  format: MediaFormat;
  quality: Quality;
  audio_format: AudioFormat;
  /** Whether the stored cookies are sent (when there are any). */
  cookies: boolean;
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
  status: TaskStatus;
  title: string | null;
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
