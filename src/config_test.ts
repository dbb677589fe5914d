import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./config.ts";

Deno.test("configuration defaults match the README table", () => {
  assert.deepEqual(loadConfig({}), {
    port: 8000,
    host: "127.0.0.1",
    dataDir: `${Deno.cwd()}/data`,
    maxConcurrentDownloads: 3,
    taskRetentionSeconds: 3600,
    cleanupSchedule: "0 * * * *",
    ytdlpPath: null,
    ytdlpHome: `${Deno.cwd()}/data/yt-dlp`,
    ytdlpUpdate: "stable",
    ytdlpUpdateSchedule: "17 4 * * *",
    ytdlpPipIndex: null,
    python: "python3",
    allowPrivateUrls: false,
    allowedPrivateNetworks: [],
    allowedOrigins: [],
    allowedHosts: [],
    maxQueuedTasks: 1000,
    maxFilesize: null,
    stallTimeoutSeconds: 120,
    minFreeDiskMb: 500,
    retryLimit: 3,
    retryDelaySeconds: 10,
    maxConcurrentPerSite: 2,
    sleepRequestsSeconds: 0,
    sleepIntervalSeconds: 0,
    maxPlaylistItems: 200,
    defaultRateLimit: null,
    authMode: "none",
    adminPassword: null,
    rateLimitSubmit: "60/60",
    rateLimitFormats: "20/60",
    rateLimitLogin: "10/300",
    logFormat: "pretty",
    forkServer: true,
    concurrentFragments: 4,
    redisUrl: null,
    role: "all",
    jobLockSeconds: 30,
  });
  assert.equal(loadConfig({ YTDLP_FORK_SERVER: "off" }).forkServer, false);
  assert.equal(loadConfig({ LOG_FORMAT: "json" }).logFormat, "json");
  assert.throws(() => loadConfig({ LOG_FORMAT: "xml" }), ConfigError);
  assert.equal(loadConfig({ HOST: "0.0.0.0" }).authMode, "password", "off loopback, a login");
  assert.equal(loadConfig({ HOST: "0.0.0.0", AUTH_MODE: "none" }).authMode, "none");
  assert.equal(loadConfig({ PORT: "" }).port, 8000);
  assert.equal(loadConfig({ ALLOW_PRIVATE_URLS: "true" }).allowPrivateUrls, true);
});

Deno.test("bad values stop start-up naming each variable", () => {
  assert.throws(
    () => loadConfig({ PORT: "eighty", MAX_CONCURRENT_DOWNLOADS: "0", CLEANUP_SCHEDULE: "hourly" }),
    (error: Error) =>
      error instanceof ConfigError && /PORT="eighty"/.test(error.message) &&
      /MAX_CONCURRENT_DOWNLOADS="0"/.test(error.message) && /CLEANUP_SCHEDULE/.test(error.message),
  );
  assert.throws(() => loadConfig({ ALLOW_PRIVATE_URLS: "maybe" }), ConfigError);
});

Deno.test("numbers are decimal and bounded, sizes and schedules are checked before start-up", () => {
  for (
    const [name, value] of [
      ["PORT", "0x50"],
      ["PORT", "70000"],
      ["MAX_CONCURRENT_DOWNLOADS", "1e3"],
      ["TASK_RETENTION_SECONDS", "10000000000000"],
      ["STALL_TIMEOUT_SECONDS", "-5"],
      ["MAX_FILESIZE", "2X"],
      ["CLEANUP_SCHEDULE", "99 99 * * *"],
      ["CLEANUP_SCHEDULE", "0 * * *"],
      ["CLEANUP_SCHEDULE", "*/0 * * * *"],
      ["CLEANUP_SCHEDULE", "5-1 * * * *"],
    ]
  ) {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (error: Error) => error instanceof ConfigError && error.message.includes(`${name}=`),
      `${name}=${value}`,
    );
  }
  const config = loadConfig({
    MAX_FILESIZE: "1.5G",
    CLEANUP_SCHEDULE: "*/15 2-4 1,15 * 0",
    ALLOWED_PRIVATE_NETWORKS: "192.168.1.0/24",
  });
  assert.equal(config.maxFilesize, 1.5 * 1024 ** 3);
  assert.equal(config.cleanupSchedule, "*/15 2-4 1,15 * 0");
  assert.equal(config.allowedPrivateNetworks.length, 1);
});

Deno.test("a cluster node needs REDIS_URL, and roles other than all need the Redis backend", () => {
  assert.throws(
    () => loadConfig({ QUEUE_BACKEND: "redis" }),
    (error: Error) => error instanceof ConfigError && /REDIS_URL/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ ROLE: "worker" }),
    (error: Error) => error instanceof ConfigError && /ROLE="worker"/.test(error.message),
  );
  assert.throws(() => loadConfig({ QUEUE_BACKEND: "redis", REDIS_URL: "http://x" }), ConfigError);
  const node = loadConfig({
    QUEUE_BACKEND: "redis",
    REDIS_URL: "redis://:secret@redis:6379/2",
    ROLE: "api",
    JOB_LOCK_SECONDS: "5",
  });
  assert.deepEqual(
    { url: node.redisUrl, role: node.role, lock: node.jobLockSeconds },
    { url: "redis://:secret@redis:6379/2", role: "api", lock: 5 },
  );
  assert.match(node.ytdlpHome, /\/data\/yt-dlp\/node-/, "each node its own yt-dlp");
  assert.equal(loadConfig({ REDIS_URL: "redis://r" }).redisUrl, null, "embedded unless asked");
});
