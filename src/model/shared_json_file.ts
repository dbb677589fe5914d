import { writeFileAtomic } from "./atomic_file.ts";

/**
 * A small JSON file that several processes may share (the nodes of a cluster on one DATA_DIR):
 * each change is made to the file as it is on disk, under an exclusive lock, and a reader looks
 * for changes with one stat. Written whole and atomically, readable by the service's user only.
 */
export class SharedJsonFile<T> {
  readonly #path: string;
  readonly #parse: (value: unknown) => T | null;
  /** Inode, mtime and size of the file as last read or written here. */
  #stamp = "";
  #writes: Promise<unknown> = Promise.resolve();

  /** `parse` returns null for contents that do not pass the file's schema. */
  constructor(path: string, parse: (value: unknown) => T | null) {
    this.#path = path;
    this.#parse = parse;
  }

  get path(): string {
    return this.#path;
  }

  /** The contents; null when there is no file; throws when it does not parse. */
  async read(): Promise<T | null> {
    let text: string;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.#path);
      text = await Deno.readTextFile(this.#path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    let data: T | null;
    try {
      data = this.#parse(JSON.parse(text));
    } catch {
      data = null;
    }
    if (data === null) throw new SyntaxError(`${this.#path} does not hold what it should`);
    this.#stamp = stampOf(info);
    return data;
  }

  /**
   * The contents if another process changed the file since this one last read or wrote it, else
   * null (also when it is missing or being replaced: what the caller has stands until next time).
   */
  changed(): T | null {
    try {
      const info = Deno.statSync(this.#path);
      if (stampOf(info) === this.#stamp) return null;
      const data = this.#parse(JSON.parse(Deno.readTextFileSync(this.#path)));
      if (data !== null) this.#stamp = stampOf(info);
      return data;
    } catch {
      return null;
    }
  }

  /**
   * Applies `change` to the contents as they are on disk now (or to `ours` when there is no file
   * yet, or it cannot be read: a damaged file is replaced, not emptied), under the lock, one
   * change at a time, and writes the result, which it returns.
   */
  update(ours: () => T, change: (data: T) => void, pretty = false): Promise<T> {
    const run = async () => {
      using lock = await Deno.open(`${this.#path}.lock`, {
        create: true,
        write: true,
        mode: 0o600,
      });
      await lock.lock(true);
      const data = (await this.read().catch(() => null)) ?? ours();
      change(data);
      await writeFileAtomic(this.#path, JSON.stringify(data, null, pretty ? 2 : 0), 0o600);
      this.#stamp = stampOf(await Deno.stat(this.#path));
      return data;
    };
    const result = this.#writes.catch(() => {}).then(run);
    this.#writes = result;
    return result;
  }
}

function stampOf(info: Deno.FileInfo): string {
  return `${info.ino}:${info.mtime?.getTime()}:${info.size}`;
}
