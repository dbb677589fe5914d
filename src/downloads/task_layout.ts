import { join } from "node:path";

/** The directory inside a task's directory where yt-dlp keeps partial files until it moves them. */
export const TEMP_SUBDIR = ".tmp";

/**
 * Where everything of a task lives on disk; the one place that knows the layout.
 *
 * ```
 * DATA_DIR/tasks/<task_id>/            yt-dlp's output (home)
 *                          .task.json  the finished task's record, to re-adopt it if tasks.kv is lost
 *                          .tmp/       partial files, fragments (yt-dlp's temp path)
 *                          .run.lock   held by the running yt-dlp (flock), only while it runs
 *                          .run.json   the run's process group, only while it runs
 *                          .cookies.txt  the run's own copy of the cookies, only while it runs
 * ```
 */
export class TaskLayout {
  constructor(readonly tasksDir: string) {}

  /** The directory yt-dlp writes into for this task, and nothing else does. */
  dir(taskId: string): string {
    if (!/^[\w-]+$/.test(taskId)) throw new Error(`not a task id: '${taskId}'`);
    return join(this.tasksDir, taskId);
  }

  temp(taskId: string): string {
    return join(this.dir(taskId), TEMP_SUBDIR);
  }

  record(taskId: string): string {
    return join(this.dir(taskId), ".task.json");
  }

  cookies(taskId: string): string {
    return join(this.dir(taskId), ".cookies.txt");
  }

  runLock(taskId: string): string {
    return join(this.dir(taskId), ".run.lock");
  }

  runRecord(taskId: string): string {
    return join(this.dir(taskId), ".run.json");
  }

  /** True for the bookkeeping files above, which are never a task's output. */
  isBookkeeping(name: string): boolean {
    return [TEMP_SUBDIR, ".task.json", ".run.lock", ".run.json", ".cookies.txt"].includes(name);
  }
}
