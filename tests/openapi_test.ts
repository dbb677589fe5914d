// The published API description: a valid OpenAPI 3.1 document listing exactly the routes the app
// serves, the WebSocket messages as JSON Schema, a docs page served locally, and a spec check
// (used by every end-to-end suite through the service fixture) that does catch a wrong answer.
import assert from "node:assert/strict";
import { Validator } from "openapi-schema-validator";
import { startService } from "./fixtures/service.ts";
import { SpecCheck, wsMessageProblem } from "./fixtures/spec_check.ts";
import { openApiPath } from "../src/http/openapi.ts";

Deno.test("/openapi.json is valid OpenAPI 3.1 and lists every route the app serves, no more", async () => {
  await using service = await startService();
  const response = await fetch(`${service.origin}/openapi.json`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  const document = await response.json();
  const result = await new Validator().validate(document);
  assert.equal(result.valid, true, JSON.stringify(result.errors));
  assert.equal(document.openapi, "3.1.0");

  const served = new Set<string>();
  for (const route of service.app.routes) {
    if (route.method !== "ALL") served.add(`${route.method} ${openApiPath(route.path)}`);
  }
  const documented = new Set<string>();
  for (const [path, methods] of Object.entries(document.paths as Record<string, object>)) {
    for (const method of Object.keys(methods)) documented.add(`${method.toUpperCase()} ${path}`);
  }
  assert.deepEqual([...served].filter((r) => !documented.has(r)), [], "served, not documented");
  assert.deepEqual([...documented].filter((r) => !served.has(r)), [], "documented, not served");

  // Every operation states its scope, its errors, and the shared error shape.
  const submit = document.paths["/api/v1/download"].post;
  assert.equal(submit["x-scope"], "download");
  for (const status of ["202", "400", "401", "403", "413", "415", "422", "429", "500"]) {
    assert.ok(submit.responses[status], `POST /api/v1/download documents ${status}`);
  }
  assert.ok(submit.responses["429"].headers["Retry-After"]);
  assert.ok(submit.responses["202"].headers.RateLimit);
  assert.equal(document.paths["/healthz"].get["x-scope"], "public");
  assert.deepEqual(document.paths["/healthz"].get.security, []);
  const list = document.paths["/api/v1/downloads"].get;
  assert.deepEqual(list.parameters.map((p: { name: string }) => p.name), ["limit", "cursor"]);
  assert.equal(document.paths["/api/v1/download/{id}"].get.parameters[0].in, "path");
  assert.ok(document.webhooks.delivery.post.description.includes("HMAC-SHA256"));
});

Deno.test("/ws-messages.schema.json and /docs are served by the service, public, with no CDN", async () => {
  await using service = await startService({ authMode: "password", password: "correct horse" });
  const schema = await fetch(`${service.origin}/ws-messages.schema.json`);
  assert.equal(schema.status, 200);
  const body = await schema.json();
  assert.equal(body.$schema, "https://json-schema.org/draft/2020-12/schema");
  const types = body.oneOf.map((s: { properties: { type: { const: string } } }) =>
    s.properties.type.const
  );
  assert.deepEqual(types.sort(), [
    "complete",
    "error",
    "pong",
    "progress",
    "removed",
    "status",
    "summary",
  ]);
  const docs = await fetch(`${service.origin}/docs`);
  assert.equal(docs.status, 200);
  assert.match(docs.headers.get("content-security-policy")!, /default-src 'self'/);
  const html = await docs.text();
  assert.doesNotMatch(html, /https?:\/\/(?!json-schema)/, "no third-party assets");
  const script = await fetch(`${service.origin}/static/docs.js`);
  assert.equal(script.status, 200);
  assert.doesNotMatch(await script.text(), /innerHTML|https?:\/\//);
});

Deno.test("the spec check catches answers that break the document", async () => {
  const check = new SpecCheck();
  const request = (path: string, method = "GET") =>
    new Request(`http://127.0.0.1${path}`, { method });
  await check.observe(request("/api/v1/downloads"), Response.json({ tasks: 1, next_cursor: null }));
  await check.observe(
    request("/api/v1/download/abc"),
    Response.json({ nope: true }, { status: 418 }),
  );
  await check.observe(request("/api/v1/ytdlp"), new Response("plain", { status: 200 }));
  await check.observe(
    request("/api/v1/download/x", "DELETE"),
    Response.json({ error: { code: "not_found" } }, { status: 404 }),
  );
  await check.observe(
    request("/api/v1/downloads"),
    Response.json({ tasks: [], next_cursor: null }),
  );
  await check.observe(request("/healthz", "HEAD"), new Response(null, { status: 405 }));
  assert.throws(() => check.assertClean(), (error: Error) => {
    assert.match(error.message, /4 answer\(s\)/);
    assert.match(error.message, /GET \/api\/v1\/downloads → 200: body does not match/);
    assert.match(error.message, /418: status not documented/);
    assert.match(error.message, /content-type text\/plain/);
    assert.match(error.message, /DELETE \/api\/v1\/download\/x → 404: body does not match/);
    return true;
  });
  assert.equal(
    wsMessageProblem({ type: "progress", task_id: crypto.randomUUID(), data: {} }) !== null,
    true,
  );
  assert.equal(wsMessageProblem({ type: "pong", task_id: null, data: {} }), null);
});
