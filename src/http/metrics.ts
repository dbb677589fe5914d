import { Hono, type MiddlewareHandler } from "hono";
import type * as prom from "prom-client";
// The library's core classes only: its index also loads cluster aggregation and the default
// process metrics (perf_hooks, v8), about 5 MB of resident memory this service never uses.
import RegistryModule from "prom-client/lib/registry.js";
import CounterModule from "prom-client/lib/counter.js";
import GaugeModule from "prom-client/lib/gauge.js";
import HistogramModule from "prom-client/lib/histogram.js";
import type { DownloadManager } from "../downloads/manager.ts";
import { SeenKeys, taskEndingOf } from "../downloads/task_ending.ts";
import { TASK_STATUSES } from "../model/task.ts";
import type { WsHub } from "../ws/hub.ts";
import type { YtdlpSource } from "../ytdlp/source.ts";
import { routeLabel } from "./route_label.ts";

const client = {
  Registry: RegistryModule as typeof prom.Registry,
  Counter: CounterModule as typeof prom.Counter,
  Gauge: GaugeModule as typeof prom.Gauge,
  Histogram: HistogramModule as typeof prom.Histogram,
};

/** What the metrics are read from; narrow so that a test can supply each part. */
export interface MetricsSources {
  tasks: Pick<DownloadManager, "counts" | "subscribe">;
  sockets: Pick<WsHub, "size" | "drops">;
  ytdlp: Pick<YtdlpSource, "info">;
}

/** Request durations in seconds: from a cached JSON answer to a slow format look-up. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The service's Prometheus metrics, in a registry of its own (never prom-client's global one).
 * Gauges are read when scraped; finished downloads and HTTP requests are counted as they happen.
 */
export class ServiceMetrics implements Disposable {
  readonly registry = new client.Registry();
  readonly #requests: prom.Counter<"method" | "route" | "status">;
  readonly #durations: prom.Histogram<"method" | "route">;
  readonly #unsubscribe: () => void;
  readonly #now: () => number;

  constructor(sources: MetricsSources, now: () => number = performance.now.bind(performance)) {
    this.#now = now;
    const registers = [this.registry];
    new client.Gauge({
      name: "ytdl_tasks",
      help: "Tasks the service holds, by status.",
      labelNames: ["status"],
      registers,
      collect() {
        const { by_status } = sources.tasks.counts();
        for (const status of TASK_STATUSES) this.set({ status }, by_status[status]);
      },
    });
    new client.Gauge({
      name: "ytdl_queue_depth",
      help: "Tasks waiting for a download slot.",
      registers,
      collect() {
        this.set(sources.tasks.counts().queued);
      },
    });
    new client.Gauge({
      name: "ytdl_downloads_running",
      help: "Downloads running now.",
      registers,
      collect() {
        this.set(sources.tasks.counts().running);
      },
    });
    const finished = new client.Counter({
      name: "ytdl_downloads_finished_total",
      help: "Downloads that ended, by outcome and error code (playlists count by their entries).",
      labelNames: ["outcome", "code"],
      registers,
    });
    const bytes = new client.Counter({
      name: "ytdl_downloaded_bytes_total",
      help: "Bytes of finished files from completed downloads.",
      registers,
    });
    new client.Gauge({
      name: "ytdl_websocket_connections",
      help: "WebSocket subscribers connected now.",
      registers,
      collect() {
        this.set(sources.sockets.size);
      },
    });
    new client.Counter({
      name: "ytdl_websocket_drops_total",
      help: "WebSockets the service closed: too slow to read, send failed, frame too large, flood.",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(sources.sockets.drops)) {
          this.inc({ reason }, count);
        }
      },
    });
    new client.Gauge({
      name: "ytdl_ytdlp_info",
      help: "The yt-dlp in use; the value is 1, or 0 when it is unusable.",
      labelNames: ["version", "channel", "managed"],
      registers,
      collect() {
        this.reset();
        const info = sources.ytdlp.info();
        this.set({
          version: info.version ?? "unknown",
          channel: info.channel ?? "unknown",
          managed: String(info.managed),
        }, info.version !== null && info.problem === null ? 1 : 0);
      },
    });
    new client.Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory of the service process.",
      registers,
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
    this.#requests = new client.Counter({
      name: "ytdl_http_requests_total",
      help: "HTTP requests answered, by route pattern and status.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.#durations = new client.Histogram({
      name: "ytdl_http_request_duration_seconds",
      help: "Time to answer HTTP requests, by route pattern.",
      labelNames: ["method", "route"],
      buckets: DURATION_BUCKETS,
      registers,
    });

    const seen = new SeenKeys();
    this.#unsubscribe = sources.tasks.subscribe((event) => {
      const ending = taskEndingOf(event);
      if (ending === null || ending.task.kind === "playlist" || !seen.add(ending.key)) return;
      finished.inc({ outcome: ending.outcome, code: ending.task.error?.code ?? "none" });
      if (ending.outcome === "completed") bytes.inc(ending.task.filesize ?? 0);
    });
  }

  /** Counts and times every request by its route pattern; registered before the routes. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const started = this.#now();
      await next();
      const route = routeLabel(c);
      const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : "other";
      this.#requests.inc({ method, route, status: String(c.res.status) });
      this.#durations.observe({ method, route }, (this.#now() - started) / 1000);
    };
  }

  /** `GET /metrics` in the Prometheus text format. */
  routes(): Hono {
    const routes = new Hono();
    routes.get("/metrics", async (c) => {
      c.header("Content-Type", this.registry.contentType);
      c.header("Cache-Control", "no-store");
      return c.body(await this.registry.metrics());
    });
    return routes;
  }

  [Symbol.dispose](): void {
    this.#unsubscribe();
  }
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
