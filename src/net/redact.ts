/** What stands in for credentials wherever a URL is shown. */
export const REDACTED = "***";

/**
 * The URL as people and logs see it: any `user:password@` becomes `***@`. The real URL is used for
 * the fetch and kept only while the download needs it.
 */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.username === "" && parsed.password === "") return parsed.href;
  parsed.username = REDACTED;
  parsed.password = "";
  return parsed.href;
}

/** The credential parts of a URL, raw and decoded, to scrub from text that might echo them. */
export function urlSecrets(url: string): string[] {
  const { username, password } = new URL(url);
  const raw = [username, password].filter((part) => part.length >= 3);
  return [...new Set([...raw, ...raw.map(safeDecode)])].sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of each secret (yt-dlp error lines can quote the URL). */
export function scrub(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) if (secret !== "") result = result.replaceAll(secret, REDACTED);
  return result;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
