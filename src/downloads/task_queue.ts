/** A task waiting for a slot, with what the per-site cap needs to know about it. */
export interface QueuedTask {
  taskId: string;
  /** What counts as one site for `MAX_CONCURRENT_PER_SITE` (see `siteOf`). */
  site: string;
}

/** How a queue reaches the manager: it never changes a task itself. */
export interface QueueHandlers {
  /**
   * Runs one task in a free slot; the slot stays taken until the promise settles. The manager
   * decides whether the task may still start (it may have been cancelled meanwhile).
   */
  run(taskId: string): Promise<void>;
  /**
   * A delayed entry (a retry's pause) is due and waits for a slot again; false keeps it out of
   * line. A queue that only learns this when a slot is free (BullMQ) leaves it to `run`.
   */
  due(taskId: string): boolean;
  /** The queue gave up on a task it had started (its worker stalled too often): it must end. */
  lost(taskId: string, reason: string): void;
}

/**
 * The line of tasks waiting to run and the slots they run in. The embedded queue keeps it in
 * memory; the Redis one keeps it in BullMQ, shared by every worker. The manager talks only to
 * this, so that the domain logic (statuses, retries, groups, records) exists once. Disposing it
 * stops handing out work at once and resolves once the runs under way have returned; `add` works
 * until then, so that a stopping worker can give its tasks back.
 */
export interface TaskQueue extends AsyncDisposable {
  /** Begins handing tasks to `handlers.run` as slots free up (a worker; API nodes never call it). */
  start(handlers: QueueHandlers): void;
  /** Puts a task in line: at the back, or at the front after a retry's pause of `delayMs`. */
  add(task: QueuedTask, options?: { front?: boolean; delayMs?: number }): Promise<void>;
  /** Takes a task out of line before it starts; false when a slot already has it (or none knew it). */
  withdraw(taskId: string): Promise<boolean>;
}
