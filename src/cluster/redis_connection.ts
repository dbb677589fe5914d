import { Redis } from "ioredis";

/** Why the service could not reach Redis at start-up; main.ts turns it into exit code 2. */
export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
}

/**
 * A connection to `REDIS_URL` that retries for ever (commands wait through a Redis restart instead
 * of failing, as BullMQ requires), reports each outage once, and is ready before it is returned.
 */
export async function connectRedis(
  url: string,
  log: (message: string) => void,
  readyTimeoutMs = 10_000,
): Promise<Redis> {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: true,
  });
  let down = false;
  redis.on("error", (error: Error) => {
    if (down) return;
    down = true;
    log(`redis: ${error.message}; reconnecting`);
  });
  redis.on("ready", () => {
    if (down) log("redis: connected again");
    down = false;
  });
  const timer = Promise.withResolvers<never>();
  const id = setTimeout(
    () => timer.reject(new RedisUnavailableError(`no answer from Redis at ${redactedUrl(url)}`)),
    readyTimeoutMs,
  );
  try {
    await Promise.race([redis.connect(), timer.promise]);
  } catch (error) {
    redis.disconnect();
    if (error instanceof RedisUnavailableError) throw error;
    throw new RedisUnavailableError(
      `cannot connect to Redis at ${redactedUrl(url)}: ${(error as Error).message}`,
    );
  } finally {
    clearTimeout(id);
  }
  return redis;
}

/** REDIS_URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return "(REDIS_URL)";
  }
}
