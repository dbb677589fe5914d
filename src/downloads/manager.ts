import { join } from "node:path";
import { CapacityError, StorageError, TaskNotFoundError, TaskStateError } from "../model/errors.ts";
import {
  clip,
  type DownloadRequest,
  isTerminal,
  MAX_MESSAGE_LENGTH,
  type Task,
  TASK_STATUSES,
  type TaskStatus,
} from "../model/task.ts";
import { canTransition } from "../model/transitions.ts";
import { redactUrl } from "../net/redact.ts";
import { TRANSIENT_CODES } from "../ytdlp/failure_reason.ts";
import { stopOrphanedRun } from "./orphans.ts";
import type { RunJob, RunOutcome } from "./run_download.ts";
import type { SourceUrls } from "./source_urls.ts";
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
  maxConcurrent: number;
  /** Downloads from one site at once (polite pacing); the rest wait, others' go ahead. */
  maxPerSite?: number;
  /** Automatic retries after a transient failure (so at most `retryLimit + 1` attempts). */
  retryLimit?: number;
  /** The pause before retry number `attempt` (1 for the first retry). */
  retryDelayMs?: (attempt: number) => number;
  /** Tasks that may wait at once; past it, submissions get `queue_full`. */
  maxQueued: number;
  retentionSeconds: number;
  /** Below this many free bytes in DATA_DIR, submissions get `insufficient_storage`. */
  minFreeBytes: number;
  freeBytes: () => Promise<number>;
  /** Milliseconds since the epoch; injected where time matters. */
  now?: () => number;
  /** Minimum spacing of progress events per task (at most 1000/this per second). */
  progressIntervalMs?: number;
  log?: (message: string) => void;
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

/** What a sweep may ask about a task id. */
export type TaskState = "unknown" | "active" | "queued" | "completed" | "inactive";

interface Entry {
  task: Task;
  /** The URL as submitted, credentials included; `task.url` is the redacted one people see. */
  sourceUrl: string;
  controller: AbortController | null;
  run: Promise<void> | null;
  requeueOnStop: boolean;
  retryTimer: ReturnType<typeof setTimeout> | null;
  progressTimer: ReturnType<typeof setTimeout> | null;
  progressPending: boolean;
  lastProgressAt: number;
}

/**
 * Owns every task: the queue with its limits, the runs, the records, and the events the WebSocket
 * hub broadcasts. Statuses change only through `#move`, which checks the transition table at the
 * moment of the change, so whatever an await let happen in between (a cancel during completion, a
 * completion during a cancel) can never be overwritten.
 */
export class DownloadManager implements AsyncDisposable {
  readonly #options: Required<Omit<DownloadManagerOptions, "now">>;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Entry[] = [];
  readonly #listeners = new Set<TaskListener>();
  readonly #runningPerSite = new Map<string, number>();
  #running = 0;
  #reserved = 0;
  #closed = false;
  #writes: Promise<void> = Promise.resolve();
  #storageError: string | null = null;

  private constructor(options: DownloadManagerOptions) {
    this.#options = {
      ...options,
      progressIntervalMs: options.progressIntervalMs ?? 50,
      log: options.log ?? console.error,
      maxPerSite: options.maxPerSite ?? Infinity,
      retryLimit: options.retryLimit ?? 0,
      retryDelayMs: options.retryDelayMs ??
        ((attempt) => Math.min(10_000 * 3 ** (attempt - 1), 600_000)),
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
    manager.#pump();
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
    const task: Task = {
      task_id: crypto.randomUUID(),
      ...request,
      url: redactUrl(request.url),
      status: "queued",
      title: null,
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
    };
    this.#reserved++;
    try {
      await this.#write(async () => {
        if (request.url !== task.url) await this.#options.sources.put(task.task_id, request.url);
        await this.#options.store.save(task);
      });
      this.#storageRecovered();
    } catch (error) {
      this.#storageFailed(error);
      await this.#options.sources.delete(task.task_id).catch(() => {});
      throw new StorageError(`the task could not be saved: ${(error as Error).message}`);
    } finally {
      this.#reserved--;
    }
    const entry = this.#newEntry(task, request.url);
    this.#entries.set(task.task_id, entry);
    this.#queue.push(entry);
    this.#emit({ type: "status", task: this.#snapshot(entry) });
    this.#pump();
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

  /** The tasks yt-dlp is working on now. */
  running(): Task[] {
    return [...this.#entries.values()].filter((e) => e.run !== null).map((e) => this.#snapshot(e));
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
      queued: this.#queue.length,
      running: this.#running,
      by_status,
    };
  }

  /** Where a completed task's file is, with the record describing it; 410 if it vanished. */
  async file(taskId: string): Promise<{ task: Task; path: string }> {
    const entry = this.#entry(taskId);
    const { task } = entry;
    if (task.status !== "completed" || task.filename === null) {
      throw new TaskStateError("no_file", `task '${taskId}' has no file (status: ${task.status})`);
    }
    const path = join(this.taskDir(taskId), task.filename);
    try {
      await Deno.stat(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new TaskStateError("file_gone", `the file of task '${taskId}' is no longer on disk`);
    }
    return { task: this.#snapshot(entry), path };
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
    const queuedAt = this.#queue.indexOf(entry);
    if (queuedAt >= 0) this.#queue.splice(queuedAt, 1);
    this.#clearRetryTimer(entry);
    this.#move(entry, "cancelled", { retry_at: null });
    entry.controller?.abort();
    await entry.run;
    await this.#removeDir(taskId);
    return this.#snapshot(entry);
  }

  /**
   * Queues a failed or cancelled task again, under the same id and with a fresh count of attempts,
   * so that a retry replaces the failed row instead of adding a twin.
   */
  retry(taskId: string): Task {
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
    this.#queue.push(entry);
    this.#pump();
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
    this.#entries.delete(taskId);
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
    if (entry.run !== null) return "active";
    if (entry.task.status === "queued" || entry.task.status === "retrying") return "queued";
    return entry.task.status === "completed" ? "completed" : "inactive";
  }

  /**
   * Stops taking work, stops every running yt-dlp (they are queued again for the next start, from
   * scratch), and waits for all writes. Used on SIGINT/SIGTERM.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    const runs: Promise<void>[] = [];
    for (const entry of this.#entries.values()) {
      // A pause in progress is kept as `retrying`; the next start queues it again.
      this.#clearRetryTimer(entry);
      if (entry.run === null) continue;
      entry.requeueOnStop = true;
      entry.controller?.abort();
      runs.push(entry.run);
    }
    await Promise.all(runs);
    await this.#writes;
  }

  #checkRoom(): void {
    if (this.#closed) throw new TaskStateError("shutting_down", "the service is shutting down");
    if (this.#queue.length + this.#reserved >= this.#options.maxQueued) {
      throw new CapacityError(
        "queue_full",
        `${this.#queue.length} downloads are already waiting (MAX_QUEUED_TASKS is ${this.#options.maxQueued})`,
        30,
      );
    }
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
      retryTimer: null,
      progressTimer: null,
      progressPending: false,
      lastProgressAt: -Infinity,
    };
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.#options.maxConcurrent) {
      const at = this.#queue.findIndex((e) =>
        (this.#runningPerSite.get(siteOf(e.task.url)) ?? 0) < this.#options.maxPerSite
      );
      if (at < 0) return;
      const [entry] = this.#queue.splice(at, 1);
      if (!this.#move(entry, "downloading", { started_at: this.#iso() })) continue;
      const site = siteOf(entry.task.url);
      this.#running++;
      this.#runningPerSite.set(site, (this.#runningPerSite.get(site) ?? 0) + 1);
      const controller = new AbortController();
      entry.controller = controller;
      entry.run = this.#execute(entry, controller.signal)
        .catch((error) => {
          // Nothing in a run may take the service down; the task ends with the reason instead.
          this.#options.log(`task ${entry.task.task_id}: run failed: ${error?.stack ?? error}`);
          this.#move(entry, "failed", {
            error: { code: "internal_error", message: clip(String(error), MAX_MESSAGE_LENGTH) },
          });
        })
        .finally(() => {
          this.#running--;
          const left = (this.#runningPerSite.get(site) ?? 1) - 1;
          if (left > 0) this.#runningPerSite.set(site, left);
          else this.#runningPerSite.delete(site);
          entry.controller = null;
          entry.run = null;
          this.#pump();
        });
    }
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
        });
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
            entry.retryTimer = setTimeout(() => this.#requeue(entry), delay);
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
        }
        return;
    }
  }

  /** After a retry's pause: back to the front of the queue, as the next attempt. */
  #requeue(entry: Entry): void {
    entry.retryTimer = null;
    if (this.#closed) return;
    const next = entry.task.attempt + 1;
    if (!this.#move(entry, "queued", { attempt: next, retry_at: null, started_at: null })) return;
    this.#queue.unshift(entry);
    this.#pump();
  }

  #clearRetryTimer(entry: Entry): void {
    if (entry.retryTimer !== null) clearTimeout(entry.retryTimer);
    entry.retryTimer = null;
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
    return true;
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
        this.#options.log(`task listener failed: ${error}`);
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
    this.#options.log(`task store write failed: ${this.#storageError}`);
  }

  async #removeDir(taskId: string): Promise<void> {
    try {
      await Deno.remove(this.taskDir(taskId), { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        // The sweep tries again; the task's state does not depend on it.
        this.#options.log(`task ${taskId}: could not remove its directory: ${error}`);
      }
    }
  }

  async #restore(): Promise<void> {
    const { layout, store, sources, log } = this.#options;
    const { tasks, rejected } = await store.list();
    for (const key of rejected) {
      log(`task ${key}: stored record is invalid; looking for its files instead`);
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
        this.#queue.push(entry);
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
      this.#options.log(`task ${task.task_id}: adopted from its directory`);
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

/** What counts as one site for the per-site cap: the host, without a leading `www.` or `m.`. */
export function siteOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase().replace(/^(www|m)\./, "");
  } catch {
    return url;
  }
}
