import type { Task } from "../model/task.ts";
import type { TaskEvent } from "./manager.ts";

/** How a task's run ended, as webhooks, metrics and logs report it. */
export interface TaskEnding {
  outcome: "completed" | "failed" | "cancelled";
  task: Task;
  /** Same for every report of one end; a retried task that ends again gets a new one. */
  key: string;
}

/** The end a task event announces, if it announces one. */
export function taskEndingOf(event: TaskEvent): TaskEnding | null {
  if (event.type === "removed") return null;
  const outcome = event.type === "complete"
    ? "completed"
    : event.type === "error"
    ? "failed"
    : event.type === "status" && event.task.status === "cancelled"
    ? "cancelled"
    : null;
  if (outcome === null) return null;
  const { task } = event;
  return { outcome, task, key: `${task.task_id}:${outcome}:${task.finished_at}` };
}

/** Remembers the newest keys so that an end reported twice is counted once. */
export class SeenKeys {
  readonly #keys = new Set<string>();
  constructor(readonly capacity = 2000) {}

  /** True the first time a key is offered. */
  add(key: string): boolean {
    if (this.#keys.has(key)) return false;
    this.#keys.add(key);
    if (this.#keys.size > this.capacity) this.#keys.delete(this.#keys.values().next().value!);
    return true;
  }
}
