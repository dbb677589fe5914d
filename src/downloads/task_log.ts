import type { Logger } from "../log/logger.ts";
import type { TaskEvent } from "./manager.ts";
import { taskEndingOf } from "./task_ending.ts";

/** Where task events come from (the download manager). */
export interface TaskLogFeed {
  subscribe(listener: (event: TaskEvent) => void): () => void;
}

/**
 * Logs each task's changes of status, one line each with its task id (and its group's), and how
 * it ended: file and size, or the error code and message. Progress and record updates are not
 * logged. Returns the unsubscribe function.
 */
export function logTaskEvents(feed: TaskLogFeed, logger: Logger): () => void {
  const last = new Map<string, string>();
  return feed.subscribe((event) => {
    if (event.type === "removed") {
      last.delete(event.taskId);
      logger.info("task removed", { task_id: event.taskId });
      return;
    }
    if (event.type === "progress") return;
    const { task } = event;
    const ids = { task_id: task.task_id, group_id: task.group_id ?? undefined, kind: task.kind };
    const ending = taskEndingOf(event);
    if (ending !== null && event.type !== "status") {
      if (ending.outcome === "completed") {
        logger.info("task completed", { ...ids, file: task.filename, bytes: task.filesize });
      } else {
        logger.warn("task failed", { ...ids, code: task.error?.code, error: task.error?.message });
      }
      return;
    }
    if (last.get(task.task_id) === task.status) return;
    if (task.status === "completed" || task.status === "failed") {
      // Told by the complete or error event, with what explains it.
      last.delete(task.task_id);
      return;
    }
    if (task.status === "cancelled") last.delete(task.task_id);
    else last.set(task.task_id, task.status);
    logger.info(`task ${task.status}`, ids);
  });
}
