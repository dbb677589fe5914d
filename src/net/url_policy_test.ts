import assert from "node:assert/strict";
import { assertPublicUrl, isNonPublicAddress, UrlRejectedError } from "./url_policy.ts";

Deno.test("loopback, private, link-local and metadata addresses are non-public", () => {
  for (
    const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "fd00:ec2::254",
    ]
  ) assert.ok(isNonPublicAddress(address), address);
  for (const address of ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"]) {
    assert.ok(!isNonPublicAddress(address), address);
  }
});

Deno.test("a host resolving to a private address is refused with the reason", async () => {
  const resolve = (host: string) =>
    Promise.resolve(host === "evil.test" ? ["93.1.1.1", "10.0.0.5"] : ["93.1.1.1"]);
  await assert.rejects(
    assertPublicUrl(new URL("http://evil.test/v"), resolve),
    (error: Error) => error instanceof UrlRejectedError && error.message.includes("10.0.0.5"),
  );
  await assertPublicUrl(new URL("https://good.test/v"), resolve);
  await assert.rejects(
    assertPublicUrl(new URL("http://localhost:8000/"), resolve),
    UrlRejectedError,
  );
  await assert.rejects(assertPublicUrl(new URL("http://[::1]/"), resolve), UrlRejectedError);
  await assert.rejects(
    assertPublicUrl(new URL("http://nowhere.test/"), () => Promise.reject(new Error("NXDOMAIN"))),
    UrlRejectedError,
  );
});
