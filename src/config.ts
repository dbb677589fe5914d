import { join, resolve } from "node:path";
import { z } from "zod";
import { cronProblem } from "./cron.ts";
import { isLoopbackHost } from "./http/request_guards.ts";
import { type Network, parseNetworks } from "./net/address_policy.ts";

const booleanFlag = z
  .enum(["true", "false", "1", "0", "yes", "no"], {
    message: "must be true or false",
  })
  .transform((value) => value === "true" || value === "1" || value === "yes");

/** A decimal integer within bounds: `0x50`, `1e3` or `80.0` are refused, not reinterpreted. */
const integer = (min: number, max: number) =>
  z.string()
    .regex(/^\d+$/, "must be a whole number written in decimal digits")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const cron = z.string().refine((value) => cronProblem(value) === null, {
  error: (issue) => `${cronProblem(String(issue.input))} (e.g. '0 * * * *')`,
});

const networks = z.string().transform((value, context) => {
  try {
    return parseNetworks(value);
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

/** `2G`, `500M`, `750K` or plain bytes; binary units, as yt-dlp's `--max-filesize` reads them. */
const size = z.string().transform((value, context) => {
  const match = value.match(/^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i);
  const bytes = match
    ? Math.floor(Number(match[1]) * 1024 ** "_KMGT".indexOf(match[2].toUpperCase() || "_"))
    : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    context.addIssue({ code: "custom", message: "must be a size such as 2G, 500M or 750K" });
    return z.NEVER;
  }
  return bytes;
});

/** Seconds, fractions allowed (`1.5`), within bounds. */
const seconds = (max: number) =>
  z.string()
    .regex(/^\d+(\.\d+)?$/, "must be a number of seconds such as 2 or 1.5")
    .transform(Number)
    .pipe(z.number().max(max, `must be at most ${max}`));

const httpUrl = z.string().refine((value) => {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, "must be an http(s) URL");

/** `30/60`: requests per seconds. */
const rate = z.string().regex(/^[1-9]\d*\/[1-9]\d*$/, "must be requests per seconds such as 30/60");

const list = z.string().transform((value) =>
  value.split(",").map((item) => item.trim()).filter(Boolean)
);

const origins = list.transform((items, context) =>
  items.map((item) => {
    try {
      const origin = new URL(item).origin;
      if (origin !== "null") return origin;
    } catch {
      // Reported below.
    }
    context.addIssue({ code: "custom", message: `'${item}' is not an origin like https://x.org` });
    return z.NEVER;
  })
);

const envSchema = z.object({
  PORT: integer(0, 65535).default(8000),
  HOST: z.string().min(1).default("127.0.0.1"),
  // Absolute from here on: yt-dlp runs with a task's directory as its working directory.
  DATA_DIR: z.string().min(1).default("./data").transform((dir) => resolve(dir)),
  MAX_CONCURRENT_DOWNLOADS: integer(1, 64).default(3),
  /** At most ten years, so every expiry time is a valid date. */
  TASK_RETENTION_SECONDS: integer(1, 10 * 365 * 86400).default(3600),
  CLEANUP_SCHEDULE: cron.default("0 * * * *"),
  YTDLP_PATH: z.string().min(1).optional(),
  YTDLP_HOME: z.string().min(1).optional(),
  YTDLP_UPDATE: z.enum(["stable", "nightly", "off"]).default("stable"),
  YTDLP_UPDATE_SCHEDULE: cron.default("17 4 * * *"),
  YTDLP_PIP_INDEX: httpUrl.optional(),
  PYTHON: z.string().min(1).default("python3"),
  ALLOW_PRIVATE_URLS: booleanFlag.default(false),
  ALLOWED_PRIVATE_NETWORKS: networks.default([]),
  ALLOWED_ORIGINS: origins.default([]),
  ALLOWED_HOSTS: list.transform((hosts) => hosts.map((h) => h.toLowerCase())).default([]),
  MAX_QUEUED_TASKS: integer(1, 1_000_000).default(1000),
  MAX_FILESIZE: size.optional(),
  STALL_TIMEOUT_SECONDS: integer(1, 86400).default(120),
  MIN_FREE_DISK_MB: integer(0, 100_000_000).default(500),
  RETRY_LIMIT: integer(0, 10).default(3),
  RETRY_DELAY_SECONDS: integer(1, 600).default(10),
  YTDLP_FORK_SERVER: z.enum(["on", "off"]).default("on"),
  CONCURRENT_FRAGMENTS: integer(1, 32).default(4),
  MAX_CONCURRENT_PER_SITE: integer(1, 64).default(2),
  SLEEP_REQUESTS_SECONDS: seconds(600).default(0),
  SLEEP_INTERVAL_SECONDS: seconds(3600).default(0),
  MAX_PLAYLIST_ITEMS: integer(1, 1000).default(200),
  AUTH_MODE: z.enum(["none", "password"]).optional(),
  ADMIN_PASSWORD: z.string().min(8, "must be at least 8 characters").optional(),
  ADMIN_PASSWORD_FILE: z.string().min(1).optional(),
  RATE_LIMIT_SUBMIT: rate.default("60/60"),
  RATE_LIMIT_FORMATS: rate.default("20/60"),
  RATE_LIMIT_LOGIN: rate.default("10/300"),
  LOG_FORMAT: z.enum(["json", "pretty"]).default("pretty"),
  DEFAULT_RATE_LIMIT: z.string()
    .regex(/^\d+(\.\d+)?[KMG]?$/i, "must be bytes per second such as 500K or 2M").optional(),
  QUEUE_BACKEND: z.enum(["embedded", "redis"]).default("embedded"),
  REDIS_URL: z.string().regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL")
    .optional(),
  ROLE: z.enum(["all", "api", "worker"]).default("all"),
  JOB_LOCK_SECONDS: integer(1, 600).default(30),
});

/** Service settings, read once at start-up by main.ts and passed down. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  maxConcurrentDownloads: number;
  taskRetentionSeconds: number;
  cleanupSchedule: string;
  /** An operator's own yt-dlp; null: the service manages one in `ytdlpHome`. */
  ytdlpPath: string | null;
  ytdlpHome: string;
  ytdlpUpdate: "stable" | "nightly" | "off";
  ytdlpUpdateSchedule: string;
  ytdlpPipIndex: string | null;
  python: string;
  allowPrivateUrls: boolean;
  /** Private destinations allowed anyway (a NAS on the LAN), at submit and at connect time. */
  allowedPrivateNetworks: Network[];
  /** Origins besides the service's own whose pages may open its WebSockets. */
  allowedOrigins: string[];
  /** Host names accepted besides loopback ones while listening on loopback. */
  allowedHosts: string[];
  maxQueuedTasks: number;
  /** Bytes; null means no cap. */
  maxFilesize: number | null;
  stallTimeoutSeconds: number;
  minFreeDiskMb: number;
  retryLimit: number;
  /** The pause before the first automatic retry; each next one is three times longer. */
  retryDelaySeconds: number;
  /** Fork downloads from a warm yt-dlp instead of starting a Python for each. */
  forkServer: boolean;
  /** HLS and DASH fragments fetched at once. */
  concurrentFragments: number;
  maxConcurrentPerSite: number;
  sleepRequestsSeconds: number;
  sleepIntervalSeconds: number;
  maxPlaylistItems: number;
  /** `2M`-style speed cap for downloads that name none; null: no cap. */
  defaultRateLimit: string | null;
  /** `none` by default when HOST is a loopback address, `password` otherwise. */
  authMode: "none" | "password";
  /** From ADMIN_PASSWORD or the file ADMIN_PASSWORD_FILE names; null: set it via the setup link. */
  adminPassword: string | null;
  rateLimitSubmit: string;
  rateLimitFormats: string;
  rateLimitLogin: string;
  /** `json`: one JSON object per line; `pretty`: readable lines. */
  logFormat: "json" | "pretty";
  /** Null: embedded (Deno KV, one process); otherwise the cluster's Redis. */
  redisUrl: string | null;
  /** What this node does on a cluster: serve the API, run downloads, or both. */
  role: "all" | "api" | "worker";
  /** How long a worker may go silent before its jobs count as stalled and move to another. */
  jobLockSeconds: number;
}

/** Thrown when the environment holds a value the service cannot start with. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Validates the environment. Empty variables count as unset so that `PORT=` in a compose file
 * falls back to the default instead of becoming 0.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(
    Object.keys(envSchema.shape)
      .map((key) => [key, env[key]?.trim()])
      .filter(([, value]) => value !== undefined && value !== ""),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) =>
      `  ${issue.path.join(".")}=${
        JSON.stringify(present[String(issue.path[0])])
      }: ${issue.message}`
    );
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const v = parsed.data;
  if (v.ADMIN_PASSWORD !== undefined && v.ADMIN_PASSWORD_FILE !== undefined) {
    throw new ConfigError(
      "invalid configuration:\n  ADMIN_PASSWORD_FILE: set it or ADMIN_PASSWORD, not both",
    );
  }
  if (v.QUEUE_BACKEND === "redis" && v.REDIS_URL === undefined) {
    throw new ConfigError("invalid configuration:\n  REDIS_URL: required with QUEUE_BACKEND=redis");
  }
  if (v.QUEUE_BACKEND === "embedded" && v.ROLE !== "all") {
    throw new ConfigError(
      `invalid configuration:\n  ROLE=${
        JSON.stringify(v.ROLE)
      }: needs QUEUE_BACKEND=redis (one embedded process is all roles)`,
    );
  }
  if (v.ADMIN_PASSWORD_FILE !== undefined) {
    let password: string;
    try {
      password = Deno.readTextFileSync(v.ADMIN_PASSWORD_FILE).trim();
    } catch (error) {
      throw new ConfigError(
        `invalid configuration:\n  ADMIN_PASSWORD_FILE=${JSON.stringify(v.ADMIN_PASSWORD_FILE)}: ${
          (error as Error).message
        }`,
      );
    }
    if (password.length < 8) {
      throw new ConfigError(
        "invalid configuration:\n  ADMIN_PASSWORD_FILE: the password must be at least 8 characters",
      );
    }
    v.ADMIN_PASSWORD = password;
  }
  return {
    port: v.PORT,
    host: v.HOST,
    dataDir: v.DATA_DIR,
    maxConcurrentDownloads: v.MAX_CONCURRENT_DOWNLOADS,
    taskRetentionSeconds: v.TASK_RETENTION_SECONDS,
    cleanupSchedule: v.CLEANUP_SCHEDULE,
    ytdlpPath: v.YTDLP_PATH ?? null,
    // Nodes of a cluster share DATA_DIR, but each installs and updates its own yt-dlp.
    ytdlpHome: resolve(
      v.YTDLP_HOME ??
        (v.QUEUE_BACKEND === "redis"
          ? join(v.DATA_DIR, "yt-dlp", `node-${Deno.hostname()}`)
          : join(v.DATA_DIR, "yt-dlp")),
    ),
    ytdlpUpdate: v.YTDLP_UPDATE,
    ytdlpUpdateSchedule: v.YTDLP_UPDATE_SCHEDULE,
    ytdlpPipIndex: v.YTDLP_PIP_INDEX ?? null,
    python: v.PYTHON,
    allowPrivateUrls: v.ALLOW_PRIVATE_URLS,
    allowedPrivateNetworks: v.ALLOWED_PRIVATE_NETWORKS,
    allowedOrigins: v.ALLOWED_ORIGINS,
    allowedHosts: v.ALLOWED_HOSTS,
    maxQueuedTasks: v.MAX_QUEUED_TASKS,
    maxFilesize: v.MAX_FILESIZE ?? null,
    stallTimeoutSeconds: v.STALL_TIMEOUT_SECONDS,
    minFreeDiskMb: v.MIN_FREE_DISK_MB,
    retryLimit: v.RETRY_LIMIT,
    retryDelaySeconds: v.RETRY_DELAY_SECONDS,
    forkServer: v.YTDLP_FORK_SERVER === "on",
    concurrentFragments: v.CONCURRENT_FRAGMENTS,
    maxConcurrentPerSite: v.MAX_CONCURRENT_PER_SITE,
    sleepRequestsSeconds: v.SLEEP_REQUESTS_SECONDS,
    sleepIntervalSeconds: v.SLEEP_INTERVAL_SECONDS,
    maxPlaylistItems: v.MAX_PLAYLIST_ITEMS,
    defaultRateLimit: v.DEFAULT_RATE_LIMIT ?? null,
    authMode: v.AUTH_MODE ?? (isLoopbackHost(v.HOST) ? "none" : "password"),
    adminPassword: v.ADMIN_PASSWORD ?? null,
    rateLimitSubmit: v.RATE_LIMIT_SUBMIT,
    rateLimitFormats: v.RATE_LIMIT_FORMATS,
    rateLimitLogin: v.RATE_LIMIT_LOGIN,
    logFormat: v.LOG_FORMAT,
    redisUrl: v.QUEUE_BACKEND === "redis" ? v.REDIS_URL! : null,
    role: v.ROLE,
    jobLockSeconds: v.JOB_LOCK_SECONDS,
  };
}
