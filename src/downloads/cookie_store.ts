import { writeFileAtomic } from "../model/atomic_file.ts";
/** Largest cookies file accepted (a browser export of many sites stays far below). */
export const MAX_COOKIES_BYTES = 1024 * 1024;

/** What the service tells about the stored cookies: never a value, only where they apply. */
export interface CookieSummary {
  count: number;
  domains: { domain: string; cookies: number; expires_at: string | null }[];
  updated_at: string;
}

/** Raised for a file that is not a Netscape cookies file; names the line. */
export class CookieFormatError extends Error {
  override name = "CookieFormatError";
}

interface Cookie {
  domain: string;
  expires: number;
}

const HTTP_ONLY = "#HttpOnly_";

/**
 * Reads a Netscape `cookies.txt` (what browser extensions and `yt-dlp --cookies-from-browser`
 * export): seven tab-separated fields per cookie, `#` comments, `#HttpOnly_` before a domain.
 * Anything else is refused with the line it is on, so that a JSON export or a pasted page is not
 * stored and then silently ignored by yt-dlp.
 */
export function parseCookiesTxt(text: string): Cookie[] {
  if (new TextEncoder().encode(text).length > MAX_COOKIES_BYTES) {
    throw new CookieFormatError(`the file is larger than ${MAX_COOKIES_BYTES} bytes`);
  }
  if (/^\s*[[{]/.test(text)) {
    throw new CookieFormatError(
      "this is JSON; export cookies in the Netscape (cookies.txt) format",
    );
  }
  const cookies: Cookie[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.startsWith(HTTP_ONLY) ? raw.slice(HTTP_ONLY.length) : raw;
    if (line.trim() === "" || line.startsWith("#")) continue;
    const fields = line.split("\t");
    const where = `line ${index + 1}`;
    if (fields.length !== 7) {
      throw new CookieFormatError(
        `${where}: expected 7 tab-separated fields, found ${fields.length}`,
      );
    }
    const [domain, subdomains, path, secure, expires, name] = fields;
    if (!/^\.?[A-Za-z0-9.-]+$/.test(domain) && !/^\[[0-9a-fA-F:]+\]$/.test(domain)) {
      throw new CookieFormatError(`${where}: '${domain.slice(0, 64)}' is not a domain`);
    }
    if (!/^(TRUE|FALSE)$/i.test(subdomains) || !/^(TRUE|FALSE)$/i.test(secure)) {
      throw new CookieFormatError(`${where}: the 2nd and 4th fields must be TRUE or FALSE`);
    }
    if (!path.startsWith("/")) throw new CookieFormatError(`${where}: the path must start with /`);
    if (!/^\d+(\.\d+)?$/.test(expires)) {
      throw new CookieFormatError(
        `${where}: the expiry must be a Unix time (0 for a session cookie)`,
      );
    }
    if (name === "") throw new CookieFormatError(`${where}: the cookie has no name`);
    cookies.push({ domain: domain.replace(/^\./, "").toLowerCase(), expires: Number(expires) });
  }
  if (cookies.length === 0) throw new CookieFormatError("the file holds no cookies");
  return cookies;
}

/** Domains and latest expiry per domain; 0 (session cookies) counts as no expiry. */
function summarise(cookies: Cookie[], updatedAt: Date): CookieSummary {
  const byDomain = new Map<string, { cookies: number; expires: number }>();
  for (const cookie of cookies) {
    const entry = byDomain.get(cookie.domain) ?? { cookies: 0, expires: 0 };
    entry.cookies++;
    entry.expires = Math.max(entry.expires, cookie.expires);
    byDomain.set(cookie.domain, entry);
  }
  return {
    count: cookies.length,
    domains: [...byDomain.entries()].sort(([a], [b]) => a.localeCompare(b)).map((
      [domain, { cookies, expires }],
    ) => ({
      domain,
      cookies,
      expires_at: expires > 0 ? new Date(expires * 1000).toISOString() : null,
    })),
    updated_at: updatedAt.toISOString(),
  };
}

/**
 * The cookies every download uses (the answer to "Sign in to confirm you're not a bot" and to
 * age-restricted videos): one file readable by the service's user only, never sent back. Each run
 * gets a copy of its own, since yt-dlp writes cookies back into the file it was given.
 */
export class CookieStore {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  /** Validates and stores a cookies file, replacing any before it. */
  async put(text: string): Promise<CookieSummary> {
    const cookies = parseCookiesTxt(text);
    await writeFileAtomic(this.#path, text, 0o600);
    return summarise(cookies, new Date());
  }

  /** Where the stored cookies apply, or null when there are none. */
  async summary(): Promise<CookieSummary | null> {
    const text = await this.#read();
    if (text === null) return null;
    const { mtime } = await Deno.stat(this.#path);
    return summarise(parseCookiesTxt(text), mtime ?? new Date());
  }

  /** Deletes the stored cookies; false when there were none. */
  async delete(): Promise<boolean> {
    try {
      await Deno.remove(this.#path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /** Copies the cookies to `path` (mode 0600) for one run; null when there are none. */
  async copyTo(path: string): Promise<string | null> {
    const text = await this.#read();
    if (text === null) return null;
    await Deno.writeTextFile(path, text, { mode: 0o600 });
    return path;
  }

  async #read(): Promise<string | null> {
    try {
      return await Deno.readTextFile(this.#path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }
}
