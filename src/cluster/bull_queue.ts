import { DelayedError, type Job, Queue, QueueEvents, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { QueuedTask, QueueHandlers, TaskQueue } from "../downloads/task_queue.ts";

const QUEUE_NAME = "downloads";
const JOBS_KEY = "ytdl:jobs";
/** How long a worker's claim on a site slot lasts unless renewed (a dead worker's lapses). */
const SITE_SLOT_MS = 60_000;
/** How soon a task whose site is at its cap is offered again. */
const SITE_WAIT_MS = 500;

/** A site slot: expired holders are dropped, then one is taken if fewer than the cap hold one. */
const TAKE_SITE_SLOT = `redis.call("zremrangebyscore", KEYS[1], "-inf", ARGV[1])
if redis.call("zscore", KEYS[1], ARGV[4]) or redis.call("zcard", KEYS[1]) < tonumber(ARGV[3]) then
  redis.call("zadd", KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
  redis.call("pexpire", KEYS[1], ARGV[2])
  return 1
end
return 0`;
/** Forgets a task's job only if it is still this one (a retry may have queued a newer one). */
const FORGET_JOB = `if redis.call("hget", KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call("hdel", KEYS[1], ARGV[1])
end
return 0`;

/** What the Redis queue needs. */
export interface BullQueueOptions {
  redis: Redis;
  /** Runs at once on this worker (`MAX_CONCURRENT_DOWNLOADS`). */
  concurrency: number;
  /** Runs of one site at once across the cluster (`MAX_CONCURRENT_PER_SITE`). */
  maxPerSite: number;
  /** How long a job's lock lasts without renewal: a worker silent for longer counts as dead. */
  lockMs: number;
  log: (message: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

/**
 * The cluster's queue on BullMQ: one job per turn of a task, taken by whichever worker has a free
 * slot. A worker that dies loses its jobs' locks; BullMQ finds them stalled and another worker
 * takes them up. The per-site cap is a sorted set of claims in Redis, so it holds cluster-wide.
 */
export class BullQueue implements TaskQueue {
  readonly #options: BullQueueOptions;
  readonly #queue: Queue;
  readonly #now: () => number;
  /**
   * Tasks whose job this worker is running, and when to run it again if the run asked for that
   * (a retry's pause, or a worker stopping): the job itself is then moved back, in one step in
   * Redis, so that no moment exists in which the task has no job.
   */
  readonly #active = new Map<string, { delayMs: number } | null>();
  #worker: Worker | null = null;
  #events: QueueEvents | null = null;
  #eventsConnection: Redis | null = null;

  constructor(options: BullQueueOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#queue = new Queue(QUEUE_NAME, { connection: options.redis });
    this.#queue.on("error", (error) => options.log("queue: redis error", { error: error.message }));
  }

  start(handlers: QueueHandlers): void {
    const { redis, concurrency, lockMs, log } = this.#options;
    this.#worker = new Worker<QueuedTask>(
      QUEUE_NAME,
      (job, token) => this.#process(job, token, handlers),
      {
        connection: redis,
        concurrency,
        lockDuration: lockMs,
        stalledInterval: Math.max(500, Math.floor(lockMs / 2)),
        // A job stalled a third time fails: the download may be what keeps taking workers down.
        maxStalledCount: 2,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 1000 },
      },
    );
    this.#worker.on("error", (error) => log("worker: redis error", { error: error.message }));
    // A job that stalled too often is failed by whichever worker's check finds it, in a Redis
    // script: only the queue's event stream tells. One worker (the first to claim it) ends the task.
    this.#eventsConnection = redis.duplicate();
    this.#events = new QueueEvents(QUEUE_NAME, { connection: this.#eventsConnection });
    this.#events.on("error", (error) => log("queue events: redis error", { error: error.message }));
    this.#events.on("failed", ({ jobId, failedReason }) => {
      this.#claimLost(jobId).then((claimed) => {
        if (claimed) handlers.lost(jobId.slice(0, jobId.lastIndexOf(".")), failedReason);
      }).catch((error) => log("could not claim a failed job", { job_id: jobId, error }));
    });
  }

  async #claimLost(jobId: string): Promise<boolean> {
    const claimed = await this.#options.redis.set(`ytdl:lost:${jobId}`, "1", "EX", 86400, "NX");
    return claimed === "OK";
  }

  async add(task: QueuedTask, options: { front?: boolean; delayMs?: number } = {}): Promise<void> {
    if (this.#active.has(task.taskId)) {
      this.#active.set(task.taskId, { delayMs: Math.max(0, options.delayMs ?? 0) });
      return;
    }
    const jobId = `${task.taskId}.${crypto.randomUUID().slice(0, 8)}`;
    await this.#options.redis.hset(JOBS_KEY, task.taskId, jobId);
    await this.#queue.add("download", task, {
      jobId,
      lifo: options.front ?? false,
      delay: options.delayMs && options.delayMs > 0 ? options.delayMs : undefined,
      removeOnComplete: true,
      removeOnFail: 1000,
    });
  }

  async withdraw(taskId: string): Promise<boolean> {
    const jobId = await this.#options.redis.hget(JOBS_KEY, taskId);
    if (jobId === null) return false;
    // 0 when a worker holds the job's lock: it is running, and only its worker can stop it.
    if ((await this.#queue.remove(jobId)) !== 1) return false;
    await this.#options.redis.eval(FORGET_JOB, 1, JOBS_KEY, taskId, jobId);
    return true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#worker?.close();
    await this.#events?.close();
    this.#eventsConnection?.disconnect();
    await this.#queue.close();
  }

  async #process(job: Job<QueuedTask>, token: string | undefined, handlers: QueueHandlers) {
    const { redis, maxPerSite } = this.#options;
    const { taskId, site } = job.data;
    const siteKey = `ytdl:site:${site.slice(0, 253)}`;
    const limited = Number.isFinite(maxPerSite);
    let renew: ReturnType<typeof setInterval> | null = null;
    if (limited) {
      const taken = await redis.eval(
        TAKE_SITE_SLOT,
        1,
        siteKey,
        this.#now(),
        SITE_SLOT_MS,
        maxPerSite,
        taskId,
      );
      if (taken !== 1) {
        await job.moveToDelayed(this.#now() + SITE_WAIT_MS, token);
        throw new DelayedError();
      }
      renew = setInterval(() => {
        redis.eval(TAKE_SITE_SLOT, 1, siteKey, this.#now(), SITE_SLOT_MS, maxPerSite, taskId)
          .catch(() => {});
      }, SITE_SLOT_MS / 3);
    }
    this.#active.set(taskId, null);
    let again: { delayMs: number } | null = null;
    try {
      await handlers.run(taskId);
    } finally {
      again = this.#active.get(taskId) ?? null;
      this.#active.delete(taskId);
      if (renew !== null) clearInterval(renew);
      if (limited) await redis.zrem(siteKey, taskId).catch(() => {});
      if (again === null) {
        await redis.eval(FORGET_JOB, 1, JOBS_KEY, taskId, job.id ?? "").catch(() => {});
      }
    }
    if (again !== null) {
      await job.moveToDelayed(this.#now() + again.delayMs, token);
      throw new DelayedError();
    }
  }
}
