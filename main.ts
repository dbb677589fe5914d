/**
 * The composition root: reads the configuration once, builds every piece, serves, and stops
 * cleanly on SIGINT/SIGTERM. Nothing else reads the environment or starts anything long-lived.
 */
import { join } from "node:path";
import { WebhookStore } from "./src/webhooks/webhook_store.ts";
import { WebhookDispatcher } from "./src/webhooks/webhook_dispatcher.ts";
import { AuthStore } from "./src/auth/auth_store.ts";
import { type Config, ConfigError, loadConfig } from "./src/config.ts";
import { DataDirBusyError, DataDirLock } from "./src/data_dir_lock.ts";
import { sweep } from "./src/downloads/cleanup.ts";
import { CookieStore } from "./src/downloads/cookie_store.ts";
import { FormatLister } from "./src/downloads/format_lister.ts";
import { DownloadManager, retryBackoff } from "./src/downloads/manager.ts";
import { createRunner } from "./src/downloads/run_download.ts";
import { SourceUrls } from "./src/downloads/source_urls.ts";
import { freeBytes, StorageProbe } from "./src/downloads/storage_probe.ts";
import { TaskLayout } from "./src/downloads/task_layout.ts";
import { KvTaskStore } from "./src/downloads/task_store.ts";
import { createApp } from "./src/http/app.ts";
import { ServiceMetrics } from "./src/http/metrics.ts";
import { createLogger, type LogFields } from "./src/log/logger.ts";
import { logTaskEvents } from "./src/downloads/task_log.ts";
import { parseRatePolicy, RateLimiter } from "./src/http/rate_limit.ts";
import { isLoopbackHost } from "./src/http/request_guards.ts";
import { AddressPolicy } from "./src/net/address_policy.ts";
import { EgressProxy } from "./src/net/egress_proxy.ts";
import { systemResolver } from "./src/net/url_policy.ts";
import { WsHub } from "./src/ws/hub.ts";
import { childEnv } from "./src/ytdlp/process.ts";
import { ManagedYtdlp } from "./src/ytdlp/managed.ts";
import { hasFlock } from "./src/ytdlp/probe.ts";
import { FixedYtdlp } from "./src/ytdlp/source.ts";
import { ForkServerPool } from "./src/ytdlp/fork_server.ts";
import type { Redis } from "ioredis";
import type { TaskStore } from "./src/downloads/task_store.ts";
import { TaskView } from "./src/ws/task_view.ts";

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

let config: Config;
try {
  config = loadConfig(Deno.env.toObject());
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  fail(error.message);
}

const logger = createLogger({ format: config.logFormat });

// Last resort: a stray rejection or error is logged and the service keeps serving.
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  logger.error("unhandled rejection (the service carries on)", { error: event.reason });
});
globalThis.addEventListener("error", (event) => {
  event.preventDefault();
  logger.error("uncaught error (the service carries on)", { error: event.error });
});

const warn = (message: string, fields?: LogFields) => logger.warn(message, fields);

// Before anything touches DATA_DIR: one instance per directory (a cluster's nodes share it).
let lock: DataDirLock | null = null;
try {
  await Deno.mkdir(config.dataDir, { recursive: true });
  if (config.redisUrl === null) lock = await DataDirLock.acquire(config.dataDir);
} catch (error) {
  if (error instanceof DataDirBusyError) fail(error.message);
  if (error instanceof Deno.errors.PermissionDenied) {
    fail(
      `DATA_DIR '${config.dataDir}' is not writable by this user (uid ${Deno.uid()}); ` +
        `give it to that uid, e.g. chown -R ${Deno.uid()} '${config.dataDir}'`,
    );
  }
  throw error;
}
using _lock = lock;

// Bind before recovery and the sweep, so that a port in use costs nothing and says so in a line.
let app: ReturnType<typeof createApp> | null = null;
let server: Deno.HttpServer;
try {
  server = Deno.serve(
    { port: config.port, hostname: config.host, onListen: () => {} },
    (request, info) => {
      // A worker answers its probes only; the API is on the API nodes.
      if (
        config.role === "worker" &&
        !["/healthz", "/metrics"].includes(new URL(request.url).pathname)
      ) {
        return Response.json(
          {
            error: {
              code: "not_found",
              message:
                "this node only runs downloads (ROLE=worker); send API requests to an API node",
            },
          },
          { status: 404 },
        );
      }
      return app?.fetch(request, info) ??
        Response.json(
          { error: { code: "starting", message: "the service is starting" } },
          { status: 503, headers: { "Retry-After": "1" } },
        );
    },
  );
} catch (error) {
  if (error instanceof Deno.errors.AddrInUse) {
    fail(`port ${config.port} on ${config.host} is already in use (set PORT to another one)`);
  }
  throw error;
}

const stop = new AbortController();
const onSignal = () => stop.abort();
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);

// A cluster's node: records, line and events in Redis, shared with the other nodes.
const nodeId = `${Deno.hostname()}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
// Loaded only for a cluster: BullMQ and its Redis client cost an embedded process ~35 MB.
const cluster = config.redisUrl === null ? null : {
  ...await import("./src/cluster/bull_queue.ts"),
  ...await import("./src/cluster/coordinator_lease.ts"),
  ...await import("./src/cluster/event_stream.ts"),
  ...await import("./src/cluster/redis_connection.ts"),
  ...await import("./src/cluster/redis_lock.ts"),
  ...await import("./src/cluster/redis_task_store.ts"),
  ...await import("./src/cluster/remote_cancel_channel.ts"),
};
let redis: Redis | null = null;
if (cluster !== null) {
  try {
    redis = await cluster.connectRedis(config.redisUrl!, (message) => logger.warn(message));
  } catch (error) {
    if (error instanceof cluster.RedisUnavailableError) fail(`${error.message} (REDIS_URL)`);
    throw error;
  }
}
let kvStore: KvTaskStore | null = null;
let store: TaskStore;
if (redis === null) {
  const opened = await KvTaskStore.open(join(config.dataDir, "tasks.kv"));
  if (opened.setAside !== null) {
    logger.error(
      `tasks.kv could not be used (${opened.problem}); moved it to ${opened.setAside} and started ` +
        "with an empty one. Finished downloads are adopted again from their directories.",
    );
  }
  store = kvStore = opened.store;
} else {
  store = new cluster!.RedisTaskStore(redis);
}
const events = redis === null ? null : new cluster!.RedisEventStream(redis, nodeId, warn);
// Read before the records, so that no event between the two is missed (replays are harmless).
const streamFrom = await events?.position() ?? null;
using remote = redis === null ? null : await cluster!.RedisCancelChannel.open(redis);
const runsTasks = config.role !== "api";

const policy = new AddressPolicy({
  allowAll: config.allowPrivateUrls,
  allowedNetworks: config.allowedPrivateNetworks,
});
await using egress = EgressProxy.listen({ policy, resolve: systemResolver });
const layout = new TaskLayout(join(config.dataDir, "tasks"));
const sources = new SourceUrls(join(config.dataDir, "secrets"));
const cookies = new CookieStore(join(config.dataDir, "cookies.txt"));
const denoPath = Deno.execPath();
const env = childEnv(Deno.env.toObject());
const managed = config.ytdlpPath === null
  ? await ManagedYtdlp.open({
    home: config.ytdlpHome,
    python: config.python,
    pipIndex: config.ytdlpPipIndex,
    mode: config.ytdlpUpdate,
    schedule: config.ytdlpUpdateSchedule,
    denoPath,
    // pip may need the operator's proxy to reach PyPI; yt-dlp gets the scrubbed environment.
    env: Deno.env.toObject(),
    log: (message) => logger.info(message),
  })
  : null;
const ytdlp = managed ?? await new FixedYtdlp(config.ytdlpPath!, denoPath, { env }).init();
await using forkServer = new ForkServerPool({
  enabled: config.forkServer,
  env,
  log: (message) => logger.info(message),
});
// Warmed in the background: the port is already answering, and a run before it is ready waits.
{
  using binary = ytdlp.acquire();
  forkServer.warm(binary.path).catch((error) =>
    logger.warn("fork server could not start", { error })
  );
}

const manager = await DownloadManager.open({
  layout,
  store,
  sources,
  run: createRunner({
    ytdlp,
    denoPath,
    egress,
    cookies,
    sleepRequests: config.sleepRequestsSeconds,
    sleepInterval: config.sleepIntervalSeconds,
    maxEntries: config.maxPlaylistItems,
    defaultRateLimit: config.defaultRateLimit,
    env,
    runLocks: await hasFlock(),
    layout,
    maxFilesize: config.maxFilesize,
    stallTimeoutMs: config.stallTimeoutSeconds * 1000,
    launch: forkServer.launch,
    concurrentFragments: config.concurrentFragments,
    log: warn,
  }),
  maxConcurrent: config.maxConcurrentDownloads,
  maxPerSite: config.maxConcurrentPerSite,
  queue: redis === null ? undefined : new cluster!.BullQueue({
    redis,
    concurrency: config.maxConcurrentDownloads,
    maxPerSite: config.maxConcurrentPerSite,
    lockMs: config.jobLockSeconds * 1000,
    log: warn,
  }),
  cluster: remote === null ? undefined : { remote },
  runsTasks,
  maxPlaylistItems: config.maxPlaylistItems,
  retryLimit: config.retryLimit,
  retryDelayMs: retryBackoff(config.retryDelaySeconds * 1000),
  maxQueued: config.maxQueuedTasks,
  retentionSeconds: config.taskRetentionSeconds,
  minFreeBytes: config.minFreeDiskMb * 1e6,
  freeBytes: () => freeBytes(config.dataDir),
  log: warn,
});
const stopTaskLog = logTaskEvents(manager, logger);
// On a cluster, sockets are fed from the event stream: every node's changes, in one order.
let view: TaskView | null = null;
if (events !== null) {
  manager.subscribe((event) => events.append(event));
  // Only API nodes have sockets; it starts from the records the manager loaded after `streamFrom`.
  const feed = config.role === "worker" ? null : new TaskView(
    manager.list(Infinity).tasks,
    (taskId) => manager.get(taskId),
  );
  view = feed;
  events.follow(streamFrom!, (event, own) => {
    if (!own) manager.apply(event);
    feed?.push(event);
  }, stop.signal).catch((error) => logger.error("task event stream stopped", { error }));
  if (runsTasks) {
    remote!.listen((taskId) => {
      manager.cancelHere(taskId).catch((error) =>
        logger.warn("could not cancel on request of another node", { task_id: taskId, error })
      );
    });
  }
}
using hub = new WsHub(view ?? manager);

const runSweep = async () => {
  const once = async () => {
    const result = await sweep({ manager, layout, sources, log: warn }, Date.now());
    if (result.expired.length || result.orphans.length) {
      logger.info("cleanup", { expired: result.expired.length, orphaned: result.orphans.length });
    }
  };
  // One node of a cluster at a time.
  if (redis === null) await once();
  else await cluster!.withRedisLock(redis, "cleanup", 10 * 60_000, once);
};
await runSweep().catch((error) => logger.error("cleanup failed", { error }));
Deno.cron(
  "cleanup",
  config.cleanupSchedule,
  { signal: stop.signal },
  () => runSweep().catch((error) => logger.error("cleanup failed", { error })),
);

if (managed !== null && config.ytdlpUpdate !== "off") {
  Deno.cron("yt-dlp update", config.ytdlpUpdateSchedule, { signal: stop.signal }, async () => {
    try {
      const attempt = await managed.update();
      if (attempt.outcome !== "up_to_date") logger.info("yt-dlp update", { attempt });
    } catch (error) {
      logger.error("yt-dlp update failed", { error });
    }
  });
}

const authStore = await AuthStore.open(join(config.dataDir, "auth.json"), Date.now);
if (config.adminPassword !== null) await authStore.setPassword(config.adminPassword);
// No password yet: a one-time link, printed below, lets the first visitor with the log set one.
let setupToken = config.authMode === "password" && config.role !== "worker" &&
    !authStore.hasPassword()
  ? crypto.randomUUID().replaceAll("-", "")
  : null;

const webhookStore = await WebhookStore.open(join(config.dataDir, "webhooks.json"));
const webhooks = new WebhookDispatcher({ store: webhookStore, egress, log: warn });
// One node of a cluster (the coordinator) sends them all, from the event stream; embedded, the
// manager's events.
let coordinating: Promise<void> = Promise.resolve();
if (events === null || redis === null) {
  webhooks.start(manager);
} else {
  coordinating = cluster!.coordinate(
    {
      redis,
      events,
      dispatcher: webhooks,
      groups: manager,
      log: warn,
      ttlMs: config.jobLockSeconds * 1000,
    },
    stop.signal,
  ).catch((error) => logger.error("coordinator lease stopped", { error }));
}

using metrics = new ServiceMetrics({ tasks: manager, sockets: hub, ytdlp });
app = createApp({
  logger,
  metrics,
  webhooks: { store: webhookStore, dispatcher: webhooks },
  auth: {
    mode: config.authMode,
    store: authStore,
    setupToken: () => setupToken,
    setupDone: () => setupToken = null,
  },
  limits: {
    submit: new RateLimiter(parseRatePolicy("submit", config.rateLimitSubmit)),
    formats: new RateLimiter(parseRatePolicy("formats", config.rateLimitFormats)),
    login: new RateLimiter(parseRatePolicy("login", config.rateLimitLogin)),
  },
  manager,
  hub,
  security: {
    policy,
    resolve: systemResolver,
    loopbackOnly: isLoopbackHost(config.host),
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.allowedOrigins,
  },
  ytdlp,
  ytdlpControl: managed,
  cookies,
  formats: new FormatLister({ ytdlp, egress, denoPath, env, cookies, launch: forkServer.launch }),
  health: {
    storage: new StorageProbe(config.dataDir),
    forkServer,
    maxQueued: config.maxQueuedTasks,
    maxConcurrent: config.maxConcurrentDownloads,
    cluster: {
      info: () => ({
        backend: redis === null ? "embedded" : "redis",
        role: config.role,
        node: redis === null ? null : nodeId,
        redis: redis === null ? null : redis.status === "ready" ? "ok" : "unreachable",
      }),
    },
  },
  staticDir: join(import.meta.dirname!, "static"),
});
const { hostname, port } = server.addr as Deno.NetAddr;
const base = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
logger.info(`listening on ${base}/`);
if (setupToken !== null) {
  logger.warn(
    `no admin password is set: open ${
      base.replace("0.0.0.0", "<this machine>")
    }/setup?token=${setupToken} ` +
      "to choose one (or set ADMIN_PASSWORD)",
  );
}

await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
logger.info("shutting down");
stopTaskLog();
hub.closeAll(1001, "server shutting down");
await manager[Symbol.asyncDispose]();
await coordinating;
await webhooks[Symbol.asyncDispose]();
await server.shutdown();
kvStore?.[Symbol.dispose]();
redis?.disconnect();
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(signal, onSignal);
