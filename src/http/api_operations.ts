import { z } from "zod";
import {
  apiTaskSchema,
  cookieSummarySchema,
  createdTokenSchema,
  createdWebhookSchema,
  deliveryViewSchema,
  errorSchema,
  formatListingSchema,
  healthSchema,
  sessionSchema,
  taskPageSchema,
  tokenViewSchema,
  webhookViewSchema,
  ytdlpChangeSchema,
  ytdlpInfoSchema,
} from "./api_schemas.ts";
import { loginSchema, setupSchema, tokenRequestSchema } from "./auth_routes.ts";
import { downloadRequestSchema } from "./download_request.ts";
import { fileQuery, formatsQuery, listQuery } from "./download_routes.ts";
import { webhookRequestSchema } from "./webhook_routes.ts";

/** One documented answer: a JSON body (with its schema), another media type, or none. */
export interface ApiResponse {
  description: string;
  /** JSON body schema; with `mediaType` unset the body is `application/json`. */
  schema?: z.ZodType;
  /** A non-JSON body (`text/html`, `application/zip`, …); `*\/*` for any file type. */
  mediaType?: string;
  headers?: Record<string, string>;
}

/** One route as the OpenAPI document describes it; `path` is written the Hono way (`:id`). */
export interface ApiOperation {
  method: "get" | "post" | "put" | "delete";
  path: string;
  operationId: string;
  tag:
    | "downloads"
    | "files"
    | "yt-dlp"
    | "cookies"
    | "auth"
    | "tokens"
    | "webhooks"
    | "service"
    | "pages"
    | "websockets";
  summary: string;
  description?: string;
  query?: z.ZodObject;
  /** A JSON body read with `jsonBody()`: 400, 413, 415 and 422 come with it. */
  jsonBody?: z.ZodType;
  /** Any other body. */
  rawBody?: { mediaType: string; description: string };
  /** Behind a rate limit: 429 and the RateLimit headers. */
  rateLimited?: boolean;
  responses: Record<number, ApiResponse>;
}

const json = (description: string, schema: z.ZodType): ApiResponse => ({ description, schema });
const error = (description: string): ApiResponse => ({ description, schema: errorSchema });
const none = (description: string): ApiResponse => ({ description });
const html = (description: string): ApiResponse => ({ description, mediaType: "text/html" });
const redirect = (description: string): ApiResponse => ({
  description,
  headers: { Location: "Where to go." },
});
const taskNotFound = error("`not_found`: no task with that id.");

/**
 * Every route the service serves, with its parameters, bodies and answers. `openapi.ts` turns it
 * into the OpenAPI document; a test checks that it lists exactly the app's routes, and the
 * end-to-end suite checks every answer it sees against the document.
 */
export const API_OPERATIONS: ApiOperation[] = [
  {
    method: "post",
    path: "/api/v1/download",
    operationId: "submitDownload",
    tag: "downloads",
    summary: "Start a download (a video, or a playlist as a group of entries)",
    description:
      "The URL is checked against the URL policy here (a fast 422) and again on every connection " +
      "yt-dlp makes. Credentials in the URL are kept out of every answer, socket and log.",
    jsonBody: downloadRequestSchema,
    rateLimited: true,
    responses: {
      202: {
        ...json("Accepted and queued.", apiTaskSchema),
        headers: { Location: "The task's URL." },
      },
      422: error(
        "`validation_failed`, `url_not_allowed` (private or reserved address), `host_not_found`.",
      ),
      429: error("`queue_full` (with Retry-After) or `rate_limited`."),
      503: error("`storage_unavailable` or `shutting_down`."),
      507: error("`insufficient_storage`: less free disk than MIN_FREE_DISK_MB."),
    },
  },
  {
    method: "get",
    path: "/api/v1/downloads",
    operationId: "listDownloads",
    tag: "downloads",
    summary: "List tasks, newest first, a page at a time",
    query: listQuery,
    responses: {
      200: json("A page of tasks.", taskPageSchema),
      400: error("`invalid_cursor`."),
      422: error("`validation_failed`."),
    },
  },
  {
    method: "get",
    path: "/api/v1/download/:id",
    operationId: "getDownload",
    tag: "downloads",
    summary: "Read one task",
    responses: { 200: json("The task.", apiTaskSchema), 404: taskNotFound },
  },
  {
    method: "delete",
    path: "/api/v1/download/:id",
    operationId: "cancelOrRemoveDownload",
    tag: "downloads",
    summary: "Cancel a task that has not ended, or remove one that has (with its files)",
    responses: {
      200: json("Cancelled; the task as it is now.", apiTaskSchema),
      204: none("Removed."),
      404: taskNotFound,
      503: error("`shutting_down`."),
    },
  },
  {
    method: "post",
    path: "/api/v1/download/:id/retry",
    operationId: "retryDownload",
    tag: "downloads",
    summary: "Queue a failed or cancelled task again, in place",
    rateLimited: true,
    responses: {
      202: json("Queued again.", apiTaskSchema),
      404: taskNotFound,
      409: error("`not_retryable` or `task_active`."),
      429: error("`queue_full` or `rate_limited`."),
    },
  },
  {
    method: "get",
    path: "/api/v1/download/:id/file",
    operationId: "getDownloadFile",
    tag: "files",
    summary:
      "The finished file (Range supported), one of its other files by name, or a group's zip",
    query: fileQuery,
    responses: {
      200: {
        description: "The file, as an attachment; a playlist's group answers with a zip.",
        mediaType: "*/*",
        headers: { "Content-Disposition": "attachment, with the file's name (RFC 6266)." },
      },
      206: { description: "The requested byte range.", mediaType: "*/*" },
      404: error("`not_found`: no such task, or no file by that name."),
      409: error("`no_file` (the task has not completed) or `task_active`."),
      410: error("`file_gone`: the file was removed from disk."),
      416: none("The range cannot be satisfied."),
      422: error("`validation_failed`."),
    },
  },
  {
    method: "get",
    path: "/api/v1/download/:id/thumbnail",
    operationId: "getDownloadThumbnail",
    tag: "files",
    summary: "The video's thumbnail as JPEG",
    responses: {
      200: { description: "The thumbnail.", mediaType: "image/jpeg" },
      206: { description: "The requested byte range.", mediaType: "image/jpeg" },
      404: error("`not_found` or `no_thumbnail`."),
      410: error("`file_gone`."),
      416: none("The range cannot be satisfied."),
    },
  },
  {
    method: "get",
    path: "/api/v1/formats",
    operationId: "listFormats",
    tag: "downloads",
    summary: "What formats a URL offers, or how many entries a playlist has (nothing downloaded)",
    query: formatsQuery,
    rateLimited: true,
    responses: {
      200: json("The listing; cached for a few minutes.", formatListingSchema),
      422: error(
        "`validation_failed`, `url_not_allowed`, `host_not_found`, or the reason yt-dlp gave " +
          "(`source_unavailable`, `unsupported_url`, …).",
      ),
    },
  },
  {
    method: "get",
    path: "/api/v1/ytdlp",
    operationId: "getYtdlp",
    tag: "yt-dlp",
    summary: "The yt-dlp in use: version, channel, release age, JavaScript runtime, last update",
    responses: { 200: json("About yt-dlp.", ytdlpInfoSchema) },
  },
  {
    method: "post",
    path: "/api/v1/ytdlp/update",
    operationId: "updateYtdlp",
    tag: "yt-dlp",
    summary: "Update the managed yt-dlp now (self-tested before the switch)",
    responses: {
      200: json("The attempt and the state after it.", ytdlpChangeSchema),
      409: error("`not_managed` (YTDLP_PATH is set) or `not_installed`."),
    },
  },
  {
    method: "post",
    path: "/api/v1/ytdlp/rollback",
    operationId: "rollbackYtdlp",
    tag: "yt-dlp",
    summary: "Go back to the previous managed yt-dlp",
    responses: {
      200: json("The attempt and the state after it.", ytdlpChangeSchema),
      409: error("`not_managed` or `no_previous`."),
    },
  },
  {
    method: "put",
    path: "/api/v1/cookies",
    operationId: "putCookies",
    tag: "cookies",
    summary: "Store a Netscape cookies.txt for sites that need a login",
    rawBody: { mediaType: "text/plain", description: "A Netscape cookies.txt file." },
    responses: {
      200: json("Stored; the domains it covers (never a value).", cookieSummarySchema),
      413: error("`body_too_large`."),
      415: error("`unsupported_media_type`: send text/plain."),
      422: error("`invalid_cookies`, naming the line."),
    },
  },
  {
    method: "get",
    path: "/api/v1/cookies",
    operationId: "getCookies",
    tag: "cookies",
    summary: "Which domains the stored cookies cover",
    responses: {
      200: json("The summary.", cookieSummarySchema),
      404: error("`no_cookies`."),
    },
  },
  {
    method: "delete",
    path: "/api/v1/cookies",
    operationId: "deleteCookies",
    tag: "cookies",
    summary: "Delete the stored cookies",
    responses: { 204: none("Deleted."), 404: error("`no_cookies`.") },
  },
  {
    method: "post",
    path: "/auth/login",
    operationId: "login",
    tag: "auth",
    summary: "Log in with the admin password; sets the session cookie",
    jsonBody: loginSchema,
    rateLimited: true,
    responses: {
      204: { ...none("Logged in."), headers: { "Set-Cookie": "The session (HttpOnly)." } },
      401: error("`invalid_password`."),
      409: error("`auth_off`: AUTH_MODE is none."),
    },
  },
  {
    method: "post",
    path: "/auth/logout",
    operationId: "logout",
    tag: "auth",
    summary: "End the session",
    responses: { 204: none("Logged out (also when there was no session).") },
  },
  {
    method: "post",
    path: "/auth/setup",
    operationId: "setup",
    tag: "auth",
    summary: "Choose the admin password with the one-time link from the log",
    jsonBody: setupSchema,
    rateLimited: true,
    responses: {
      204: { ...none("Set; logged in."), headers: { "Set-Cookie": "The session (HttpOnly)." } },
      403: error("`forbidden`: the setup link is not valid."),
      409: error("`already_set`."),
    },
  },
  {
    method: "get",
    path: "/api/v1/session",
    operationId: "getSession",
    tag: "auth",
    summary: "Who is asking: the auth mode, the credential's kind and its scopes",
    responses: { 200: json("The session.", sessionSchema) },
  },
  {
    method: "post",
    path: "/api/v1/tokens",
    operationId: "createToken",
    tag: "tokens",
    summary: "Create an API token (shown once)",
    jsonBody: tokenRequestSchema,
    responses: { 201: json("The token with its secret.", createdTokenSchema) },
  },
  {
    method: "get",
    path: "/api/v1/tokens",
    operationId: "listTokens",
    tag: "tokens",
    summary: "List tokens (never their secrets), with last use and expiry",
    responses: { 200: json("The tokens.", z.array(tokenViewSchema)) },
  },
  {
    method: "delete",
    path: "/api/v1/tokens/:id",
    operationId: "revokeToken",
    tag: "tokens",
    summary: "Revoke a token at once",
    responses: { 204: none("Revoked."), 404: error("`not_found`.") },
  },
  {
    method: "post",
    path: "/api/v1/webhooks",
    operationId: "createWebhook",
    tag: "webhooks",
    summary:
      "Register a webhook (the URL follows the download URL policy; the secret is shown once)",
    jsonBody: webhookRequestSchema,
    responses: {
      201: {
        ...json("The webhook with its secret.", createdWebhookSchema),
        headers: { Location: "The webhook's URL." },
      },
      409: error("`too_many_webhooks`."),
      422: error("`validation_failed`, `url_not_allowed` or `host_not_found`."),
    },
  },
  {
    method: "get",
    path: "/api/v1/webhooks",
    operationId: "listWebhooks",
    tag: "webhooks",
    summary: "List webhooks (never their secrets)",
    responses: { 200: json("The webhooks.", z.array(webhookViewSchema)) },
  },
  {
    method: "get",
    path: "/api/v1/webhooks/:id",
    operationId: "getWebhook",
    tag: "webhooks",
    summary: "Read one webhook",
    responses: { 200: json("The webhook.", webhookViewSchema), 404: error("`not_found`.") },
  },
  {
    method: "delete",
    path: "/api/v1/webhooks/:id",
    operationId: "deleteWebhook",
    tag: "webhooks",
    summary: "Delete a webhook and its pending deliveries",
    responses: { 204: none("Deleted."), 404: error("`not_found`.") },
  },
  {
    method: "get",
    path: "/api/v1/webhooks/:id/deliveries",
    operationId: "listWebhookDeliveries",
    tag: "webhooks",
    summary: "The delivery log: each delivery's attempts, status codes, errors and next attempt",
    responses: {
      200: json("Newest first.", z.array(deliveryViewSchema)),
      404: error("`not_found`."),
    },
  },
  {
    method: "post",
    path: "/api/v1/webhooks/:id/ping",
    operationId: "pingWebhook",
    tag: "webhooks",
    summary: "Send a signed `ping` delivery to try a receiver",
    responses: {
      202: json("Queued; see the delivery log for the outcome.", deliveryViewSchema),
      404: error("`not_found`."),
    },
  },
  {
    method: "get",
    path: "/healthz",
    operationId: "health",
    tag: "service",
    summary: "Whether yt-dlp is usable and DATA_DIR takes writes, with the figures behind it",
    responses: {
      200: json("Healthy.", healthSchema),
      503: json("Unhealthy; `reasons` says why.", healthSchema),
    },
  },
  {
    method: "get",
    path: "/metrics",
    operationId: "metrics",
    tag: "service",
    summary: "Prometheus metrics",
    responses: {
      200: { description: "The Prometheus text format.", mediaType: "text/plain" },
    },
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    tag: "service",
    summary: "This document",
    responses: { 200: { description: "OpenAPI 3.1.", mediaType: "application/json" } },
  },
  {
    method: "get",
    path: "/docs",
    operationId: "docs",
    tag: "service",
    summary: "This document as a page, served by the service itself",
    responses: { 200: html("The API reference.") },
  },
  {
    method: "get",
    path: "/ws-messages.schema.json",
    operationId: "wsMessagesSchema",
    tag: "websockets",
    summary: "JSON Schema of every WebSocket message",
    responses: {
      200: { description: "JSON Schema (2020-12).", mediaType: "application/schema+json" },
    },
  },
  {
    method: "get",
    path: "/ws/downloads",
    operationId: "watchAllDownloads",
    tag: "websockets",
    summary: "WebSocket: a summary, a snapshot of the newest tasks, then every task's messages",
    description:
      "Messages are described at /ws-messages.schema.json. Browsers authenticate with the session " +
      "cookie; scripts send `Authorization: Bearer`, or `?access_token=` where headers cannot be " +
      "set. Frames above 4096 bytes close the socket with 1009, floods with 1008, a reader that " +
      "falls behind with 4008.",
    responses: {
      101: none("Switching to the WebSocket protocol."),
      426: error("`upgrade_required`: a plain GET, not a WebSocket handshake."),
    },
  },
  {
    method: "get",
    path: "/ws/download/:id",
    operationId: "watchDownload",
    tag: "websockets",
    summary: "WebSocket: one task's snapshot and messages until it ends",
    description:
      "An unknown id gets an `error` message with code `not_found` and close code 4404; a task " +
      "that ends closes the socket with 1000.",
    responses: {
      101: none("Switching to the WebSocket protocol."),
      426: error("`upgrade_required`: a plain GET, not a WebSocket handshake."),
    },
  },
  {
    method: "get",
    path: "/",
    operationId: "page",
    tag: "pages",
    summary: "The web page",
    responses: {
      200: html("The page."),
      302: redirect("Not logged in: to /login, keeping the query."),
    },
  },
  {
    method: "get",
    path: "/static/*",
    operationId: "staticAsset",
    tag: "pages",
    summary: "The page's scripts, styles and icons",
    responses: {
      200: { description: "The asset.", mediaType: "*/*" },
      304: none("Not modified."),
      404: error("`not_found`."),
    },
  },
  {
    method: "get",
    path: "/favicon.ico",
    operationId: "favicon",
    tag: "pages",
    summary: "The icon",
    responses: { 301: redirect("To /static/favicon.svg.") },
  },
  {
    method: "get",
    path: "/login",
    operationId: "loginPage",
    tag: "pages",
    summary: "The login page (Korean and English)",
    responses: { 200: html("The page.") },
  },
  {
    method: "get",
    path: "/setup",
    operationId: "setupPage",
    tag: "pages",
    summary: "The page the one-time setup link opens",
    responses: { 200: html("The page.") },
  },
  {
    method: "get",
    path: "/manifest.webmanifest",
    operationId: "manifest",
    tag: "pages",
    summary: "The PWA manifest, with a share target",
    responses: {
      200: { description: "The manifest.", mediaType: "application/manifest+json" },
    },
  },
  {
    method: "get",
    path: "/share",
    operationId: "share",
    tag: "pages",
    summary: "Share target: fills the first link of `url`, `text` or `title` into the page",
    description: "Nothing is downloaded until the user presses download on the page.",
    query: z.object({
      url: z.string().optional(),
      text: z.string().optional(),
      title: z.string().optional(),
    }),
    responses: { 303: redirect("To /?share=<link>, or / when no link was shared.") },
  },
];
