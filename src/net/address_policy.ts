import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A CIDR block, as ipaddr.js parses it. */
export type Network = [Address, number];

/** Names of ipaddr.js ranges, in words for an error message. */
const RANGE_WORDS: Record<string, string> = {
  unspecified: "an unspecified",
  broadcast: "a broadcast",
  multicast: "a multicast",
  linkLocal: "a link-local",
  loopback: "a loopback",
  carrierGradeNat: "a carrier-grade NAT",
  private: "a private",
  reserved: "a reserved",
  uniqueLocal: "a unique local",
  deprecatedSiteLocal: "a site-local",
  benchmarking: "a benchmarking",
};

/** The only IPv6 block handed out as global unicast (RFC 4291, 2000::/3). */
const GLOBAL_UNICAST_V6: Network = [ipaddr.IPv6.parse("2000::"), 3];

/**
 * Decides which IP addresses the server may connect to on a user's behalf. Only globally routable
 * unicast is public; an IPv6 address that carries an IPv4 one (mapped, compatible, NAT64, 6to4,
 * Teredo) is judged by the IPv4 address inside it, since that is where the packets end up.
 */
export class AddressPolicy {
  readonly #allowAll: boolean;
  readonly #allowed: readonly Network[];

  constructor(options: { allowAll: boolean; allowedNetworks: readonly Network[] }) {
    this.#allowAll = options.allowAll;
    this.#allowed = options.allowedNetworks;
  }

  /** Null when the address may be fetched from; otherwise why not, for the user. */
  refusal(address: string): string | null {
    if (this.#allowAll) return null;
    let parsed: Address;
    try {
      parsed = ipaddr.parse(address);
    } catch {
      return `${address} is not an IP address`;
    }
    const targets = embeddedIPv4(parsed);
    for (const target of targets.length ? targets : [parsed]) {
      if (this.#isAllowedNetwork(target) || isPublic(target)) continue;
      const words = RANGE_WORDS[target.range()] ?? "a non-public";
      const via = target === parsed ? "" : ` (inside ${parsed.toString()})`;
      return `${target.toString()}${via} is ${words} address`;
    }
    return null;
  }

  #isAllowedNetwork(address: Address): boolean {
    return this.#allowed.some(([network, bits]) =>
      network.kind() === address.kind() && address.match(network, bits)
    );
  }
}

/** Parses `ALLOWED_PRIVATE_NETWORKS`: comma-separated CIDRs; a bare address means just that one. */
export function parseNetworks(text: string): Network[] {
  return text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
    try {
      if (part.includes("/")) return ipaddr.parseCIDR(part);
      const address = ipaddr.parse(part);
      return [address, address.kind() === "ipv4" ? 32 : 128] as Network;
    } catch {
      throw new Error(`'${part}' is not a CIDR block such as 192.168.1.0/24`);
    }
  });
}

function isPublic(address: Address): boolean {
  if (address.range() !== "unicast") return false;
  return address.kind() === "ipv4" || address.match(GLOBAL_UNICAST_V6);
}

/**
 * The IPv4 addresses an IPv6 address stands for, or none when it is plain IPv6. Where a prefix
 * allows more than one layout (the local-use NAT64 prefix, Teredo's server and client), every
 * candidate is returned and each must pass.
 */
function embeddedIPv4(address: Address): ipaddr.IPv4[] {
  if (address.kind() !== "ipv6") return [];
  const v6 = address as ipaddr.IPv6;
  const bytes = v6.toByteArray();
  const at = (offset: number) => new ipaddr.IPv4(bytes.slice(offset, offset + 4));
  const words = v6.parts;
  switch (v6.range()) {
    case "ipv4Mapped": // ::ffff:a.b.c.d
    case "rfc6145": // ::ffff:0:a.b.c.d
      return [at(12)];
    case "rfc6052": // 64:ff9b::/96, and 64:ff9b:1::/48 whose layout depends on the operator
      return words[2] === 0 ? [at(12)] : [
        new ipaddr.IPv4([bytes[6], bytes[7], bytes[9], bytes[10]]),
        at(12),
      ];
    case "6to4": // 2002:aabb:ccdd::/48
      return [at(2)];
    case "teredo": // 2001:0:server:…:~client
      return [at(4), new ipaddr.IPv4(bytes.slice(12, 16).map((b) => b ^ 0xff))];
    case "unspecified":
    case "loopback":
      return [];
  }
  // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
  if (words.slice(0, 6).every((w) => w === 0)) return [at(12)];
  return [];
}
