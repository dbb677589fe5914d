import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./config.ts";

Deno.test("configuration defaults match the README table", () => {
  assert.deepEqual(loadConfig({}), {
    port: 8000,
    host: "127.0.0.1",
    dataDir: "./data",
    maxConcurrentDownloads: 3,
    taskRetentionSeconds: 3600,
    cleanupSchedule: "0 * * * *",
    ytdlpPath: "yt-dlp",
    allowPrivateUrls: false,
    allowedPrivateNetworks: [],
    allowedOrigins: [],
    allowedHosts: [],
    maxQueuedTasks: 1000,
    maxFilesize: null,
    stallTimeoutSeconds: 120,
    minFreeDiskMb: 500,
  });
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
