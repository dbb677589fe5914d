/**
 * The scale-out benchmarks (QUEUE_BACKEND=redis), run by bench/run.ts as section 8 or alone with
 * `deno run --allow-all bench/cluster.ts`. A Redis of its own, 2 API nodes and 2 workers as
 * separate processes sharing one DATA_DIR, all on loopback:
 *
 * - submit-to-start: from sending the POST to one API node until that node's all-tasks feed says
 *   `downloading`, with idle workers (one download at a time).
 * - cross-node progress: from a progress event's publication (the time in its Redis stream id,
 *   stamped by Redis as the worker appends it) to its arrival on a socket of an API node.
 * - cancel from the other node: a download submitted on one API node, running on a worker, is
 *   cancelled with a DELETE on the other; until the `cancelled` status arrives on the first node's
 *   socket, and until the DELETE is answered (the worker's processes gone, its files deleted).
 * - 5,000 subscribers: half on each API node, all on one task; when each heard the end, measured
 *   from the end's publication, and each API node's RSS with its half connected.
 */
import { processesMentioning } from "../tests/fixtures/processes.ts";
import { Redis } from "ioredis";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "../tests/fixtures/media.ts";
import { startRedis } from "../tests/fixtures/redis.ts";
import { type FixtureServer, startFixtureServer } from "../tests/fixtures/server.ts";
import { type ServiceProcess, spawnService } from "../tests/fixtures/service_process.ts";
import { isType, openLean, parsed } from "./lean_ws.ts";
import { percentile, rssMiB } from "./stats.ts";

/** What the cluster benchmarks found. */
export interface ClusterFigures {
  start: { runs: number; p50: number; p95: number; max: number };
  progress: { messages: number; p50: number; p95: number; max: number };
  cancel: { runs: number; leftover: number; ackMax: number; ackP50: number; stopMax: number };
  fanout: {
    subscribers: number;
    complete: number;
    p50: number;
    p95: number;
    max: number;
    rssMiB: number[];
  };
}

/** Runs the three measurements against a fresh cluster; `scratch` holds its DATA_DIR. */
export async function measureCluster(
  source: FixtureServer,
  scratch: string,
  options: { startRuns?: number; subscribers?: number } = {},
): Promise<ClusterFigures> {
  await using redis = await startRedis();
  const dataDir = join(scratch, "cluster");
  await Deno.mkdir(dataDir, { recursive: true });
  const env = (role: string) => ({
    QUEUE_BACKEND: "redis",
    REDIS_URL: redis.url,
    ROLE: role,
    MAX_CONCURRENT_DOWNLOADS: "3",
    RATE_LIMIT_SUBMIT: "1000000/60",
    MAX_CONCURRENT_PER_SITE: "8",
  });
  await using api1 = await spawnService(dataDir, env("api"));
  await using api2 = await spawnService(dataDir, env("api"));
  await using _worker1 = await spawnService(dataDir, env("worker"));
  await using _worker2 = await spawnService(dataDir, env("worker"));
  using stream = await followStream(redis.url);

  const start = await measureStart([api1, api2], source, options.startRuns ?? 40);
  const progress = await measureProgress(api2, source, stream);
  const cancel = await measureCancel(api1, api2, source, 5);
  const fanout = await measureFanout([api1, api2], source, stream, options.subscribers ?? 5000);
  return { start, progress, cancel, fanout };
}

interface StreamEvent {
  /** Milliseconds since the epoch, from the entry id (Redis's clock at the append). */
  at: number;
  type: string;
  taskId: string;
  bytes: number | null;
}

/** Reads the cluster's event stream alongside the nodes, to know when each event was published. */
async function followStream(url: string) {
  const reader = new Redis(url, { maxRetriesPerRequest: null });
  await reader.ping();
  const events: StreamEvent[] = [];
  let stopped = false;
  let last = "$";
  const loop = (async () => {
    while (!stopped) {
      const batch = await reader.xread("BLOCK", 1000, "STREAMS", "ytdl:events", last).catch(
        () => null,
      ) as [string, [string, string[]][]][] | null;
      for (const [, entries] of batch ?? []) {
        for (const [id, fields] of entries) {
          last = id;
          const body = JSON.parse(fields[fields.indexOf("e") + 1]);
          events.push({
            at: Number(id.split("-")[0]),
            type: body.type,
            taskId: body.task?.task?.task_id ?? body.taskId,
            bytes: body.task?.task?.progress?.downloaded_bytes ?? null,
          });
        }
      }
    }
  })();
  return {
    events,
    [Symbol.dispose]() {
      stopped = true;
      reader.disconnect();
      loop.catch(() => {});
    },
  };
}

async function post(node: ServiceProcess, url: string): Promise<string> {
  const response = await fetch(`${node.origin}/api/v1/download`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ url }),
  });
  const body = await response.json();
  if (response.status !== 202) throw new Error(JSON.stringify(body));
  return body.task_id;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with Redis's stream ids. */
const wallNow = () => performance.timeOrigin + performance.now();

async function measureStart(nodes: ServiceProcess[], source: FixtureServer, runs: number) {
  const feeds = nodes.map((node) => {
    const socket = new WebSocket(`${node.origin.replace(/^http/, "ws")}/ws/downloads`);
    // When each task reached each status here; the feed may say `downloading` before the POST's
    // answer arrives, so everything is kept.
    const seen = new Map<string, number>();
    const waiters = new Map<string, (at: number) => void>();
    socket.onmessage = (event) => {
      const at = performance.now();
      const message = JSON.parse(event.data);
      if (message.type !== "status" && message.type !== "complete") return;
      const key = `${message.task_id}:${message.data.status ?? message.type}`;
      if (!seen.has(key)) seen.set(key, at);
      waiters.get(key)?.(at);
    };
    const opened = new Promise((resolve) => socket.onopen = resolve);
    const until = (taskId: string, status: string) => {
      const key = `${taskId}:${status}`;
      const at = seen.get(key);
      return at !== undefined
        ? Promise.resolve(at)
        : new Promise<number>((resolve) => waiters.set(key, resolve));
    };
    return { socket, opened, until };
  });
  await Promise.all(feeds.map((f) => f.opened));
  const latencies: number[] = [];
  // Three unmeasured rounds first: each worker's fork server is warm for the measured ones.
  for (let run = -3; run < runs; run++) {
    const at = ((run % 2) + 2) % 2;
    const feed = feeds[at];
    const url = source.url(MEDIA.tiny[((run % 3) + 3) % 3], { rate: 10_000_000 + run + 3 });
    const sent = performance.now();
    const taskId = await post(nodes[at], url);
    const started = await feed.until(taskId, "downloading");
    if (run >= 0) latencies.push(started - sent);
    await feed.until(taskId, "complete");
  }
  for (const feed of feeds) feed.socket.close();
  return { runs, ...summary(latencies) };
}

async function measureProgress(
  node: ServiceProcess,
  source: FixtureServer,
  stream: { events: StreamEvent[] },
) {
  const taskId = await post(node, source.url(MEDIA.large, { rate: 1_000_000 }));
  const arrivals: { at: number; bytes: number }[] = [];
  const socket = new WebSocket(`${node.origin.replace(/^http/, "ws")}/ws/download/${taskId}`);
  socket.onmessage = (event) => {
    const at = wallNow();
    const message = JSON.parse(event.data);
    if (message.type === "progress" && typeof message.data.downloaded_bytes === "number") {
      arrivals.push({ at, bytes: message.data.downloaded_bytes });
    }
  };
  await new Promise((resolve) => setTimeout(resolve, 8000));
  await fetch(`${node.origin}/api/v1/download/${taskId}`, { method: "DELETE" });
  socket.close();
  const published = new Map(
    stream.events
      .filter((e) => e.taskId === taskId && e.type === "progress" && e.bytes !== null)
      .map((e) => [e.bytes, e.at]),
  );
  const latencies = arrivals.flatMap(({ at, bytes }) => {
    const from = published.get(bytes);
    return from === undefined ? [] : [at - from];
  });
  return { messages: latencies.length, ...summary(latencies) };
}

async function measureCancel(
  submitTo: ServiceProcess,
  cancelAt: ServiceProcess,
  source: FixtureServer,
  runs: number,
) {
  const acks: number[] = [];
  const stops: number[] = [];
  let leftover = 0;
  for (let run = 0; run < runs; run++) {
    const url = source.url(MEDIA.large, { rate: 500_000 + run });
    const taskId = await post(submitTo, url);
    const progressed = Promise.withResolvers<void>();
    const cancelled = Promise.withResolvers<number>();
    const socket = new WebSocket(
      `${submitTo.origin.replace(/^http/, "ws")}/ws/download/${taskId}`,
    );
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "progress") progressed.resolve();
      if (message.type === "status" && message.data.status === "cancelled") {
        cancelled.resolve(performance.now());
      }
    };
    await progressed.promise;
    const sent = performance.now();
    const response = await fetch(`${cancelAt.origin}/api/v1/download/${taskId}`, {
      method: "DELETE",
    });
    const answered = performance.now();
    if ((await response.json()).status !== "cancelled") throw new Error("not cancelled");
    leftover += (await processesMentioning(url)).length;
    acks.push((await cancelled.promise) - sent);
    stops.push(answered - sent);
    socket.close();
  }
  const ack = summary(acks);
  const stop = summary(stops);
  return { runs, leftover, ackP50: ack.p50, ackMax: ack.max, stopMax: stop.max };
}

async function measureFanout(
  nodes: ServiceProcess[],
  source: FixtureServer,
  stream: { events: StreamEvent[] },
  count: number,
) {
  const taskId = await post(nodes[0], source.url(MEDIA.mp4, { rate: 20_000 }));
  const heardAt: number[] = [];
  const sockets = [];
  for (let n = 0; n < count; n++) {
    sockets.push(
      openLean(nodes[n % 2].origin, `/ws/download/${taskId}`, ({ at, payload }) => {
        if (isType(payload, "complete") && parsed(payload).type === "complete") {
          heardAt.push(performance.timeOrigin + at);
        }
      }),
    );
    if (n % 200 === 199) await Promise.all(sockets.map((s) => s.opened));
  }
  await Promise.all(sockets.map((s) => s.opened));
  const rss = await Promise.all(nodes.map((node) => rssMiB(node.pid)));
  await Promise.all(sockets.map((s) => s.closed));
  const end = stream.events.find((e) => e.taskId === taskId && e.type === "complete");
  if (end === undefined) throw new Error("the end was not published");
  const delays = heardAt.map((t) => t - end.at);
  return { subscribers: count, complete: heardAt.length, ...summary(delays), rssMiB: rss };
}

function summary(values: number[]) {
  return { p50: percentile(values, 50), p95: percentile(values, 95), max: Math.max(...values) };
}

if (import.meta.main) {
  const mediaDir = await fixtureMedia();
  await using source = startFixtureServer(mediaDir);
  const scratch = await Deno.makeTempDir({ prefix: "ytdl-bench-cluster-" });
  try {
    console.log(JSON.stringify(
      await measureCluster(source, scratch, {
        subscribers: Number(Deno.env.get("BENCH_CLUSTER_SUBSCRIBERS") ?? 5000),
      }),
      null,
      2,
    ));
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}
