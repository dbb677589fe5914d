import assert from "node:assert/strict";
import { AddressPolicy } from "./address_policy.ts";
import {
  assertAllowedUrl,
  HostNotFoundError,
  resolveAllowed,
  UrlRejectedError,
} from "./url_policy.ts";

const policy = new AddressPolicy({ allowAll: false, allowedNetworks: [] });

Deno.test("a name is refused when any of its addresses is internal, and the message says which", async () => {
  const resolve = (host: string) =>
    Promise.resolve(host === "evil.test" ? ["93.1.1.1", "10.0.0.5"] : ["93.1.1.1"]);
  await assert.rejects(
    resolveAllowed("evil.test", policy, resolve),
    (error: Error) =>
      error instanceof UrlRejectedError && error.host === "evil.test" &&
      error.message.includes("resolves to 10.0.0.5"),
  );
  assert.deepEqual(await resolveAllowed("good.test", policy, resolve), ["93.1.1.1"]);
  await assert.rejects(
    resolveAllowed("nowhere.test", policy, () => Promise.reject(new Error("NXDOMAIN"))),
    HostNotFoundError,
  );
  await assert.rejects(
    resolveAllowed("empty.test", policy, () => Promise.resolve([])),
    HostNotFoundError,
  );
});

Deno.test("URLs are judged in the form the URL parser gives them, as yt-dlp will use them", async () => {
  const never = () => Promise.reject(new Error("no DNS for literals"));
  for (
    const url of [
      "http://[::ffff:127.0.0.1]/",
      "http://0x7f.1/",
      "http://2130706433/",
      "http://[::1]:8000/",
    ]
  ) {
    await assert.rejects(assertAllowedUrl(new URL(url), policy, never), UrlRejectedError, url);
  }
  await assertAllowedUrl(new URL("http://8.8.8.8/"), policy, never);
});
