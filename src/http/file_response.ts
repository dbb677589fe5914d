import { extname } from "node:path";
import { TaskStateError } from "../model/errors.ts";

const MEDIA_TYPES: Record<string, string> = {
  ".mp4": "video/mp4",
  ".m4v": "video/mp4",
  ".webm": "video/webm",
  ".mkv": "video/x-matroska",
  ".mov": "video/quicktime",
  ".ts": "video/mp2t",
  ".mp3": "audio/mpeg",
  ".m4a": "audio/mp4",
  ".opus": "audio/ogg",
  ".ogg": "audio/ogg",
  ".flac": "audio/flac",
  ".wav": "audio/wav",
};

/**
 * Streams a file from disk (never buffered whole) with single-range support, so players can seek
 * and interrupted saves can resume, and names it for the browser's save dialog.
 */
export async function fileResponse(
  request: Request,
  path: string,
  downloadName: string,
): Promise<Response> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new TaskStateError("file_gone", "the file is no longer on disk");
  }
  try {
    const { size, mtime } = await file.stat();
    const headers = new Headers({
      "Content-Type": MEDIA_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream",
      "Content-Disposition": contentDisposition(downloadName),
      "Accept-Ranges": "bytes",
    });
    if (mtime) headers.set("Last-Modified", mtime.toUTCString());
    const range = parseRange(request.headers.get("Range"), size);
    if (range === "unsatisfiable") {
      file.close();
      headers.set("Content-Range", `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    if (request.method === "HEAD") {
      file.close();
      headers.set("Content-Length", String(size));
      return new Response(null, { status: 200, headers });
    }
    if (range === null) {
      headers.set("Content-Length", String(size));
      return new Response(file.readable, { status: 200, headers });
    }
    const [start, end] = range;
    await file.seek(start, Deno.SeekMode.Start);
    headers.set("Content-Length", String(end - start + 1));
    headers.set("Content-Range", `bytes ${start}-${end}/${size}`);
    return new Response(file.readable.pipeThrough(limitBytes(end - start + 1)), {
      status: 206,
      headers,
    });
  } catch (error) {
    file.close();
    throw error;
  }
}

/**
 * RFC 6266 header: an ASCII fallback for old clients and `filename*` in UTF-8 for the real title
 * (Korean and other non-ASCII names survive).
 */
export function contentDisposition(name: string): string {
  const clean = [...name].map((c) => c < " " || c === "\x7f" || c === "/" || c === "\\" ? "_" : c)
    .join("");
  const ascii = clean.normalize("NFKD").replace(/[^\x20-\x7e]/g, "_").replace(/["%]/g, "_");
  const encoded = encodeURIComponent(clean).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** Parses a single `bytes=` range; multiple ranges are answered with the whole file. */
export function parseRange(
  header: string | null,
  size: number,
): [number, number] | null | "unsatisfiable" {
  if (header === null) return null;
  const match = header.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!match || (match[1] === "" && match[2] === "")) return null;
  let start: number;
  let end: number;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
    if (end < start && match[2] !== "") return null;
  }
  if (start >= size) return "unsatisfiable";
  return [start, end];
}

function limitBytes(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let left = limit;
  return new TransformStream({
    transform(chunk, controller) {
      if (left <= 0) return;
      const part = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
      left -= part.byteLength;
      controller.enqueue(part);
      if (left <= 0) controller.terminate();
    },
  });
}
