import assert from "node:assert/strict";
import type { TaskEvent } from "../downloads/manager.ts";
import { TaskNotFoundError } from "../model/errors.ts";
import { sampleTask } from "../../tests/fixtures/task.ts";
import { TaskView } from "./task_view.ts";

Deno.test("the cluster's view follows the stream's events: state, order, counts, removal", () => {
  const older = sampleTask("completed", 100, {
    task_id: "a",
    created_at: "2026-01-01T00:00:00.000Z",
  });
  const view = new TaskView([older], () => {
    throw new TaskNotFoundError("x");
  });
  const heard: TaskEvent[] = [];
  view.subscribe((event) => heard.push(event));
  const newer = sampleTask("queued", null, {
    task_id: "b",
    created_at: "2026-01-02T00:00:00.000Z",
  });
  view.push({ type: "status", task: newer });
  view.push({ type: "progress", task: { ...newer, status: "downloading" } });
  assert.deepEqual(view.list(10).tasks.map((t) => t.task_id), ["b", "a"], "newest first");
  assert.equal(view.get("b").status, "downloading", "the snapshot is the latest event");
  assert.deepEqual(view.running().map((t) => t.task_id), ["b"]);
  assert.deepEqual(
    {
      total: view.counts().total,
      running: view.counts().running,
      done: view.counts().by_status.completed,
    },
    { total: 2, running: 1, done: 1 },
  );
  view.push({ type: "removed", taskId: "a" });
  assert.throws(() => view.get("a"), TaskNotFoundError);
  assert.deepEqual(
    heard.map((e) => e.type),
    ["status", "progress", "removed"],
    "passed on in order",
  );
});

Deno.test("a task not in the stream yet (submitted here a moment ago) is looked up in the node's records", () => {
  const fresh = sampleTask("queued", null, { task_id: "new" });
  const view = new TaskView([], (id) => {
    if (id === "new") return fresh;
    throw new TaskNotFoundError(id);
  });
  assert.equal(view.get("new"), fresh);
  assert.throws(() => view.get("nope"), TaskNotFoundError);
});
