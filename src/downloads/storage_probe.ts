import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { singleFlight } from "../single_flight.ts";

/** Whether DATA_DIR takes writes, and how much room is left in it. */
export interface StorageStatus {
  writable: boolean;
  free_bytes: number | null;
  error: string | null;
}

/** Bytes available to the service's user on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const stats = await statfs(path);
  return Number(stats.bavail) * Number(stats.bsize);
}

/**
 * Checks DATA_DIR by writing a small file and reading the free space; the answer is reused for
 * `maxAgeMs`, and concurrent checks share one probe.
 */
export class StorageProbe {
  readonly #check: () => Promise<StorageStatus>;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  #last: StorageStatus | null = null;
  #at = -Infinity;

  constructor(dataDir: string, options: { now?: () => number; maxAgeMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxAgeMs = options.maxAgeMs ?? 5000;
    this.#check = singleFlight(async () => {
      const probe = join(dataDir, ".write-probe");
      let status: StorageStatus;
      try {
        await Deno.writeTextFile(probe, String(this.#now()));
        await Deno.remove(probe);
        status = { writable: true, free_bytes: await freeBytes(dataDir), error: null };
      } catch (error) {
        const free = await freeBytes(dataDir).catch(() => null);
        status = { writable: false, free_bytes: free, error: (error as Error).message };
      }
      this.#last = status;
      this.#at = this.#now();
      return status;
    });
  }

  async check(): Promise<StorageStatus> {
    if (this.#last !== null && this.#now() - this.#at < this.#maxAgeMs) return this.#last;
    return await this.#check();
  }
}
