import { basename, dirname, join, resolve } from "node:path";
import { TaskNotFoundError, TaskStateError } from "../model/errors.ts";
import type { Egress } from "../net/egress_proxy.ts";
import { redactUrl, scrub, urlSecrets } from "../net/redact.ts";
import { failureReason } from "../ytdlp/failure_reason.ts";
import { ProgressTracker } from "../ytdlp/progress_tracker.ts";
import {
  type DownloadRequest,
  isTerminal,
  type Task,
  type TaskError,
  type TaskStatus,
} from "../model/task.ts";
import type { TaskStore } from "./task_store.ts";
import { SourceUrls } from "./source_urls.ts";
import { buildYtdlpArgs, type YtdlpFeatures } from "../ytdlp/args.ts";
import { stopOrphanedRun } from "./orphans.ts";
import { TaskLayout } from "./task_layout.ts";
import { parseYtdlpLine } from "../ytdlp/output.ts";
import { runYtdlp } from "../ytdlp/process.ts";

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
  /** Absolute or relative; task directories live in `<dataDir>/tasks/<task_id>`. */
  dataDir: string;
  ytdlpPath: string;
  /** What the installed yt-dlp supports, probed once by the caller. */
  ytdlpFeatures: YtdlpFeatures;
  maxConcurrent: number;
  retentionSeconds: number;
  store: TaskStore;
  /** The proxy every connection of yt-dlp and its ffmpeg goes through. */
  egress: Egress;
  /** The environment yt-dlp runs with (no proxy variables: the egress proxy is the only way out). */
  env: Record<string, string>;
  /** Whether flock(1) is there to mark each run's lifetime (see orphans.ts). */
  runLocks: boolean;
  /** Milliseconds since the epoch; injected where time matters. */
  now?: () => number;
  /** Minimum spacing of progress events per task (at most 1000/this per second). */
  progressIntervalMs?: number;
  /** How long a stopped yt-dlp gets before its process group is killed. */
  killGraceMs?: number;
}

interface Entry {
  task: Task;
  /** The URL as submitted, credentials included; `task.url` is the redacted one people see. */
  sourceUrl: string;
  /** Whether `sourceUrl` has been written to the source store. */
  sourceKept: boolean;
  controller: AbortController | null;
  run: Promise<void> | null;
  requeueOnStop: boolean;
  progressTimer: ReturnType<typeof setTimeout> | null;
  progressPending: boolean;
  lastProgressAt: number;
}

/**
 * Owns every task: the queue with its concurrency limit, the yt-dlp runs, and the events the
 * WebSocket hub broadcasts. The single writer of task state, so the API and the sockets can never
 * disagree about a status.
 */
export class DownloadManager implements AsyncDisposable {
  readonly #options: Required<Omit<DownloadManagerOptions, "store" | "now" | "egress">>;
  readonly #egress: Egress;
  readonly #store: TaskStore;
  readonly #sources: SourceUrls;
  readonly #layout: TaskLayout;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Entry[] = [];
  readonly #listeners = new Set<TaskListener>();
  #running = 0;
  #closed = false;
  #writes: Promise<void> = Promise.resolve();

  private constructor(options: DownloadManagerOptions) {
    this.#options = {
      dataDir: resolve(options.dataDir),
      ytdlpPath: options.ytdlpPath,
      ytdlpFeatures: options.ytdlpFeatures,
      maxConcurrent: options.maxConcurrent,
      retentionSeconds: options.retentionSeconds,
      progressIntervalMs: options.progressIntervalMs ?? 50,
      killGraceMs: options.killGraceMs ?? 500,
      env: options.env,
      runLocks: options.runLocks,
    };
    this.#layout = new TaskLayout(join(this.#options.dataDir, "tasks"));
    this.#egress = options.egress;
    this.#store = options.store;
    this.#sources = new SourceUrls(join(this.#options.dataDir, "secrets"));
    this.#now = options.now ?? Date.now;
  }

  /**
   * Loads the stored tasks and resumes the queue. Tasks that were running when the process died
   * end as `failed`/`interrupted` with their partial files removed; queued ones run again.
   */
  static async open(options: DownloadManagerOptions): Promise<DownloadManager> {
    const manager = new DownloadManager(options);
    await Deno.mkdir(manager.tasksDir, { recursive: true });
    await manager.#sources.init();
    await manager.#restore();
    manager.#pump();
    return manager;
  }

  /** The directory holding one subdirectory per task. */
  get tasksDir(): string {
    return this.#layout.tasksDir;
  }

  /** The directory yt-dlp writes into for this task, and nothing else does. */
  taskDir(taskId: string): string {
    return this.#layout.dir(taskId);
  }

  /** Registers a listener; call the returned function to stop listening. */
  subscribe(listener: TaskListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Queues a download and returns its record; it starts as soon as a slot is free. */
  submit(request: DownloadRequest): Task {
    if (this.#closed) throw new TaskStateError("shutting_down", "the service is shutting down");
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
    };
    const entry = this.#newEntry(task, request.url);
    this.#entries.set(task.task_id, entry);
    this.#queue.push(entry);
    this.#persist(entry);
    this.#emit({ type: "status", task: snapshot(task) });
    this.#pump();
    return snapshot(entry.task);
  }

  /** One task's current record. */
  get(taskId: string): Task {
    return snapshot(this.#entry(taskId).task);
  }

  /** Every known task, newest first. */
  list(): Task[] {
    // Entries are kept in creation order (restored ones too), so reversing is newest first even
    // for tasks created in the same millisecond.
    return [...this.#entries.values()].reverse().map((entry) => snapshot(entry.task));
  }

  /** Where a completed task's file is, with the record describing it. */
  file(taskId: string): { task: Task; path: string } {
    const { task } = this.#entry(taskId);
    if (task.status !== "completed" || task.filename === null) {
      throw new TaskStateError("no_file", `task '${taskId}' has no file (status: ${task.status})`);
    }
    return { task: snapshot(task), path: join(this.taskDir(taskId), task.filename) };
  }

  /**
   * Cancels a queued or running task (it stays listed as `cancelled`) or removes a finished one
   * with its file (it is gone afterwards). Resolves once the process group has exited and the
   * task's files are deleted; returns the cancelled record, or null when the task was removed.
   */
  async cancel(taskId: string): Promise<Task | null> {
    const entry = this.#entry(taskId);
    const { task } = entry;
    if (isTerminal(task.status)) {
      await this.remove(taskId);
      return null;
    }
    const queuedAt = this.#queue.indexOf(entry);
    if (queuedAt >= 0) this.#queue.splice(queuedAt, 1);
    this.#finish(entry, "cancelled", { error: null });
    entry.controller?.abort();
    await entry.run;
    await this.#removeDir(taskId);
    return snapshot(entry.task);
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
    this.#writes = this.#writes
      .then(() => Promise.all([this.#store.delete(taskId), this.#sources.delete(taskId)]))
      .then(() => {}, logWriteError);
    await this.#removeDir(taskId);
    await this.#writes;
    this.#emit({ type: "removed", taskId });
  }

  /** Ids of finished tasks whose retention ended at or before `now`. */
  expiredTaskIds(now: number): string[] {
    return [...this.#entries.values()]
      .filter((e) => e.task.expires_at !== null && Date.parse(e.task.expires_at) <= now)
      .map((e) => e.task.task_id);
  }

  /** Whether a task is known, and whether yt-dlp may be writing into its directory. */
  state(taskId: string): "unknown" | "active" | "completed" | "inactive" {
    const entry = this.#entries.get(taskId);
    if (!entry) return "unknown";
    if (entry.run !== null) return "active";
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
      if (entry.run === null) continue;
      entry.requeueOnStop = true;
      entry.controller?.abort();
      runs.push(entry.run);
    }
    await Promise.all(runs);
    await this.#writes;
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
      sourceKept: false,
      controller: null,
      run: null,
      requeueOnStop: false,
      progressTimer: null,
      progressPending: false,
      lastProgressAt: -Infinity,
    };
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.#options.maxConcurrent && this.#queue.length) {
      const entry = this.#queue.shift()!;
      this.#running++;
      entry.controller = new AbortController();
      entry.run = this.#run(entry).finally(() => {
        this.#running--;
        entry.controller = null;
        entry.run = null;
        this.#pump();
      });
    }
  }

  async #run(entry: Entry): Promise<void> {
    const { task } = entry;
    const dir = this.taskDir(task.task_id);
    const signal = entry.controller!.signal;
    const tracker = new ProgressTracker(task.format === "audio");
    let filePath: string | null = null;
    let errorLine: string | null = null;
    let runRecord: Promise<void> = Promise.resolve();
    let refused: TaskError | null = null;
    let unreachable: string | null = null;
    using egress = this.#egress.open({
      onRefused: (_host, message) => {
        refused ??= { code: "url_not_allowed", message };
        entry.controller?.abort();
      },
      onUnreachable: (host) => {
        unreachable ??= host;
      },
    });
    const secrets = [...urlSecrets(entry.sourceUrl), egress.secret];
    this.#setStatus(entry, "downloading", { started_at: this.#iso() });
    try {
      await Deno.mkdir(dir, { recursive: true });
      const exit = await runYtdlp({
        executable: this.#options.ytdlpPath,
        args: buildYtdlpArgs(
          { ...task, url: entry.sourceUrl },
          { home: dir, temp: this.#layout.temp(task.task_id) },
          this.#options.ytdlpFeatures,
          egress.proxyUrl,
        ),
        cwd: dir,
        env: this.#options.env,
        lockPath: this.#options.runLocks ? this.#layout.runLock(task.task_id) : null,
        onSpawn: (pgid) => {
          runRecord = Deno.writeTextFile(
            this.#layout.runRecord(task.task_id),
            JSON.stringify({ pgid, started_at: this.#iso() }),
          );
        },
        signal,
        graceMs: this.#options.killGraceMs,
        onLine: (line) => {
          if (isTerminal(entry.task.status)) return;
          for (const record of parseYtdlpLine(line)) {
            switch (record.kind) {
              case "info":
                if (record.title !== null && task.title === null) {
                  task.title = record.title;
                  this.#setStatus(entry, task.status, {});
                }
                tracker.plan(record.streams);
                break;
              case "progress":
                task.progress = tracker.update(record);
                this.#progressChanged(entry);
                break;
              case "postprocess":
                if (
                  record.status === "started" && record.postprocessor !== "MoveFiles" &&
                  task.status === "downloading"
                ) this.#setStatus(entry, "processing", {});
                break;
              case "file":
                filePath = record.path;
                break;
              case "error":
                errorLine = scrub(record.message, secrets);
                break;
            }
          }
        },
        // The process has exited: its lifetime markers go before anyone hears the outcome.
      }).finally(() => this.#clearRunMarks(task.task_id, runRecord));
      if (refused !== null && !isTerminal(entry.task.status)) {
        return await this.#fail(entry, refused);
      }
      if (signal.aborted || isTerminal(entry.task.status)) return;
      if (exit.code === 0 && filePath !== null && resolve(dirname(filePath)) === dir) {
        const stat = await Deno.stat(filePath);
        entry.task.progress = tracker.complete(stat.size);
        this.#progressChanged(entry);
        this.#finish(entry, "completed", { filename: basename(filePath), filesize: stat.size });
        this.#emit({ type: "complete", task: snapshot(entry.task) });
        await Deno.remove(this.#layout.temp(task.task_id), { recursive: true }).catch(() => {});
        return;
      }
      const reason = exit.code === 0
        ? { code: "no_file", message: "yt-dlp finished but reported no file" }
        : unreachable !== null
        ? { code: "unreachable", message: `could not reach '${unreachable}'` }
        : failureReason(errorLine, exit.code);
      await this.#fail(entry, reason);
    } catch (error) {
      if (refused !== null && !isTerminal(entry.task.status)) {
        return await this.#fail(entry, refused);
      }
      if (signal.aborted || isTerminal(entry.task.status)) return;
      const reason = error instanceof Deno.errors.NotFound
        ? { code: "ytdlp_missing", message: `yt-dlp not found at '${this.#options.ytdlpPath}'` }
        : { code: "internal_error", message: String((error as Error)?.message ?? error) };
      await this.#fail(entry, reason);
    } finally {
      if (entry.requeueOnStop && !isTerminal(entry.task.status)) {
        await this.#removeDir(task.task_id);
        this.#clearProgressTimer(entry);
        Object.assign(entry.task, { status: "queued", progress: null, started_at: null });
        this.#persist(entry);
      }
    }
  }

  async #clearRunMarks(taskId: string, written: Promise<void>): Promise<void> {
    await written.catch(() => {});
    for (const path of [this.#layout.runRecord(taskId), this.#layout.runLock(taskId)]) {
      await Deno.remove(path).catch(() => {});
    }
  }

  async #fail(entry: Entry, error: TaskError): Promise<void> {
    await this.#removeDir(entry.task.task_id);
    this.#finish(entry, "failed", { error });
    this.#emit({ type: "error", task: snapshot(entry.task) });
  }

  #finish(entry: Entry, status: TaskStatus, patch: Partial<Task>): void {
    const finishedAt = this.#now();
    this.#setStatus(entry, status, {
      ...patch,
      finished_at: new Date(finishedAt).toISOString(),
      expires_at: new Date(finishedAt + this.#options.retentionSeconds * 1000).toISOString(),
    });
  }

  #setStatus(entry: Entry, status: TaskStatus, patch: Partial<Task>): void {
    this.#flushProgress(entry);
    Object.assign(entry.task, patch, { status });
    this.#persist(entry);
    this.#emit({ type: "status", task: snapshot(entry.task) });
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
    this.#emit({ type: "progress", task: snapshot(entry.task) });
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
        console.error("task listener failed:", error);
      }
    }
  }

  #persist(entry: Entry): void {
    const task = snapshot(entry.task);
    const secret = entry.sourceUrl !== task.url;
    this.#writes = this.#writes
      .then(async () => {
        if (!this.#entries.has(task.task_id)) return;
        if (secret && !isTerminal(task.status) && !entry.sourceKept) {
          await this.#sources.put(task.task_id, entry.sourceUrl);
          entry.sourceKept = true;
        } else if (secret && isTerminal(task.status)) {
          await this.#sources.delete(task.task_id);
        }
        await this.#store.save(task);
      })
      .catch(logWriteError);
  }

  async #removeDir(taskId: string): Promise<void> {
    try {
      await Deno.remove(this.taskDir(taskId), { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  async #restore(): Promise<void> {
    const tasks = (await this.#store.list()).sort((a, b) =>
      a.created_at.localeCompare(b.created_at)
    );
    for (const task of tasks) {
      const entry = this.#newEntry(task, (await this.#sources.get(task.task_id)) ?? task.url);
      this.#entries.set(task.task_id, entry);
      if (task.status === "queued") {
        task.progress = null;
        this.#queue.push(entry);
      } else if (task.status === "downloading" || task.status === "processing") {
        try {
          const outcome = await stopOrphanedRun(this.#layout, task.task_id);
          if (outcome !== "none") console.warn(`task ${task.task_id}: leftover run ${outcome}`);
        } catch (error) {
          console.error(`task ${task.task_id}: could not stop its leftover run:`, error);
        }
        await this.#removeDir(task.task_id);
        task.progress = null;
        this.#finish(entry, "failed", {
          error: {
            code: "interrupted",
            message: "the service stopped unexpectedly while this download was running",
          },
        });
      } else if (
        task.status === "completed" &&
        !(task.filename && await exists(join(this.taskDir(task.task_id), task.filename)))
      ) {
        this.#entries.delete(task.task_id);
        await this.#store.delete(task.task_id);
        await this.#removeDir(task.task_id);
      }
    }
    await this.#writes;
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }
}

function snapshot(task: Task): Task {
  return {
    ...task,
    progress: task.progress && { ...task.progress },
    error: task.error && { ...task.error },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function logWriteError(error: unknown): void {
  console.error("task store write failed:", error);
}
