import { Hono } from "hono";
import type { DownloadManager } from "../downloads/manager.ts";
import type { StorageProbe } from "../downloads/storage_probe.ts";
import type { YtdlpSource } from "../ytdlp/source.ts";
import type { ForkServerInfo } from "../ytdlp/fork_server.ts";

/** Which node this is; on a cluster, whether it reaches Redis. */
export interface ClusterInfo {
  backend: "embedded" | "redis";
  role: "all" | "api" | "worker";
  /** This process's id in the cluster's logs; null when embedded. */
  node: string | null;
  /** null when embedded. */
  redis: "ok" | "unreachable" | null;
}

const EMBEDDED: ClusterInfo = { backend: "embedded", role: "all", node: null, redis: null };

/** What /healthz reads; each part answers from memory or a short cache, never a new Python. */
export interface HealthDeps {
  manager: Pick<DownloadManager, "counts" | "storageError">;
  ytdlp: Pick<YtdlpSource, "info">;
  storage: Pick<StorageProbe, "check">;
  forkServer: { info(): ForkServerInfo };
  maxQueued: number;
  maxConcurrent: number;
  cluster?: { info(): ClusterInfo };
}

/**
 * `GET /healthz`: 200 when yt-dlp is usable and DATA_DIR takes writes (files and task records
 * alike), else 503 with the reasons; always with the figures an operator looks at.
 */
export function healthRoutes(deps: HealthDeps): Hono {
  const health = new Hono();
  health.get("/healthz", async (c) => {
    const ytdlp = deps.ytdlp.info();
    const storage = await deps.storage.check();
    const counts = deps.manager.counts();
    const recordError = deps.manager.storageError;
    const cluster = deps.cluster?.info() ?? EMBEDDED;
    const reasons = [
      ...(cluster.redis === "unreachable" ? ["Redis is unreachable (REDIS_URL)"] : []),
      ...(ytdlp.version === null || ytdlp.problem !== null
        ? [`yt-dlp is unusable: ${ytdlp.problem ?? "no version"}`]
        : []),
      ...(storage.writable ? [] : [`DATA_DIR is not writable: ${storage.error}`]),
      ...(recordError === null ? [] : [`task records cannot be saved: ${recordError}`]),
    ];
    return c.json({
      status: reasons.length === 0 ? "ok" : "unavailable",
      reasons,
      ytdlp,
      fork_server: deps.forkServer.info(),
      cluster,
      storage: { ...storage, records_error: recordError },
      queue: {
        queued: counts.queued,
        running: counts.running,
        total: counts.total,
        max_queued: deps.maxQueued,
        max_running: deps.maxConcurrent,
      },
    }, reasons.length === 0 ? 200 : 503);
  });
  return health;
}
