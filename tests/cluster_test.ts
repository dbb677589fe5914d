import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { processesMentioning } from "./fixtures/processes.ts";
import { type RedisServer, startRedis } from "./fixtures/redis.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { listFiles, sha256 } from "./fixtures/service.ts";
import { type ServiceProcess, spawnService, submitDownload } from "./fixtures/service_process.ts";
import { connect, type Message, percentages, type RecordingSocket } from "./fixtures/ws_client.ts";
import { readZip } from "./fixtures/zip.ts";

const mediaDir = await fixtureMedia();

/** Nodes of one cluster, as compose.yaml runs them: one Redis of the test's own, one DATA_DIR. */
interface Cluster extends AsyncDisposable {
  redis: RedisServer;
  dataDir: string;
  nodes: ServiceProcess[];
  /** Starts one more node, like the others; it is stopped with them. */
  add(role: string): Promise<ServiceProcess>;
}

/** Starts a node per role, in order; `extra` is added to every node's environment. */
async function startCluster(roles: string[], extra: Record<string, string> = {}): Promise<Cluster> {
  const redis = await startRedis();
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-cluster-" });
  const nodes: ServiceProcess[] = [];
  const all: ServiceProcess[] = [];
  const dispose = async () => {
    for (const node of all) await node[Symbol.asyncDispose]();
    await redis[Symbol.asyncDispose]();
    await Deno.remove(dataDir, { recursive: true });
  };
  const add = async (role: string) => {
    const node = await spawnService(dataDir, {
      QUEUE_BACKEND: "redis",
      REDIS_URL: redis.url,
      ROLE: role,
      JOB_LOCK_SECONDS: "2",
      MAX_CONCURRENT_DOWNLOADS: "3",
      MAX_CONCURRENT_PER_SITE: "20",
      RATE_LIMIT_SUBMIT: "1000/60",
      ...extra,
    });
    all.push(node);
    return node;
  };
  try {
    for (const role of roles) nodes.push(await add(role));
  } catch (error) {
    await dispose();
    throw error;
  }
  return { redis, dataDir, nodes, add, [Symbol.asyncDispose]: dispose };
}

function feed(node: ServiceProcess): RecordingSocket {
  return connect(`${node.origin.replace("http", "ws")}/ws/downloads`);
}

/** What a feed said about one task after its snapshot: statuses and percentages, in order. */
function story(socket: RecordingSocket, taskId: string): string[] {
  return socket.messages
    .filter((m) => m.task_id === taskId && m.type !== "snapshot")
    .map((m) =>
      m.type === "progress"
        ? `progress:${m.data.percentage}`
        : m.type === "status"
        ? `status:${m.data.status}`
        : m.type
    );
}

/** Percentages within each run (a status message starts a new one) never go back. */
function assertMonotonic(messages: Message[], taskId: string, node: string): void {
  let best = -1;
  for (const m of messages.filter((m) => m.task_id === taskId)) {
    if (m.type === "status") best = -1;
    if (m.type !== "progress" || typeof m.data.percentage !== "number") continue;
    assert.ok(
      m.data.percentage >= best,
      `${node}: task ${taskId} went back from ${best}% to ${m.data.percentage}%`,
    );
    best = m.data.percentage;
  }
}

Deno.test("2 API nodes and 2 workers: 10 downloads through both APIs survive a worker's SIGKILL, each completed once and byte-exact", async () => {
  await using source = startFixtureServer(mediaDir);
  await using cluster = await startCluster(["api", "api", "worker", "worker"]);
  const [api1, api2, worker1, worker2] = cluster.nodes;
  const { dataDir } = cluster;
  await using feed1 = feed(api1);
  await using feed2 = feed(api2);
  await Promise.all([feed1.opened, feed2.opened]);

  const urls = Array.from(
    { length: 10 },
    (_, i) => source.url(MEDIA.mp4, { rate: 60_000 + i }),
  );
  const ids: string[] = [];
  for (const [i, url] of urls.entries()) {
    ids.push(await submitDownload([api1, api2][i % 2].origin, url));
  }

  // Both workers are busy (3 slots each): kill the first while its downloads are under way.
  const underWay = new Set<string>();
  await feed1.next((m) => {
    if (m.type === "progress" && (m.data.downloaded_bytes as number) > 0) {
      underWay.add(m.task_id!);
    }
    return underWay.size >= 6;
  });
  assert.equal((await worker1.stop("SIGKILL")).signal, "SIGKILL");

  for (const id of ids) {
    for (const socket of [feed1, feed2]) {
      await socket.next((m) => m.task_id === id && m.type === "complete", 90_000);
    }
  }
  assert.ok(
    worker2.output.some((line) => line.includes("taking over a task whose worker stopped")),
    "the killed worker's downloads were taken over",
  );

  const expected = await sha256(join(mediaDir, MEDIA.mp4));
  for (const [i, id] of ids.entries()) {
    // Exactly once: one completion per feed, one file in the task's directory.
    for (const [name, socket] of [["api1", feed1], ["api2", feed2]] as const) {
      assert.equal(
        socket.messages.filter((m) => m.task_id === id && m.type === "complete").length,
        1,
        `${name}: task ${id} completed once`,
      );
      assertMonotonic(socket.messages, id, name);
      assert.ok(
        socket.messages.some((m) => m.task_id === id && m.type === "progress"),
        `${name} saw progress of ${id}`,
      );
    }
    assert.deepEqual(story(feed1, id), story(feed2, id), "both nodes told the same story");
    const files = (await listFiles(join(dataDir, "tasks", id))).filter((f) => !f.startsWith("."));
    assert.deepEqual(files, ["clip [clip].mp4"], `one file for ${id}`);
    // Any API node serves any file.
    const node = [api2, api1][i % 2];
    const response = await fetch(`${node.origin}/api/v1/download/${id}/file`);
    assert.equal(response.status, 200);
    assert.equal(await sha256(new Uint8Array(await response.arrayBuffer())), expected);
  }
  assert.deepEqual(await processesMentioning(source.url(MEDIA.mp4)), []);
});

Deno.test("a cancel on one API node stops a download another node's worker runs; a queued one is withdrawn", async () => {
  await using source = startFixtureServer(mediaDir);
  await using cluster = await startCluster(["api", "api", "worker"], {
    MAX_CONCURRENT_DOWNLOADS: "1",
  });
  const [api1, api2] = cluster.nodes;
  const { dataDir } = cluster;
  await using watch = feed(api1);
  await watch.opened;
  const slowUrl = source.url(MEDIA.large, { rate: 200_000 });
  const running = await submitDownload(api1.origin, slowUrl);
  const queued = await submitDownload(api1.origin, source.url(MEDIA.mp4, { rate: 50_000 }));
  await watch.next((m) =>
    m.task_id === running && m.type === "progress" && (m.data.downloaded_bytes as number) > 0
  );

  for (const id of [running, queued]) {
    const response = await fetch(`${api2.origin}/api/v1/download/${id}`, { method: "DELETE" });
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.status, "cancelled");
    await watch.next((m) =>
      m.task_id === id && m.type === "status" && m.data.status === "cancelled"
    );
    assert.deepEqual(await listFiles(join(dataDir, "tasks", id)).catch(() => []), []);
  }
  assert.deepEqual(await processesMentioning(slowUrl), [], "the worker's yt-dlp is gone");
  assert.ok(
    !watch.messages.some((m) => m.task_id === queued && m.type === "progress"),
    "the queued one never started",
  );
});

Deno.test("Redis restarting mid-download: nodes reconnect and the download completes", async () => {
  await using source = startFixtureServer(mediaDir);
  await using cluster = await startCluster(["api", "worker"], { JOB_LOCK_SECONDS: "10" });
  const [api] = cluster.nodes;
  const { redis } = cluster;
  await using watch = feed(api);
  await watch.opened;
  const id = await submitDownload(api.origin, source.url(MEDIA.medium, { rate: 600_000 }));
  await watch.next((m) =>
    m.task_id === id && m.type === "progress" && (m.data.downloaded_bytes as number) > 0
  );
  await redis.restart();
  await watch.next((m) => m.task_id === id && m.type === "complete", 60_000);
  const file = await fetch(`${api.origin}/api/v1/download/${id}/file`);
  assert.equal(
    await sha256(new Uint8Array(await file.arrayBuffer())),
    await sha256(join(mediaDir, MEDIA.medium)),
  );
  // Submitting works again too.
  const next = await submitDownload(api.origin, source.url(MEDIA.mp4));
  await watch.next((m) => m.task_id === next && m.type === "complete", 60_000);
});

Deno.test("limits hold cluster-wide: MAX_QUEUED_TASKS across API nodes, MAX_CONCURRENT_PER_SITE across workers", async () => {
  await using siteA = startFixtureServer(mediaDir);
  await using siteB = startFixtureServer(mediaDir, { hostname: "127.0.0.2" });
  await using cluster = await startCluster(["api", "api", "worker", "worker"], {
    MAX_CONCURRENT_DOWNLOADS: "2",
    MAX_CONCURRENT_PER_SITE: "1",
    MAX_QUEUED_TASKS: "3",
    ALLOWED_PRIVATE_NETWORKS: "127.0.0.1/32,127.0.0.2/32",
  });
  const [api1, api2] = cluster.nodes;
  await using watch = feed(api1);
  await watch.opened;
  const fromA: string[] = [];
  for (let i = 0; i < 4; i++) {
    fromA.push(
      await submitDownload(
        [api1, api2][i % 2].origin,
        siteA.url(MEDIA.mp4, { rate: 90_000 + i }),
      ),
    );
  }
  // One of A runs (the site's cap, though 4 slots are free), three wait: the queue is full on
  // both nodes.
  // (Which of A's goes first is not fixed: workers take a site's waiting jobs as they come round.)
  const first = await watch.next((m) =>
    fromA.includes(m.task_id!) && m.type === "progress" && (m.data.downloaded_bytes as number) > 0
  );
  for (const node of [api1, api2]) {
    const refused = await fetch(`${node.origin}/api/v1/download`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: siteB.url(MEDIA.mp4) }),
    });
    assert.equal(refused.status, 429);
    assert.equal((await refused.json()).error.code, "queue_full");
  }
  // Site A's downloads go one after another; B, submitted once A's second has started, does not
  // wait behind A's line.
  await watch.next(
    (m) =>
      fromA.includes(m.task_id!) && m.task_id !== first.task_id && m.type === "status" &&
      m.data.status === "downloading",
    30_000,
  );
  const fromB = await submitDownload(api2.origin, siteB.url(MEDIA.mp4, { rate: 90_000 }));
  await watch.next((m) => m.task_id === fromB && m.type === "complete", 60_000);
  for (const id of fromA) {
    await watch.next((m) => m.task_id === id && m.type === "complete", 60_000);
  }
  assert.equal(siteA.maxInFlight, 1, "one download from site A at a time, across both workers");
  const bDone = watch.messages.findIndex((m) => m.task_id === fromB && m.type === "complete");
  const aDone = watch.messages.flatMap((m, at) =>
    fromA.includes(m.task_id!) && m.type === "complete" ? [at] : []
  );
  assert.ok(bDone < aDone[3], "B finished before A's line did");
});

Deno.test("logins and tokens count on every API node; a revoke on one is refused on the other at once", async () => {
  const password = "correct horse battery";
  await using cluster = await startCluster(["api", "api"], {
    AUTH_MODE: "password",
    ADMIN_PASSWORD: password,
  });
  const [api1, api2] = cluster.nodes;
  const login = await fetch(`${api1.origin}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: api1.origin },
    body: JSON.stringify({ password }),
  });
  assert.equal(login.status, 204);
  const cookie = login.headers.get("set-cookie")!.split(";")[0];
  const onTwo = await fetch(`${api2.origin}/api/v1/downloads`, { headers: { cookie } });
  assert.equal(onTwo.status, 200, "the session made on api1 counts on api2");
  await onTwo.body?.cancel();

  const made = await fetch(`${api2.origin}/api/v1/tokens`, {
    method: "POST",
    headers: { cookie, "content-type": "application/json", origin: api2.origin },
    body: JSON.stringify({ name: "bot", scopes: ["read"] }),
  });
  assert.equal(made.status, 201);
  const { token, id } = await made.json();
  const bearer = { authorization: `Bearer ${token}` };
  const read = await fetch(`${api1.origin}/api/v1/downloads`, { headers: bearer });
  assert.equal(read.status, 200, "the token made on api2 counts on api1");
  await read.body?.cancel();

  const revoked = await fetch(`${api1.origin}/api/v1/tokens/${id}`, {
    method: "DELETE",
    headers: { cookie, origin: api1.origin },
  });
  assert.equal(revoked.status, 204);
  const refused = await fetch(`${api2.origin}/api/v1/downloads`, { headers: bearer });
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
});

Deno.test("webhooks: one delivery per event for the whole cluster, and another node takes over when the sender dies", async () => {
  await using source = startFixtureServer(mediaDir);
  const received: { event: string; task: string }[] = [];
  const arrived = new Set<() => void>();
  await using receiver = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.json();
      received.push({ event: body.event, task: body.task?.task_id });
      for (const check of arrived) check();
      return new Response(null, { status: 204 });
    },
  );
  const delivered = (event: string, task: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!received.some((r) => r.event === event && r.task === task)) return;
        arrived.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => reject(new Error(`no ${event} for ${task}`)), 60_000);
      arrived.add(check);
      check();
    });
  await using cluster = await startCluster(["api", "api", "worker"]);
  const [api1, api2] = cluster.nodes;
  const made = await fetch(`${api2.origin}/api/v1/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      url: `http://127.0.0.1:${receiver.addr.port}/hook`,
      events: ["completed", "cancelled"],
    }),
  });
  assert.equal(made.status, 201);
  await made.body?.cancel();

  const first = await submitDownload(api1.origin, source.url(MEDIA.mp4));
  const second = await submitDownload(api2.origin, source.url(MEDIA.mp4));
  await delivered("completed", first);
  await delivered("completed", second);
  // A later event's delivery: any duplicate of the earlier ones would have come by now.
  const cancelled = await submitDownload(api1.origin, source.url(MEDIA.large, { rate: 100_000 }));
  await fetch(`${api2.origin}/api/v1/download/${cancelled}`, { method: "DELETE" }).then((r) =>
    r.body?.cancel()
  );
  await delivered("cancelled", cancelled);
  assert.deepEqual(
    received.map((r) => `${r.event}:${r.task}`).sort(),
    [`completed:${first}`, `completed:${second}`, `cancelled:${cancelled}`].sort(),
  );

  // The node sending them dies; a download ends meanwhile; the other API node delivers it.
  const sender = [api1, api2].find((node) =>
    node.output.some((line) => line.includes("this node coordinates the cluster"))
  );
  assert.ok(sender, "one API node holds the webhook lease");
  const other = sender === api1 ? api2 : api1;
  await sender.stop("SIGKILL");
  const third = await submitDownload(other.origin, source.url(MEDIA.mp4));
  await delivered("completed", third);
  assert.equal(received.filter((r) => r.task === third).length, 1);
});

Deno.test("a worker stopped with SIGTERM gives its downloads back; another worker finishes them", async () => {
  await using source = startFixtureServer(mediaDir);
  await using cluster = await startCluster(["api", "worker", "worker"], {
    MAX_CONCURRENT_DOWNLOADS: "1",
  });
  const [api] = cluster.nodes;
  const workers = cluster.nodes.slice(1);
  await using watch = feed(api);
  await watch.opened;
  const url = source.url(MEDIA.medium, { rate: 400_000 });
  const id = await submitDownload(api.origin, url);
  await watch.next((m) =>
    m.task_id === id && m.type === "progress" && (m.data.downloaded_bytes as number) > 0
  );
  const running = workers.find((w) => w.output.some((line) => line.includes(id)));
  assert.ok(running, "one worker logged the task");
  assert.equal((await running.stop("SIGTERM")).code, 0);
  await watch.next((m) => m.task_id === id && m.type === "complete", 60_000);
  const statuses = watch.messages
    .filter((m) => m.task_id === id && m.type === "status")
    .map((m) => m.data.status);
  assert.deepEqual(
    statuses.filter((s, i) => s !== statuses[i - 1]),
    ["queued", "downloading", "queued", "downloading", "processing", "completed"],
  );
  const file = await fetch(`${api.origin}/api/v1/download/${id}/file`);
  assert.equal(
    await sha256(new Uint8Array(await file.arrayBuffer())),
    await sha256(join(mediaDir, MEDIA.medium)),
  );
});

Deno.test("a playlist on a cluster: entries spread over both workers, the group ends once, its zip from the other API node", async () => {
  await using source = startFixtureServer(mediaDir);
  await using cluster = await startCluster(["api", "api", "worker", "worker"], {
    MAX_CONCURRENT_DOWNLOADS: "1",
  });
  const [api1, api2] = cluster.nodes;
  const workers = cluster.nodes.slice(2);
  await using watch = feed(api2);
  await watch.opened;
  const groupId = await submitDownload(api1.origin, source.url(MEDIA.multiPage));
  await using groupSocket = connect(
    `${api2.origin.replace("http", "ws")}/ws/download/${groupId}`,
  );
  await groupSocket.next((m) => m.type === "complete", 60_000);
  const group = await (await fetch(`${api1.origin}/api/v1/download/${groupId}`)).json();
  assert.equal(group.status, "completed");
  assert.deepEqual(group.entries, {
    total: 3,
    completed: 3,
    failed: 0,
    cancelled: 0,
    expanding: false,
  });
  assert.equal(
    watch.messages.filter((m) => m.task_id === groupId && m.type === "complete").length,
    1,
    "the group ended once",
  );
  const values = percentages(groupSocket.messages);
  for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], `${values}`);
  const ran = workers.map((w) =>
    group.children.filter((id: string) =>
      w.output.some((line) => line.includes(id) && line.includes("task downloading"))
    ).length
  );
  assert.equal(ran[0] + ran[1], 3);

  const response = await fetch(`${api2.origin}/api/v1/download/${groupId}/file`);
  assert.equal(response.status, 200);
  const entries = readZip(new Uint8Array(await response.arrayBuffer()));
  assert.equal(entries.length, 3);
  for (const [i, entry] of entries.entries()) {
    assert.equal(await sha256(entry.data), await sha256(join(mediaDir, MEDIA.tiny[i])));
  }
});

Deno.test("a retry's pause is kept in Redis: the worker that failed dies during it, the other makes the next attempt", async () => {
  const served = new Map<string, number>();
  // `/flaky/<name>.mp4`: 503 to its first request, then the clip.
  await using source = startFixtureServer(mediaDir, {
    extra: (request) => {
      const path = new URL(request.url).pathname;
      if (!path.startsWith("/flaky/")) return null;
      served.set(path, (served.get(path) ?? 0) + 1);
      if (served.get(path) === 1) return new Response("busy", { status: 503 });
      return new Response(Deno.readFileSync(join(mediaDir, MEDIA.mp4)), {
        headers: { "content-type": "video/mp4" },
      });
    },
  });
  await using cluster = await startCluster(["api", "worker", "worker"], {
    RETRY_LIMIT: "2",
    RETRY_DELAY_SECONDS: "2",
  });
  const [api] = cluster.nodes;
  const workers = cluster.nodes.slice(1);
  await using watch = feed(api);
  await watch.opened;
  const id = await submitDownload(api.origin, source.url("flaky/a.mp4"));
  const pause = await watch.next((m) =>
    m.task_id === id && m.type === "status" && m.data.status === "retrying"
  );
  assert.equal(pause.data.attempt, 1);
  const failedOn = workers.find((w) => w.output.some((line) => line.includes(id)));
  assert.ok(failedOn);
  await failedOn.stop("SIGKILL");
  await watch.next((m) => m.task_id === id && m.type === "complete", 60_000);
  const task = await (await fetch(`${api.origin}/api/v1/download/${id}`)).json();
  assert.equal(task.status, "completed");
  assert.equal(task.attempt, 2);
  const other = workers.find((w) => w !== failedOn)!;
  assert.ok(other.output.some((line) => line.includes(id)), "the other worker made attempt 2");
});

Deno.test("a download whose workers keep dying fails `interrupted` at its third stall instead of staying downloading", async () => {
  await using source = startFixtureServer(mediaDir);
  await using cluster = await startCluster(["api"]);
  const [api] = cluster.nodes;
  await using watch = feed(api);
  await watch.opened;
  const url = source.url(MEDIA.large, { rate: 300_000 });
  const id = await submitDownload(api.origin, url);
  // Three workers in turn take the download up and die with it.
  for (let round = 1; round <= 3; round++) {
    const worker = await cluster.add("worker");
    const seen = watch.messages.length;
    await watch.next(
      (m) =>
        watch.messages.indexOf(m) >= seen && m.task_id === id && m.type === "progress" &&
        (m.data.downloaded_bytes as number) > 0,
      30_000,
    );
    await worker.stop("SIGKILL");
  }
  const survivor = await cluster.add("worker");
  const end = await watch.next((m) => m.task_id === id && m.type === "error", 30_000);
  assert.equal(end.data.code, "interrupted");
  const task = await (await fetch(`${api.origin}/api/v1/download/${id}`)).json();
  assert.equal(task.status, "failed");
  assert.match(task.error.message, /stalled/);
  assert.deepEqual(await processesMentioning(url), [], "nothing of the three runs is left");
  assert.ok(survivor.output.some((line) => line.includes(id)));
});
