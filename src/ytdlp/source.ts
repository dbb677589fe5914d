import { singleFlight } from "../single_flight.ts";
import type { YtdlpFeatures } from "./args.ts";
import { probeYtdlp, type YtdlpProbe } from "./probe.ts";

/** The yt-dlp one run uses; held until disposed, so that an update never pulls it away mid-run. */
export interface YtdlpBinary extends Disposable {
  readonly path: string;
  readonly features: YtdlpFeatures;
}

/** How a managed update or rollback ended. */
export interface UpdateAttempt {
  at: string;
  outcome: "updated" | "up_to_date" | "failed" | "rolled_back";
  from: string | null;
  to: string | null;
  /** Why it failed, in words; null otherwise. */
  reason: string | null;
}

/** What the service tells about its yt-dlp (`GET /api/v1/ytdlp`, `/healthz`, the page). */
export interface YtdlpInfo {
  /** True when the service installs and updates yt-dlp itself (no `YTDLP_PATH`). */
  managed: boolean;
  path: string | null;
  version: string | null;
  channel: string | null;
  /** Days since the release date in the version number. */
  release_age_days: number | null;
  js_runtime: string | null;
  ejs: string | null;
  /** Why yt-dlp is unusable, or null. */
  problem: string | null;
  checked_at: string | null;
  /** The version a rollback would return to (managed only). */
  previous: string | null;
  update: {
    mode: "stable" | "nightly" | "off";
    schedule: string | null;
    running: boolean;
    last_attempt: UpdateAttempt | null;
  } | null;
}

/** Where runs get their yt-dlp from, and what the service reports about it. */
export interface YtdlpSource {
  /** The binary a new run should use. */
  acquire(): YtdlpBinary;
  info(): YtdlpInfo;
}

/** Days between the date in a yt-dlp version (`2026.10.26`, `2026.11.29.232812`) and `now`. */
export function releaseAgeDays(version: string | null, now: number): number | null {
  const match = version?.match(/^(\d{4})\.(\d{1,2})\.(\d{1,2})/);
  if (!match) return null;
  const released = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return Math.max(0, Math.floor((now - released) / 86400_000));
}

/** The parts of an info that come from probing one executable. */
export function probedInfo(
  path: string,
  probe: YtdlpProbe,
  checkedAt: number,
  now: number,
): Pick<
  YtdlpInfo,
  | "path"
  | "version"
  | "channel"
  | "release_age_days"
  | "js_runtime"
  | "ejs"
  | "problem"
  | "checked_at"
> {
  return {
    path,
    version: probe.version,
    channel: probe.channel,
    release_age_days: releaseAgeDays(probe.version, now),
    js_runtime: probe.jsRuntime,
    ejs: probe.ejs,
    problem: probe.problem,
    checked_at: new Date(checkedAt).toISOString(),
  };
}

/**
 * A yt-dlp the operator installed (`YTDLP_PATH`): used as it is, never updated. Probed at start-up
 * and again, by one background probe at a time, once the answer is older than `maxAgeMs`, so that
 * a health check never starts a Python of its own.
 */
export class FixedYtdlp implements YtdlpSource {
  readonly #path: string;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  readonly #refresh: () => Promise<void>;
  #probe: YtdlpProbe | null = null;
  #checkedAt = -Infinity;

  constructor(
    path: string,
    denoPath: string,
    options: { now?: () => number; maxAgeMs?: number; env?: Record<string, string> } = {},
  ) {
    this.#path = path;
    this.#now = options.now ?? Date.now;
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.#refresh = singleFlight(async () => {
      this.#probe = await probeYtdlp(path, denoPath, options.env);
      this.#checkedAt = this.#now();
    });
  }

  /** Probes the executable once; call before serving. */
  async init(): Promise<this> {
    await this.#refresh();
    return this;
  }

  acquire(): YtdlpBinary {
    return {
      path: this.#path,
      features: this.#probe?.features ?? { progressDelta: false, jsRuntimes: false },
      [Symbol.dispose]() {},
    };
  }

  info(): YtdlpInfo {
    const now = this.#now();
    if (now - this.#checkedAt > this.#maxAgeMs) this.#refresh().catch(() => {});
    const probe = this.#probe ?? {
      version: null,
      channel: null,
      ejs: null,
      jsRuntime: null,
      features: { progressDelta: false, jsRuntimes: false },
      problem: "not probed yet",
    };
    return {
      managed: false,
      ...probedInfo(this.#path, probe, this.#checkedAt, now),
      previous: null,
      update: null,
    };
  }
}
