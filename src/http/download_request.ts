import { z } from "zod";
import { type DownloadRequest, REQUEST_DEFAULTS as D } from "../model/task.ts";
import { templateProblem } from "../ytdlp/filename_template.ts";

/** `[HH:]MM:SS[.ms]` or plain seconds. */
const timestamp = z.string().regex(
  /^(?:(?:\d{1,2}:)?\d{1,2}:\d{2}|\d+)(?:\.\d{1,3})?$/,
  "must be a time such as 00:01:30, 1:30 or 90",
);

function seconds(time: string): number {
  return time.split(":").reduce((total, part) => total * 60 + Number(part), 0);
}

/** The body of POST /api/v1/download; unknown fields are refused so typos do not pass silently. */
export const downloadRequestSchema = z.strictObject({
  url: z
    .string({ message: "url must be a string" })
    .trim()
    .min(1, "url must not be empty")
    .max(4096, "url must be at most 4096 characters")
    .refine((value) => URL.canParse(value), "url is not a valid URL")
    .refine(
      (value) => !URL.canParse(value) || ["http:", "https:"].includes(new URL(value).protocol),
      "url must start with http:// or https://",
    ),
  format: z.enum(["video", "audio", "subtitles"]).default(D.format),
  quality: z.enum(["best", "2160p", "1440p", "1080p", "720p", "480p", "360p"]).default(D.quality),
  audio_format: z.enum(["mp3", "m4a", "opus"]).default(D.audio_format),
  cookies: z.boolean({ message: "cookies must be true or false" }).default(D.cookies),
  format_id: z.string()
    .regex(
      /^[A-Za-z0-9][\w.-]{0,63}(\+[A-Za-z0-9][\w.-]{0,63})?$/,
      "must be a format id from GET /api/v1/formats, or two joined by + (video+audio)",
    )
    .nullable().default(null),
  container: z.enum(["mp4", "mkv", "webm"]).nullable().default(null),
  codec: z.enum(["h264", "h265", "av1", "vp9"]).nullable().default(null),
  subtitles: z.union([
    z.literal("all"),
    z.array(
      z.string().regex(
        /^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$/,
        "must be a language code such as ko or en-US",
      ),
    ).min(1).max(20),
  ]).nullable().default(null),
  subtitle_format: z.enum(["srt", "vtt"]).default(D.subtitle_format),
  auto_subtitles: z.boolean().default(D.auto_subtitles),
  embed_subtitles: z.boolean().default(D.embed_subtitles),
  embed_thumbnail: z.boolean().default(D.embed_thumbnail),
  embed_metadata: z.boolean().default(D.embed_metadata),
  embed_chapters: z.boolean().default(D.embed_chapters),
  split_chapters: z.boolean().default(D.split_chapters),
  section: z.strictObject({ start: timestamp, end: timestamp })
    .refine((s) => seconds(s.end) > seconds(s.start), "end must be after start")
    .nullable().default(null),
  filename_template: z.string()
    .superRefine((value, context) => {
      const problem = templateProblem(value);
      if (problem !== null) context.addIssue({ code: "custom", message: problem });
    })
    .nullable().default(null),
  rate_limit: z.string()
    .regex(/^\d+(\.\d+)?[KMG]?$/i, "must be bytes per second such as 500K or 2M")
    .nullable().default(null),
  playlist_items: z.string()
    .max(200)
    .regex(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, "must be entries such as 1-3,7")
    .nullable().default(null),
});

/** Canonical form of a request: the URL as the URL parser serialises it. */
export function normaliseRequest(body: z.infer<typeof downloadRequestSchema>): DownloadRequest {
  return { ...body, url: new URL(body.url).href, playlist_item: null };
}
