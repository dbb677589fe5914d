import type { Context, MiddlewareHandler } from "hono";

/** `limit` requests per `windowSeconds`, per key; `name` labels the policy in the headers. */
export interface RatePolicy {
  name: string;
  limit: number;
  windowSeconds: number;
}

/** Parses `30/60` (30 requests per 60 seconds). */
export function parseRatePolicy(name: string, text: string): RatePolicy {
  const match = text.match(/^(\d+)\/(\d+)$/);
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new Error(`'${text}' is not a rate such as 30/60 (requests per seconds)`);
  }
  return { name, limit: Number(match[1]), windowSeconds: Number(match[2]) };
}

/**
 * Counts requests per key in fixed windows. Answers what is left and when the window resets, which
 * is what the IETF `RateLimit` fields say.
 */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(readonly policy: RatePolicy, readonly now: () => number = Date.now) {}

  take(key: string): { allowed: boolean; remaining: number; resetSeconds: number } {
    const now = this.now();
    const length = this.policy.windowSeconds * 1000;
    if (this.#windows.size > 10_000) {
      for (const [k, w] of this.#windows) if (now - w.start >= length) this.#windows.delete(k);
    }
    let window = this.#windows.get(key);
    if (!window || now - window.start >= length) {
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    const allowed = window.count < this.policy.limit;
    if (allowed) window.count++;
    return {
      allowed,
      remaining: this.policy.limit - window.count,
      resetSeconds: Math.max(1, Math.ceil((window.start + length - now) / 1000)),
    };
  }
}

/**
 * Applies a limiter to the requests it wraps, keyed by `keyOf` (the token, the session or the
 * address). Every answer carries `RateLimit-Policy` and `RateLimit`; past the limit, 429 with
 * `Retry-After` and the usual JSON error.
 */
export function rateLimit(limiter: RateLimiter, keyOf: (c: Context) => string): MiddlewareHandler {
  const { name, limit, windowSeconds } = limiter.policy;
  return async (c, next) => {
    const { allowed, remaining, resetSeconds } = limiter.take(keyOf(c));
    const headers = {
      "RateLimit-Policy": `"${name}";q=${limit};w=${windowSeconds}`,
      "RateLimit": `"${name}";r=${remaining};t=${resetSeconds}`,
    };
    if (!allowed) {
      return c.json(
        {
          error: {
            code: "rate_limited",
            message:
              `at most ${limit} ${name} requests every ${windowSeconds} s; try again in ${resetSeconds} s`,
          },
        },
        429,
        { ...headers, "Retry-After": String(resetSeconds) },
      );
    }
    await next();
    for (const [header, value] of Object.entries(headers)) c.res.headers.set(header, value);
  };
}
