// Webhooks end to end: a receiver that checks every signature the way a user's would, retries with
// backoff, giving up after 24 h, the URL policy on every delivery, restarts, and the delivery log.
import assert from "node:assert/strict";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { startService, type TestService, waitForEnd } from "./fixtures/service.ts";
import type { Resolver } from "../src/net/url_policy.ts";
import { defaultRetryDelayMs } from "../src/webhooks/webhook_dispatcher.ts";

const mediaDir = await fixtureMedia();
const SECRET = "whsec_0123456789abcdef";

interface Received {
  event: string;
  delivery: string;
  timestamp: number;
  body: { id: string; event: string; created_at: string; task: Record<string, unknown> | null };
  signatureValid: boolean;
}

/**
 * A webhook receiver as a user would write one: recomputes the HMAC over `<t>.<body>` with
 * WebCrypto and compares it in constant time. Answers with the statuses given, then 200.
 */
function startReceiver(options: { hostname?: string; statuses?: number[] } = {}) {
  const statuses = [...(options.statuses ?? [])];
  const received: Received[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = Deno.serve(
    { hostname: options.hostname ?? "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const text = await request.text();
      const header = request.headers.get("ytdl-signature") ?? "";
      const t = Number(header.match(/(?:^|,)t=(\d+)/)?.[1]);
      const v1 = header.match(/(?:^|,)v1=([0-9a-f]{64})/)?.[1] ?? "";
      const key = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(SECRET),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      );
      const mac = new Uint8Array(v1.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
      const signatureValid = mac.length === 32 &&
        await crypto.subtle.verify("HMAC", key, mac, new TextEncoder().encode(`${t}.${text}`));
      received.push({
        event: request.headers.get("ytdl-event") ?? "",
        delivery: request.headers.get("ytdl-delivery") ?? "",
        timestamp: t,
        body: JSON.parse(text),
        signatureValid,
      });
      for (const waiter of waiters.filter((w) => received.length >= w.count)) waiter.resolve();
      return new Response(null, { status: statuses.shift() ?? 200 });
    },
  );
  return {
    url: `http://${options.hostname ?? "127.0.0.1"}:${server.addr.port}/hooks/ytdl`,
    received,
    /** Resolves once `count` requests have arrived. */
    seen(count: number, timeoutMs = 30_000): Promise<void> {
      if (received.length >= count) return Promise.resolve();
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const timer = setTimeout(
        () => reject(new Error(`receiver saw ${received.length} of ${count} requests`)),
        timeoutMs,
      );
      waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      return promise;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

async function register(service: TestService, body: Record<string, unknown>) {
  return await service.app.request("/api/v1/webhooks", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function registered(service: TestService, body: Record<string, unknown>) {
  const response = await register(service, body);
  const json = await response.json();
  assert.equal(response.status, 201, JSON.stringify(json));
  return json;
}

/** Resolves with the delivery once one of the webhook's attempts leaves it in `status`. */
function settled(service: TestService, status: "delivered" | "failed", timeoutMs = 30_000) {
  const { promise, resolve, reject } = Promise.withResolvers<
    Parameters<Parameters<TestService["webhooks"]["onAttempt"]>[0]>[0]
  >();
  const timer = setTimeout(() => reject(new Error(`no delivery became ${status}`)), timeoutMs);
  const stop = service.webhooks.onAttempt((delivery) => {
    if (delivery.status === status) resolve(delivery);
  });
  return promise.finally(() => {
    clearTimeout(timer);
    stop();
  });
}

/** Resolves after the next attempt of any delivery. */
function nextAttempt(service: TestService, timeoutMs = 30_000): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(() => reject(new Error("no delivery attempt")), timeoutMs);
  const stop = service.webhooks.onAttempt(() => resolve());
  return promise.finally(() => {
    clearTimeout(timer);
    stop();
  });
}

async function deliveries(service: TestService, id: string) {
  const response = await service.app.request(`/api/v1/webhooks/${id}/deliveries`);
  assert.equal(response.status, 200);
  return await response.json();
}

Deno.test("a completed download is delivered once, signed over time and body, and logged", async () => {
  await using source = startFixtureServer(mediaDir);
  await using receiver = startReceiver();
  await using service = await startService();
  const hook = await registered(service, {
    url: receiver.url,
    events: ["completed"],
    secret: SECRET,
  });
  assert.equal(hook.secret, SECRET, "shown once, on creation");
  assert.deepEqual(hook.events, ["completed"]);
  const listed = await (await service.app.request("/api/v1/webhooks")).json();
  assert.equal(listed.length, 1);
  assert.ok(!JSON.stringify(listed).includes(SECRET), "never listed");
  const one = await (await service.app.request(`/api/v1/webhooks/${hook.id}`)).json();
  assert.equal(one.url, receiver.url);
  assert.equal(one.secret, undefined);

  const delivered = settled(service, "delivered");
  const task = await service.submit({ url: source.url(MEDIA.mp4) });
  assert.equal((await waitForEnd(service.manager, task.task_id)).status, "completed");
  await delivered;

  assert.equal(receiver.received.length, 1);
  const [got] = receiver.received;
  assert.ok(got.signatureValid, "the signature verifies with the shared secret");
  assert.ok(Math.abs(got.timestamp - Date.now() / 1000) < 60, "signed with the current time");
  assert.equal(got.event, "completed");
  assert.equal(got.body.event, "completed");
  assert.equal(got.delivery, got.body.id);
  assert.equal(got.body.task!.task_id, task.task_id);
  assert.equal(got.body.task!.status, "completed");
  assert.equal(got.body.task!.filename, "clip [clip].mp4");

  const log = await deliveries(service, hook.id);
  assert.equal(log.length, 1);
  assert.equal(log[0].status, "delivered");
  assert.equal(log[0].attempts, 1);
  assert.equal(log[0].log[0].status_code, 200);
  assert.equal(log[0].task_id, task.task_id);
  assert.equal(log[0].body, undefined, "the log shows outcomes, not payloads");
});

Deno.test("failures are retried with backoff until the receiver takes it; each attempt logged and signed afresh", async () => {
  await using source = startFixtureServer(mediaDir);
  await using receiver = startReceiver({ statuses: [500, 503] });
  const waits: number[] = [];
  await using service = await startService({
    webhookRetryDelayMs: (failed) => {
      waits.push(defaultRetryDelayMs(failed));
      return 5;
    },
  });
  const hook = await registered(service, { url: receiver.url, secret: SECRET });
  assert.deepEqual(hook.events, ["completed", "failed", "cancelled", "group_completed"]);
  const delivered = settled(service, "delivered");
  const task = await service.submit({ url: source.url(MEDIA.mp4) });
  await waitForEnd(service.manager, task.task_id);
  const delivery = await delivered;

  assert.equal(receiver.received.length, 3);
  assert.ok(receiver.received.every((r) => r.signatureValid));
  assert.equal(new Set(receiver.received.map((r) => r.delivery)).size, 1, "one delivery, retried");
  assert.deepEqual(waits, [10_000, 20_000], "the real schedule doubles");
  assert.deepEqual(delivery.log.map((a) => a.status_code), [500, 503, 200]);
  assert.match(delivery.log[0].error!, /answered HTTP 500/);
  assert.equal(delivery.attempts, 3);
  const [logged] = await deliveries(service, hook.id);
  assert.equal(logged.status, "delivered");
});

Deno.test("the backoff doubles from 10 s to at most an hour, about 30 tries in a day", () => {
  assert.deepEqual([1, 2, 3, 4].map(defaultRetryDelayMs), [10_000, 20_000, 40_000, 80_000]);
  assert.equal(defaultRetryDelayMs(12), 3_600_000);
  let elapsed = 0;
  let attempts = 1;
  while (elapsed + defaultRetryDelayMs(attempts) <= 86400_000) {
    elapsed += defaultRetryDelayMs(attempts++);
  }
  assert.ok(attempts >= 25 && attempts <= 35, `${attempts} attempts in 24 h`);
});

Deno.test("a receiver still failing 24 h after the event is given up, and the log says why", async () => {
  await using source = startFixtureServer(mediaDir);
  await using receiver = startReceiver({ statuses: Array(10).fill(503) });
  let clock = Date.now();
  await using service = await startService({
    now: () => clock,
    webhookRetryDelayMs: () => {
      clock += 25 * 3600_000; // the next attempt comes after the deadline
      return 1;
    },
  });
  const hook = await registered(service, { url: receiver.url, secret: SECRET });
  const failed = settled(service, "failed");
  const task = await service.submit({ url: source.url(MEDIA.mp4) });
  await waitForEnd(service.manager, task.task_id);
  const delivery = await failed;
  assert.equal(delivery.attempts, 2);
  assert.equal(delivery.next_attempt_at, null);
  assert.ok(
    service.logs.some((line) =>
      /gave up a delivery after 2 attempts.*"event":"completed"/.test(line)
    ),
  );
  assert.equal((await deliveries(service, hook.id))[0].status, "failed");
});

Deno.test("webhook URLs follow the download URL policy: at registration and on every delivery", async () => {
  await using service = await startService();
  for (
    const [url, code] of [
      ["http://10.0.0.1/hook", "url_not_allowed"],
      ["http://[::ffff:169.254.169.254]/latest", "url_not_allowed"],
      ["http://127.0.0.2:9/hook", "url_not_allowed"],
      ["http://user:pw@127.0.0.1/hook", "validation_failed"],
      ["file:///etc/passwd", "validation_failed"],
    ]
  ) {
    const response = await register(service, { url, secret: SECRET });
    assert.equal(response.status, 422, url);
    assert.equal((await response.json()).error.code, code, url);
  }
  assert.equal((await register(service, { url: "http://127.0.0.1/x", events: [] })).status, 422);
  assert.equal(
    (await register(service, { url: "http://127.0.0.1/x", events: ["deleted"] })).status,
    422,
  );
  assert.equal(
    (await register(service, { url: "http://127.0.0.1/x", secret: "short" })).status,
    422,
  );
  assert.equal((await (await service.app.request("/api/v1/webhooks")).json()).length, 0);
});

Deno.test("a name that resolves elsewhere at delivery time (DNS rebinding) is refused, and not retried", async () => {
  await using source = startFixtureServer(mediaDir);
  await using inside = startReceiver({ hostname: "127.0.0.2" });
  let answer = "127.0.0.1";
  const resolve: Resolver = (host) =>
    Promise.resolve(host === "hooks.example" ? [answer] : ["127.0.0.1"]);
  await using service = await startService({ resolve });
  const port = new URL(inside.url).port;
  const hook = await registered(service, {
    url: `http://hooks.example:${port}/hooks/ytdl`,
    secret: SECRET,
  });
  answer = "127.0.0.2";
  const failed = settled(service, "failed");
  const task = await service.submit({ url: source.url(MEDIA.mp4) });
  await waitForEnd(service.manager, task.task_id);
  const delivery = await failed;
  assert.equal(delivery.attempts, 1, "a refusal is final");
  assert.match(delivery.log[0].error!, /hooks\.example/);
  assert.match(delivery.log[0].error!, /not allowed|private|refused/i);
  assert.equal(inside.received.length, 0, "nothing reached the internal address");
  assert.equal((await deliveries(service, hook.id))[0].status, "failed");
});

Deno.test("each webhook hears only its events: failed, cancelled and a playlist's group_completed", async () => {
  await using source = startFixtureServer(mediaDir);
  await using failures = startReceiver();
  await using groups = startReceiver();
  await using service = await startService();
  await registered(service, {
    url: failures.url,
    events: ["failed", "cancelled"],
    secret: SECRET,
  });
  await registered(service, { url: groups.url, events: ["group_completed"], secret: SECRET });

  const missing = await service.submit({ url: source.url("missing.mp4") });
  assert.equal((await waitForEnd(service.manager, missing.task_id)).status, "failed");
  const slow = await service.submit({ url: source.url(MEDIA.large, { rate: 50_000 }) });
  await source.started(MEDIA.large);
  await service.app.request(`/api/v1/download/${slow.task_id}`, { method: "DELETE" });
  await failures.seen(2);
  const byEvent = Object.fromEntries(failures.received.map((r) => [r.event, r.body.task]));
  assert.equal(byEvent.failed!.task_id, missing.task_id);
  assert.equal((byEvent.failed!.error as { code: string }).code, "source_unavailable");
  assert.equal(byEvent.cancelled!.task_id, slow.task_id);

  const group = await service.submit({ url: source.url(MEDIA.multiPage) });
  await waitForEnd(service.manager, group.task_id);
  await groups.seen(1);
  const [done] = groups.received;
  assert.equal(done.event, "group_completed");
  assert.equal(done.body.task!.task_id, group.task_id);
  assert.deepEqual(
    done.body.task!.entries,
    { total: 3, completed: 3, failed: 0, cancelled: 0, expanding: false },
  );
  assert.ok(failures.received.every((r) => r.signatureValid));
  assert.equal(groups.received.length, 1, "children's completions are not group events");
  assert.equal(failures.received.length, 2);
});

Deno.test("a waiting delivery survives a restart and is made by the next start", async () => {
  await using source = startFixtureServer(mediaDir);
  const dataDir = await Deno.makeTempDir({ prefix: "ytdl-test-" });
  await using receiver = startReceiver({ statuses: [500] });
  let hookId: string;
  {
    await using first = await startService({ dataDir, webhookRetryDelayMs: () => 3600_000 });
    hookId = (await registered(first, { url: receiver.url, secret: SECRET })).id;
    const attempted = nextAttempt(first);
    const task = await first.submit({ url: source.url(MEDIA.mp4) });
    await waitForEnd(first.manager, task.task_id);
    await attempted;
    // The first attempt got a 500; the next is an hour away when the service stops.
    const [waiting] = await deliveries(first, hookId);
    assert.equal(waiting.attempts, 1);
    assert.equal(waiting.status, "pending");
    assert.ok(waiting.next_attempt_at !== null);
  }
  {
    await using second = await startService({
      dataDir,
      now: () => Date.now() + 2 * 3600_000, // an hour and more later
    });
    const delivered = settled(second, "delivered");
    const delivery = await delivered;
    assert.equal(delivery.attempts, 2);
    assert.equal(receiver.received.length, 2);
    assert.equal(receiver.received[0].delivery, receiver.received[1].delivery);
    assert.ok(receiver.received[1].signatureValid);
  }
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("ping tries a receiver; deleting a webhook stops its deliveries", async () => {
  await using receiver = startReceiver();
  await using service = await startService();
  const hook = await registered(service, { url: receiver.url, secret: SECRET });
  const delivered = settled(service, "delivered");
  const ping = await service.app.request(`/api/v1/webhooks/${hook.id}/ping`, { method: "POST" });
  assert.equal(ping.status, 202);
  assert.equal((await ping.json()).event, "ping");
  await delivered;
  assert.equal(receiver.received[0].event, "ping");
  assert.equal(receiver.received[0].body.task, null);
  assert.ok(receiver.received[0].signatureValid);

  const removed = await service.app.request(`/api/v1/webhooks/${hook.id}`, { method: "DELETE" });
  assert.equal(removed.status, 204);
  assert.equal((await service.app.request(`/api/v1/webhooks/${hook.id}`)).status, 404);
  assert.equal(
    (await service.app.request(`/api/v1/webhooks/${hook.id}/deliveries`)).status,
    404,
  );
  assert.equal(
    (await service.app.request(`/api/v1/webhooks/${hook.id}`, { method: "DELETE" })).status,
    404,
  );
});
