import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** Raised when a URL may not be fetched by the server; the message says why. */
export class UrlRejectedError extends Error {
  override name = "UrlRejectedError";
}

/** Resolves a host name to its addresses; injected so tests need no DNS. */
export type Resolver = (host: string) => Promise<string[]>;

/** Resolves through the system resolver, /etc/hosts included. */
export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * Refuses hosts that are, or resolve to, loopback, private, link-local, or cloud metadata
 * addresses, so that a public instance cannot be used to reach the machines behind it.
 */
export async function assertPublicUrl(url: URL, resolve: Resolver): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "" || /(^|\.)localhost$/i.test(host)) {
    throw new UrlRejectedError(`host '${host}' is a local address`);
  }
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await resolve(host);
    } catch {
      throw new UrlRejectedError(`host '${host}' could not be resolved`);
    }
  }
  const blocked = addresses.find(isNonPublicAddress);
  if (blocked !== undefined) {
    throw new UrlRejectedError(`host '${host}' resolves to non-public address ${blocked}`);
  }
}

/** True for addresses a public service must never fetch from. */
export function isNonPublicAddress(address: string): boolean {
  if (isIP(address) === 4) return isNonPublicV4(address);
  if (isIP(address) !== 6) return true;
  const lower = address.toLowerCase();
  const mapped = lower.match(/^(?:0*:)*(?:0*:)?ffff:(\d+\.\d+\.\d+\.\d+)$/);
  if (mapped) return isNonPublicV4(mapped[1]);
  const groups = expandV6(lower);
  if (
    groups.every((g) => g === 0) || (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1)
  ) {
    return true; // :: and ::1
  }
  const first = groups[0];
  return (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00 || // multicast
    (first === 0x64 && groups[1] === 0xff9b) || // NAT64 can reach IPv4 private ranges
    (first === 0xfd00 && groups[1] === 0x0ec2); // AWS metadata over IPv6
}

function isNonPublicV4(address: string): boolean {
  const [a, b] = address.split(".").map(Number);
  return a === 0 || a === 10 || a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224;
}

function expandV6(address: string): number[] {
  const [head, tail = ""] = address.split("::");
  const parse = (part: string) => part === "" ? [] : part.split(":").map((g) => parseInt(g, 16));
  const left = parse(head);
  const right = address.includes("::") ? parse(tail) : [];
  const zeros = new Array(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}
