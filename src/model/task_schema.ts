import { z } from "zod";
import { MAX_MESSAGE_LENGTH, MAX_TITLE_LENGTH, type Task, TASK_STATUSES } from "./task.ts";

/** Bumped whenever the stored shape changes; records of another version are not trusted. */
export const RECORD_VERSION = 1;

const count = z.number().finite().nonnegative().nullable();
const isoTime = z.iso.datetime();

const progressSchema = z.object({
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
  format: z.enum(["video", "audio"]),
  quality: z.enum(["best", "2160p", "1440p", "1080p", "720p", "480p", "360p"]),
  audio_format: z.enum(["mp3", "m4a", "opus"]),
  cookies: z.boolean().default(true),
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
