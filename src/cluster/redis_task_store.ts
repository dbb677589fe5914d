import type { Redis } from "ioredis";
import type { TaskStore } from "../downloads/task_store.ts";
import type { Task } from "../model/task.ts";
import { storedTask, storedTaskSchema } from "../model/task_schema.ts";

/** Where a cluster keeps its records: one hash of records, one index by creation time. */
export const TASKS_KEY = "ytdl:tasks";
const CREATED_KEY = "ytdl:tasks:created";
const QUEUED_KEY = "ytdl:tasks:queued";

/** A new record, unless `max` tasks already wait: the cluster-wide MAX_QUEUED_TASKS. */
const INSERT = `if redis.call("scard", KEYS[3]) >= tonumber(ARGV[4]) then return 0 end
redis.call("hset", KEYS[1], ARGV[1], ARGV[2])
redis.call("zadd", KEYS[2], ARGV[3], ARGV[1])
redis.call("sadd", KEYS[3], ARGV[1])
return 1`;

/**
 * Task records in Redis, shared by every node of a cluster: the same validated records as the
 * embedded store, and an index by creation time so that listing does not depend on hash order.
 */
export class RedisTaskStore implements TaskStore {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async insert(task: Task, maxQueued: number): Promise<boolean> {
    const added = await this.#redis.eval(
      INSERT,
      3,
      TASKS_KEY,
      CREATED_KEY,
      QUEUED_KEY,
      task.task_id,
      JSON.stringify(storedTask(task)),
      Date.parse(task.created_at),
      maxQueued,
    );
    return added === 1;
  }

  async save(task: Task): Promise<void> {
    const write = this.#redis.multi()
      .hset(TASKS_KEY, task.task_id, JSON.stringify(storedTask(task)))
      .zadd(CREATED_KEY, Date.parse(task.created_at), task.task_id);
    if (task.status === "queued") write.sadd(QUEUED_KEY, task.task_id);
    else write.srem(QUEUED_KEY, task.task_id);
    await write.exec();
  }

  async get(taskId: string): Promise<Task | null> {
    return parseRecord(taskId, await this.#redis.hget(TASKS_KEY, taskId));
  }

  async delete(taskId: string): Promise<void> {
    await this.#redis.multi()
      .hdel(TASKS_KEY, taskId)
      .zrem(CREATED_KEY, taskId)
      .srem(QUEUED_KEY, taskId)
      .exec();
  }

  async list(): Promise<{ tasks: Task[]; rejected: string[] }> {
    const [ids, records] = await Promise.all([
      this.#redis.zrange(CREATED_KEY, 0, -1),
      this.#redis.hgetall(TASKS_KEY),
    ]);
    const tasks: Task[] = [];
    const rejected: string[] = [];
    const order = new Map(ids.map((id, at) => [id, at]));
    for (const [id, text] of Object.entries(records)) {
      const task = parseRecord(id, text);
      if (task === null) rejected.push(id);
      else tasks.push(task);
    }
    tasks.sort((a, b) =>
      (order.get(a.task_id) ?? Infinity) - (order.get(b.task_id) ?? Infinity) ||
      a.created_at.localeCompare(b.created_at)
    );
    return { tasks, rejected };
  }
}

/** A stored record, or null when it is missing or does not pass the schema under its own key. */
export function parseRecord(taskId: string, text: string | null): Task | null {
  if (text === null) return null;
  try {
    const parsed = storedTaskSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.task.task_id === taskId ? parsed.data.task : null;
  } catch {
    return null;
  }
}
