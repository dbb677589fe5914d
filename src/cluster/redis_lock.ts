import type { Redis } from "ioredis";

const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0`;

/**
 * Runs `work` only if no other node holds the lock named `name` (SET NX with an expiry, so a node
 * that dies cannot hold it for ever); returns false when another node had it.
 */
export async function withRedisLock(
  redis: Redis,
  name: string,
  ttlMs: number,
  work: () => Promise<void>,
): Promise<boolean> {
  const key = `ytdl:lock:${name}`;
  const token = crypto.randomUUID();
  if ((await redis.set(key, token, "PX", ttlMs, "NX")) !== "OK") return false;
  try {
    await work();
  } finally {
    await redis.eval(RELEASE, 1, key, token);
  }
  return true;
}
