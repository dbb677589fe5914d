import { DatabaseSync } from "node:sqlite";
import type { Task } from "../model/task.ts";
import { storedTask, storedTaskSchema } from "../model/task_schema.ts";

/** Where task records outlive the process; written on status changes, not progress ticks. */
export interface TaskStore {
  save(task: Task): Promise<void>;
  /**
   * Saves a new task unless `maxQueued` tasks already wait (false then). The store decides because
   * on a cluster only it sees every node's submissions at once.
   */
  insert(task: Task, maxQueued: number): Promise<boolean>;
  /** One record as stored now, or null (a cluster's worker reads it before starting a task). */
  get(taskId: string): Promise<Task | null>;
  delete(taskId: string): Promise<void>;
  /** Every stored record that passes validation, and the keys of those that did not. */
  list(): Promise<{ tasks: Task[]; rejected: string[] }>;
}

/** The store, and the file it set aside if the old one could not be read. */
export interface OpenedStore {
  store: KvTaskStore;
  /** Path the unreadable database was moved to, or null when it was fine. */
  setAside: string | null;
  /** What was wrong with it. */
  problem: string | null;
}

/** Tables of a Deno KV database; a SQLite file without them is someone else's. */
const KV_TABLES = ["kv", "data_version"];

/** Task records in Deno KV: embedded, a single file under DATA_DIR, no service to run. */
export class KvTaskStore implements TaskStore, Disposable {
  #kv: Deno.Kv;

  private constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /**
   * Opens (or creates) the database file. A file that is not a healthy Deno KV database (Deno can
   * panic on some damage, which no try/catch survives) is checked with SQLite first and, if bad,
   * renamed to `<path>.corrupt-<time>` so that the service starts with an empty index; finished
   * files are then re-adopted from their task directories, never deleted.
   */
  static async open(path: string, now: () => number = Date.now): Promise<OpenedStore> {
    let problem = databaseProblem(path);
    if (problem === null) {
      const kv = await Deno.openKv(path);
      const store = new KvTaskStore(kv);
      try {
        await store.list();
        return { store, setAside: null, problem: null };
      } catch (error) {
        kv.close();
        problem = `its records cannot be read (${(error as Error).message})`;
      }
    }
    const stamp = new Date(now()).toISOString().replaceAll(":", "-");
    const setAside = `${path}.corrupt-${stamp}`;
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        await Deno.rename(path + suffix, setAside + suffix);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return { store: new KvTaskStore(await Deno.openKv(path)), setAside, problem };
  }

  async save(task: Task): Promise<void> {
    await this.#kv.set(["tasks", task.task_id], storedTask(task));
  }

  /** One process: the manager's own count is exact, so this only saves. */
  async insert(task: Task, _maxQueued: number): Promise<boolean> {
    await this.save(task);
    return true;
  }

  async get(taskId: string): Promise<Task | null> {
    const parsed = storedTaskSchema.safeParse((await this.#kv.get(["tasks", taskId])).value);
    return parsed.success ? parsed.data.task : null;
  }

  async delete(taskId: string): Promise<void> {
    await this.#kv.delete(["tasks", taskId]);
  }

  async list(): Promise<{ tasks: Task[]; rejected: string[] }> {
    const tasks: Task[] = [];
    const rejected: string[] = [];
    for await (const entry of this.#kv.list({ prefix: ["tasks"] })) {
      const parsed = storedTaskSchema.safeParse(entry.value);
      if (parsed.success && parsed.data.task.task_id === entry.key[1]) tasks.push(parsed.data.task);
      else rejected.push(String(entry.key[1]));
    }
    return { tasks, rejected };
  }

  [Symbol.dispose](): void {
    this.#kv.close();
  }
}

/** Why the file at `path` is not a usable Deno KV database, or null (also when it does not exist). */
export function databaseProblem(path: string): string | null {
  try {
    Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    return (error as Error).message;
  }
  let db: DatabaseSync | null = null;
  try {
    // Read-write, so that a -wal left by a crash can be read (read-only needs its -shm intact).
    db = new DatabaseSync(path);
    const check = db.prepare("PRAGMA quick_check").all() as { quick_check: string }[];
    if (check.length !== 1 || check[0].quick_check !== "ok") {
      return `SQLite reports damage: ${check.map((row) => row.quick_check).join("; ")}`;
    }
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[]).map((row) => row.name);
    if (tables.length > 0 && !KV_TABLES.every((name) => tables.includes(name))) {
      return "it is a SQLite database, but not a Deno KV one";
    }
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    db?.close();
  }
}
