import type { Context } from "hono";
import { matchedRoutes } from "hono/route";

/**
 * The route pattern a request matched (`/api/v1/download/:id`), for logs and metrics: bounded, so
 * that task ids and hostile paths never become label values. `unmatched` when no route took it.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c).filter((route) => route.method !== "ALL");
  return routes.at(-1)?.path ?? "unmatched";
}
