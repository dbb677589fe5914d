import type { TaskStatus } from "./task.ts";

/**
 * Which status may follow which. A task changes status only through this table, checked at the
 * moment of the change, so a cancel and a completion racing each other can never both win: the
 * second finds the task terminal and is refused, like a BullMQ job that moves to completed only if
 * it is still active. `queued` follows a running status only when a graceful shutdown puts the
 * download back for the next start, and a failed or cancelled one only when someone asks for a
 * retry; a completed download is final.
 */
const NEXT: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  queued: ["downloading", "cancelled", "failed"],
  downloading: ["processing", "completed", "failed", "cancelled", "queued", "retrying"],
  processing: ["completed", "failed", "cancelled", "queued", "retrying"],
  retrying: ["queued", "cancelled"],
  completed: [],
  failed: ["queued"],
  cancelled: ["queued"],
};

/** Whether a task in status `from` may move to `to`. */
export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return NEXT[from].includes(to);
}
