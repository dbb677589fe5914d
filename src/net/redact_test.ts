import assert from "node:assert/strict";
import { redactUrl, scrub, urlSecrets } from "./redact.ts";

Deno.test("credentials never survive redaction, in raw or percent-decoded form", () => {
  const url = "https://alice:p%40ss%21word@example.com/v.mp4?x=1";
  assert.equal(redactUrl(url), "https://***@example.com/v.mp4?x=1");
  assert.equal(redactUrl("https://example.com/v"), "https://example.com/v");
  const text = scrub(`ERROR: ${url} failed; p@ss!word rejected for alice`, urlSecrets(url));
  assert.ok(!/p@ss|p%40ss|alice/.test(text), text);
});
