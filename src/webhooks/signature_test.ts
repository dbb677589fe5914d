import assert from "node:assert/strict";
import { signatureHeader } from "./signature.ts";

Deno.test("the signature is HMAC-SHA256 of '<t>.<body>', as receivers recompute it", async () => {
  // Computed independently with WebCrypto, the way a receiver in a browser or worker would.
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode("whsec_test"),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode('1700000000.{"a":1}'));
  const hex = Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(signatureHeader("whsec_test", 1700000000, '{"a":1}'), `t=1700000000,v1=${hex}`);
  assert.notEqual(
    signatureHeader("whsec_test", 1700000001, '{"a":1}'),
    signatureHeader("whsec_test", 1700000000, '{"a":1}'),
    "another time, another signature: a replay with a new time does not verify",
  );
});
