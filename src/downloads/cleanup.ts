import { join } from "node:path";
import type { DownloadManager } from "./manager.ts";
import { TEMP_SUBDIR } from "./task_layout.ts";

/** The part of the manager a sweep needs. */
export type SweepTarget = Pick<
  DownloadManager,
  "tasksDir" | "expiredTaskIds" | "remove" | "state"
>;

/** What one sweep deleted, for the log and for tests. */
export interface SweepResult {
  expired: string[];
  orphans: string[];
}

/**
 * Removes tasks whose retention has passed (records, files and in-memory state), directories under
 * DATA_DIR/tasks that belong to no task, and partial files of tasks that are not running. A plain
 * function of the clock so it is tested directly; main.ts runs it at start-up and on the cron.
 */
export async function sweep(target: SweepTarget, now: number): Promise<SweepResult> {
  const expired = target.expiredTaskIds(now);
  for (const taskId of expired) await target.remove(taskId);

  const orphans: string[] = [];
  for await (const entry of Deno.readDir(target.tasksDir)) {
    const path = join(target.tasksDir, entry.name);
    switch (target.state(entry.name)) {
      case "unknown":
        orphans.push(entry.name);
        await removeIfPresent(path);
        break;
      case "inactive":
        await removeIfPresent(path);
        break;
      case "completed":
        await removeIfPresent(join(path, TEMP_SUBDIR));
        break;
      case "active":
        break;
    }
  }
  return { expired, orphans };
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
