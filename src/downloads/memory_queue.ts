import type { QueuedTask, QueueHandlers, TaskQueue } from "./task_queue.ts";

/** Limits of the embedded queue. */
export interface MemoryQueueOptions {
  /** Runs at once (`MAX_CONCURRENT_DOWNLOADS`). */
  maxConcurrent: number;
  /** Runs of one site at once (`MAX_CONCURRENT_PER_SITE`); the rest wait, others' go ahead. */
  maxPerSite?: number;
}

/**
 * The embedded queue: one process, in memory. The line is not stored: the manager queues its
 * `queued` records again on the next start. A task starts synchronously inside `add` when a slot is
 * free, so a submission's `downloading` follows its `queued` without a gap.
 */
export class MemoryQueue implements TaskQueue {
  readonly #maxConcurrent: number;
  readonly #maxPerSite: number;
  readonly #line: QueuedTask[] = [];
  readonly #delayed = new Map<string, { task: QueuedTask; timer: ReturnType<typeof setTimeout> }>();
  readonly #runningPerSite = new Map<string, number>();
  #running = 0;
  #handlers: QueueHandlers | null = null;
  #closed = false;

  constructor(options: MemoryQueueOptions) {
    this.#maxConcurrent = options.maxConcurrent;
    this.#maxPerSite = options.maxPerSite ?? Infinity;
  }

  start(handlers: QueueHandlers): void {
    this.#handlers = handlers;
    this.#pump();
  }

  add(task: QueuedTask, options: { front?: boolean; delayMs?: number } = {}): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#forget(task.taskId);
    if (options.delayMs !== undefined && options.delayMs > 0) {
      const timer = setTimeout(() => {
        this.#delayed.delete(task.taskId);
        if (this.#closed || this.#handlers?.due(task.taskId) === false) return;
        this.#enqueue(task, options.front ?? false);
      }, options.delayMs);
      this.#delayed.set(task.taskId, { task, timer });
      return Promise.resolve();
    }
    this.#enqueue(task, options.front ?? false);
    return Promise.resolve();
  }

  withdraw(taskId: string): Promise<boolean> {
    return Promise.resolve(this.#forget(taskId));
  }

  /** Stops starting tasks and drops pending pauses; runs already going are the manager's to stop. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    return Promise.resolve();
  }

  #enqueue(task: QueuedTask, front: boolean): void {
    if (front) this.#line.unshift(task);
    else this.#line.push(task);
    this.#pump();
  }

  #forget(taskId: string): boolean {
    const delayed = this.#delayed.get(taskId);
    if (delayed) {
      clearTimeout(delayed.timer);
      this.#delayed.delete(taskId);
      return true;
    }
    const at = this.#line.findIndex((t) => t.taskId === taskId);
    if (at < 0) return false;
    this.#line.splice(at, 1);
    return true;
  }

  #pump(): void {
    const handlers = this.#handlers;
    if (handlers === null) return;
    while (!this.#closed && this.#running < this.#maxConcurrent) {
      const at = this.#line.findIndex((t) =>
        (this.#runningPerSite.get(t.site) ?? 0) < this.#maxPerSite
      );
      if (at < 0) return;
      const [{ taskId, site }] = this.#line.splice(at, 1);
      this.#running++;
      this.#runningPerSite.set(site, (this.#runningPerSite.get(site) ?? 0) + 1);
      handlers.run(taskId).catch(() => {}).finally(() => {
        this.#running--;
        const left = (this.#runningPerSite.get(site) ?? 1) - 1;
        if (left > 0) this.#runningPerSite.set(site, left);
        else this.#runningPerSite.delete(site);
        this.#pump();
      });
    }
  }
}
