import { z } from "zod";
import {
  MAX_MESSAGE_LENGTH,
  MAX_TITLE_LENGTH,
  type Progress,
  type Task,
  TASK_STATUSES,
} from "./task.ts";

/** Bumped whenever the stored shape changes; records of another version are not trusted. */
export const RECORD_VERSION = 1;

const count = z.number().finite().nonnegative().nullable();
const isoTime = z.iso.datetime();

export const progressSchema: z.ZodType<Progress> = z.object({
  percentage: z.number().min(0).max(100).nullable(),
  downloaded_bytes: count,
  total_bytes: count,
  speed: z.string().max(64).nullable(),
  eta: z.string().max(64).nullable(),
  speed_bps: count,
  eta_seconds: count,
  fragment_index: count,
  fragment_count: count,
});

/** A task record as read back from storage: anything else is refused, not half-trusted. */
export const taskSchema: z.ZodType<Task> = z.object({
  task_id: z.uuid(),
  url: z.string().min(1).max(4096),
  format: z.enum(["video", "audio", "subtitles"]),
  quality: z.enum(["best", "2160p", "1440p", "1080p", "720p", "480p", "360p"]),
  audio_format: z.enum(["mp3", "m4a", "opus"]),
  cookies: z.boolean().default(true),
  format_id: z.string().max(200).nullable().default(null),
  container: z.enum(["mp4", "mkv", "webm"]).nullable().default(null),
  codec: z.enum(["h264", "h265", "av1", "vp9"]).nullable().default(null),
  subtitles: z.union([z.literal("all"), z.array(z.string().max(32)).max(20)]).nullable().default(
    null,
  ),
  subtitle_format: z.enum(["srt", "vtt"]).default("srt"),
  auto_subtitles: z.boolean().default(false),
  embed_subtitles: z.boolean().default(true),
  embed_thumbnail: z.boolean().default(false),
  embed_metadata: z.boolean().default(false),
  embed_chapters: z.boolean().default(false),
  split_chapters: z.boolean().default(false),
  section: z.object({ start: z.string().max(20), end: z.string().max(20) }).nullable().default(
    null,
  ),
  filename_template: z.string().max(200).nullable().default(null),
  rate_limit: z.string().max(20).nullable().default(null),
  playlist_items: z.string().max(200).nullable().default(null),
  playlist_item: z.number().int().min(1).nullable().default(null),
  kind: z.enum(["video", "playlist"]).default("video"),
  group_id: z.uuid().nullable().default(null),
  playlist_index: z.number().int().min(1).nullable().default(null),
  children: z.array(z.uuid()).max(1000).nullable().default(null),
  entries: z.object({
    total: z.number().int().min(0),
    completed: z.number().int().min(0),
    failed: z.number().int().min(0),
    cancelled: z.number().int().min(0),
    expanding: z.boolean(),
  }).nullable().default(null),
  duration: z.number().nonnegative().nullable().default(null),
  thumbnail: z.boolean().default(false),
  files: z.array(z.object({
    name: z.string().min(1).max(1024).refine((n) => !/[/\\\0]/.test(n) && n !== "." && n !== ".."),
    size: z.number().int().nonnegative(),
  })).max(500).default([]),
  status: z.enum(TASK_STATUSES as [Task["status"], ...Task["status"][]]),
  title: z.string().max(MAX_TITLE_LENGTH).nullable(),
  progress: progressSchema.nullable(),
  filename: z.string().min(1).max(1024).refine(
    (name) => !/[/\\\0]/.test(name) && name !== ".." && name !== ".",
    "a bare file name",
  ).nullable(),
  filesize: count,
  error: z.object({
    code: z.string().max(64),
    message: z.string().max(MAX_MESSAGE_LENGTH),
  }).nullable(),
  created_at: isoTime,
  started_at: isoTime.nullable(),
  finished_at: isoTime.nullable(),
  expires_at: isoTime.nullable(),
  storage_error: z.string().max(MAX_MESSAGE_LENGTH).nullable().default(null),
  attempt: z.number().int().min(1).max(100).default(1),
  max_attempts: z.number().int().min(1).max(100).default(1),
  retry_at: isoTime.nullable().default(null),
});

/** What is stored: the record with the version of its shape. */
export const storedTaskSchema = z.object({
  version: z.literal(RECORD_VERSION),
  task: taskSchema,
});

/** Wraps a record for storage. */
export function storedTask(task: Task): z.infer<typeof storedTaskSchema> {
  return { version: RECORD_VERSION, task };
}
