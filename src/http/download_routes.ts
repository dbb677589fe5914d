import { Hono } from "hono";
import { jsonBody, parseJson, validated } from "./json_body.ts";
import { z } from "zod";
import type { DownloadManager, TaskPage } from "../downloads/manager.ts";
import { RequestError } from "../model/errors.ts";
import type { AddressPolicy } from "../net/address_policy.ts";
import { assertAllowedUrl, type Resolver } from "../net/url_policy.ts";
import { downloadRequestSchema, normaliseRequest } from "./download_request.ts";
import { fileResponse } from "./file_response.ts";
import { tagTask } from "./request_log.ts";
import { savedName, zipResponse } from "./zip_response.ts";
import type { FormatLister } from "../downloads/format_lister.ts";

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What the REST routes need. */
export interface DownloadRoutesDeps {
  manager: DownloadManager;
  policy: AddressPolicy;
  resolve: Resolver;
  formats: FormatLister;
}

export const fileQuery = z.strictObject({ name: z.string().min(1).max(1024).optional() });

export const formatsQuery = z.strictObject({
  url: z.string().max(4096).refine((value) => {
    try {
      return ["http:", "https:"].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, "must be an http(s) URL"),
});

export const listQuery = z.strictObject({
  limit: z.string().regex(/^\d+$/, "must be a whole number").transform(Number)
    .pipe(z.number().min(1).max(1000)).default(100),
  cursor: z.string().max(512).optional(),
});

/** REST API under /api/v1: submit, read, list, fetch the file, cancel or remove. */
export function downloadRoutes({ manager, policy, resolve, formats }: DownloadRoutesDeps): Hono {
  const api = new Hono();

  api.post("/download", jsonBody(MAX_BODY_BYTES), async (c) => {
    const request = normaliseRequest(await parseJson(c, downloadRequestSchema));
    await assertAllowedUrl(new URL(request.url), policy, resolve);
    const task = await manager.submit(request);
    tagTask(c, task.task_id);
    c.header("Location", `/api/v1/download/${task.task_id}`);
    return c.json(task, 202);
  });

  api.get("/downloads", (c) => {
    const query = validated(listQuery, c.req.query());
    const page = manager.list(query.limit, query.cursor ? decodeCursor(query.cursor) : null);
    return c.json({
      tasks: page.tasks,
      next_cursor: page.next === null ? null : encodeCursor(page.next),
    });
  });

  api.get("/download/:id", (c) => c.json(manager.get(c.req.param("id"))));

  api.get("/download/:id/file", async (c) => {
    const id = c.req.param("id");
    if (manager.get(id).kind === "playlist") {
      const { task, files } = await manager.groupFiles(id);
      return zipResponse(task, files);
    }
    const name = validated(fileQuery, c.req.query()).name ?? null;
    const { task, path } = await manager.file(id, name);
    return await fileResponse(c.req.raw, path, savedName(task, name ?? task.filename!));
  });

  api.get("/download/:id/thumbnail", async (c) => {
    const id = c.req.param("id");
    if (!manager.get(id).thumbnail) {
      throw new RequestError(404, "no_thumbnail", `task '${id}' has no thumbnail`);
    }
    const response = await fileResponse(
      c.req.raw,
      `${manager.taskDir(id)}/.thumbnail.jpg`,
      "thumbnail.jpg",
    );
    response.headers.set("Content-Type", "image/jpeg");
    response.headers.set("Content-Disposition", "inline");
    response.headers.set("Cache-Control", "private, max-age=86400");
    return response;
  });

  api.get("/formats", async (c) => {
    const { url } = validated(formatsQuery, c.req.query());
    const request = new URL(url);
    await assertAllowedUrl(request, policy, resolve);
    return c.json(await formats.list(request.href));
  });

  api.post("/download/:id/retry", async (c) => {
    const task = await manager.retry(c.req.param("id"));
    return c.json(task, 202);
  });

  api.delete("/download/:id", async (c) => {
    const task = await manager.cancel(c.req.param("id"));
    return task ? c.json(task) : c.body(null, 204);
  });

  return api;
}

function encodeCursor(next: NonNullable<TaskPage["next"]>): string {
  return btoa(JSON.stringify([next.created_at, next.task_id]))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function decodeCursor(cursor: string): TaskPage["next"] {
  try {
    const [created_at, task_id] = JSON.parse(
      atob(cursor.replaceAll("-", "+").replaceAll("_", "/")),
    );
    if (typeof created_at === "string" && typeof task_id === "string") {
      return { created_at, task_id };
    }
  } catch {
    // Reported below.
  }
  throw new RequestError(400, "invalid_cursor", "cursor is not one this service handed out");
}
