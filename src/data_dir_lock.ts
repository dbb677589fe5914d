import { join } from "node:path";

/** Raised when another process holds the data directory. */
export class DataDirBusyError extends Error {
  override name = "DataDirBusyError";
  constructor(readonly dataDir: string, readonly holderPid: string | null) {
    super(
      `DATA_DIR '${dataDir}' is in use by another instance${
        holderPid ? ` (pid ${holderPid})` : ""
      }; stop it, or give this one its own DATA_DIR`,
    );
  }
}

/**
 * An exclusive lock on DATA_DIR, taken before anything else touches the directory: a second
 * instance would otherwise run recovery and the sweep on the first one's live downloads. The lock
 * is an flock on `DATA_DIR/.lock`, released by the kernel however the process ends; the file
 * holds the owner's PID for the message a second instance prints.
 */
export class DataDirLock implements Disposable {
  readonly #file: Deno.FsFile;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  static async acquire(dataDir: string, pid = Deno.pid): Promise<DataDirLock> {
    await Deno.mkdir(dataDir, { recursive: true });
    const path = join(dataDir, ".lock");
    const file = await Deno.open(path, { read: true, write: true, create: true });
    if (!(await file.tryLock(true))) {
      file.close();
      const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
      throw new DataDirBusyError(dataDir, /^\d+$/.test(holder) ? holder : null);
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${pid}\n`));
    return new DataDirLock(file);
  }

  [Symbol.dispose](): void {
    this.#file.close();
  }
}
