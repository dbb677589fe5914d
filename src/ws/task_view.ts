import type { TaskCounts, TaskEvent, TaskPage } from "../downloads/manager.ts";
import { TaskNotFoundError } from "../model/errors.ts";
import { isTerminal, type Task, TASK_STATUSES, type TaskStatus } from "../model/task.ts";
import type { TaskFeed } from "./hub.ts";

/**
 * The tasks as a cluster's event stream has told them, for an API node's sockets: the state and
 * the events come from the same ordered log, so a snapshot is never ahead of, or behind, the
 * events that follow it. A task not seen yet (submitted here a moment ago) is looked up in
 * `fallback`, the node's own records.
 */
export class TaskView implements TaskFeed {
  readonly #tasks = new Map<string, Task>();
  readonly #listeners = new Set<(event: TaskEvent) => void>();
  readonly #fallback: (taskId: string) => Task;

  constructor(initial: Task[], fallback: (taskId: string) => Task) {
    for (const task of initial) this.#tasks.set(task.task_id, task);
    this.#fallback = fallback;
  }

  /** Takes in the next event of the stream and passes it on. */
  push(event: TaskEvent): void {
    if (event.type === "removed") this.#tasks.delete(event.taskId);
    else this.#tasks.set(event.task.task_id, event.task);
    for (const listener of this.#listeners) listener(event);
  }

  get(taskId: string): Task {
    const task = this.#tasks.get(taskId);
    if (task !== undefined) return task;
    try {
      return this.#fallback(taskId);
    } catch {
      throw new TaskNotFoundError(taskId);
    }
  }

  list(limit: number): TaskPage {
    const all = [...this.#tasks.values()].sort((a, b) =>
      b.created_at.localeCompare(a.created_at) || b.task_id.localeCompare(a.task_id)
    );
    return { tasks: all.slice(0, limit), next: null };
  }

  running(): Task[] {
    return [...this.#tasks.values()].filter(isRunning);
  }

  counts(): TaskCounts {
    const by_status = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<
      TaskStatus,
      number
    >;
    let running = 0;
    for (const task of this.#tasks.values()) {
      by_status[task.status]++;
      if (isRunning(task)) running++;
    }
    return { total: this.#tasks.size, queued: by_status.queued, running, by_status };
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

function isRunning(task: Task): boolean {
  return task.kind !== "playlist" && !isTerminal(task.status) && task.status !== "queued" &&
    task.status !== "retrying";
}
