import { singleFlight } from "../single_flight.ts";
import type { YtdlpHealth } from "./probe.ts";

/** What is known of the installed yt-dlp, and when it was last asked. */
export interface YtdlpStatus {
  version: string | null;
  reason: string | null;
  checked_at: string | null;
}

/**
 * Keeps the yt-dlp version probed at start-up, so that a health check never starts a Python of its
 * own: once the answer is older than `maxAgeMs` a single background probe refreshes it, however
 * many checks ask meanwhile.
 */
export class YtdlpVersionMonitor {
  readonly #refresh: () => Promise<YtdlpStatus>;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  #status: YtdlpStatus = { version: null, reason: "not probed yet", checked_at: null };
  #checkedAt = -Infinity;

  constructor(
    probe: () => Promise<YtdlpHealth>,
    options: { now?: () => number; maxAgeMs?: number } = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.#refresh = singleFlight(async () => {
      const health = await probe();
      this.#checkedAt = this.#now();
      this.#status = {
        version: health.version,
        reason: health.reason ?? null,
        checked_at: new Date(this.#checkedAt).toISOString(),
      };
      return this.#status;
    });
  }

  /** The last answer; starts a refresh in the background when it is stale. Never waits. */
  get current(): YtdlpStatus {
    if (this.#now() - this.#checkedAt > this.#maxAgeMs) this.#refresh().catch(() => {});
    return this.#status;
  }

  /** Probes now (sharing a probe already under way) and returns the fresh answer. */
  refresh(): Promise<YtdlpStatus> {
    return this.#refresh();
  }
}
