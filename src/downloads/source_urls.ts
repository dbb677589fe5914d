import { writeFileAtomic } from "../model/atomic_file.ts";
import { join } from "node:path";

/**
 * URLs that carry credentials, kept apart from the task records: one file per unfinished task,
 * readable by the service's user only, unlinked when the task ends. Not in Deno KV, because SQLite
 * keeps deleted rows in its free pages and the secret would outlive its deletion.
 */
export class SourceUrls {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Creates the directory (mode 0700) if needed. */
  async init(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
  }

  async put(taskId: string, url: string): Promise<void> {
    await writeFileAtomic(this.#path(taskId), url, 0o600);
  }

  /** The URL kept for a task, or null. */
  async get(taskId: string): Promise<string | null> {
    try {
      return await Deno.readTextFile(this.#path(taskId));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  async delete(taskId: string): Promise<void> {
    for (const path of [this.#path(taskId), `${this.#path(taskId)}.tmp`]) {
      try {
        await Deno.remove(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  }

  /** Ids of every task with a kept URL, for the sweep. */
  async ids(): Promise<string[]> {
    const ids: string[] = [];
    for await (const entry of Deno.readDir(this.#dir)) {
      if (entry.isFile && !entry.name.endsWith(".tmp")) ids.push(entry.name);
    }
    return ids;
  }

  #path(taskId: string): string {
    if (!/^[0-9a-f-]{36}$/.test(taskId)) throw new Error(`not a task id: ${taskId}`);
    return join(this.#dir, taskId);
  }
}
