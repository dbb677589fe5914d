import { join } from "node:path";
import { createApp } from "./src/http/app.ts";
import { sweep } from "./src/downloads/cleanup.ts";
import { ConfigError, loadConfig } from "./src/config.ts";
import { DownloadManager } from "./src/downloads/manager.ts";
import { KvTaskStore } from "./src/downloads/task_store.ts";
import { AddressPolicy } from "./src/net/address_policy.ts";
import { EgressProxy } from "./src/net/egress_proxy.ts";
import { systemResolver } from "./src/net/url_policy.ts";
import { isLoopbackHost } from "./src/http/request_guards.ts";
import { childEnv } from "./src/ytdlp/process.ts";
import { WsHub } from "./src/ws/hub.ts";
import { hasFlock, probeYtdlp, probeYtdlpFeatures } from "./src/ytdlp/probe.ts";

function readConfig() {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    Deno.exit(2);
  }
}

const config = readConfig();
await Deno.mkdir(config.dataDir, { recursive: true });

const stop = new AbortController();
const onSignal = () => stop.abort();
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);

const policy = new AddressPolicy({
  allowAll: config.allowPrivateUrls,
  allowedNetworks: config.allowedPrivateNetworks,
});
await using egress = EgressProxy.listen({ policy, resolve: systemResolver });
using store = await KvTaskStore.open(join(config.dataDir, "tasks.kv"));
const manager = await DownloadManager.open({
  dataDir: config.dataDir,
  ytdlpPath: config.ytdlpPath,
  ytdlpFeatures: await probeYtdlpFeatures(config.ytdlpPath),
  maxConcurrent: config.maxConcurrentDownloads,
  retentionSeconds: config.taskRetentionSeconds,
  store,
  egress,
  env: childEnv(Deno.env.toObject()),
  runLocks: await hasFlock(),
});
using hub = new WsHub(manager);

const runSweep = async () => {
  const result = await sweep(manager, Date.now());
  if (result.expired.length || result.orphans.length) {
    console.log(`cleanup: ${result.expired.length} expired, ${result.orphans.length} orphaned`);
  }
};
await runSweep();
Deno.cron("cleanup", config.cleanupSchedule, { signal: stop.signal }, runSweep);

const app = createApp({
  manager,
  hub,
  security: {
    policy,
    resolve: systemResolver,
    loopbackOnly: isLoopbackHost(config.host),
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.allowedOrigins,
  },
  ytdlpHealth: () => probeYtdlp(config.ytdlpPath),
  staticDir: join(import.meta.dirname!, "static"),
});

const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
}, app.fetch);

await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
console.log("shutting down");
hub.closeAll(1001, "server shutting down");
await manager[Symbol.asyncDispose]();
await server.shutdown();
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(signal, onSignal);
