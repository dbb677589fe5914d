import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import { RequestError } from "../model/errors.ts";

/** The largest JSON body the API reads unless a route says otherwise. */
export const MAX_JSON_BYTES = 16 * 1024;

/**
 * Guards a route that reads JSON: 413 past `maxBytes` (counted as the body streams in, whatever
 * Content-Length claims) and 415 for any other Content-Type.
 */
export function jsonBody(maxBytes = MAX_JSON_BYTES): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new RequestError(413, "body_too_large", `body must be at most ${maxBytes} bytes`);
    },
  });
  return async (c, next) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new RequestError(
        415,
        "unsupported_media_type",
        "Content-Type must be application/json",
      );
    }
    return await limit(c, next);
  };
}

/** Reads the JSON body and validates it: 400 when it is not JSON, 422 naming the first problem. */
export async function parseJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let value: unknown;
  try {
    value = JSON.parse(await c.req.text());
  } catch {
    throw new RequestError(400, "invalid_json", "body is not valid JSON");
  }
  return validated(schema, value);
}

/** Parses with a schema, turning the first problem into a 422 that names the field. */
export function validated<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue.path.join(".") ||
    (issue.code === "unrecognized_keys" ? issue.keys.join(", ") : "body");
  throw new RequestError(422, "validation_failed", `${field}: ${issue.message}`);
}
