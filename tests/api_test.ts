import assert from "node:assert/strict";
import { startService, waitForEnd } from "./fixtures/service.ts";

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

async function expectError(response: Response, status: number, code: string, mention?: string) {
  assert.equal(response.status, status);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const body = await response.json();
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, "string");
  if (mention) assert.ok(body.error.message.includes(mention), body.error.message);
}

Deno.test("every bad request gets a clear 4xx JSON error and creates nothing", async () => {
  await using service = await startService({
    allowedNetworks: "",
    resolve: (host) =>
      Promise.resolve(host === "intranet.example" ? ["10.0.0.7"] : ["93.184.216.34"]),
  });
  const { app } = service;
  const post = (init: RequestInit) => app.request("/api/v1/download", init);

  await expectError(await post(json("{not json")), 400, "invalid_json");
  await expectError(
    await post({ method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }),
    415,
    "unsupported_media_type",
  );
  await expectError(
    await post(json({ url: "https://example.com/" + "a".repeat(70 * 1024) })),
    413,
    "body_too_large",
  );
  await expectError(await post(json({})), 422, "validation_failed", "url");
  await expectError(await post(json({ url: 42 })), 422, "validation_failed", "url");
  await expectError(
    await post(json({ url: "ftp://example.com/x.mp4" })),
    422,
    "validation_failed",
    "http",
  );
  await expectError(await post(json({ url: "--exec=id" })), 422, "validation_failed", "url");
  await expectError(
    await post(json({ url: "https://example.com/v", format: "gif" })),
    422,
    "validation_failed",
    "format",
  );
  await expectError(
    await post(json({ url: "https://example.com/v", quality: "4k" })),
    422,
    "validation_failed",
    "quality",
  );
  await expectError(
    await post(json({ url: "https://example.com/v", fromat: "audio" })),
    422,
    "validation_failed",
    "fromat",
  );
  await expectError(await post(json(["https://example.com/v"])), 422, "validation_failed");
  await expectError(
    await post(json({ url: "http://intranet.example/v.mp4" })),
    422,
    "url_not_allowed",
    "10.0.0.7",
  );
  await expectError(await post(json({ url: "http://127.0.0.1:8000/x" })), 422, "url_not_allowed");
  await expectError(
    await post(json({ url: "http://169.254.169.254/latest/" })),
    422,
    "url_not_allowed",
  );

  const missing = crypto.randomUUID();
  await expectError(await app.request(`/api/v1/download/${missing}`), 404, "not_found", missing);
  await expectError(await app.request(`/api/v1/download/${missing}/file`), 404, "not_found");
  await expectError(
    await app.request(`/api/v1/download/${missing}`, { method: "DELETE" }),
    404,
    "not_found",
  );
  await expectError(await app.request("/api/v1/nothing"), 404, "not_found");

  const list = await app.request("/api/v1/downloads");
  assert.deepEqual(await list.json(), { tasks: [], next_cursor: null });
  assert.deepEqual([...Deno.readDirSync(`${service.dataDir}/tasks`)], []);
});

Deno.test("healthz reports the yt-dlp version, and 503 with a reason when it is missing", async () => {
  {
    await using service = await startService();
    const response = await service.app.request("/healthz");
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.status, "ok");
    assert.match(body.ytdlp.version, /^\d{4}\.\d{2}\.\d{2}/);
  }
  {
    await using service = await startService({ ytdlpPath: "/nonexistent/yt-dlp" });
    const response = await service.app.request("/healthz");
    assert.equal(response.status, 503);
    assert.match((await response.json()).reasons[0], /yt-dlp is unusable: .*not found/);
  }
});

Deno.test("a missing yt-dlp fails the task with a reason instead of hanging it", async () => {
  await using service = await startService({ ytdlpPath: "/nonexistent/yt-dlp" });
  const task = await service.submit({ url: "http://127.0.0.1:9/v.mp4" });
  const ended = await waitForEnd(service.manager, task.task_id);
  assert.equal(ended.status, "failed");
  assert.equal(ended.error?.code, "ytdlp_missing");
});
