import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { AddressPolicy } from "./address_policy.ts";

/** Raised when the server may not fetch from a host; the message names the host and why. */
export class UrlRejectedError extends Error {
  override name = "UrlRejectedError";
  constructor(readonly host: string, message: string) {
    super(message);
  }
}

/** Raised when a host name has no address; kept apart so it is not reported as a refusal. */
export class HostNotFoundError extends Error {
  override name = "HostNotFoundError";
  constructor(readonly host: string) {
    super(`host '${host}' could not be resolved`);
  }
}

/** Resolves a host name to its addresses; injected so tests need no DNS. */
export type Resolver = (host: string) => Promise<string[]>;

/** Resolves through the system resolver, /etc/hosts included. */
export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * The host of a URL as a connection would use it: IPv6 without brackets, and every IPv4 spelling
 * (`0x7f.1`, `2130706433`) in the dotted form the WHATWG parser gives it.
 */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "");
}

/**
 * Resolves a host once and checks every address it resolves to; the caller connects only to the
 * addresses returned, so a second, different DNS answer can never be used. One refused address
 * refuses the host: a name that points at both a public and a private address is not trusted.
 */
export async function resolveAllowed(
  host: string,
  policy: AddressPolicy,
  resolve: Resolver,
): Promise<string[]> {
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await resolve(host);
    } catch {
      throw new HostNotFoundError(host);
    }
    if (addresses.length === 0) throw new HostNotFoundError(host);
  }
  for (const address of addresses) {
    const refusal = policy.refusal(address);
    if (refusal !== null) {
      const via = address === host ? "" : ` (it resolves to ${address})`;
      throw new UrlRejectedError(host, `host '${host}' is not allowed${via}: ${refusal}`);
    }
  }
  return addresses;
}

/**
 * The quick check when a task is submitted, so obvious cases get a 422 at once. It is not the
 * guard: every connection yt-dlp and ffmpeg make is checked again by the egress proxy.
 */
export async function assertAllowedUrl(
  url: URL,
  policy: AddressPolicy,
  resolve: Resolver,
): Promise<void> {
  await resolveAllowed(hostOf(url), policy, resolve);
}
