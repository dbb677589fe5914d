import type { LogFields } from "../log/logger.ts";
import { join } from "node:path";
import { CapacityError, StorageError, TaskNotFoundError, TaskStateError } from "../model/errors.ts";
import {
  clip,
  type DownloadRequest,
  isTerminal,
  MAX_MESSAGE_LENGTH,
  REQUEST_DEFAULTS,
  type Task,
  TASK_STATUSES,
  type TaskStatus,
} from "../model/task.ts";
import { canTransition } from "../model/transitions.ts";
import { redactUrl } from "../net/redact.ts";
import { TRANSIENT_CODES } from "../ytdlp/failure_reason.ts";
import { stopOrphanedRun } from "./orphans.ts";
import { playlistIndexes } from "./playlist_items.ts";
import type { PlaylistEntry, RunJob, RunOutcome } from "./run_download.ts";
import type { SourceUrls } from "./source_urls.ts";
import { MemoryQueue } from "./memory_queue.ts";
import type { RemoteCancel } from "./remote_cancel.ts";
import type { TaskQueue } from "./task_queue.ts";
import type { TaskLayout } from "./task_layout.ts";
import { readRecordFile, writeRecordFile } from "./task_record_file.ts";
import type { TaskStore } from "./task_store.ts";

/** What the manager tells its listeners; each carries a snapshot, never the live record. */
export type TaskEvent =
  | { type: "status"; task: Task }
  | { type: "progress"; task: Task }
  | { type: "complete"; task: Task }
  | { type: "error"; task: Task }
  | { type: "removed"; taskId: string };

/** Receives every event of every task, synchronously and in order. */
export type TaskListener = (event: TaskEvent) => void;

/** Everything the manager needs; narrow so that tests can build one with a temp dir. */
export interface DownloadManagerOptions {
  layout: TaskLayout;
  store: TaskStore;
  sources: SourceUrls;
  /** Runs one download; the manager knows nothing of yt-dlp beyond this. */
  run: RunJob;
  /** Runs at once in the embedded queue (ignored when `queue` is given). */
  maxConcurrent: number;
  /** Downloads from one site at once (polite pacing); the rest wait, others' go ahead. */
  maxPerSite?: number;
  /** Where tasks wait for a slot; the embedded in-memory queue by default. Owned by the manager. */
  queue?: TaskQueue;
  /**
   * Set when several nodes share the store and the queue (Redis): tasks may be running on another
   * node, so a node never judges them at start-up (a dead worker's jobs stall and are retried), and
   * a cancel for one goes over this channel to the worker running it.
   */
  cluster?: { remote: RemoteCancel };
  /** Whether this node runs downloads (false for an API-only node). */
  runsTasks?: boolean;
  /** Automatic retries after a transient failure (so at most `retryLimit + 1` attempts). */
  retryLimit?: number;
  /** The pause before retry number `attempt` (1 for the first retry). */
  retryDelayMs?: (attempt: number) => number;
  /** Tasks that may wait at once; past it, submissions get `queue_full`. */
  maxQueued: number;
  /** Entries of one playlist that become tasks (`MAX_PLAYLIST_ITEMS`). */
  maxPlaylistItems?: number;
  retentionSeconds: number;
  /** Below this many free bytes in DATA_DIR, submissions get `insufficient_storage`. */
  minFreeBytes: number;
  freeBytes: () => Promise<number>;
  /** Milliseconds since the epoch; injected where time matters. */
  now?: () => number;
  /** Minimum spacing of progress events per task (at most 1000/this per second). */
  progressIntervalMs?: number;
  log?: (message: string, fields?: LogFields) => void;
}

/** A page of tasks, newest first, and where the next one starts. */
export interface TaskPage {
  tasks: Task[];
  next: { created_at: string; task_id: string } | null;
}

/** How much work there is, for /healthz and the all-tasks feed. */
export interface TaskCounts {
  total: number;
  queued: number;
  running: number;
  by_status: Record<TaskStatus, number>;
}

/** One finished file of a playlist's entry. */
export interface GroupFile {
  child: Task;
  name: string;
  path: string;
  size: number;
  mtime: Date | null;
}

/** How long a cancel sent to another node waits for the task's end before answering anyway. */
const CANCEL_WAIT_MS = 5000;

/** What a sweep may ask about a task id. */
export type TaskState = "unknown" | "active" | "queued" | "completed" | "inactive";

interface Entry {
  task: Task;
  /** The URL as submitted, credentials included; `task.url` is the redacted one people see. */
  sourceUrl: string;
  controller: AbortController | null;
  run: Promise<void> | null;
  requeueOnStop: boolean;
  progressTimer: ReturnType<typeof setTimeout> | null;
  progressPending: boolean;
  lastProgressAt: number;
  /** A playlist's highest percentage so far: its figure never goes back. */
  bestPercentage: number;
}

/**
 * Owns every task: the queue with its limits, the runs, the records, and the events the WebSocket
 * hub broadcasts. Statuses change only through `#move`, which checks the transition table at the
 * moment of the change, so whatever an await let happen in between (a cancel during completion, a
 * completion during a cancel) can never be overwritten.
 */
export class DownloadManager implements AsyncDisposable {
  readonly #options: Required<Omit<DownloadManagerOptions, "now" | "queue" | "cluster">>;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: TaskQueue;
  readonly #cluster: { remote: RemoteCancel } | null;
  readonly #listeners = new Set<TaskListener>();
  /** Tasks a cancel reached before their run began here (a cluster's control channel). */
  readonly #cancelBeforeStart = new Set<string>();
  /** Callers waiting for a task to end on another node. */
  readonly #endWaiters = new Map<string, Set<() => void>>();
  #running = 0;
  #reserved = 0;
  #coordinating: boolean;
  #closed = false;
  #writes: Promise<void> = Promise.resolve();
  #storageError: string | null = null;

  private constructor(options: DownloadManagerOptions) {
    this.#queue = options.queue ??
      new MemoryQueue({ maxConcurrent: options.maxConcurrent, maxPerSite: options.maxPerSite });
    this.#cluster = options.cluster ?? null;
    this.#coordinating = this.#cluster === null;
    this.#options = {
      ...options,
      runsTasks: options.runsTasks ?? true,
      progressIntervalMs: options.progressIntervalMs ?? 50,
      log: options.log ?? console.error,
      maxPerSite: options.maxPerSite ?? Infinity,
      retryLimit: options.retryLimit ?? 0,
      maxPlaylistItems: options.maxPlaylistItems ?? 200,
      retryDelayMs: options.retryDelayMs ?? retryBackoff(10_000),
    };
    this.#now = options.now ?? Date.now;
  }

  /**
   * Loads the stored tasks and resumes the queue. Tasks that were running when the process died
   * end as `failed`/`interrupted`, their leftover processes stopped and partial files removed;
   * queued ones run again; finished files the index lost are adopted from their directories.
   */
  static async open(options: DownloadManagerOptions): Promise<DownloadManager> {
    const manager = new DownloadManager(options);
    await Deno.mkdir(options.layout.tasksDir, { recursive: true });
    await options.sources.init();
    await manager.#restore();
    if (manager.#options.runsTasks) {
      manager.#queue.start({
        run: (taskId) => manager.#process(taskId),
        due: (taskId) => manager.#due(taskId),
        lost: (taskId, reason) => {
          manager.#lost(taskId, reason).catch((error) =>
            manager.#options.log("could not end a lost task", { task_id: taskId, error })
          );
        },
      });
    }
    return manager;
  }

  /** The directory holding one subdirectory per task. */
  get tasksDir(): string {
    return this.#options.layout.tasksDir;
  }

  /** The directory yt-dlp writes into for this task, and nothing else does. */
  taskDir(taskId: string): string {
    return this.#options.layout.dir(taskId);
  }

  /** The last failure to save a record, until a save succeeds again; null while all is well. */
  get storageError(): string | null {
    return this.#storageError;
  }

  /** Registers a listener; call the returned function to stop listening. */
  subscribe(listener: TaskListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Queues a download and returns its record once the record is saved; it starts as soon as a slot
   * is free. Refused when the queue is full, the disk nearly so, or the record cannot be written.
   */
  async submit(request: DownloadRequest): Promise<Task> {
    this.#checkRoom();
    this.#reserved++;
    let free: number;
    try {
      free = await this.#options.freeBytes();
    } catch {
      free = Infinity;
    } finally {
      this.#reserved--;
    }
    if (free < this.#options.minFreeBytes) {
      const mb = Math.floor(free / 1e6);
      throw new CapacityError(
        "insufficient_storage",
        `only ${mb} MB free in DATA_DIR; new downloads need ${
          Math.ceil(this.#options.minFreeBytes / 1e6)
        } MB (MIN_FREE_DISK_MB)`,
        60,
      );
    }
    this.#checkRoom();
    const task = this.#newTask(request);
    this.#reserved++;
    try {
      let admitted = true;
      await this.#write(async () => {
        if (request.url !== task.url) await this.#options.sources.put(task.task_id, request.url);
        admitted = await this.#options.store.insert(task, this.#options.maxQueued);
      });
      this.#storageRecovered();
      if (!admitted) {
        await this.#options.sources.delete(task.task_id).catch(() => {});
        throw this.#queueFull(this.#options.maxQueued);
      }
    } catch (error) {
      if (error instanceof CapacityError) throw error;
      this.#storageFailed(error);
      await this.#options.sources.delete(task.task_id).catch(() => {});
      throw new StorageError(`the task could not be saved: ${(error as Error).message}`);
    } finally {
      this.#reserved--;
    }
    const entry = this.#newEntry(task, request.url);
    this.#entries.set(task.task_id, entry);
    this.#emit({ type: "status", task: this.#snapshot(entry) });
    try {
      await this.#enqueue(entry);
    } catch (error) {
      const message = `the task could not be queued: ${(error as Error)?.message ?? error}`;
      this.#move(entry, "failed", { error: { code: "internal_error", message } });
      throw new StorageError(message);
    }
    return this.#snapshot(entry);
  }

  /** One task's current record. */
  get(taskId: string): Task {
    return this.#snapshot(this.#entry(taskId));
  }

  /** Up to `limit` tasks, newest first, starting after `after` (the previous page's `next`). */
  list(limit: number, after: TaskPage["next"] = null): TaskPage {
    // Entries are kept in creation order (restored ones too), so reversed is newest first even
    // for tasks created in the same millisecond.
    const all = [...this.#entries.values()].reverse();
    let start = 0;
    if (after !== null) {
      const at = all.findIndex((e) => e.task.task_id === after.task_id);
      start = at >= 0 ? at + 1 : all.findIndex((e) => e.task.created_at < after.created_at);
      if (start < 0) start = all.length;
    }
    const page = all.slice(start, start + limit);
    const last = page.at(-1);
    return {
      tasks: page.map((entry) => this.#snapshot(entry)),
      next: start + limit < all.length && last
        ? { created_at: last.task.created_at, task_id: last.task.task_id }
        : null,
    };
  }

  /** The tasks yt-dlp is working on now (on any node of a cluster). */
  running(): Task[] {
    return [...this.#entries.values()].filter((e) => this.#isRunning(e)).map((e) =>
      this.#snapshot(e)
    );
  }

  /** How many tasks there are, by status. */
  counts(): TaskCounts {
    const by_status = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<
      TaskStatus,
      number
    >;
    for (const { task } of this.#entries.values()) by_status[task.status]++;
    return {
      total: this.#entries.size,
      queued: by_status.queued,
      running: this.#cluster === null ? this.#running : this.#countRunning(),
      by_status,
    };
  }

  /**
   * Where a completed task's file is (the main one, or `name` of those it produced), with the
   * record describing it; 410 if it vanished.
   */
  async file(taskId: string, name: string | null = null): Promise<{ task: Task; path: string }> {
    const entry = this.#entry(taskId);
    const { task } = entry;
    if (task.status !== "completed" || task.filename === null) {
      throw new TaskStateError("no_file", `task '${taskId}' has no file (status: ${task.status})`);
    }
    const chosen = name ?? task.filename;
    if (!task.files.some((f) => f.name === chosen) && chosen !== task.filename) {
      throw new TaskNotFoundError(taskId, `task '${taskId}' has no file named '${chosen}'`);
    }
    const path = join(this.taskDir(taskId), chosen);
    try {
      await Deno.stat(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new TaskStateError("file_gone", `the file of task '${taskId}' is no longer on disk`);
    }
    return { task: this.#snapshot(entry), path };
  }

  /**
   * The finished files of a playlist's entries, in playlist order, for its zip: each entry's
   * files with where they are on disk.
   */
  async groupFiles(groupId: string): Promise<{ task: Task; files: GroupFile[] }> {
    const group = this.#entry(groupId);
    if (group.task.kind !== "playlist") {
      throw new TaskStateError("no_file", `task '${groupId}' is not a playlist`);
    }
    const files: GroupFile[] = [];
    for (const id of group.task.children ?? []) {
      const child = this.#entries.get(id);
      if (child?.task.status !== "completed") continue;
      for (const file of child.task.files) {
        const path = join(this.taskDir(id), file.name);
        try {
          const stat = await Deno.stat(path);
          files.push({
            child: this.#snapshot(child),
            name: file.name,
            path,
            size: stat.size,
            mtime: stat.mtime,
          });
        } catch {
          // Gone from disk: left out of the archive.
        }
      }
    }
    if (files.length === 0) {
      throw new TaskStateError("no_file", `no entry of playlist '${groupId}' has a file yet`);
    }
    return { task: this.#snapshot(group), files };
  }

  /**
   * Cancels a queued or running task (it stays listed as `cancelled`) or removes a finished one
   * with its file (it is gone afterwards). Resolves once the process group has exited and the
   * task's files are deleted; returns the cancelled record, or null when the task was removed.
   */
  async cancel(taskId: string): Promise<Task | null> {
    const entry = this.#entry(taskId);
    if (isTerminal(entry.task.status)) {
      await this.remove(taskId);
      return null;
    }
    if (this.#cluster !== null && entry.run === null) {
      const { status, kind } = entry.task;
      const waiting = status === "queued" || status === "retrying";
      const listing = kind === "playlist" && (entry.task.entries?.expanding ?? false);
      // Taken out of line before a worker had it, this node decides; otherwise the worker does.
      if (waiting ? !(await this.#queue.withdraw(taskId)) : kind !== "playlist" || listing) {
        return await this.#cancelElsewhere(entry);
      }
    } else {
      await this.#queue.withdraw(taskId);
    }
    // Whatever ended it while the queue answered stands (a completed file is never cancelled).
    if (!this.#move(entry, "cancelled", { retry_at: null })) return this.#snapshot(entry);
    entry.controller?.abort();
    await entry.run;
    await this.#removeDir(taskId);
    // A playlist's cancel reaches every entry that has not ended yet.
    if (entry.task.kind === "playlist") {
      await Promise.all(
        (entry.task.children ?? []).filter((id) => {
          const child = this.#entries.get(id);
          return child !== undefined && !isTerminal(child.task.status);
        }).map((id) => this.cancel(id)),
      );
    }
    return this.#snapshot(entry);
  }

  /**
   * Queues a failed or cancelled task again, under the same id and with a fresh count of attempts,
   * so that a retry replaces the failed row instead of adding a twin.
   */
  async retry(taskId: string): Promise<Task> {
    const entry = this.#entry(taskId);
    const { status } = entry.task;
    if (status !== "failed" && status !== "cancelled") {
      throw new TaskStateError(
        status === "completed" ? "not_retryable" : "task_active",
        `task '${taskId}' is ${status}; only failed or cancelled tasks can be retried`,
      );
    }
    this.#checkRoom();
    this.#move(entry, "queued", {
      attempt: 1,
      max_attempts: this.#options.retryLimit + 1,
      error: null,
      progress: null,
      filename: null,
      filesize: null,
      started_at: null,
      finished_at: null,
      retry_at: null,
    });
    await this.#cluster?.remote.forget(taskId);
    await this.#enqueue(entry);
    return this.#snapshot(entry);
  }

  /** Forgets a finished task and deletes its directory; a no-op for an unknown id. */
  async remove(taskId: string): Promise<void> {
    const entry = this.#entries.get(taskId);
    if (!entry) return;
    if (!isTerminal(entry.task.status)) {
      throw new TaskStateError("task_active", `task '${taskId}' is still ${entry.task.status}`);
    }
    // A cancelled run may still be stopping; its files must not reappear after the delete.
    await entry.run;
    if (this.#entries.get(taskId) !== entry) return;
    for (const id of entry.task.children ?? []) {
      const child = this.#entries.get(id);
      if (child && isTerminal(child.task.status)) await this.remove(id);
    }
    if (this.#entries.get(taskId) !== entry) return;
    this.#entries.delete(taskId);
    const group = entry.task.group_id === null ? null : this.#entries.get(entry.task.group_id);
    if (group) {
      group.task.children = (group.task.children ?? []).filter((id) => id !== taskId);
      if (this.#coordinating) this.#groupChanged(group);
      else this.#changed(group);
    }
    this.#clearProgressTimer(entry);
    await this.#write(async () => {
      await this.#options.store.delete(taskId);
      await this.#options.sources.delete(taskId);
    }).catch((error) => this.#storageFailed(error));
    await this.#removeDir(taskId);
    this.#emit({ type: "removed", taskId });
  }

  /** Ids of finished tasks whose retention, as configured now, ended at or before `now`. */
  expiredTaskIds(now: number): string[] {
    return [...this.#entries.values()]
      .filter((e) => e.task.finished_at !== null && this.#expiry(e.task.finished_at) <= now)
      .map((e) => e.task.task_id);
  }

  /** Whether a task is known, and whether yt-dlp may be writing into its directory. */
  state(taskId: string): TaskState {
    const entry = this.#entries.get(taskId);
    if (!entry) return "unknown";
    if (this.#isRunning(entry)) return "active";
    if (entry.task.status === "queued" || entry.task.status === "retrying") return "queued";
    return entry.task.status === "completed" ? "completed" : "inactive";
  }

  /**
   * Stops taking work, stops every running yt-dlp (they are queued again for the next start, from
   * scratch), and waits for all writes. Used on SIGINT/SIGTERM.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    // The queue stops handing out work first (a cluster's worker then takes no new job), and is
    // closed once the runs below have ended and given their tasks back to it. A pause in
    // progress is kept as `retrying`; the next start (or another worker) resumes it.
    const queueClosed = this.#queue[Symbol.asyncDispose]();
    const runs: Promise<void>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.run === null) continue;
      entry.requeueOnStop = true;
      entry.controller?.abort();
      runs.push(entry.run);
    }
    await Promise.all(runs);
    await queueClosed;
    await this.#writes;
  }

  #checkRoom(): void {
    if (this.#closed) throw new TaskStateError("shutting_down", "the service is shutting down");
    const waiting = this.#waiting();
    if (waiting + this.#reserved >= this.#options.maxQueued) throw this.#queueFull(waiting);
  }

  #queueFull(waiting: number): CapacityError {
    return new CapacityError(
      "queue_full",
      `${waiting} downloads are already waiting (MAX_QUEUED_TASKS is ${this.#options.maxQueued})`,
      30,
    );
  }

  #entry(taskId: string): Entry {
    const entry = this.#entries.get(taskId);
    if (!entry) throw new TaskNotFoundError(taskId);
    return entry;
  }

  #newEntry(task: Task, sourceUrl: string): Entry {
    return {
      task,
      sourceUrl,
      controller: null,
      run: null,
      requeueOnStop: false,
      progressTimer: null,
      progressPending: false,
      lastProgressAt: -Infinity,
      bestPercentage: 0,
    };
  }

  /** A fresh record for a request (its URL shown without credentials). */
  #newTask(request: DownloadRequest, extra: Partial<Task> = {}): Task {
    return {
      task_id: crypto.randomUUID(),
      ...request,
      url: redactUrl(request.url),
      kind: "video",
      group_id: null,
      playlist_index: null,
      children: null,
      entries: null,
      status: "queued",
      title: null,
      duration: null,
      thumbnail: false,
      files: [],
      progress: null,
      filename: null,
      filesize: null,
      error: null,
      created_at: this.#iso(),
      started_at: null,
      finished_at: null,
      expires_at: null,
      storage_error: null,
      attempt: 1,
      max_attempts: this.#options.retryLimit + 1,
      retry_at: null,
      ...extra,
    };
  }

  /**
   * Puts a task in line for a slot (the front, after a retry's pause), once its record is saved:
   * a worker elsewhere reads the record when the task's turn comes.
   */
  async #enqueue(entry: Entry, options: { front?: boolean; delayMs?: number } = {}): Promise<void> {
    await this.#writes;
    await this.#queue.add({ taskId: entry.task.task_id, site: siteOf(entry.task.url) }, options);
  }

  /** A retry's pause is over: the next attempt waits for a slot as `queued`. */
  #due(taskId: string): boolean {
    const entry = this.#entries.get(taskId);
    // Only a pause still in progress ends here (a cancel during it stands).
    if (!entry || this.#closed || entry.task.status !== "retrying") return false;
    return this.#move(entry, "queued", {
      attempt: entry.task.attempt + 1,
      retry_at: null,
      started_at: null,
    });
  }

  /**
   * A slot is free for this task: start it, unless it ended or was cancelled meanwhile. On a
   * cluster the record is read fresh first (the worker's copy may trail by an event), and a task
   * still marked running is one whose worker died: what is left of its run is stopped and its
   * partial files deleted before it starts again here, so no file is produced twice.
   */
  #process(taskId: string): Promise<void> {
    if (this.#cluster === null) {
      const entry = this.#entries.get(taskId);
      return entry ? this.#start(entry) : Promise.resolve();
    }
    return this.#processShared(taskId).catch((error) => {
      this.#options.log("could not start a task", { task_id: taskId, error });
    });
  }

  async #processShared(taskId: string): Promise<void> {
    const stored = await this.#options.store.get(taskId);
    if (stored === null) return;
    let entry = this.#entries.get(taskId);
    if (entry === undefined) {
      entry = this.#newEntry({ ...stored, storage_error: null }, stored.url);
      this.#entries.set(taskId, entry);
    } else if (entry.run === null) {
      entry.task = { ...stored, storage_error: entry.task.storage_error };
    } else {
      return;
    }
    entry.sourceUrl = (await this.#options.sources.get(taskId)) ?? stored.url;
    if (this.#closed) {
      // Handed over while this worker stops: back in line for another.
      if (!isTerminal(entry.task.status)) await this.#enqueue(entry, { front: true });
      return;
    }
    const cancelled = this.#cancelBeforeStart.delete(taskId) ||
      await this.#cluster!.remote.takeRequest(taskId);
    // Always asked (the run lock answers at once when nothing is left): a worker may have died
    // after starting yt-dlp but before its `downloading` reached the store.
    const leftover = await stopOrphanedRun(this.#options.layout, taskId).catch(() => "none");
    const wasRunning = entry.task.status === "downloading" || entry.task.status === "processing";
    if (wasRunning || leftover !== "none") {
      await this.#removeDir(taskId);
      this.#options.log("taking over a task whose worker stopped", { task_id: taskId, leftover });
      if (entry.run !== null) return;
      if (wasRunning) this.#move(entry, "queued", { progress: null, started_at: null });
    }
    if (this.#cancelBeforeStart.delete(taskId) || cancelled) {
      this.#move(entry, "cancelled", { retry_at: null });
      await this.#cluster!.remote.acknowledge(taskId);
      return;
    }
    if (entry.task.status === "retrying" && !this.#due(taskId)) return;
    await this.#start(entry);
  }

  #start(entry: Entry): Promise<void> {
    if (this.#closed || !this.#move(entry, "downloading", { started_at: this.#iso() })) {
      return Promise.resolve();
    }
    this.#running++;
    const controller = new AbortController();
    entry.controller = controller;
    entry.run = this.#execute(entry, controller.signal)
      .catch((error) => {
        // Nothing in a run may take the service down; the task ends with the reason instead.
        this.#options.log("run failed", { task_id: entry.task.task_id, error });
        this.#move(entry, "failed", {
          error: { code: "internal_error", message: clip(String(error), MAX_MESSAGE_LENGTH) },
        });
      })
      .finally(() => {
        this.#running--;
        entry.controller = null;
        entry.run = null;
        // A playlist's listing is over; what is left to wait for is its children.
        if (entry.task.kind === "playlist") this.#groupChanged(entry);
      });
    return entry.run;
  }

  /** The queue gave up on a task: unless something here still runs it, it fails with the reason. */
  async #lost(taskId: string, reason: string): Promise<void> {
    const entry = this.#entries.get(taskId);
    if (entry === undefined || entry.run !== null) return;
    const stored = await this.#options.store.get(taskId);
    if (stored === null || isTerminal(stored.status)) return;
    entry.task = { ...stored, storage_error: null };
    await stopOrphanedRun(this.#options.layout, taskId).catch(() => "none");
    await this.#removeDir(taskId);
    this.#move(entry, "failed", {
      error: {
        code: "interrupted",
        message: clip(
          `the download's worker stopped and it could not be resumed: ${reason}`,
          MAX_MESSAGE_LENGTH,
        ),
      },
      progress: null,
    });
  }

  /**
   * Cancels a task a worker of the cluster has: asks over the control channel (remembered in Redis
   * for a worker that picks it up later) and waits until its end arrives here.
   */
  async #cancelElsewhere(entry: Entry): Promise<Task> {
    const taskId = entry.task.task_id;
    const ended = this.#whenEnded(taskId, CANCEL_WAIT_MS);
    // Acknowledged once its files are gone; the record's end may trail it by a moment.
    if (await this.#cluster!.remote.request(taskId, CANCEL_WAIT_MS)) await ended;
    return this.#snapshot(this.#entries.get(taskId) ?? entry);
  }

  /**
   * The control channel's cancel, on the node that may run the task: stops its run, or keeps it
   * from starting if its job has not reached this node yet.
   */
  async cancelHere(taskId: string): Promise<void> {
    const entry = this.#entries.get(taskId);
    const remote = this.#cluster?.remote;
    if (entry?.run != null) {
      await remote?.forget(taskId);
      await this.cancel(taskId);
      await remote?.acknowledge(taskId);
      return;
    }
    if (entry?.run === null && isTerminal(entry.task.status)) {
      await remote?.forget(taskId);
      await remote?.acknowledge(taskId);
      return;
    }
    this.#cancelBeforeStart.add(taskId);
    Deno.unrefTimer(setTimeout(() => this.#cancelBeforeStart.delete(taskId), CANCEL_WAIT_MS));
  }

  /**
   * Takes in a change another node made (a cluster's event stream). The node running a task keeps
   * its own record, the truth while it runs; listeners here are not told (the feed that carries
   * the event to sockets is the stream itself, and hooks fire where the change was made).
   */
  apply(event: TaskEvent): void {
    if (event.type === "removed") {
      const entry = this.#entries.get(event.taskId);
      if (entry !== undefined && entry.run === null) {
        this.#clearProgressTimer(entry);
        this.#entries.delete(event.taskId);
      }
      this.#ended(event.taskId);
      return;
    }
    const task = event.task;
    const entry = this.#entries.get(task.task_id);
    if (entry?.run != null) return;
    if (entry === undefined) {
      this.#entries.set(task.task_id, this.#newEntry({ ...task, storage_error: null }, task.url));
    } else {
      entry.task = { ...task, storage_error: null };
    }
    if (isTerminal(task.status)) this.#ended(task.task_id);
    if (!this.#coordinating) return;
    // The coordinator keeps every playlist's figures, whichever nodes run its entries.
    const group = task.kind === "playlist"
      ? this.#entries.get(task.task_id)!
      : task.group_id === null
      ? null
      : this.#entries.get(task.group_id);
    if (group === undefined || group === null || isTerminal(group.task.status)) return;
    group.bestPercentage = Math.max(group.bestPercentage, group.task.progress?.percentage ?? 0);
    this.#groupChanged(group);
  }

  /**
   * Makes this node the cluster's coordinator, or stops it being one: the coordinator keeps the
   * playlists' figures and ends them, so that a group ends once and its percentage never goes back
   * however many workers run its entries. Embedded, the one process always is.
   */
  coordinate(on: boolean): void {
    this.#coordinating = on;
    if (!on) return;
    for (const entry of this.#entries.values()) {
      if (entry.task.kind !== "playlist" || isTerminal(entry.task.status)) continue;
      entry.bestPercentage = Math.max(entry.bestPercentage, entry.task.progress?.percentage ?? 0);
      this.#groupChanged(entry);
    }
  }

  #whenEnded(taskId: string, timeoutMs: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const waiters = this.#endWaiters.get(taskId) ?? new Set();
    this.#endWaiters.set(taskId, waiters);
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      waiters.delete(done);
      resolve();
    }
    waiters.add(done);
    return promise;
  }

  #ended(taskId: string): void {
    const waiters = this.#endWaiters.get(taskId);
    if (!waiters) return;
    this.#endWaiters.delete(taskId);
    for (const done of waiters) done();
  }

  /** Whether yt-dlp may be working on the task, here or, on a cluster, on another node. */
  #isRunning(entry: Entry): boolean {
    if (entry.run !== null) return true;
    const { status, kind } = entry.task;
    return this.#cluster !== null && kind !== "playlist" &&
      (status === "downloading" || status === "processing");
  }

  /** On a cluster: the tasks running on any node (the local count only knows this node's). */
  #countRunning(): number {
    let count = 0;
    for (const entry of this.#entries.values()) if (this.#isRunning(entry)) count++;
    return count;
  }

  /** Tasks waiting for a slot (all of the cluster's on a cluster). */
  #waiting(): number {
    let count = 0;
    for (const { task } of this.#entries.values()) if (task.status === "queued") count++;
    return count;
  }

  async #execute(entry: Entry, signal: AbortSignal): Promise<void> {
    const outcome: RunOutcome = await this.#options.run(
      { taskId: entry.task.task_id, request: { ...entry.task, url: entry.sourceUrl } },
      {
        title: (title) => {
          if (entry.task.title !== null || isTerminal(entry.task.status)) return;
          entry.task.title = title;
          this.#changed(entry);
        },
        progress: (progress) => {
          if (isTerminal(entry.task.status)) return;
          entry.task.progress = progress;
          this.#progressChanged(entry);
        },
        processing: () => {
          this.#move(entry, "processing");
        },
        details: ({ duration, thumbnail }) => {
          if (isTerminal(entry.task.status)) return;
          entry.task.duration = duration ?? entry.task.duration;
          entry.task.thumbnail = thumbnail;
          this.#changed(entry);
        },
        entry: (listed) => {
          if (isTerminal(entry.task.status)) return;
          this.#toGroup(entry, listed.playlistTitle);
          this.#addChild(entry, listed.url, null, listed);
        },
      },
      signal,
    );
    switch (outcome.kind) {
      case "completed":
        if (!canTransition(entry.task.status, "completed")) return;
        entry.task.progress = outcome.progress;
        entry.progressPending = true;
        this.#move(entry, "completed", {
          filename: outcome.filename,
          filesize: outcome.filesize,
          files: outcome.files,
          thumbnail: outcome.thumbnail,
          duration: outcome.duration,
        });
        return;
      case "playlist":
        if (isTerminal(entry.task.status)) return;
        this.#toGroup(entry, outcome.title);
        if (outcome.byIndex !== null) {
          const indexes = playlistIndexes(
            entry.task.playlist_items,
            outcome.byIndex.count,
            this.#options.maxPlaylistItems,
          );
          for (const index of indexes) {
            this.#addChild(entry, entry.sourceUrl, index, { index, title: null, duration: null });
          }
        }
        entry.task.entries = { ...entry.task.entries!, expanding: false };
        this.#changed(entry);
        return;
      case "failed": {
        const { attempt, max_attempts } = entry.task;
        if (TRANSIENT_CODES.has(outcome.error.code) && attempt < max_attempts) {
          const delay = this.#options.retryDelayMs(attempt);
          const retryAt = new Date(this.#now() + delay).toISOString();
          if (
            this.#move(entry, "retrying", {
              error: outcome.error,
              retry_at: retryAt,
              progress: null,
            })
          ) {
            // Within the run, so that a cluster's worker moves this very job to later.
            await this.#enqueue(entry, { front: true, delayMs: delay }).catch((error) =>
              this.#move(entry, "failed", {
                error: {
                  code: "internal_error",
                  message: clip(`the retry could not be queued: ${error}`, MAX_MESSAGE_LENGTH),
                },
              })
            );
          }
          return;
        }
        this.#move(entry, "failed", { error: outcome.error });
        return;
      }
      case "stopped":
        if (entry.requeueOnStop) {
          this.#clearProgressTimer(entry);
          this.#move(entry, "queued", { progress: null, started_at: null });
          // Another worker of a cluster takes it; the embedded queue is closing and restores it.
          if (this.#cluster !== null) await this.#enqueue(entry, { front: true });
        }
        return;
    }
  }

  /**
   * The one way a status changes: refused (false, nothing changes) unless the transition table
   * allows it from the status the task has now.
   */
  #move(entry: Entry, to: TaskStatus, patch: Partial<Task> = {}): boolean {
    if (!canTransition(entry.task.status, to)) return false;
    if (to !== "queued") this.#flushProgress(entry);
    else entry.progressPending = false;
    Object.assign(entry.task, patch, { status: to });
    if (isTerminal(to)) entry.task.finished_at = this.#iso();
    this.#changed(entry);
    if (to === "completed") this.#emit({ type: "complete", task: this.#snapshot(entry) });
    if (to === "failed") this.#emit({ type: "error", task: this.#snapshot(entry) });
    const group = entry.task.group_id === null ? null : this.#entries.get(entry.task.group_id);
    if (group) this.#groupChanged(group);
    return true;
  }

  /** Turns a task whose URL is a playlist into the group of its entries. */
  #toGroup(entry: Entry, title: string | null): void {
    if (entry.task.kind === "playlist") return;
    Object.assign(entry.task, {
      kind: "playlist",
      children: [],
      entries: { total: 0, completed: 0, failed: 0, cancelled: 0, expanding: true },
      title: title ?? entry.task.title,
      progress: null,
    });
    this.#changed(entry);
  }

  /**
   * One entry of a playlist becomes an ordinary task (queue, progress, cancel, retry, file) of its
   * own: by its own URL, or by the playlist's URL and its index when it has none.
   */
  #addChild(
    group: Entry,
    sourceUrl: string,
    playlistItem: number | null,
    listed: Pick<PlaylistEntry, "index" | "title" | "duration">,
  ): void {
    const children = group.task.children!;
    if (children.length >= this.#options.maxPlaylistItems) return;
    const request = Object.fromEntries(
      Object.keys(REQUEST_DEFAULTS).map((key) => [key, group.task[key as keyof Task]]),
    ) as Omit<DownloadRequest, "url">;
    const task = this.#newTask(
      { ...request, url: sourceUrl, playlist_items: null, playlist_item: playlistItem },
      {
        group_id: group.task.task_id,
        playlist_index: listed.index,
        title: listed.title,
        duration: listed.duration,
      },
    );
    const child = this.#newEntry(task, sourceUrl);
    this.#entries.set(task.task_id, child);
    children.push(task.task_id);
    group.task.entries = { ...group.task.entries!, total: children.length };
    this.#persist(child);
    this.#emit({ type: "status", task: this.#snapshot(child) });
    this.#changed(group);
    this.#enqueue(child).catch((error) =>
      this.#move(child, "failed", {
        error: {
          code: "internal_error",
          message: clip(`the entry could not be queued: ${error}`, MAX_MESSAGE_LENGTH),
        },
      })
    );
  }

  /**
   * A playlist's figures from its children: entries done, failed, cancelled; bytes; one
   * percentage that never goes back (a child that ended counts as whole). When no child is left to
   * run and the listing is over, the group ends: completed if any entry was, failed otherwise.
   */
  #groupChanged(group: Entry): void {
    if (!this.#coordinating) return;
    const kids = (group.task.children ?? []).flatMap((id) => {
      const child = this.#entries.get(id);
      return child ? [child.task] : [];
    });
    const count = (status: TaskStatus) => kids.filter((k) => k.status === status).length;
    const expanding = group.task.entries?.expanding ?? false;
    const entries = {
      total: kids.length,
      completed: count("completed"),
      failed: count("failed"),
      cancelled: count("cancelled"),
      expanding,
    };
    const changed = JSON.stringify(entries) !== JSON.stringify(group.task.entries);
    group.task.entries = entries;
    const share = kids.reduce(
      (sum, k) => sum + (isTerminal(k.status) ? 100 : k.progress?.percentage ?? 0),
      0,
    );
    const percentage = kids.length === 0 ? 0 : Math.round((share / kids.length) * 10) / 10;
    group.bestPercentage = Math.max(group.bestPercentage, Math.min(percentage, 100));
    const bytes = kids.reduce(
      (sum, k) =>
        sum + (k.status === "completed" ? k.filesize ?? 0 : k.progress?.downloaded_bytes ?? 0),
      0,
    );
    if (!isTerminal(group.task.status)) {
      group.task.progress = {
        percentage: group.bestPercentage,
        downloaded_bytes: bytes,
        total_bytes: null,
        speed: null,
        eta: null,
        speed_bps: null,
        eta_seconds: null,
        fragment_index: null,
        fragment_count: null,
      };
      this.#progressChanged(group);
    }
    const running = kids.some((k) => !isTerminal(k.status));
    if (!expanding && !running && group.run === null && !isTerminal(group.task.status)) {
      if (entries.completed > 0) {
        group.task.progress = { ...group.task.progress!, percentage: 100 };
        group.progressPending = true;
        this.#move(group, "completed", { filesize: bytes });
      } else {
        this.#move(group, "failed", {
          error: {
            code: kids.length === 0 ? "empty_playlist" : "playlist_failed",
            message: kids.length === 0
              ? "the playlist has no entries"
              : "no entry of the playlist could be downloaded",
          },
        });
      }
    } else if (changed) {
      this.#changed(group);
    }
  }

  /** Saves and announces the record after any change but progress. */
  #changed(entry: Entry): void {
    this.#persist(entry);
    this.#emit({ type: "status", task: this.#snapshot(entry) });
  }

  #progressChanged(entry: Entry): void {
    entry.progressPending = true;
    const wait = entry.lastProgressAt + this.#options.progressIntervalMs - this.#now();
    if (wait <= 0) {
      this.#flushProgress(entry);
    } else if (entry.progressTimer === null) {
      entry.progressTimer = setTimeout(() => this.#flushProgress(entry), wait);
    }
  }

  #flushProgress(entry: Entry): void {
    this.#clearProgressTimer(entry);
    if (!entry.progressPending) return;
    entry.progressPending = false;
    entry.lastProgressAt = this.#now();
    this.#emit({ type: "progress", task: this.#snapshot(entry) });
    const group = entry.task.group_id === null ? null : this.#entries.get(entry.task.group_id);
    if (group && !isTerminal(group.task.status)) this.#groupChanged(group);
  }

  #clearProgressTimer(entry: Entry): void {
    if (entry.progressTimer !== null) clearTimeout(entry.progressTimer);
    entry.progressTimer = null;
  }

  #emit(event: TaskEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#options.log("task listener failed", { error });
      }
    }
  }

  /** Runs writes one after another, in the order they were asked for. */
  #write(operation: () => Promise<void>): Promise<void> {
    const result = this.#writes.then(operation);
    this.#writes = result.catch(() => {});
    return result;
  }

  #persist(entry: Entry): void {
    const task = { ...this.#snapshot(entry), storage_error: null, expires_at: null };
    const secret = entry.sourceUrl !== task.url;
    this.#write(async () => {
      if (this.#entries.get(task.task_id) !== entry) return;
      // A finished file's own record goes first, so that losing tasks.kv never loses the file.
      if (task.status === "completed") await writeRecordFile(this.#options.layout, task);
      if (secret && isTerminal(task.status)) await this.#options.sources.delete(task.task_id);
      await this.#options.store.save(task);
    }).then(
      () => {
        if (entry.task.storage_error !== null) {
          entry.task.storage_error = null;
          this.#emit({ type: "status", task: this.#snapshot(entry) });
        }
        this.#storageRecovered();
      },
      (error) => {
        this.#storageFailed(error);
        entry.task.storage_error = clip(
          `this task's record could not be saved and would be lost on a restart: ${
            (error as Error)?.message ?? error
          }`,
          MAX_MESSAGE_LENGTH,
        );
        this.#emit({ type: "status", task: this.#snapshot(entry) });
      },
    );
  }

  /** A write succeeded: clear the alarm and save again what could not be saved while it rang. */
  #storageRecovered(): void {
    if (this.#storageError === null) return;
    this.#storageError = null;
    for (const entry of this.#entries.values()) {
      if (entry.task.storage_error !== null) this.#persist(entry);
    }
  }

  #storageFailed(error: unknown): void {
    this.#storageError = String((error as Error)?.message ?? error);
    this.#options.log("task store write failed", { error: this.#storageError });
  }

  async #removeDir(taskId: string): Promise<void> {
    try {
      await Deno.remove(this.taskDir(taskId), { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        // The sweep tries again; the task's state does not depend on it.
        this.#options.log("could not remove a task directory", { task_id: taskId, error });
      }
    }
  }

  async #restore(): Promise<void> {
    const { layout, store, sources, log } = this.#options;
    const { tasks, rejected } = await store.list();
    if (this.#cluster !== null) {
      // Shared by a cluster: other nodes may be running any of these, and BullMQ has the line.
      tasks.sort((a, b) => a.created_at.localeCompare(b.created_at));
      for (const task of tasks) {
        this.#entries.set(task.task_id, this.#newEntry({ ...task, storage_error: null }, task.url));
      }
      return;
    }
    const queued: Entry[] = [];
    for (const key of rejected) {
      log("stored record is invalid; looking for its files instead", { task_id: key });
      await store.delete(key).catch(() => {});
    }
    tasks.sort((a, b) => a.created_at.localeCompare(b.created_at));
    for (const task of tasks) {
      const entry = this.#newEntry(
        { ...task, storage_error: null },
        (await sources.get(task.task_id)) ?? task.url,
      );
      this.#entries.set(task.task_id, entry);
      if (task.status === "queued" || task.status === "retrying") {
        entry.task.progress = null;
        if (task.status === "retrying") {
          Object.assign(entry.task, {
            status: "queued",
            retry_at: null,
            attempt: task.attempt + 1,
          });
          this.#persist(entry);
        }
        queued.push(entry);
      } else if (
        task.kind === "playlist" && (task.status === "downloading" || task.status === "processing")
      ) {
        // A playlist lives on through its children; only its own listing was cut short.
        await stopOrphanedRun(layout, task.task_id).catch(() => "none");
        await this.#removeDir(task.task_id);
        entry.task.entries = { ...entry.task.entries!, expanding: false };
      } else if (task.status === "downloading" || task.status === "processing") {
        // Finished after all, but its last write to tasks.kv failed: the file's own record says so.
        const finished = await readRecordFile(layout, task.task_id).catch(() => null);
        if (finished?.status === "completed" && await this.#hasFile(finished)) {
          entry.task = { ...finished, storage_error: null };
          this.#persist(entry);
          log(`task ${task.task_id}: completed (from its directory's record)`);
          continue;
        }
        try {
          const outcome = await stopOrphanedRun(layout, task.task_id);
          if (outcome !== "none") log(`task ${task.task_id}: leftover run ${outcome}`);
        } catch (error) {
          log(`task ${task.task_id}: could not stop its leftover run: ${error}`);
        }
        await this.#removeDir(task.task_id);
        entry.task.progress = null;
        this.#move(entry, "failed", {
          error: {
            code: "interrupted",
            message: "the service stopped unexpectedly while this download was running",
          },
        });
      } else if (task.status === "completed" && !(await this.#hasFile(task))) {
        log(`task ${task.task_id}: its file is gone; forgetting it`);
        this.#entries.delete(task.task_id);
        await store.delete(task.task_id);
        await this.#removeDir(task.task_id);
      }
    }
    await this.#adoptOrphans();
    for (const entry of queued) await this.#enqueue(entry);
    for (const entry of this.#entries.values()) {
      if (entry.task.kind === "playlist" && !isTerminal(entry.task.status)) {
        this.#groupChanged(entry);
      }
    }
    await this.#writes;
  }

  /** Finished downloads whose directory outlived their record (a lost or set-aside tasks.kv). */
  async #adoptOrphans(): Promise<void> {
    for await (const dirEntry of Deno.readDir(this.#options.layout.tasksDir)) {
      if (!dirEntry.isDirectory || this.#entries.has(dirEntry.name)) continue;
      let task: Task | null;
      try {
        task = await readRecordFile(this.#options.layout, dirEntry.name);
      } catch {
        continue;
      }
      if (task?.status !== "completed" || !(await this.#hasFile(task))) continue;
      const entry = this.#newEntry({ ...task, storage_error: null }, task.url);
      this.#entries.set(task.task_id, entry);
      this.#persist(entry);
      this.#options.log("adopted from its directory", { task_id: task.task_id });
    }
    // Adopted tasks keep creation order, like restored ones.
    const sorted = [...this.#entries.entries()].sort(([, a], [, b]) =>
      a.task.created_at.localeCompare(b.task.created_at)
    );
    this.#entries.clear();
    for (const [id, entry] of sorted) this.#entries.set(id, entry);
  }

  async #hasFile(task: Task): Promise<boolean> {
    if (!task.filename) return false;
    try {
      await Deno.stat(join(this.taskDir(task.task_id), task.filename));
      return true;
    } catch {
      return false;
    }
  }

  #expiry(finishedAt: string): number {
    return Date.parse(finishedAt) + this.#options.retentionSeconds * 1000;
  }

  #snapshot(entry: Entry): Task {
    const { task } = entry;
    return {
      ...task,
      progress: task.progress && { ...task.progress },
      error: task.error && { ...task.error },
      expires_at: task.finished_at === null
        ? null
        : new Date(this.#expiry(task.finished_at)).toISOString(),
    };
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }
}

/**
 * The pause before retry number `attempt`: `firstMs`, then three times longer each time, at most
 * ten minutes (`RETRY_DELAY_SECONDS` sets the first).
 */
export function retryBackoff(firstMs: number): (attempt: number) => number {
  return (attempt) => Math.min(firstMs * 3 ** (attempt - 1), 600_000);
}

/** What counts as one site for the per-site cap: the host, without a leading `www.` or `m.`. */
export function siteOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase().replace(/^(www|m)\./, "");
  } catch {
    return url;
  }
}
