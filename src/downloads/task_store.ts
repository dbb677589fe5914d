import type { Task } from "../model/task.ts";

/** Where task records outlive the process; written on status changes, not progress ticks. */
export interface TaskStore {
  save(task: Task): Promise<void>;
  delete(taskId: string): Promise<void>;
  list(): Promise<Task[]>;
}

/** Task records in Deno KV: embedded, a single file under DATA_DIR, no service to run. */
export class KvTaskStore implements TaskStore, Disposable {
  #kv: Deno.Kv;

  private constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Opens (or creates) the database file. */
  static async open(path: string): Promise<KvTaskStore> {
    return new KvTaskStore(await Deno.openKv(path));
  }

  async save(task: Task): Promise<void> {
    await this.#kv.set(["tasks", task.task_id], task);
  }

  async delete(taskId: string): Promise<void> {
    await this.#kv.delete(["tasks", taskId]);
  }

  async list(): Promise<Task[]> {
    const tasks: Task[] = [];
    for await (const entry of this.#kv.list<Task>({ prefix: ["tasks"] })) tasks.push(entry.value);
    return tasks;
  }

  [Symbol.dispose](): void {
    this.#kv.close();
  }
}
