import assert from "node:assert/strict";
import { MemoryQueue } from "./memory_queue.ts";

/** Runs that the test ends by hand, and the order they started in. */
function runs() {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  return {
    started,
    run(taskId: string) {
      started.push(taskId);
      const { promise, resolve } = Promise.withResolvers<void>();
      finish.set(taskId, resolve);
      return promise;
    },
    async end(taskId: string) {
      finish.get(taskId)!();
      // The slot frees once the run's promise has settled.
      await Promise.resolve();
      await Promise.resolve();
    },
  };
}

Deno.test("the embedded queue runs in order within its slots, and other sites pass a site at its cap", async () => {
  await using queue = new MemoryQueue({ maxConcurrent: 2, maxPerSite: 1 });
  const { started, run, end } = runs();
  queue.start({ run, due: () => true, lost: () => {} });
  await queue.add({ taskId: "a1", site: "a" });
  await queue.add({ taskId: "a2", site: "a" });
  await queue.add({ taskId: "b1", site: "b" });
  await queue.add({ taskId: "c1", site: "c" });
  assert.deepEqual(started, ["a1", "b1"], "a2 waits for site a; b1 goes ahead");
  await end("b1");
  assert.deepEqual(started, ["a1", "b1", "c1"]);
  await end("a1");
  assert.deepEqual(started, ["a1", "b1", "c1", "a2"]);
  assert.equal(await queue.withdraw("a2"), false, "a started task is not in line");
});

Deno.test("a retry's pause ends at the front of the line, unless the manager says no; withdraw cancels it", async () => {
  await using queue = new MemoryQueue({ maxConcurrent: 1 });
  const { started, run, end } = runs();
  const due: string[] = [];
  const dueNow = Promise.withResolvers<void>();
  queue.start({
    run,
    due: (taskId) => {
      due.push(taskId);
      dueNow.resolve();
      return taskId !== "refused";
    },
    lost: () => {},
  });
  await queue.add({ taskId: "busy", site: "s" });
  await queue.add({ taskId: "waiting", site: "s" });
  await queue.add({ taskId: "paused", site: "s" }, { front: true, delayMs: 1 });
  await queue.add({ taskId: "dropped", site: "s" }, { front: true, delayMs: 1 });
  assert.equal(await queue.withdraw("dropped"), true);
  await dueNow.promise;
  await end("busy");
  assert.deepEqual(started, ["busy", "paused"], "the retried one goes first");
  assert.deepEqual(due, ["paused"], "the withdrawn pause never came due");
  await end("paused");
  assert.deepEqual(started, ["busy", "paused", "waiting"]);
});

Deno.test("a disposed queue starts nothing more", async () => {
  const queue = new MemoryQueue({ maxConcurrent: 1 });
  const { started, run } = runs();
  queue.start({ run, due: () => true, lost: () => {} });
  await queue[Symbol.asyncDispose]();
  await queue.add({ taskId: "late", site: "s" });
  assert.deepEqual(started, []);
});
