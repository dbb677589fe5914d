import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { DownloadManager } from "../downloads/manager.ts";
import { downloadRequestSchema, normaliseRequest } from "./download_request.ts";
import { RequestError } from "../model/errors.ts";
import { fileResponse } from "./file_response.ts";
import type { AddressPolicy } from "../net/address_policy.ts";
import { assertAllowedUrl, type Resolver } from "../net/url_policy.ts";

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What the REST routes need. */
export interface DownloadRoutesDeps {
  manager: DownloadManager;
  policy: AddressPolicy;
  resolve: Resolver;
}

/** REST API under /api/v1: submit, read, list, fetch the file, cancel or remove. */
export function downloadRoutes({ manager, policy, resolve }: DownloadRoutesDeps): Hono {
  const api = new Hono();

  api.post(
    "/download",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new RequestError(
          413,
          "body_too_large",
          `body must be at most ${MAX_BODY_BYTES} bytes`,
        );
      },
    }),
    async (c) => {
      const type = c.req.header("content-type") ?? "";
      if (!/^application\/json\s*(;|$)/i.test(type)) {
        throw new RequestError(
          415,
          "unsupported_media_type",
          "Content-Type must be application/json",
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        throw new RequestError(400, "invalid_json", "body is not valid JSON");
      }
      const parsed = downloadRequestSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue.path.join(".") ||
          (issue.code === "unrecognized_keys" ? issue.keys.join(", ") : "body");
        throw new RequestError(422, "validation_failed", `${field}: ${issue.message}`);
      }
      const request = normaliseRequest(parsed.data);
      await assertAllowedUrl(new URL(request.url), policy, resolve);
      const task = manager.submit(request);
      c.header("Location", `/api/v1/download/${task.task_id}`);
      return c.json(task, 202);
    },
  );

  api.get("/downloads", (c) => c.json(manager.list()));

  api.get("/download/:id", (c) => c.json(manager.get(c.req.param("id"))));

  api.get("/download/:id/file", async (c) => {
    const { task, path } = manager.file(c.req.param("id"));
    const ext = task.filename?.match(/\.[^.]+$/)?.[0] ?? "";
    const name = task.title ? `${task.title}${ext}` : task.filename ?? "download";
    return await fileResponse(c.req.raw, path, name);
  });

  api.delete("/download/:id", async (c) => {
    const task = await manager.cancel(c.req.param("id"));
    return task ? c.json(task) : c.body(null, 204);
  });

  return api;
}
