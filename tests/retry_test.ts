/** Transient failures are retried with a pause, permanent ones are not; a retry keeps the task's id. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { startService, waitForEnd, waitForTask } from "./fixtures/service.ts";

const mediaDir = await fixtureMedia();

/** `/flaky/<n>/clip.mp4` answers 503 to its first n requests, then serves the clip. */
function flakySite() {
  const seen = new Map<string, number>();
  let available = false;
  const server = startFixtureServer(mediaDir, {
    extra: (request) => {
      const path = new URL(request.url).pathname;
      const flaky = path.match(/^\/flaky\/(\d+)\/([\w-]+)\.mp4$/);
      const clip = () =>
        new Response(Deno.readFileSync(join(mediaDir, MEDIA.mp4)), {
          headers: { "content-type": "video/mp4" },
        });
      if (flaky) {
        const count = (seen.get(path) ?? 0) + 1;
        seen.set(path, count);
        return count <= Number(flaky[1]) ? new Response("busy", { status: 503 }) : clip();
      }
      if (path === "/later/clip.mp4") {
        return available ? clip() : new Response("no", { status: 404 });
      }
      return null;
    },
  });
  return Object.assign(server, { publish: () => available = true });
}

Deno.test("a transient failure is retried after a pause, shown live as retrying n of m", async () => {
  await using site = flakySite();
  await using service = await startService({ retryLimit: 3, retryDelayMs: 200 });
  const task = await service.submit({ url: site.url("flaky/2/a.mp4") });
  assert.equal(task.max_attempts, 4);
  const seen: string[] = [];
  const unsubscribe = service.manager.subscribe((event) => {
    if (event.type === "status" && event.task.task_id === task.task_id) {
      seen.push(`${event.task.status}:${event.task.attempt}`);
    }
  });
  const ended = await waitForEnd(service.manager, task.task_id);
  unsubscribe();
  assert.equal(ended.status, "completed", JSON.stringify(ended.error));
  assert.equal(ended.attempt, 3);
  const retrying = seen.filter((s) => s.startsWith("retrying"));
  assert.deepEqual(retrying, ["retrying:1", "retrying:2"]);
  const firstPause = service.manager.get(task.task_id);
  assert.equal(firstPause.retry_at, null, "cleared once it ran again");
});

Deno.test("permanent failures are reported at once; retries stop at the limit", async () => {
  await using site = flakySite();
  await using service = await startService({ retryLimit: 1, retryDelayMs: 100 });
  const missing = await waitForEnd(
    service.manager,
    (await service.submit({ url: site.url("missing.mp4") })).task_id,
  );
  assert.equal(missing.status, "failed");
  assert.equal(missing.error?.code, "source_unavailable");
  assert.equal(missing.attempt, 1, "a 404 is not retried");
  const busy = await waitForEnd(
    service.manager,
    (await service.submit({ url: site.url("flaky/9/b.mp4") })).task_id,
  );
  assert.equal(busy.status, "failed");
  assert.equal(busy.error?.code, "source_error");
  assert.equal(busy.attempt, 2);
});

Deno.test("a task waiting to retry can be cancelled, and it never runs again", async () => {
  await using site = flakySite();
  await using service = await startService({ retryLimit: 3, retryDelayMs: 300 });
  const task = await service.submit({ url: site.url("flaky/5/c.mp4") });
  await waitForTask(service.manager, task.task_id, (t) => t.status === "retrying");
  const response = await service.app.request(`/api/v1/download/${task.task_id}`, {
    method: "DELETE",
  });
  assert.equal(response.status, 200);
  const cancelled = await response.json();
  assert.equal(cancelled.status, "cancelled");
  assert.equal(cancelled.retry_at, null);
  const requests = site.requests.filter((p) => p.includes("/c.mp4")).length;
  // Another download outlasts the retry pause; the cancelled task must not have come back.
  const other = await service.submit({ url: site.url(MEDIA.mp4, { rate: 200_000 }) });
  assert.equal((await waitForEnd(service.manager, other.task_id)).status, "completed");
  assert.equal(service.manager.get(task.task_id).status, "cancelled");
  assert.equal(site.requests.filter((p) => p.includes("/c.mp4")).length, requests);
});

Deno.test("retrying a failed or cancelled task queues the same task again instead of a twin", async () => {
  await using site = flakySite();
  await using service = await startService();
  const task = await service.submit({ url: site.url("later/clip.mp4") });
  assert.equal((await waitForEnd(service.manager, task.task_id)).status, "failed");
  site.publish();
  const retried = await service.app.request(`/api/v1/download/${task.task_id}/retry`, {
    method: "POST",
  });
  assert.equal(retried.status, 202);
  const body = await retried.json();
  assert.equal(body.task_id, task.task_id);
  assert.equal(body.error, null);
  const done = await waitForEnd(service.manager, task.task_id);
  assert.equal(done.status, "completed");
  assert.equal(service.manager.counts().total, 1, "no twin");

  const again = await service.app.request(`/api/v1/download/${task.task_id}/retry`, {
    method: "POST",
  });
  assert.equal(again.status, 409);
  assert.equal((await again.json()).error.code, "not_retryable");

  const slow = await service.submit({ url: site.url(MEDIA.large, { rate: 100_000 }) });
  await waitForTask(service.manager, slow.task_id, (t) => t.progress !== null);
  await service.app.request(`/api/v1/download/${slow.task_id}`, { method: "DELETE" });
  const revived = await service.app.request(`/api/v1/download/${slow.task_id}/retry`, {
    method: "POST",
  });
  assert.equal(revived.status, 202);
  assert.ok(["queued", "downloading"].includes((await revived.json()).status));
});

Deno.test("no more than MAX_CONCURRENT_PER_SITE downloads per site; other sites go ahead", async () => {
  await using siteA = startFixtureServer(mediaDir);
  await using siteB = startFixtureServer(mediaDir, { hostname: "127.0.0.2" });
  await using service = await startService({
    maxConcurrent: 4,
    maxPerSite: 2,
    allowedNetworks: "127.0.0.1/32,127.0.0.2/32",
  });
  const fromA = [];
  for (let i = 0; i < 4; i++) {
    fromA.push(await service.submit({ url: siteA.url(MEDIA.mp4, { rate: 150_000 + i }) }));
  }
  const fromB = await service.submit({ url: siteB.url(MEDIA.mp4, { rate: 150_000 }) });
  // Two of A run, two wait; B starts though it was submitted after them.
  await waitForTask(service.manager, fromB.task_id, (t) => t.status === "downloading");
  assert.deepEqual(
    fromA.map((t) => service.manager.get(t.task_id).status),
    ["downloading", "downloading", "queued", "queued"],
  );
  for (const task of [...fromA, fromB]) {
    assert.equal((await waitForEnd(service.manager, task.task_id)).status, "completed");
  }
  assert.equal(siteA.maxInFlight, 2);
});
