import assert from "node:assert/strict";
import { sampleTask } from "../../tests/fixtures/task.ts";
import { startRedis } from "../../tests/fixtures/redis.ts";
import type { TaskEvent } from "../downloads/manager.ts";
import { RedisEventStream } from "./event_stream.ts";
import { connectRedis } from "./redis_connection.ts";
import { withRedisLock } from "./redis_lock.ts";
import { RedisTaskStore, TASKS_KEY } from "./redis_task_store.ts";

const quiet = () => {};

Deno.test("Redis store: MAX_QUEUED_TASKS holds across nodes, and a damaged record is set apart", async () => {
  await using server = await startRedis();
  const one = await connectRedis(server.url, quiet);
  const two = await connectRedis(server.url, quiet);
  try {
    const [a, b] = [new RedisTaskStore(one), new RedisTaskStore(two)];
    const ids = Array.from({ length: 6 }, () => crypto.randomUUID());
    const admitted = await Promise.all(
      ids.map((task_id, i) => (i % 2 ? a : b).insert(sampleTask("queued", null, { task_id }), 4)),
    );
    assert.equal(admitted.filter(Boolean).length, 4, "two nodes together admit 4, not 4 each");
    // One starts: a place in the queue frees up.
    const first = ids[admitted.indexOf(true)];
    await a.save({ ...(await a.get(first))!, status: "downloading" });
    const late = crypto.randomUUID();
    assert.equal(await b.insert(sampleTask("queued", null, { task_id: late }), 4), true);

    await one.hset(TASKS_KEY, "bad", "{not json");
    // A valid record filed under another task's id.
    const elsewhere = crypto.randomUUID();
    await one.hset(
      TASKS_KEY,
      elsewhere,
      JSON.stringify({ version: 1, task: sampleTask("queued") }),
    );
    const { tasks, rejected } = await b.list();
    assert.deepEqual(rejected.sort(), ["bad", elsewhere].sort(), "garbage, and a misfiled record");
    assert.equal(tasks.length, 5);
    assert.equal(await b.get("bad"), null);
  } finally {
    one.disconnect();
    two.disconnect();
  }
});

Deno.test("event stream: followers get events in order, skipping a malformed entry", async () => {
  await using server = await startRedis();
  const redis = await connectRedis(server.url, quiet);
  const logged: string[] = [];
  try {
    const stream = new RedisEventStream(redis, "node-a", (message) => logged.push(message));
    const from = await stream.position();
    const stop = new AbortController();
    const heard: { event: TaskEvent; own: boolean }[] = [];
    const three = Promise.withResolvers<void>();
    const following = stream.follow(from, (event, own) => {
      heard.push({ event, own });
      if (heard.length === 3) three.resolve();
    }, stop.signal);
    stream.append({ type: "status", task: sampleTask("queued") });
    await redis.xadd("ytdl:events", "*", "o", "intruder", "e", '{"type":"status","task":1}');
    await redis.xadd("ytdl:events", "*", "o", "node-b", "e", "not json");
    new RedisEventStream(redis, "node-b", quiet).append({
      type: "progress",
      task: sampleTask("downloading", 40),
    });
    stream.append({ type: "removed", taskId: "gone" });
    await three.promise;
    stop.abort();
    await following;
    assert.deepEqual(
      heard.map(({ event, own }) => `${event.type}:${own}`),
      ["status:true", "progress:false", "removed:true"],
    );
    assert.equal(logged.filter((m) => m.includes("malformed")).length, 2);
  } finally {
    redis.disconnect();
  }
});

Deno.test("a Redis lock lets one node at a time in, and lets go after", async () => {
  await using server = await startRedis();
  const redis = await connectRedis(server.url, quiet);
  try {
    const inside = Promise.withResolvers<void>();
    const leave = Promise.withResolvers<void>();
    const first = withRedisLock(redis, "cleanup", 60_000, async () => {
      inside.resolve();
      await leave.promise;
    });
    await inside.promise;
    assert.equal(await withRedisLock(redis, "cleanup", 60_000, async () => {}), false);
    leave.resolve();
    assert.equal(await first, true);
    assert.equal(await withRedisLock(redis, "cleanup", 60_000, async () => {}), true);
  } finally {
    redis.disconnect();
  }
});
