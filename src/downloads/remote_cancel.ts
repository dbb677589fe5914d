/**
 * How a cancel reaches a task that another node of a cluster is running (or is about to): the
 * request is remembered, so that a worker picking the task up later still sees it, and announced
 * to the workers at once; the worker that stopped it says so once its files are gone.
 */
export interface RemoteCancel {
  /**
   * Remembers and announces a cancel; resolves true once a worker acknowledged it, false if none
   * did within `timeoutMs` (the request stays for whichever worker takes the task up).
   */
  request(taskId: string, timeoutMs: number): Promise<boolean>;
  /** Tells the requester the task is stopped and its files are gone. */
  acknowledge(taskId: string): Promise<void>;
  /** Whether a cancel is waiting for this task; it is consumed. */
  takeRequest(taskId: string): Promise<boolean>;
  /** Drops a waiting cancel (the task ended, or is being retried). */
  forget(taskId: string): Promise<void>;
}
