import { z } from "zod";
import { SCOPES } from "../auth/scopes.ts";
import type { TokenView } from "../auth/auth_store.ts";
import type { CookieSummary } from "../downloads/cookie_store.ts";
import type { FormatListing } from "../downloads/format_lister.ts";
import type { TaskCounts } from "../downloads/manager.ts";
import { TASK_STATUSES, type TaskStatus } from "../model/task.ts";
import { taskSchema } from "../model/task_schema.ts";
import { deliverySchema, webhookSchema } from "../webhooks/webhook_store.ts";
import type { UpdateAttempt, YtdlpInfo } from "../ytdlp/source.ts";
import type { ClusterInfo } from "./health_routes.ts";
import type { ForkServerInfo } from "../ytdlp/fork_server.ts";

// What the API answers, as zod schemas typed against the interfaces the code returns, so that
// the OpenAPI document cannot drift from the code without `deno check` failing.

/** Every error body. */
export const errorSchema = z.object({
  error: z.object({
    code: z.string().describe("Stable, machine-readable reason, e.g. `validation_failed`."),
    message: z.string().describe("What went wrong, in words a person can act on."),
  }),
});

/** A download (a video, or a playlist's group row) as the API and the sockets show it. */
export const apiTaskSchema = taskSchema;

export const taskPageSchema = z.object({
  tasks: z.array(apiTaskSchema),
  next_cursor: z.string().nullable().describe(
    "Pass as `cursor` for the next page; null at the end.",
  ),
});

const statusCounts = z.object(
  Object.fromEntries(TASK_STATUSES.map((s) => [s, z.number().int()])) as Record<
    TaskStatus,
    z.ZodNumber
  >,
);

export const taskCountsSchema: z.ZodType<TaskCounts> = z.object({
  total: z.number().int(),
  queued: z.number().int(),
  running: z.number().int(),
  by_status: statusCounts,
});

export const updateAttemptSchema: z.ZodType<UpdateAttempt> = z.object({
  at: z.string(),
  outcome: z.enum(["updated", "up_to_date", "failed", "rolled_back"]),
  from: z.string().nullable(),
  to: z.string().nullable(),
  reason: z.string().nullable(),
});

export const ytdlpInfoSchema: z.ZodType<YtdlpInfo> = z.object({
  managed: z.boolean(),
  path: z.string().nullable(),
  version: z.string().nullable(),
  channel: z.string().nullable(),
  release_age_days: z.number().nullable(),
  js_runtime: z.string().nullable(),
  ejs: z.string().nullable(),
  problem: z.string().nullable(),
  checked_at: z.string().nullable(),
  previous: z.string().nullable(),
  update: z.object({
    mode: z.enum(["stable", "nightly", "off"]),
    schedule: z.string().nullable(),
    running: z.boolean(),
    last_attempt: updateAttemptSchema.nullable(),
  }).nullable(),
});

export const ytdlpChangeSchema = z.object({ attempt: updateAttemptSchema, ytdlp: ytdlpInfoSchema });

export const healthSchema = z.object({
  status: z.enum(["ok", "unavailable"]),
  reasons: z.array(z.string()),
  ytdlp: ytdlpInfoSchema,
  fork_server: z.object({
    state: z.enum(["off", "starting", "ready", "fallback"]).describe(
      "`ready`: downloads fork from a warm yt-dlp; `fallback`: they spawn it (see `problem`).",
    ),
    version: z.string().nullable(),
    problem: z.string().nullable(),
  }) satisfies z.ZodType<ForkServerInfo>,
  cluster: z.object({
    backend: z.enum(["embedded", "redis"]).describe("`QUEUE_BACKEND`."),
    role: z.enum(["all", "api", "worker"]).describe("`ROLE`."),
    node: z.string().nullable().describe("This process in the cluster's logs; null when embedded."),
    redis: z.enum(["ok", "unreachable"]).nullable().describe("null when embedded."),
  }) satisfies z.ZodType<ClusterInfo>,
  storage: z.object({
    writable: z.boolean(),
    free_bytes: z.number().nullable(),
    error: z.string().nullable(),
    records_error: z.string().nullable(),
  }),
  queue: z.object({
    queued: z.number().int(),
    running: z.number().int(),
    total: z.number().int(),
    max_queued: z.number().int(),
    max_running: z.number().int(),
  }),
});

export const formatListingSchema: z.ZodType<FormatListing> = z.object({
  kind: z.enum(["video", "playlist"]),
  title: z.string().nullable(),
  duration: z.number().nullable(),
  formats: z.array(z.object({
    format_id: z.string(),
    ext: z.string().nullable(),
    resolution: z.string().nullable(),
    fps: z.number().nullable(),
    vcodec: z.string().nullable(),
    acodec: z.string().nullable(),
    size: z.number().nullable().describe("Bytes, exact or yt-dlp's estimate."),
    tbr: z.number().nullable().describe("Kilobits per second."),
    note: z.string().nullable(),
  })),
  entries: z.number().int().nullable().describe("For a playlist: the entries yt-dlp listed."),
  fetched_at: z.string(),
});

export const cookieSummarySchema: z.ZodType<CookieSummary> = z.object({
  count: z.number().int(),
  domains: z.array(z.object({
    domain: z.string(),
    cookies: z.number().int(),
    expires_at: z.string().nullable(),
  })),
  updated_at: z.string(),
});

export const sessionSchema = z.object({
  auth_mode: z.enum(["none", "password"]),
  authenticated: z.boolean(),
  kind: z.enum(["session", "token"]).nullable(),
  scopes: z.array(z.enum(SCOPES)),
  setup_needed: z.boolean(),
});

const tokenFields = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
});

export const tokenViewSchema: z.ZodType<TokenView> = tokenFields;

export const createdTokenSchema = tokenFields.extend({
  token: z.string().describe("The secret; shown this once, stored only as a hash."),
});

export const webhookViewSchema = webhookSchema.omit({ secret: true });
export const createdWebhookSchema = webhookSchema.describe(
  "The webhook with its signing secret, shown this once.",
);
export const deliveryViewSchema = deliverySchema.omit({ body: true });

/** Schemas published under their own names in the OpenAPI document's `components.schemas`. */
export const PUBLISHED_SCHEMAS: readonly [name: string, schema: z.ZodType][] = [
  ["Error", errorSchema],
  ["Task", apiTaskSchema],
  ["TaskPage", taskPageSchema],
  ["Health", healthSchema],
  ["YtdlpInfo", ytdlpInfoSchema],
  ["YtdlpChange", ytdlpChangeSchema],
  ["FormatListing", formatListingSchema],
  ["CookieSummary", cookieSummarySchema],
  ["Session", sessionSchema],
  ["Token", tokenViewSchema],
  ["CreatedToken", createdTokenSchema],
  ["Webhook", webhookViewSchema],
  ["CreatedWebhook", createdWebhookSchema],
  ["Delivery", deliveryViewSchema],
];
