import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CookieFormatError, type CookieStore } from "../downloads/cookie_store.ts";
import { type FormatLister, FormatListingError } from "../downloads/format_lister.ts";
import type { DownloadManager } from "../downloads/manager.ts";
import {
  CapacityError,
  RequestError,
  StorageError,
  TaskNotFoundError,
  TaskStateError,
} from "../model/errors.ts";
import type { AddressPolicy } from "../net/address_policy.ts";
import { HostNotFoundError, type Resolver, UrlRejectedError } from "../net/url_policy.ts";
import type { WsHub } from "../ws/hub.ts";
import { YtdlpManagementError } from "../ytdlp/managed.ts";
import type { YtdlpSource } from "../ytdlp/source.ts";
import { cookieRoutes } from "./cookie_routes.ts";
import { type YtdlpControl, ytdlpRoutes } from "./ytdlp_routes.ts";
import { wsRoutes } from "../ws/routes.ts";
import { downloadRoutes } from "./download_routes.ts";
import { type HealthDeps, healthRoutes } from "./health_routes.ts";
import { hostGuard, sameOriginWrites, tokenCors, wsOriginGuard } from "./request_guards.ts";
import type { AuthStore } from "../auth/auth_store.ts";
import { authGuard, type AuthMode, principalOf } from "./auth_guard.ts";
import { authRoutes } from "./auth_routes.ts";
import { rateLimit, type RateLimiter } from "./rate_limit.ts";
import { pageRoutes } from "./page_routes.ts";
import type { Logger } from "../log/logger.ts";
import type { ServiceMetrics } from "./metrics.ts";
import { requestLog } from "./request_log.ts";
import { API_OPERATIONS } from "./api_operations.ts";
import { apiDocsRoutes } from "./openapi.ts";

/** The version the OpenAPI document states; the paths say /api/v1. */
const API_VERSION = "1.0.0";
import { webhookRoutes } from "./webhook_routes.ts";
import type { WebhookDispatcher } from "../webhooks/webhook_dispatcher.ts";
import type { WebhookStore } from "../webhooks/webhook_store.ts";

/** Who may use the service from where, and what it may fetch. */
export interface SecurityOptions {
  policy: AddressPolicy;
  resolve: Resolver;
  /** Set when listening on loopback: then only loopback names and `allowedHosts` are served. */
  loopbackOnly: boolean;
  allowedHosts: readonly string[];
  /** Origins besides the service's own whose pages may open its WebSockets. */
  allowedOrigins: readonly string[];
}

/** Logins, tokens and their limits. */
export interface AuthOptions {
  mode: AuthMode;
  store: AuthStore;
  /** The one-time setup secret while no admin password exists, else null. */
  setupToken: () => string | null;
  setupDone: () => void;
}

/** Request limits per token, session or client address. */
export interface RateLimits {
  submit: RateLimiter;
  formats: RateLimiter;
  login: RateLimiter;
}

/** Everything the app serves from; built by main.ts or by a test. */
export interface AppDeps {
  logger: Logger;
  metrics: ServiceMetrics;
  webhooks: { store: WebhookStore; dispatcher: WebhookDispatcher };
  auth: AuthOptions;
  limits: RateLimits;
  manager: DownloadManager;
  hub: WsHub;
  security: SecurityOptions;
  ytdlp: YtdlpSource;
  /** Updates and rollbacks; null when `YTDLP_PATH` names an unmanaged yt-dlp. */
  ytdlpControl: YtdlpControl | null;
  cookies: CookieStore;
  formats: FormatLister;
  health: Omit<HealthDeps, "manager" | "ytdlp">;
  /** Directory of static/ (the web page and test_ws.html). */
  staticDir: string;
}

/** Builds the HTTP app; reads no globals, so tests drive it with `app.request()`. */
export function createApp(deps: AppDeps): Hono {
  const { security } = deps;
  const app = new Hono();

  app.use(requestId({ limitLength: 128 }));
  app.use(requestLog(deps.logger));
  app.use(deps.metrics.middleware());
  if (security.loopbackOnly) app.use(hostGuard(security.allowedHosts));
  app.use(secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      objectSrc: ["'none'"],
    },
    referrerPolicy: "no-referrer",
    xFrameOptions: "DENY",
    strictTransportSecurity: false,
  }));
  app.use(tokenCors());
  app.use(authGuard(deps.auth.mode, deps.auth.store));
  app.use("/ws/*", wsOriginGuard(security.allowedOrigins));
  app.use(sameOriginWrites(security.allowedOrigins));
  const byPrincipal = (c: Parameters<typeof principalOf>[0]) => principalOf(c).key;
  app.post("/api/v1/download", rateLimit(deps.limits.submit, byPrincipal));
  app.post("/api/v1/download/:id/retry", rateLimit(deps.limits.submit, byPrincipal));
  app.get("/api/v1/formats", rateLimit(deps.limits.formats, byPrincipal));

  app.route("/", authRoutes({ ...deps.auth, loginLimiter: deps.limits.login }));
  app.route("/", healthRoutes({ manager: deps.manager, ytdlp: deps.ytdlp, ...deps.health }));
  app.route(
    "/api/v1",
    downloadRoutes({ manager: deps.manager, formats: deps.formats, ...security }),
  );
  app.route("/api/v1", ytdlpRoutes(deps.ytdlp, deps.ytdlpControl));
  app.route("/api/v1", cookieRoutes(deps.cookies));
  app.route("/api/v1", webhookRoutes({ ...deps.webhooks, ...security }));
  app.route("/ws", wsRoutes(deps.hub));
  app.route("/", deps.metrics.routes());
  app.route("/", apiDocsRoutes(API_OPERATIONS, API_VERSION));
  app.route("/", pageRoutes(deps.staticDir));

  app.notFound((c) => errorJson(c.req.method, c.req.path));
  app.onError((error, c) => {
    const response = errorResponse(error);
    if (response.status === 500) {
      deps.logger.error("unhandled error", { request_id: c.get("requestId"), error });
    }
    return response;
  });
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
    const status = {
      shutting_down: 503,
      file_gone: 410,
      no_file: 409,
      task_active: 409,
      not_retryable: 409,
    };
    return body(status[error.code], error.code, error.message);
  }
  if (error instanceof CapacityError) {
    const response = body(
      error.code === "queue_full" ? 429 : 507,
      error.code,
      error.message,
    );
    response.headers.set("Retry-After", String(error.retryAfterSeconds));
    return response;
  }
  if (error instanceof StorageError) return body(503, "storage_unavailable", error.message);
  if (error instanceof UrlRejectedError) {
    return body(
      422,
      "url_not_allowed",
      `${error.message}. To fetch from your own network, list it in ALLOWED_PRIVATE_NETWORKS.`,
    );
  }
  if (error instanceof HostNotFoundError) return body(422, "host_not_found", error.message);
  if (error instanceof CookieFormatError) return body(422, "invalid_cookies", error.message);
  if (error instanceof FormatListingError) return body(422, error.code, error.message);
  if (error instanceof YtdlpManagementError) return body(409, error.code, error.message);
  if (error instanceof HTTPException) {
    return body(error.status as ContentfulStatusCode, "http_error", error.message);
  }
  return body(500, "internal_error", "internal server error");
}
