import assert from "node:assert/strict";
import { join } from "node:path";
import { CookieFormatError, CookieStore, parseCookiesTxt } from "./cookie_store.ts";

const GOOD = [
  "# Netscape HTTP Cookie File",
  ".youtube.com\tTRUE\t/\tTRUE\t1893456000\tSID\tsecret-value",
  "#HttpOnly_.youtube.com\tTRUE\t/\tTRUE\t1900000000\t__Secure-3PSID\tmore",
  "example.org\tFALSE\t/\tFALSE\t0\tsession\t",
  "",
].join("\n");

Deno.test("a Netscape cookies file is read; everything else is refused with the line it is on", () => {
  assert.equal(parseCookiesTxt(GOOD).length, 3);
  for (
    const [text, message] of [
      ['[{"domain": ".youtube.com"}]', /JSON/],
      ["# only a comment\n", /no cookies/],
      [".youtube.com TRUE / TRUE 0 SID x", /line 1: expected 7 tab-separated fields, found 1/],
      ["# c\n.x.com\tMAYBE\t/\tTRUE\t0\ta\tb", /line 2: .*TRUE or FALSE/],
      ["x.com\tTRUE\tpath\tTRUE\t0\ta\tb", /path must start/],
      ["x.com\tTRUE\t/\tTRUE\tsoon\ta\tb", /Unix time/],
      ["<script>\tTRUE\t/\tTRUE\t0\ta\tb", /not a domain/],
      ["x.com\tTRUE\t/\tTRUE\t0\t\tb", /no name/],
    ] as const
  ) {
    assert.throws(
      () => parseCookiesTxt(text),
      (e: Error) => e instanceof CookieFormatError && message.test(e.message),
      text,
    );
  }
});

Deno.test("the store keeps the file private, summarises without values, and copies it per run", async () => {
  const dir = await Deno.makeTempDir();
  const store = new CookieStore(join(dir, "cookies.txt"));
  assert.equal(await store.summary(), null);
  assert.equal(await store.copyTo(join(dir, "copy.txt")), null);
  const summary = await store.put(GOOD);
  assert.deepEqual(summary.domains, [
    { domain: "example.org", cookies: 1, expires_at: null },
    { domain: "youtube.com", cookies: 2, expires_at: new Date(1900000000 * 1000).toISOString() },
  ]);
  assert.ok(!JSON.stringify(summary).includes("secret-value"));
  assert.equal((await Deno.stat(join(dir, "cookies.txt"))).mode! & 0o777, 0o600);
  const copy = await store.copyTo(join(dir, "copy.txt"));
  assert.equal(await Deno.readTextFile(copy!), GOOD);
  assert.equal((await Deno.stat(copy!)).mode! & 0o777, 0o600);
  assert.equal(await store.delete(), true);
  assert.equal(await store.delete(), false);
  await Deno.remove(dir, { recursive: true });
});
