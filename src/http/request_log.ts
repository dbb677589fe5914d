import type { Context, MiddlewareHandler } from "hono";
import type { Logger } from "../log/logger.ts";
import { type Principal, principalOf } from "./auth_guard.ts";
import { routeLabel } from "./route_label.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The task a request created or acted on, for its log line. */
    taskId: string;
  }
}

/** Names the task a request is about, so that its log line carries the task id. */
export function tagTask(c: Context, taskId: string): void {
  c.set("taskId", taskId);
}

/**
 * One log line per request, after it is answered: request id (also sent back as X-Request-Id),
 * method, route, path without its query (which may carry a setup token or a shared link),
 * status, duration, and who asked. Registered after `requestId()`.
 */
export function requestLog(
  logger: Logger,
  now: () => number = performance.now.bind(performance),
): MiddlewareHandler {
  return async (c, next) => {
    const started = now();
    await next();
    const status = c.res.status;
    const fields = {
      request_id: c.get("requestId"),
      method: c.req.method,
      route: routeLabel(c),
      path: c.req.path,
      status,
      duration_ms: Math.round((now() - started) * 10) / 10,
      task_id: c.get("taskId"),
      credential: (principalOf(c) as Principal | undefined)?.credential?.kind ?? null,
    };
    if (status >= 500) logger.error("request", fields);
    else logger.info("request", fields);
  };
}
