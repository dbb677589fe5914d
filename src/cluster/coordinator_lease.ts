import type { Redis } from "ioredis";
import type { TaskEvent } from "../downloads/manager.ts";
import type { WebhookFeed } from "../webhooks/webhook_dispatcher.ts";
import type { RedisEventStream } from "./event_stream.ts";

const LEASE_KEY = "ytdl:lease:coordinator";
/** The stream position up to which every event's deliveries are recorded. */
const POSITION_KEY = "ytdl:webhooks:position";
const RENEW = `if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0`;
const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0`;

/** The dispatcher as the lease drives it. */
export interface LeasedDispatcher {
  start(feed: WebhookFeed): void;
  stop(): void;
  settled(): Promise<void>;
}

/** What the coordinator lease needs. */
export interface CoordinatorLeaseOptions {
  redis: Redis;
  events: RedisEventStream;
  dispatcher: LeasedDispatcher;
  /** The manager, which keeps playlists' figures while this node coordinates. */
  groups: { coordinate(on: boolean): void };
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** How long the lease lasts unless renewed (renewed every third of it). */
  ttlMs?: number;
}

/**
 * One node of a cluster at a time coordinates: the holder of a lease in Redis. It sends the
 * webhooks, so that each event is delivered once, reading the event stream from where the previous
 * holder's deliveries were all recorded (nothing that ended while no node held the lease is missed;
 * replays are recognised by the dispatcher), and it keeps the playlists' figures. Runs until
 * `signal` aborts, then lets the lease go.
 */
export async function coordinate(
  options: CoordinatorLeaseOptions,
  signal: AbortSignal,
): Promise<void> {
  const { redis, events, dispatcher, groups, log } = options;
  const ttlMs = options.ttlMs ?? 30_000;
  const token = crypto.randomUUID();
  try {
    while (!signal.aborted) {
      if ((await redis.set(LEASE_KEY, token, "PX", ttlMs, "NX").catch(() => null)) !== "OK") {
        await pause(ttlMs / 3, signal);
        continue;
      }
      log("this node coordinates the cluster (webhooks, playlists)");
      const following = new AbortController();
      const listeners = new Set<(event: TaskEvent) => void>();
      let recorded: Promise<unknown> = Promise.resolve();
      const from = (await redis.get(POSITION_KEY)) ?? await events.position();
      groups.coordinate(true);
      dispatcher.start({
        subscribe(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      });
      const reading = events.follow(from, (event, _own, position) => {
        for (const listener of listeners) listener(event);
        recorded = recorded
          .then(() => dispatcher.settled())
          .then(() => redis.set(POSITION_KEY, position))
          .catch((error) => log("webhooks: could not note the stream position", { error }));
      }, following.signal);
      while (!signal.aborted) {
        await pause(ttlMs / 3, signal);
        if (signal.aborted) break;
        if (await redis.eval(RENEW, 1, LEASE_KEY, token, ttlMs).catch(() => 0) !== 1) {
          log("the coordinator lease was lost; another node coordinates now");
          break;
        }
      }
      following.abort();
      groups.coordinate(false);
      dispatcher.stop();
      await reading.catch(() => {});
      await recorded;
    }
  } finally {
    await redis.eval(RELEASE, 1, LEASE_KEY, token).catch(() => {});
  }
}

/** Waits `ms`, or less if `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
