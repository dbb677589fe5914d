import { z } from "zod";
import type { DownloadRequest } from "../model/task.ts";

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
  format: z.enum(["video", "audio"]).default("video"),
  quality: z.enum(["best", "2160p", "1440p", "1080p", "720p", "480p", "360p"]).default("best"),
  audio_format: z.enum(["mp3", "m4a", "opus"]).default("mp3"),
  cookies: z.boolean({ message: "cookies must be true or false" }).default(true),
});

/** Canonical form of a request: the URL as the URL parser serialises it. */
export function normaliseRequest(body: z.infer<typeof downloadRequestSchema>): DownloadRequest {
  return { ...body, url: new URL(body.url).href };
}
