import type { Redis } from "ioredis";
import type { RemoteCancel } from "../downloads/remote_cancel.ts";

const CANCEL_CHANNEL = "ytdl:control:cancel";
const DONE_CHANNEL = "ytdl:control:cancelled";
const REQUEST_TTL_SECONDS = 24 * 3600;

/**
 * Cancels across a cluster: a key per request (a worker that takes the task up later, after a
 * stall, still finds it), a pub/sub message that reaches the worker running it at once, and one
 * back when that worker has stopped it.
 */
export class RedisCancelChannel implements RemoteCancel, Disposable {
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #waiting = new Map<string, Set<() => void>>();
  #onCancel: ((taskId: string) => void) | null = null;

  private constructor(redis: Redis, subscriber: Redis) {
    this.#redis = redis;
    this.#subscriber = subscriber;
  }

  /** Subscribes to the control channels; a worker then calls `listen`. */
  static async open(redis: Redis): Promise<RedisCancelChannel> {
    const subscriber = redis.duplicate();
    subscriber.on("error", () => {});
    const channel = new RedisCancelChannel(redis, subscriber);
    subscriber.on("message", (name: string, message: string) => channel.#message(name, message));
    await subscriber.subscribe(CANCEL_CHANNEL, DONE_CHANNEL);
    return channel;
  }

  /** Calls `onCancel` for every cancel announced (a worker node). */
  listen(onCancel: (taskId: string) => void): void {
    this.#onCancel = onCancel;
  }

  async request(taskId: string, timeoutMs: number): Promise<boolean> {
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const waiters = this.#waiting.get(taskId) ?? new Set();
    this.#waiting.set(taskId, waiters);
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      if (waiters.size === 0) this.#waiting.delete(taskId);
      resolve(true);
    };
    const timer = setTimeout(() => {
      waiters.delete(done);
      if (waiters.size === 0) this.#waiting.delete(taskId);
      resolve(false);
    }, timeoutMs);
    waiters.add(done);
    await this.#redis.set(requestKey(taskId), "1", "EX", REQUEST_TTL_SECONDS);
    await this.#redis.publish(CANCEL_CHANNEL, taskId);
    return await promise;
  }

  async acknowledge(taskId: string): Promise<void> {
    await this.#redis.publish(DONE_CHANNEL, taskId);
  }

  async takeRequest(taskId: string): Promise<boolean> {
    return (await this.#redis.getdel(requestKey(taskId))) !== null;
  }

  async forget(taskId: string): Promise<void> {
    await this.#redis.del(requestKey(taskId));
  }

  [Symbol.dispose](): void {
    this.#subscriber.disconnect();
  }

  #message(channel: string, taskId: string): void {
    if (taskId.length > 100) return;
    if (channel === CANCEL_CHANNEL) this.#onCancel?.(taskId);
    if (channel === DONE_CHANNEL) { for (const done of this.#waiting.get(taskId) ?? []) done(); }
  }
}

function requestKey(taskId: string): string {
  return `ytdl:cancel:${taskId}`;
}
