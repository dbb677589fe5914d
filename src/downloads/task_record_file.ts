import { writeFileAtomic } from "../model/atomic_file.ts";
import type { Task } from "../model/task.ts";
import { storedTask, storedTaskSchema } from "../model/task_schema.ts";
import type { TaskLayout } from "./task_layout.ts";

/**
 * Writes a finished task's record into its own directory (atomically: a scratch file renamed into
 * place). It is small and written once, and it lets a service whose tasks.kv was lost or set
 * aside adopt the files again instead of sweeping them away as orphans.
 */
export async function writeRecordFile(layout: TaskLayout, task: Task): Promise<void> {
  await writeFileAtomic(layout.record(task.task_id), JSON.stringify(storedTask(task)));
}

/** The record kept in a task's directory, if there is a valid one for that very task. */
export async function readRecordFile(layout: TaskLayout, taskId: string): Promise<Task | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(layout.record(taskId));
  } catch {
    return null;
  }
  try {
    const parsed = storedTaskSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.task.task_id === taskId ? parsed.data.task : null;
  } catch {
    return null;
  }
}
