import { RECORD_MARK } from "./args.ts";

/** One stream yt-dlp will fetch for a task; a merged video has two. */
export interface StreamPlan {
  format_id: string;
  size: number | null;
  tbr: number | null;
}

/** A record parsed from one line of yt-dlp's output. */
export type YtdlpRecord =
  | {
    kind: "info";
    id: string | null;
    title: string | null;
    ext: string | null;
    duration: number | null;
    streams: StreamPlan[];
  }
  | {
    kind: "progress";
    status: "downloading" | "finished" | "error";
    format_id: string | null;
    downloaded_bytes: number | null;
    total_bytes: number | null;
    total_bytes_estimate: number | null;
    speed: number | null;
    eta: number | null;
    fragment_index: number | null;
    fragment_count: number | null;
  }
  | { kind: "postprocess"; status: "started" | "finished"; postprocessor: string }
  /**
   * A video about to be processed, or one entry of a playlist (`playlist_index` set). `link` tells
   * an entry yt-dlp only listed (a URL of its own, as YouTube's) from one it extracted in full (a
   * page's `<video>`, reachable only by its index).
   */
  | {
    kind: "entry";
    id: string | null;
    title: string | null;
    url: string | null;
    webpage_url: string | null;
    playlist_index: number | null;
    playlist_count: number | null;
    playlist_title: string | null;
    link: boolean;
    duration: number | null;
  }
  | { kind: "file"; path: string }
  | { kind: "error"; message: string }
  /** yt-dlp refused the file because the source announced a size over `--max-filesize`. */
  | { kind: "too_large"; message: string };

type Json = Record<string, unknown>;

/**
 * Reads one line of yt-dlp output. Lines may hold several records (2023.03.04 wrote postprocessor
 * records without a newline) or none (warnings, debug text); anything unreadable is skipped, never
 * thrown, because a stray line must not end a download.
 */
export function parseYtdlpLine(line: string): YtdlpRecord[] {
  const records: YtdlpRecord[] = [];
  // yt-dlp clears its progress line with "\r", even in the middle of an ERROR line.
  const trimmed = line.replaceAll("\r", "").trimEnd();
  if (trimmed.startsWith("ERROR:")) {
    records.push({ kind: "error", message: trimmed.slice("ERROR:".length).trim() });
    return records;
  }
  if (/File is larger than max-filesize/.test(trimmed)) {
    records.push({ kind: "too_large", message: trimmed.replace(/^\[download\]\s*/, "") });
    return records;
  }
  for (const chunk of trimmed.split(RECORD_MARK).slice(1)) {
    const record = parseRecord(chunk.trim());
    if (record) records.push(record);
  }
  return records;
}

function parseRecord(chunk: string): YtdlpRecord | null {
  const space = chunk.indexOf(" ");
  if (space < 0) return null;
  const kind = chunk.slice(0, space);
  const rest = chunk.slice(space + 1);
  switch (kind) {
    case "progress": {
      const [progress, second] = parseJsonPair(nullNonFinite(rest));
      if (!progress) return null;
      const info = isObject(second) ? second : null;
      const status = progress.status;
      if (status !== "downloading" && status !== "finished" && status !== "error") return null;
      return {
        kind: "progress",
        status,
        format_id: text(info?.format_id),
        downloaded_bytes: count(progress.downloaded_bytes),
        total_bytes: count(progress.total_bytes),
        total_bytes_estimate: count(progress.total_bytes_estimate),
        speed: positive(progress.speed),
        eta: count(progress.eta),
        fragment_index: count(progress.fragment_index),
        fragment_count: count(progress.fragment_count),
      };
    }
    case "postprocess": {
      const [progress] = parseJsonPair(rest);
      const status = progress?.status;
      const postprocessor = text(progress?.postprocessor);
      if ((status !== "started" && status !== "finished") || !postprocessor) return null;
      return { kind: "postprocess", status, postprocessor };
    }
    case "info": {
      const [info, formats] = parseJsonPair(rest);
      if (!info) return null;
      const requested = Array.isArray(formats) ? formats : [];
      const streams = requested.flatMap((f: Json) => {
        const formatId = text(f?.format_id);
        if (!formatId) return [];
        return [{
          format_id: formatId,
          size: count(f.filesize) ?? count(f.filesize_approx),
          tbr: positive(f.tbr),
        }];
      });
      return {
        kind: "info",
        id: text(info.id),
        title: text(info.title),
        ext: text(info.ext),
        duration: positive(info.duration),
        streams,
      };
    }
    case "entry": {
      const entry = safeJson(nullNonFinite(rest));
      if (!isObject(entry)) return null;
      const type = text(entry._type);
      return {
        kind: "entry",
        id: text(entry.id),
        title: text(entry.title),
        url: text(entry.url),
        webpage_url: text(entry.webpage_url),
        playlist_index: positive(entry.playlist_index),
        playlist_count: count(entry.playlist_count),
        playlist_title: text(entry.playlist_title),
        link: type === "url" || type === "url_transparent",
        duration: positive(entry.duration),
      };
    }
    case "file": {
      const path = safeJson(rest);
      return typeof path === "string" && path !== "" ? { kind: "file", path } : null;
    }
    default:
      return null;
  }
}

/**
 * Python's json writes NaN, Infinity and -Infinity for such floats, which JSON has no words for;
 * they become null. Only bare tokens change: the same letters inside a string (a format id such
 * as "hls-NaN") are left alone.
 */
export function nullNonFinite(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") {
        out += c + (text[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === '"') inString = false;
      out += c;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const token = ["-Infinity", "Infinity", "NaN"].find((word) => text.startsWith(word, i));
    if (token) {
      out += "null";
      i += token.length - 1;
      continue;
    }
    out += c;
  }
  return out;
}

/** Splits `{...} {...}` or `{...} [...]` (two JSON values joined by one space) and parses both. */
function parseJsonPair(rest: string): [Json | null, Json | Json[] | null] {
  const whole = safeJson(rest);
  if (isObject(whole)) return [whole, null];
  for (const splitAt of candidateSplits(rest)) {
    const first = safeJson(rest.slice(0, splitAt));
    if (!isObject(first)) continue;
    const second = safeJson(rest.slice(splitAt + 1));
    if (isObject(second) || Array.isArray(second)) return [first, second as Json | Json[]];
    if (second === null || typeof second === "string") return [first, null];
  }
  return [null, null];
}

function* candidateSplits(rest: string): Generator<number> {
  for (let i = rest.indexOf("} "); i >= 0; i = rest.indexOf("} ", i + 1)) yield i + 1;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" && value !== "NA" ? value : null;
}

function count(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null;
}

function positive(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : null;
}
