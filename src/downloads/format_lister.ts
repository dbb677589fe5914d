import { clip, MAX_MESSAGE_LENGTH, MAX_TITLE_LENGTH } from "../model/task.ts";
import type { Egress } from "../net/egress_proxy.ts";
import { scrub, urlSecrets } from "../net/redact.ts";
import { UrlRejectedError } from "../net/url_policy.ts";
import { failureReason } from "../ytdlp/failure_reason.ts";
import { parseYtdlpLine } from "../ytdlp/output.ts";
import { runYtdlp, type YtdlpLauncher } from "../ytdlp/process.ts";
import type { YtdlpSource } from "../ytdlp/source.ts";
import type { CookieStore } from "./cookie_store.ts";

/** One format yt-dlp offers for a video, in the fields a person chooses by. */
export interface FormatInfo {
  format_id: string;
  ext: string | null;
  resolution: string | null;
  fps: number | null;
  vcodec: string | null;
  acodec: string | null;
  /** Bytes, exact or yt-dlp's estimate. */
  size: number | null;
  /** Kilobits per second. */
  tbr: number | null;
  note: string | null;
}

/** What `GET /formats` answers: the formats of a video, or how many entries a playlist has. */
export interface FormatListing {
  kind: "video" | "playlist";
  title: string | null;
  duration: number | null;
  formats: FormatInfo[];
  /** For a playlist: entries yt-dlp listed. */
  entries: number | null;
  fetched_at: string;
}

/** Raised when yt-dlp cannot list the formats; `code` is one of the task error codes. */
export class FormatListingError extends Error {
  override name = "FormatListingError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Settings of the lister; the same yt-dlp, proxy and cookies as the downloads. */
export interface FormatListerOptions {
  ytdlp: YtdlpSource;
  egress: Egress;
  denoPath: string;
  env: Record<string, string>;
  cookies?: CookieStore | null;
  /** How long an answer is reused. */
  ttlMs?: number;
  /** Answers kept at most (the oldest go first). */
  maxCached?: number;
  timeoutMs?: number;
  now?: () => number;
  /** How yt-dlp is started: the fork server's launcher, or a spawn (the default). */
  launch?: YtdlpLauncher;
}

const MAX_JSON_BYTES = 32 * 1024 * 1024;

/**
 * Asks yt-dlp what formats a URL offers (`-J`, nothing downloaded), under the same URL policy as
 * downloads (every connection through the egress proxy). Answers are cached for a few minutes, and
 * concurrent asks for one URL share one yt-dlp.
 */
export class FormatLister {
  readonly #options: Required<Omit<FormatListerOptions, "cookies">> & {
    cookies: CookieStore | null;
  };
  readonly #cache = new Map<string, { at: number; listing: Promise<FormatListing> }>();

  constructor(options: FormatListerOptions) {
    this.#options = {
      ...options,
      cookies: options.cookies ?? null,
      ttlMs: options.ttlMs ?? 5 * 60_000,
      maxCached: options.maxCached ?? 100,
      timeoutMs: options.timeoutMs ?? 60_000,
      now: options.now ?? Date.now,
      launch: options.launch ?? runYtdlp,
    };
  }

  list(url: string): Promise<FormatListing> {
    const now = this.#options.now();
    const cached = this.#cache.get(url);
    if (cached && now - cached.at < this.#options.ttlMs) return cached.listing;
    const listing = this.#fetch(url);
    this.#cache.set(url, { at: now, listing });
    // A failure is not kept: the next ask tries again.
    listing.catch(() => this.#cache.get(url)?.listing === listing && this.#cache.delete(url));
    while (this.#cache.size > this.#options.maxCached) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    return listing;
  }

  async #fetch(url: string): Promise<FormatListing> {
    const { ytdlp, egress, denoPath, env, cookies, timeoutMs, now } = this.#options;
    let refused: UrlRejectedError | null = null;
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), timeoutMs);
    using binary = ytdlp.acquire();
    using session = egress.open({
      onRefused: (host, message) => {
        refused ??= new UrlRejectedError(host, message);
        stop.abort();
      },
      onUnreachable: () => {},
    });
    const dir = await Deno.makeTempDir({ prefix: "ytdl-formats-" });
    const secrets = [...urlSecrets(url), session.secret];
    let json = "";
    let errorLine: string | null = null;
    try {
      const cookiesFile = cookies ? await cookies.copyTo(`${dir}/cookies.txt`) : null;
      const exit = await this.#options.launch({
        executable: binary.path,
        args: [
          "--ignore-config",
          "--no-cache-dir",
          "--no-playlist",
          "--flat-playlist",
          "--no-warnings",
          "-J",
          "--proxy",
          session.proxyUrl,
          ...(binary.features.jsRuntimes ? ["--js-runtimes", `deno:${denoPath}`] : []),
          ...(cookiesFile ? ["--cookies", cookiesFile] : []),
          "--",
          url,
        ],
        cwd: dir,
        env,
        signal: stop.signal,
        onLine: (line, stream) => {
          if (stream === "stdout") {
            if (json.length + line.length > MAX_JSON_BYTES) throw new Error("answer too large");
            json += line;
          } else {
            for (const record of parseYtdlpLine(line)) {
              if (record.kind === "error") errorLine = record.message;
            }
          }
        },
      });
      if (refused !== null) throw refused;
      if (stop.signal.aborted) {
        throw new FormatListingError("timed_out", `yt-dlp took longer than ${timeoutMs / 1000} s`);
      }
      if (exit.code !== 0) {
        const reason = failureReason(errorLine, exit.code);
        throw new FormatListingError(
          reason.code,
          clip(scrub(reason.message, secrets), MAX_MESSAGE_LENGTH),
        );
      }
      return describe(JSON.parse(json), now());
    } finally {
      clearTimeout(timer);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

type Json = Record<string, unknown>;

function describe(info: Json, now: number): FormatListing {
  const text = (v: unknown) => typeof v === "string" && v !== "" && v !== "none" ? v : null;
  const number = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null;
  const title = text(info.title);
  if (info._type === "playlist") {
    return {
      kind: "playlist",
      title: title && clip(title, MAX_TITLE_LENGTH),
      duration: null,
      formats: [],
      entries: Array.isArray(info.entries) ? info.entries.length : number(info.playlist_count),
      fetched_at: new Date(now).toISOString(),
    };
  }
  const formats = (Array.isArray(info.formats) ? info.formats as Json[] : []).flatMap((f) => {
    const id = text(f.format_id);
    if (id === null) return [];
    return [{
      format_id: id,
      ext: text(f.ext),
      resolution: text(f.resolution) ??
        (number(f.height) ? `${number(f.width) ?? "?"}x${number(f.height)}` : null),
      fps: number(f.fps),
      vcodec: text(f.vcodec),
      acodec: text(f.acodec),
      size: number(f.filesize) ?? number(f.filesize_approx),
      tbr: number(f.tbr),
      note: text(f.format_note),
    }];
  });
  return {
    kind: "video",
    title: title && clip(title, MAX_TITLE_LENGTH),
    duration: number(info.duration),
    formats,
    entries: null,
    fetched_at: new Date(now).toISOString(),
  };
}
