import { z } from "zod";

const booleanFlag = z
  .enum(["true", "false", "1", "0", "yes", "no"], {
    message: "must be true or false",
  })
  .transform((value) => value === "true" || value === "1" || value === "yes");

const cronField = String.raw`(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*`;
const cronPattern = new RegExp(`^${cronField}( ${cronField}){4}$`);

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATA_DIR: z.string().min(1).default("./data"),
  MAX_CONCURRENT_DOWNLOADS: z.coerce.number().int().min(1).max(64).default(3),
  TASK_RETENTION_SECONDS: z.coerce.number().int().min(1).default(3600),
  CLEANUP_SCHEDULE: z
    .string()
    .regex(cronPattern, "must be a five-field cron expression such as '0 * * * *'")
    .default("0 * * * *"),
  YTDLP_PATH: z.string().min(1).default("yt-dlp"),
  ALLOW_PRIVATE_URLS: booleanFlag.default(false),
});

/** Service settings, read once at start-up by main.ts and passed down. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  maxConcurrentDownloads: number;
  taskRetentionSeconds: number;
  cleanupSchedule: string;
  ytdlpPath: string;
  allowPrivateUrls: boolean;
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
  return {
    port: v.PORT,
    host: v.HOST,
    dataDir: v.DATA_DIR,
    maxConcurrentDownloads: v.MAX_CONCURRENT_DOWNLOADS,
    taskRetentionSeconds: v.TASK_RETENTION_SECONDS,
    cleanupSchedule: v.CLEANUP_SCHEDULE,
    ytdlpPath: v.YTDLP_PATH,
    allowPrivateUrls: v.ALLOW_PRIVATE_URLS,
  };
}
