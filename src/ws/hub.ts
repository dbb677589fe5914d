import type { TaskCounts, TaskEvent, TaskPage } from "../downloads/manager.ts";
import type { Task } from "../model/task.ts";
import { eventMessage, isTerminalMessage, snapshotMessages, type WsMessage } from "./messages.ts";

/** The part of a WebSocket the hub uses; a narrow type so tests and adapters can supply one. */
export interface Peer {
  send(data: string): void;
  close(code: number, reason: string): void;
  readonly bufferedAmount: number;
}

/** Where the hub gets task state and events from. */
export interface TaskFeed {
  get(taskId: string): Task;
  list(limit: number): TaskPage;
  running(): Task[];
  counts(): TaskCounts;
  subscribe(listener: (event: TaskEvent) => void): () => void;
}

/** One socket's place in the hub: how to answer it, and how to leave. */
export interface Subscription {
  /** Sends a message to this peer alone (a pong), counted like any other against its limits. */
  reply(message: WsMessage): void;
  detach(): void;
}

/** Back-pressure limits for one subscriber. */
export interface HubLimits {
  /** Above this many unsent bytes, progress for the peer is coalesced to the latest one. */
  softBufferedBytes: number;
  /** Above this many, the peer is disconnected: it is not reading. */
  hardBufferedBytes: number;
}

interface Subscriber {
  peer: Peer;
  /** null: every task (the /ws/downloads feed). */
  taskId: string | null;
  /** Latest unsent progress per task, kept while the peer is behind. */
  pendingProgress: Map<string, string>;
}

/** Close code for an unknown task id, as documented in docs/api.md. */
export const CLOSE_NOT_FOUND = 4404;
/** Close code for a subscriber dropped for not reading. */
export const CLOSE_TOO_SLOW = 4008;
/** Why the service closed a socket it did not want to close. */
export type DropReason = "too_slow" | "send_failed" | "too_large" | "too_many_messages";
const DROP_REASONS: readonly DropReason[] = [
  "too_slow",
  "send_failed",
  "too_large",
  "too_many_messages",
];

/** How many of the newest tasks the all-tasks snapshot carries (running ones always). */
export const SNAPSHOT_TASKS = 100;

/**
 * Fans task events out to any number of WebSocket subscribers per task plus the all-tasks feed.
 * Each message is serialised once; a peer that errors or falls behind is dropped without touching
 * the others, and a slow one only ever holds the latest progress.
 */
export class WsHub implements Disposable {
  readonly #byTask = new Map<string, Set<Subscriber>>();
  readonly #everything = new Set<Subscriber>();
  readonly #feed: TaskFeed;
  readonly #limits: HubLimits;
  readonly #unsubscribe: () => void;
  #snapshot: readonly string[] | null = null;
  readonly #drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<
    DropReason,
    number
  >;

  constructor(
    feed: TaskFeed,
    limits: HubLimits = { softBufferedBytes: 64 * 1024, hardBufferedBytes: 4 * 1024 * 1024 },
  ) {
    this.#feed = feed;
    this.#limits = limits;
    this.#unsubscribe = feed.subscribe((event) => this.#broadcast(event));
  }

  /** Number of connected subscribers, for tests and the benchmark. */
  get size(): number {
    let count = this.#everything.size;
    for (const set of this.#byTask.values()) count += set.size;
    return count;
  }

  /** Sockets dropped since start, by reason, for /metrics. */
  get drops(): Readonly<Record<DropReason, number>> {
    return { ...this.#drops };
  }

  /** Counts a socket the WebSocket routes closed for what the client sent. */
  countDrop(reason: DropReason): void {
    this.#drops[reason]++;
  }

  /**
   * Adds a subscriber to one task (or to all when `taskId` is null) and sends its snapshot. The
   * all-tasks snapshot is bounded, whatever the number of tasks: the newest ones, every running
   * one, and a `summary` with the counts, so that a reader that keeps up is never dropped for it.
   */
  attach(peer: Peer, taskId: string | null): Subscription {
    const subscriber: Subscriber = { peer, taskId, pendingProgress: new Map() };
    const subscription: Subscription = {
      reply: (message) => this.#send(subscriber, JSON.stringify(message), null),
      detach: () => this.#detach(subscriber),
    };
    if (taskId === null) {
      for (const text of this.#allTasksSnapshot()) this.#send(subscriber, text, null);
      this.#everything.add(subscriber);
      return subscription;
    }
    let task: Task;
    try {
      task = this.#feed.get(taskId);
    } catch {
      const message: WsMessage = {
        type: "error",
        task_id: taskId,
        data: { code: "not_found", message: `no task with id '${taskId}'` },
      };
      this.#send(subscriber, JSON.stringify(message), null);
      closeQuietly(peer, CLOSE_NOT_FOUND, "task not found");
      return { ...subscription, detach: () => {} };
    }
    const messages = snapshotMessages(task);
    for (const message of messages) this.#send(subscriber, JSON.stringify(message), null);
    if (isTerminalMessage(messages[messages.length - 1])) {
      closeQuietly(peer, 1000, "task finished");
      return { ...subscription, detach: () => {} };
    }
    let set = this.#byTask.get(taskId);
    if (!set) this.#byTask.set(taskId, set = new Set());
    set.add(subscriber);
    return subscription;
  }

  /** Closes every socket with the given code, e.g. 1001 when the server goes away. */
  closeAll(code: number, reason: string): void {
    for (const subscriber of this.#all()) closeQuietly(subscriber.peer, code, reason);
    this.#everything.clear();
    this.#byTask.clear();
  }

  [Symbol.dispose](): void {
    this.#unsubscribe();
    this.closeAll(1001, "server shutting down");
  }

  /**
   * The all-tasks snapshot as serialised frames, built once and shared by every subscriber that
   * joins before the next event (a page reload storm would otherwise serialise it per socket).
   */
  #allTasksSnapshot(): readonly string[] {
    if (this.#snapshot) return this.#snapshot;
    const newest = this.#feed.list(SNAPSHOT_TASKS).tasks;
    const shown = new Set(newest.map((task) => task.task_id));
    const older = this.#feed.running().filter((task) => !shown.has(task.task_id));
    const counts = this.#feed.counts();
    const summary: WsMessage = {
      type: "summary",
      task_id: null,
      data: { ...counts, shown: newest.length + older.length },
    };
    const texts = [JSON.stringify(summary)];
    // Oldest first, so that a page prepending rows ends with the newest on top.
    for (const task of [...older, ...newest.reverse()]) {
      for (const message of snapshotMessages(task)) texts.push(JSON.stringify(message));
    }
    return this.#snapshot = texts;
  }

  *#all(): Generator<Subscriber> {
    yield* this.#everything;
    for (const set of this.#byTask.values()) yield* set;
  }

  #broadcast(event: TaskEvent): void {
    this.#snapshot = null;
    const message = eventMessage(event);
    const text = JSON.stringify(message);
    const taskId = message.task_id!;
    const progressOf = message.type === "progress" ? taskId : null;
    for (const subscriber of this.#everything) this.#send(subscriber, text, progressOf);
    const set = this.#byTask.get(taskId);
    if (!set) return;
    const terminal = isTerminalMessage(message);
    for (const subscriber of set) this.#send(subscriber, text, progressOf);
    if (!terminal) return;
    // Closing after every send, not between them, so the last subscriber gets the end as early.
    for (const subscriber of set) closeQuietly(subscriber.peer, 1000, "task finished");
    this.#byTask.delete(taskId);
  }

  /** `progressOf` is the task id when the message is progress, which may be coalesced. */
  #send(subscriber: Subscriber, text: string, progressOf: string | null): void {
    const { peer, pendingProgress } = subscriber;
    try {
      const buffered = peer.bufferedAmount;
      if (buffered > this.#limits.hardBufferedBytes) {
        this.#drop(subscriber, CLOSE_TOO_SLOW, "not reading", "too_slow");
        return;
      }
      if (progressOf !== null) {
        pendingProgress.set(progressOf, text);
        if (buffered > this.#limits.softBufferedBytes) return;
      }
      // Whatever progress was held back goes out first, so order per task is kept.
      for (const pending of pendingProgress.values()) peer.send(pending);
      pendingProgress.clear();
      if (progressOf === null) peer.send(text);
    } catch {
      this.#drop(subscriber, 1011, "send failed", "send_failed");
    }
  }

  #drop(subscriber: Subscriber, code: number, reason: string, why: DropReason): void {
    this.#drops[why]++;
    this.#detach(subscriber);
    closeQuietly(subscriber.peer, code, reason);
  }

  #detach(subscriber: Subscriber): void {
    if (subscriber.taskId === null) {
      this.#everything.delete(subscriber);
      return;
    }
    const set = this.#byTask.get(subscriber.taskId);
    set?.delete(subscriber);
    if (set?.size === 0) this.#byTask.delete(subscriber.taskId);
  }
}

function closeQuietly(peer: Peer, code: number, reason: string): void {
  try {
    peer.close(code, reason);
  } catch {
    // Already closed.
  }
}
