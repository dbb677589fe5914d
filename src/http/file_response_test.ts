import assert from "node:assert/strict";
import { contentDisposition, parseRange } from "./file_response.ts";

Deno.test("Korean titles survive in filename* and ASCII clients get a safe fallback", () => {
  const header = contentDisposition('테스트 "영상"/1.mp4');
  const star = header.match(/filename\*=UTF-8''(.+)$/)![1];
  assert.equal(decodeURIComponent(star), '테스트 "영상"_1.mp4');
  const fallback = header.match(/filename="([^"]*)"/)![1];
  assert.match(fallback, /^[\x20-\x7e]+$/);
  assert.ok(fallback.endsWith(".mp4"));
});

Deno.test("ranges: open, closed, suffix, unsatisfiable and ignored forms", () => {
  assert.deepEqual(parseRange("bytes=0-99", 1000), [0, 99]);
  assert.deepEqual(parseRange("bytes=900-", 1000), [900, 999]);
  assert.deepEqual(parseRange("bytes=-100", 1000), [900, 999]);
  assert.deepEqual(parseRange("bytes=990-2000", 1000), [990, 999]);
  assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
  assert.equal(parseRange(null, 1000), null);
  assert.equal(parseRange("bytes=0-1,5-6", 1000), null);
  assert.equal(parseRange("items=0-1", 1000), null);
});
