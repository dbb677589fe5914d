import type { Progress } from "../model/task.ts";
import type { StreamPlan, YtdlpRecord } from "./output.ts";

type ProgressRecord = Extract<YtdlpRecord, { kind: "progress" }>;

interface StreamState {
  formatId: string | null;
  weight: number | null;
  downloaded: number;
  total: number | null;
  fraction: number | null;
}

/** Share of the bar kept for merging or converting when yt-dlp will run ffmpeg afterwards. */
const PROCESSING_SHARE = 0.05;

/**
 * Folds yt-dlp's per-stream reports into one percentage per task that never goes backwards: yt-dlp
 * restarts at 0 for each stream of a merged download and its fragment totals are estimates that
 * move, so the raw figure jumps around. Streams are weighted by their known size, else bitrate,
 * else equally; a share is reserved for post-processing when one is expected.
 */
export class ProgressTracker {
  #streams: StreamState[] = [];
  #processingExpected: boolean;
  #best = 0;

  constructor(processingExpected: boolean) {
    this.#processingExpected = processingExpected;
  }

  /** Declares the streams yt-dlp chose, before their bytes arrive. */
  plan(streams: StreamPlan[]): void {
    if (this.#streams.some((s) => s.downloaded > 0)) return;
    // Weights must all be positive to mean anything; a size of 0 falls back to bitrate or equal.
    const bySize = streams.every((s) => s.size !== null && s.size > 0);
    const byRate = streams.every((s) => s.tbr !== null && s.tbr > 0);
    this.#streams = streams.map((s) => ({
      formatId: s.format_id,
      weight: bySize ? s.size : byRate ? s.tbr : 1,
      downloaded: 0,
      total: s.size !== null && s.size > 0 ? s.size : null,
      fraction: null,
    }));
    if (streams.length > 1) this.#processingExpected = true;
  }

  /** Applies one report and returns the overall progress it leads to. */
  update(record: ProgressRecord): Progress {
    const stream = this.#streamFor(record.format_id);
    const total = record.total_bytes ?? record.total_bytes_estimate;
    if (record.downloaded_bytes !== null) stream.downloaded = record.downloaded_bytes;
    if (total !== null) stream.total = Math.max(total, stream.downloaded);
    const fraction = record.status === "finished" ? 1 : fractionOf(record, stream);
    if (fraction !== null) stream.fraction = Math.max(stream.fraction ?? 0, fraction);
    if (record.status === "finished") stream.total = stream.downloaded;

    const percentage = this.#percentage(stream);
    return {
      percentage,
      downloaded_bytes: this.#streams.reduce((sum, s) => sum + s.downloaded, 0),
      total_bytes: this.#totalBytes(),
      speed: record.speed === null ? null : formatSpeed(record.speed),
      eta: record.eta === null ? null : formatEta(record.eta),
      speed_bps: record.speed === null ? null : Math.round(record.speed),
      eta_seconds: record.eta,
      fragment_index: record.fragment_index,
      fragment_count: record.fragment_count,
    };
  }

  /** The final figure once the file is in place. */
  complete(filesize: number | null): Progress {
    this.#best = 100;
    const downloaded = this.#streams.reduce((sum, s) => sum + s.downloaded, 0);
    return {
      percentage: 100,
      downloaded_bytes: downloaded || filesize,
      total_bytes: downloaded || filesize,
      speed: null,
      eta: null,
      speed_bps: null,
      eta_seconds: null,
      fragment_index: null,
      fragment_count: null,
    };
  }

  #streamFor(formatId: string | null): StreamState {
    const known = this.#streams.find((s) => s.formatId === formatId);
    if (known) return known;
    const unplanned = this.#streams.find((s) => s.formatId === null);
    if (unplanned) return unplanned;
    const stream: StreamState = {
      formatId,
      weight: 1,
      downloaded: 0,
      total: null,
      fraction: null,
    };
    if (this.#streams.length > 0) {
      for (const s of this.#streams) s.weight = 1;
    }
    this.#streams.push(stream);
    return stream;
  }

  #percentage(active: StreamState): number | null {
    if (active.fraction === null) return this.#best > 0 ? this.#best : null;
    const weightSum = this.#streams.reduce((sum, s) => sum + (s.weight ?? 1), 0);
    const done = this.#streams.reduce((sum, s) => sum + (s.weight ?? 1) * (s.fraction ?? 0), 0);
    const share = this.#processingExpected ? 1 - PROCESSING_SHARE : 1;
    const value = Math.round((done / weightSum) * share * 1000) / 10;
    if (!Number.isFinite(value)) return this.#best > 0 ? this.#best : null;
    this.#best = Math.max(this.#best, Math.min(value, 100));
    return this.#best;
  }

  #totalBytes(): number | null {
    let sum = 0;
    for (const s of this.#streams) {
      if (s.total === null) return null;
      sum += s.total;
    }
    return sum;
  }
}

function fractionOf(record: ProgressRecord, stream: StreamState): number | null {
  const { fragment_index: index, fragment_count: count } = record;
  const byBytes = stream.total ? Math.min(stream.downloaded / stream.total, 1) : null;
  if (index !== null && count) {
    const low = Math.min(index / count, 1);
    const high = Math.min((index + 1) / count, 1);
    return byBytes === null ? low : Math.min(Math.max(byBytes, low), high);
  }
  return byBytes;
}

/** "2.5 MB/s" in SI units, as the seed's message format shows. */
export function formatSpeed(bytesPerSecond: number): string {
  const units = ["B/s", "kB/s", "MB/s", "GB/s"];
  let value = bytesPerSecond;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

/** "00:00:15": hours, minutes, seconds, as the seed's message format shows. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}
