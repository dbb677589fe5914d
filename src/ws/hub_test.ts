import assert from "node:assert/strict";
import type { TaskEvent } from "../downloads/manager.ts";
import type { Task } from "../model/task.ts";
import { SAMPLE_ID, sampleTask } from "../../tests/fixtures/task.ts";
import { CLOSE_TOO_SLOW, type Peer, type TaskFeed, WsHub } from "./hub.ts";

const task = sampleTask;

/** A feed driven by the test, standing in for the manager. */
function feed(current: Task) {
  const listeners = new Set<(event: TaskEvent) => void>();
  const source: TaskFeed = {
    get: () => current,
    list: () => ({ tasks: [current], next: null }),
    running: () => [],
    counts: () => ({
      total: 1,
      queued: 0,
      running: 0,
      by_status: {
        queued: 0,
        downloading: 1,
        processing: 0,
        retrying: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
      },
    }),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return { source, emit: (event: TaskEvent) => listeners.forEach((l) => l(event)) };
}

/** A peer whose send buffer the test sets, recording what it was sent and how it was closed. */
function peer() {
  const state = {
    buffered: 0,
    sent: [] as { type: string; pct?: number }[],
    closed: null as number | null,
  };
  const p: Peer = {
    send: (data) => {
      const m = JSON.parse(data);
      state.sent.push({ type: m.type, pct: m.data.percentage });
    },
    close: (code) => {
      state.closed = code;
    },
    get bufferedAmount() {
      return state.buffered;
    },
  };
  return { peer: p, state };
}

Deno.test("a slow subscriber keeps only the latest progress, in order, and still gets status changes", () => {
  const { source, emit } = feed(task("downloading"));
  using hub = new WsHub(source, { softBufferedBytes: 1000, hardBufferedBytes: 10_000 });
  const slow = peer();
  const fast = peer();
  hub.attach(slow.peer, SAMPLE_ID);
  hub.attach(fast.peer, SAMPLE_ID);
  slow.state.buffered = 5000;
  for (let pct = 1; pct <= 50; pct++) emit({ type: "progress", task: task("downloading", pct) });
  assert.equal(fast.state.sent.filter((m) => m.type === "progress").length, 50);
  assert.equal(slow.state.sent.filter((m) => m.type === "progress").length, 0);

  emit({ type: "status", task: task("processing", 50) });
  assert.deepEqual(slow.state.sent.slice(1), [{ type: "progress", pct: 50 }, {
    type: "status",
    pct: undefined,
  }]);

  slow.state.buffered = 0;
  emit({ type: "progress", task: task("processing", 60) });
  assert.deepEqual(slow.state.sent.at(-1), { type: "progress", pct: 60 });
  assert.equal(slow.state.closed, null);
});

Deno.test("a subscriber past the hard limit is dropped and the others carry on", () => {
  const { source, emit } = feed(task("downloading"));
  using hub = new WsHub(source, { softBufferedBytes: 1000, hardBufferedBytes: 10_000 });
  const stuck = peer();
  const fine = peer();
  const broken = peer();
  hub.attach(stuck.peer, SAMPLE_ID);
  hub.attach(fine.peer, SAMPLE_ID);
  hub.attach(broken.peer, null);
  broken.peer.send = () => {
    throw new Error("socket gone");
  };
  assert.equal(hub.size, 3);
  stuck.state.buffered = 20_000;
  emit({ type: "progress", task: task("downloading", 5) });
  assert.equal(stuck.state.closed, CLOSE_TOO_SLOW);
  assert.equal(broken.state.closed, 1011);
  assert.equal(hub.size, 1);
  emit({ type: "progress", task: task("downloading", 6) });
  assert.equal(fine.state.sent.filter((m) => m.type === "progress").length, 2);
});

Deno.test("a subscriber that joins the all-tasks feed after an event sees the task as it is now", () => {
  let current = task("queued");
  const { source, emit } = feed(current);
  source.get = () => current;
  source.list = () => ({ tasks: [current], next: null });
  using hub = new WsHub(source);
  const statusesSeen = (sent: string[]) =>
    sent.map((text) => JSON.parse(text)).filter((m) => m.type === "status").map((m) =>
      m.data.status
    );
  const early: string[] = [];
  const late: string[] = [];
  const recorder = (into: string[]): Peer => ({
    send: (data) => void into.push(data),
    close: () => {},
    bufferedAmount: 0,
  });
  hub.attach(recorder(early), null);
  current = task("downloading", 10);
  emit({ type: "status", task: current });
  hub.attach(recorder(late), null);
  assert.deepEqual(statusesSeen(early), ["queued", "downloading"]);
  assert.deepEqual(statusesSeen(late), ["downloading"]);
});
