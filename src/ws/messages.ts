import type { TaskEvent } from "../downloads/manager.ts";
import type { Task } from "../model/task.ts";

/** Every message the server sends over a WebSocket. */
export interface WsMessage {
  type: "status" | "progress" | "complete" | "error" | "removed" | "summary" | "pong";
  task_id: string | null;
  data: Record<string, unknown>;
}

/** Where a finished task's file can be fetched. */
export function downloadUrl(taskId: string): string {
  return `/api/v1/download/${taskId}/file`;
}

/** The message a manager event becomes. */
export function eventMessage(event: TaskEvent): WsMessage {
  switch (event.type) {
    case "status":
      return statusMessage(event.task);
    case "progress":
      return {
        type: "progress",
        task_id: event.task.task_id,
        data: { ...event.task.progress },
      };
    case "complete":
      return completeMessage(event.task);
    case "error":
      return errorMessage(event.task);
    case "removed":
      return { type: "removed", task_id: event.taskId, data: {} };
  }
}

/**
 * What a subscriber gets first: a full snapshot, and for a task that has ended, its terminal
 * message, so a late joiner sees the same end as one who watched it all.
 */
export function snapshotMessages(task: Task): WsMessage[] {
  const messages = [statusMessage(task)];
  if (task.status === "completed") messages.push(completeMessage(task));
  if (task.status === "failed") messages.push(errorMessage(task));
  return messages;
}

/** True for the message after which a single-task socket has nothing more to say. */
export function isTerminalMessage(message: WsMessage): boolean {
  return message.type === "complete" || message.type === "error" || message.type === "removed" ||
    (message.type === "status" && message.data.status === "cancelled");
}

function statusMessage(task: Task): WsMessage {
  return { type: "status", task_id: task.task_id, data: { ...task } };
}

function completeMessage(task: Task): WsMessage {
  return {
    type: "complete",
    task_id: task.task_id,
    data: {
      title: task.title,
      filename: task.filename,
      filesize: task.filesize,
      download_url: downloadUrl(task.task_id),
    },
  };
}

function errorMessage(task: Task): WsMessage {
  return {
    type: "error",
    task_id: task.task_id,
    data: {
      code: task.error?.code ?? "download_failed",
      message: task.error?.message ?? "the download failed",
    },
  };
}
