import { Hono } from "hono";
import { serveStatic } from "hono/deno";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { downloadRoutes } from "./download_routes.ts";
import type { DownloadManager } from "../downloads/manager.ts";
import { RequestError, TaskNotFoundError, TaskStateError } from "../model/errors.ts";
import { type Resolver, UrlRejectedError } from "../net/url_policy.ts";
import type { WsHub } from "../ws/hub.ts";
import { wsRoutes } from "../ws/routes.ts";

/** Result of asking yt-dlp for its version; null version means it is unusable. */
export interface YtdlpHealth {
  version: string | null;
  reason?: string;
}

/** Everything the app serves from; built by main.ts or by a test. */
export interface AppDeps {
  manager: DownloadManager;
  hub: WsHub;
  allowPrivateUrls: boolean;
  resolve: Resolver;
  ytdlpHealth: () => Promise<YtdlpHealth>;
  /** Directory of static/ (the web page and test_ws.html). */
  staticDir: string;
}

/** Builds the HTTP app; reads no globals, so tests drive it with `app.request()`. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get("/healthz", async (c) => {
    const health = await deps.ytdlpHealth();
    if (health.version === null) {
      return c.json({ status: "unavailable", ytdlp: null, reason: health.reason }, 503);
    }
    return c.json({ status: "ok", ytdlp: health.version });
  });

  app.route("/api/v1", downloadRoutes(deps));
  app.route("/ws", wsRoutes(deps.hub));
  app.get(
    "/static/*",
    serveStatic({ root: deps.staticDir, rewriteRequestPath: (p) => p.slice(7) }),
  );
  app.get("/", serveStatic({ root: deps.staticDir, rewriteRequestPath: () => "/index.html" }));

  app.notFound((c) => errorJson(c.req.method, c.req.path));
  app.onError((error) => errorResponse(error));
  return app;
}

function errorJson(method: string, path: string): Response {
  return Response.json(
    { error: { code: "not_found", message: `no route for ${method} ${path}` } },
    { status: 404 },
  );
}

/** The one place where errors become HTTP statuses. */
function errorResponse(error: Error): Response {
  const body = (status: number, code: string, message: string) =>
    Response.json({ error: { code, message } }, { status });
  if (error instanceof RequestError) return body(error.status, error.code, error.message);
  if (error instanceof TaskNotFoundError) return body(404, "not_found", error.message);
  if (error instanceof TaskStateError) {
    return body(error.code === "shutting_down" ? 503 : 409, error.code, error.message);
  }
  if (error instanceof UrlRejectedError) return body(422, "url_not_allowed", error.message);
  if (error instanceof HTTPException) {
    return body(error.status as ContentfulStatusCode, "http_error", error.message);
  }
  console.error("unhandled error:", error);
  return body(500, "internal_error", "internal server error");
}
