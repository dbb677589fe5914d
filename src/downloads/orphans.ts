import type { TaskLayout } from "./task_layout.ts";

/** What a run left behind when the service died, once dealt with. */
export type OrphanOutcome = "none" | "killed" | "still-running";

/**
 * Stops whatever is left of a task's run after the service died (SIGKILL, power loss): yt-dlp and
 * its ffmpeg run in their own process group and outlive the service. The run's own yt-dlp holds an
 * flock on `.run.lock` for as long as it lives, so the lock says whether anything is left without
 * reading /proc (closed to `deno task start`'s permissions) and without guessing from a PID that
 * may have been reused: only a group whose lock is still held is killed.
 */
export async function stopOrphanedRun(
  layout: TaskLayout,
  taskId: string,
  waitMs = 5000,
): Promise<OrphanOutcome> {
  let lock: Deno.FsFile;
  try {
    lock = await Deno.open(layout.runLock(taskId), { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "none";
    throw error;
  }
  using _lock = lock;
  if (await lock.tryLock(true)) return "none";
  const { pgid } = JSON.parse(await Deno.readTextFile(layout.runRecord(taskId)));
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`bad process group ${pgid} recorded`);
  try {
    Deno.kill(-pgid, "SIGKILL");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const released = lock.lock(true).then(() => true);
  const timer = Promise.withResolvers<boolean>();
  const id = setTimeout(() => timer.resolve(false), waitMs);
  try {
    return await Promise.race([released, timer.promise]) ? "killed" : "still-running";
  } finally {
    clearTimeout(id);
  }
}
