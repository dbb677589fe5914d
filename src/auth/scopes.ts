/**
 * What a credential may do: `read` (tasks, files, sockets, metrics), `download` (submit, retry,
 * cancel, remove, format look-ups), `admin` (yt-dlp updates, cookies, tokens, webhooks). A login
 * session has all three.
 */
export type Scope = "read" | "download" | "admin";

export const SCOPES: readonly Scope[] = ["read", "download", "admin"];
