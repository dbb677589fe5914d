import assert from "node:assert/strict";
import { AddressPolicy, parseNetworks } from "./address_policy.ts";

const strict = new AddressPolicy({ allowAll: false, allowedNetworks: [] });

Deno.test("only globally routable unicast is public", () => {
  for (
    const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "255.255.255.255",
      "224.0.0.1",
      "192.0.0.8",
      "198.18.0.1",
      "240.0.0.1",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "fd00:ec2::254",
      "ff02::1",
      "2001:db8::1",
      "4000::1",
    ]
  ) assert.notEqual(strict.refusal(address), null, address);
  for (
    const address of ["93.184.216.34", "8.8.8.8", "192.0.1.1", "172.32.0.1", "2606:4700::1111"]
  ) {
    assert.equal(strict.refusal(address), null, address);
  }
});

Deno.test("IPv6 forms that carry an IPv4 address are judged by that address", () => {
  const inside = {
    "::ffff:7f00:1": "127.0.0.1", // mapped, as the URL parser writes it
    "::ffff:127.0.0.1": "127.0.0.1",
    "::ffff:a9fe:a9fe": "169.254.169.254",
    "::7f00:1": "127.0.0.1", // compatible
    "::ffff:0:a00:1": "10.0.0.1", // RFC 6145
    "64:ff9b::a9fe:a9fe": "169.254.169.254", // NAT64
    "64:ff9b:1:7f00:0:100::": "127.0.0.1", // local-use NAT64, /48 layout (u-octet skipped)
    "2002:7f00:1::": "127.0.0.1", // 6to4
    "2001:0:808:808:0:0:f5ff:fffe": "10.0.0.1", // Teredo, client obfuscated
  };
  for (const [address, v4] of Object.entries(inside)) {
    const refusal = strict.refusal(address);
    assert.ok(refusal?.startsWith(`${v4} (inside `), `${address}: ${refusal}`);
  }
  for (const address of ["::ffff:808:808", "64:ff9b::808:808", "2002:808:808::1"]) {
    assert.equal(strict.refusal(address), null, address);
  }
});

Deno.test("allowed networks open exactly those private destinations, in any spelling", () => {
  const lan = new AddressPolicy({
    allowAll: false,
    allowedNetworks: parseNetworks("192.168.1.0/24, 127.0.0.2, fd12::/16"),
  });
  for (const address of ["192.168.1.20", "::ffff:192.168.1.20", "127.0.0.2", "fd12::5"]) {
    assert.equal(lan.refusal(address), null, address);
  }
  for (const address of ["192.168.2.1", "127.0.0.1", "127.0.0.3", "fd13::1", "10.0.0.1"]) {
    assert.notEqual(lan.refusal(address), null, address);
  }
  const open = new AddressPolicy({ allowAll: true, allowedNetworks: [] });
  assert.equal(open.refusal("127.0.0.1"), null);
  assert.throws(() => parseNetworks("10.0.0.0/33"), /not a CIDR block/);
  assert.throws(() => parseNetworks("lan"), /'lan' is not a CIDR block/);
  assert.deepEqual(parseNetworks(" , "), []);
});
