/** Playlists become groups of ordinary tasks, whether entries are links or reachable only by index. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureMedia, MEDIA } from "./fixtures/media.ts";
import { startFixtureServer } from "./fixtures/server.ts";
import { sha256, startService, waitForEnd, waitForTask } from "./fixtures/service.ts";
import { connect, percentages } from "./fixtures/ws_client.ts";
import { readZip } from "./fixtures/zip.ts";

const mediaDir = await fixtureMedia();

for (
  const [kind, path] of [
    ["a page with three <video> elements (entries reachable only by index)", MEDIA.multiPage],
    ["an XSPF playlist (entries by index)", MEDIA.xspf],
    ["an RSS feed (entries that are links)", MEDIA.rss],
  ] as const
) {
  Deno.test(`${kind} becomes a group of three tasks; its zip holds each file byte for byte`, async () => {
    await using source = startFixtureServer(mediaDir);
    await using service = await startService({ maxConcurrent: 2 });
    const submitted = await service.submit({ url: source.url(path) });
    await using groupSocket = connect(service.wsUrl(`/ws/download/${submitted.task_id}`));
    const group = await waitForEnd(service.manager, submitted.task_id);
    assert.equal(group.status, "completed", JSON.stringify(group.error));
    assert.equal(group.kind, "playlist");
    assert.deepEqual(group.entries, {
      total: 3,
      completed: 3,
      failed: 0,
      cancelled: 0,
      expanding: false,
    });
    const children = group.children!.map((id) => service.manager.get(id));
    assert.deepEqual(children.map((c) => c.playlist_index), [1, 2, 3]);
    assert.ok(children.every((c) => c.group_id === group.task_id && c.status === "completed"));
    for (const [i, child] of children.entries()) {
      const { path: file } = await service.manager.file(child.task_id);
      assert.equal(
        await sha256(file),
        await sha256(join(mediaDir, MEDIA.tiny[i])),
        `entry ${i + 1}`,
      );
    }

    // The group's socket: its own status and one aggregate percentage that never goes back.
    await groupSocket.next((m) => m.type === "complete");
    const values = percentages(groupSocket.messages);
    for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], `${values}`);
    assert.equal(values.at(-1), 100);

    const response = await fetch(`${service.origin}/api/v1/download/${group.task_id}/file`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/zip");
    const bytes = new Uint8Array(await response.arrayBuffer());
    assert.equal(bytes.length, Number(response.headers.get("content-length")));
    const entries = readZip(bytes);
    assert.equal(entries.length, 3);
    for (const [i, entry] of entries.entries()) {
      assert.match(entry.name, new RegExp(`^${i + 1} - .+\\.mp4$`));
      assert.equal(entry.method, 0, "stored, not recompressed");
      assert.equal(await sha256(entry.data), await sha256(join(mediaDir, MEDIA.tiny[i])));
    }
  });
}

Deno.test("playlist_items picks entries, and MAX_PLAYLIST_ITEMS caps them", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxPlaylistItems: 2 });
  const picked = await waitForEnd(
    service.manager,
    (await service.submit({ url: source.url(MEDIA.multiPage), playlist_items: "1,3" })).task_id,
  );
  assert.deepEqual(
    picked.children!.map((id) => service.manager.get(id).playlist_index),
    [1, 3],
  );
  const capped = await waitForEnd(
    service.manager,
    (await service.submit({ url: source.url(MEDIA.rss) })).task_id,
  );
  assert.equal(capped.entries?.total, 2, "capped at MAX_PLAYLIST_ITEMS");
  const bad = await service.post({ url: source.url(MEDIA.rss), playlist_items: "1;rm -rf" });
  assert.equal(bad.status, 422);
});

Deno.test("DELETE on a playlist cancels every unfinished entry; a finished one is removed with its entries", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService({ maxConcurrent: 1 });
  // Entries throttled so that they are still running or queued when the cancel comes.
  const feed = source.url(MEDIA.rss, { rate: 20_000 });
  const group = await service.submit({ url: feed });
  const expanded = await waitForTask(
    service.manager,
    group.task_id,
    (t) => t.entries !== null && t.entries.total === 3,
  );
  const response = await service.app.request(`/api/v1/download/${group.task_id}`, {
    method: "DELETE",
  });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).status, "cancelled");
  for (const id of expanded.children!) {
    assert.equal(service.manager.get(id).status, "cancelled", id);
  }
  const removed = await service.app.request(`/api/v1/download/${group.task_id}`, {
    method: "DELETE",
  });
  assert.equal(removed.status, 204);
  for (const id of [group.task_id, ...expanded.children!]) {
    assert.equal((await service.app.request(`/api/v1/download/${id}`)).status, 404, id);
  }
});

Deno.test("a page with a single <video> is one task, without the generic ' (1)' in its name", async () => {
  await using source = startFixtureServer(mediaDir);
  await using service = await startService();
  const task = await waitForEnd(
    service.manager,
    (await service.submit({ url: source.url(MEDIA.page) })).task_id,
  );
  assert.equal(task.kind, "video");
  assert.equal(task.title, "Fixture clip");
  const response = await fetch(`${service.origin}/api/v1/download/${task.task_id}/file`);
  await response.body?.cancel();
  assert.match(
    response.headers.get("content-disposition")!,
    /filename\*=UTF-8''Fixture%20clip\.mp4$/,
  );
});
