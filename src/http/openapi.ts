import { Hono } from "hono";
import { z } from "zod";
import { wsMessageSchema } from "../ws/message_schema.ts";
import type { ApiOperation, ApiResponse } from "./api_operations.ts";
import { apiTaskSchema, errorSchema, PUBLISHED_SCHEMAS } from "./api_schemas.ts";
import { needOf } from "./auth_guard.ts";

type Json = Record<string, unknown>;

const COMPONENTS = "#/components/schemas/";

/** The document's form of a Hono path: `:id` → `{id}`, a trailing `*` → `{path}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, "{$1}").replace(/\*$/, "{path}");
}

/**
 * Builds the OpenAPI 3.1 document from the operations and their zod schemas: request schemas as
 * the handlers read them, answers as the code writes them, and the errors every route shares
 * (authentication, scope, origin, rate limits, bodies) added where they apply.
 */
export function openApiDocument(operations: readonly ApiOperation[], version: string): Json {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of PUBLISHED_SCHEMAS) registry.add(schema, { id });
  const toJson = (schema: z.ZodType, io: "input" | "output"): Json => {
    const id = registry.get(schema)?.id;
    if (id !== undefined) return { $ref: COMPONENTS + id };
    const generated = z.toJSONSchema(schema, {
      target: "draft-2020-12",
      metadata: registry,
      io,
      unrepresentable: "any",
    }) as Json;
    delete generated.$schema;
    delete generated.$defs;
    return JSON.parse(JSON.stringify(generated).replaceAll('"#/$defs/', `"${COMPONENTS}`));
  };
  const all = z.toJSONSchema(registry, {
    target: "draft-2020-12",
    io: "output",
    unrepresentable: "any",
    uri: (id) => COMPONENTS + id,
  }) as { schemas: Record<string, Json> };
  const schemas: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(all.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema;
    schemas[id] = rest;
  }

  const paths: Record<string, Record<string, Json>> = {};
  for (const operation of operations) {
    const path = openApiPath(operation.path);
    (paths[path] ??= {})[operation.method] = operationObject(operation, toJson);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "ytdl-live",
      version,
      description:
        "Self-hosted downloads with yt-dlp, live progress over WebSockets, cancel, retention. " +
        'Every error is JSON: `{"error":{"code","message"}}`. With AUTH_MODE=password, ' +
        "send `Authorization: Bearer <token>` (tokens are made at /api/v1/tokens) or use the " +
        "page's session; each route needs the scope named in `x-scope`. While the service " +
        "starts, any route may answer 503 `starting` with Retry-After.",
    },
    servers: [{ url: "/" }],
    tags: [
      "downloads",
      "files",
      "yt-dlp",
      "cookies",
      "auth",
      "tokens",
      "webhooks",
      "service",
      "websockets",
      "pages",
    ].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "An API token from POST /api/v1/tokens.",
        },
        session: { type: "apiKey", in: "cookie", name: "ytdl_session" },
        accessToken: {
          type: "apiKey",
          in: "query",
          name: "access_token",
          description: "A token in the URL, for WebSockets only (browsers cannot set headers).",
        },
      },
      headers: {
        RateLimit: {
          description: 'IETF RateLimit: `"<policy>";r=<remaining>;t=<seconds to reset>`.',
          schema: { type: "string" },
        },
        "RateLimit-Policy": {
          description: 'IETF RateLimit-Policy: `"<policy>";q=<limit>;w=<window seconds>`.',
          schema: { type: "string" },
        },
      },
    },
    webhooks: {
      delivery: {
        post: {
          summary: "What a webhook receives",
          description:
            "Signed with HMAC-SHA256 over `<t>.<body>` using the webhook's secret, sent as " +
            "`ytdl-signature: t=<unix seconds>,v1=<hex>`; reject old timestamps to stop replays. " +
            "Headers `ytdl-event` and `ytdl-delivery` name the event and the delivery. Any 2xx " +
            "counts as delivered; anything else is retried with exponential backoff for 24 h.",
          requestBody: {
            content: {
              "application/json": {
                schema: toJson(
                  z.object({
                    id: z.string(),
                    event: z.enum(["completed", "failed", "cancelled", "group_completed", "ping"]),
                    created_at: z.string(),
                    task: apiTaskSchema.nullable(),
                  }),
                  "output",
                ),
              },
            },
          },
          responses: { "200": { description: "Received." } },
        },
      },
    },
  };
}

function operationObject(
  operation: ApiOperation,
  toJson: (schema: z.ZodType, io: "input" | "output") => Json,
): Json {
  const concrete = operation.path.replace(/:[A-Za-z_]+/g, "x").replace(/\*$/, "x");
  const need = needOf(operation.method.toUpperCase(), concrete);
  const isSocket = operation.path.startsWith("/ws/");
  const parameters: Json[] = [];
  for (const [, name] of operation.path.matchAll(/:([A-Za-z_]+)/g)) {
    parameters.push({ name, in: "path", required: true, schema: { type: "string" } });
  }
  if (operation.path.endsWith("*")) {
    parameters.push({ name: "path", in: "path", required: true, schema: { type: "string" } });
  }
  if (operation.query) {
    const query = toJson(operation.query, "input") as {
      properties?: Record<string, Json>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      const { description, ...rest } = schema;
      parameters.push({
        name,
        in: "query",
        required: query.required?.includes(name) ?? false,
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  if (isSocket && need !== "public") {
    parameters.push({
      name: "access_token",
      in: "query",
      required: false,
      description: "An API token, where the client cannot send an Authorization header.",
      schema: { type: "string" },
    });
  }

  const responses: Record<number, ApiResponse> = { ...operation.responses };
  const add = (status: number, response: ApiResponse) => {
    responses[status] ??= response;
  };
  const error = (description: string): ApiResponse => ({ description, schema: errorSchema });
  if (operation.jsonBody) {
    add(400, error("`invalid_json`: the body is not JSON."));
    add(413, error("`body_too_large`."));
    add(415, error("`unsupported_media_type`: send application/json."));
    add(422, error("`validation_failed`, naming the field."));
  }
  if (operation.query) add(422, error("`validation_failed`, naming the parameter."));
  if (operation.rateLimited) {
    add(429, error("`rate_limited`, with Retry-After."));
  }
  if (need !== "public") {
    add(401, {
      ...error("`unauthorized` (no credential) or `invalid_token` (unknown, revoked, expired)."),
      headers: { "WWW-Authenticate": "Bearer realm" },
    });
    add(403, error(`\`forbidden\`: the credential lacks the \`${need}\` scope.`));
  }
  if (operation.method !== "get" || isSocket) {
    add(403, error("`origin_not_allowed`: a page of another site sent it."));
  }
  add(421, error("`misdirected_request`: a Host name the service does not answer to."));
  add(500, error("`internal_error`."));

  const answers: Record<string, Json> = {};
  for (const [status, response] of Object.entries(responses)) {
    const headers: Record<string, Json> = {};
    for (const [name, description] of Object.entries(response.headers ?? {})) {
      headers[name] = { description, schema: { type: "string" } };
    }
    if (operation.rateLimited) {
      headers.RateLimit = { $ref: "#/components/headers/RateLimit" };
      headers["RateLimit-Policy"] = { $ref: "#/components/headers/RateLimit-Policy" };
      if (status === "429") {
        headers["Retry-After"] = { description: "Seconds to wait.", schema: { type: "string" } };
      }
    }
    const content = response.schema
      ? { "application/json": { schema: toJson(response.schema, "output") } }
      : response.mediaType
      ? { [response.mediaType]: {} }
      : undefined;
    answers[status] = {
      description: response.description,
      ...(Object.keys(headers).length ? { headers } : {}),
      ...(content ? { content } : {}),
    };
  }

  return {
    operationId: operation.operationId,
    tags: [operation.tag],
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    "x-scope": need,
    security: need === "public"
      ? []
      : [{ bearer: [] }, { session: [] }, ...(isSocket ? [{ accessToken: [] }] : [])],
    ...(parameters.length ? { parameters } : {}),
    ...(operation.jsonBody
      ? {
        requestBody: {
          required: true,
          content: { "application/json": { schema: toJson(operation.jsonBody, "input") } },
        },
      }
      : operation.rawBody
      ? {
        requestBody: {
          required: true,
          description: operation.rawBody.description,
          content: { [operation.rawBody.mediaType]: { schema: { type: "string" } } },
        },
      }
      : {}),
    responses: answers,
  };
}

/** The WebSocket messages as one JSON Schema (2020-12), with each kind under `$defs`. */
export function wsMessagesJsonSchema(): Json {
  return {
    ...z.toJSONSchema(wsMessageSchema, {
      target: "draft-2020-12",
      io: "output",
      unrepresentable: "any",
    }),
    title: "ytdl-live WebSocket messages (server to client)",
    description: "One JSON text frame per message on /ws/downloads and /ws/download/{id}. " +
      'Clients may send {"type":"ping"} and get a pong; nothing else is read.',
  };
}

/** `/openapi.json` and `/ws-messages.schema.json`; built once, then served from memory. */
export function apiDocsRoutes(operations: readonly ApiOperation[], version: string): Hono {
  const routes = new Hono();
  // Built on first use: most instances never serve them, and building costs memory at start-up.
  let document: string | null = null;
  let wsSchema: string | null = null;
  routes.get("/openapi.json", (c) => {
    document ??= JSON.stringify(openApiDocument(operations, version));
    return c.body(document, 200, { "Content-Type": "application/json" });
  });
  routes.get("/ws-messages.schema.json", (c) => {
    wsSchema ??= JSON.stringify(wsMessagesJsonSchema());
    return c.body(wsSchema, 200, { "Content-Type": "application/schema+json" });
  });
  return routes;
}
