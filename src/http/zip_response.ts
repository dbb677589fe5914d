import { makeZip, predictLength } from "client-zip";
import { extname } from "node:path";
import type { GroupFile } from "../downloads/manager.ts";
import { clip, type Task } from "../model/task.ts";
import { contentDisposition } from "./file_response.ts";

/** The name a finished file is saved under: the title for the main file, else its own name. */
export function savedName(task: Task, fileName: string): string {
  if (fileName !== task.filename || !task.title) return fileName;
  return `${clip(task.title, 120)}${extname(fileName)}`;
}

/**
 * A playlist's finished files as one zip, streamed: entries are stored (videos do not compress),
 * each file is opened only when its turn comes, nothing is copied to a temporary file, and the
 * length is known in advance (Zip64 where a file needs it).
 */
export function zipResponse(group: Task, files: GroupFile[]): Response {
  const width = String(Math.max(...files.map((f) => f.child.playlist_index ?? 0), 1)).length;
  const named = files.map((file) => ({
    file,
    name: `${String(file.child.playlist_index ?? 0).padStart(width, "0")} - ${
      savedName(file.child, file.name).replaceAll("/", "_")
    }`,
  }));
  async function* entries() {
    for (const { file, name } of named) {
      const handle = await Deno.open(file.path, { read: true });
      yield {
        name,
        size: file.size,
        lastModified: file.mtime ?? new Date(),
        input: handle.readable,
      };
    }
  }
  const length = predictLength(named.map(({ file, name }) => ({ name, size: file.size })));
  return new Response(makeZip(entries(), { length }), {
    headers: {
      "Content-Type": "application/zip",
      "Content-Length": String(length),
      "Content-Disposition": contentDisposition(`${clip(group.title ?? "playlist", 120)}.zip`),
    },
  });
}
