import type { LogFields } from "../log/logger.ts";
import { join } from "node:path";
import type { DownloadManager } from "./manager.ts";
import type { SourceUrls } from "./source_urls.ts";
import type { TaskLayout } from "./task_layout.ts";

/** The part of the manager a sweep needs. */
export type SweepTarget = Pick<DownloadManager, "expiredTaskIds" | "remove" | "state">;

/** What a sweep works on. */
export interface SweepDeps {
  manager: SweepTarget;
  layout: TaskLayout;
  sources: SourceUrls;
  log?: (message: string, fields?: LogFields) => void;
}

/** What one sweep deleted, and what it could not, for the log and for tests. */
export interface SweepResult {
  expired: string[];
  orphans: string[];
  errors: string[];
}

/**
 * Removes tasks whose retention has passed (records, files and in-memory state), directories under
 * DATA_DIR/tasks that belong to no task, partial files of tasks that are not running, and kept URLs
 * of tasks that completed or are gone. A plain function of the clock so it is tested directly; main.ts runs it
 * at start-up and on the cron. A failure is logged and the sweep carries on; the next one retries.
 */
export async function sweep(deps: SweepDeps, now: number): Promise<SweepResult> {
  const { manager, layout, sources, log = console.error } = deps;
  const result: SweepResult = { expired: [], orphans: [], errors: [] };
  const attempt = async (what: string, action: () => Promise<void>) => {
    try {
      await action();
      return true;
    } catch (error) {
      const message = `cleanup: could not ${what}: ${(error as Error)?.message ?? error}`;
      result.errors.push(message);
      log(message);
      return false;
    }
  };

  for (const taskId of manager.expiredTaskIds(now)) {
    if (await attempt(`remove expired task ${taskId}`, () => manager.remove(taskId))) {
      result.expired.push(taskId);
    }
  }

  for await (const entry of Deno.readDir(layout.tasksDir)) {
    const name = entry.name;
    switch (manager.state(name)) {
      case "unknown":
        if (await attempt(`remove ${name}`, () => removeIfPresent(join(layout.tasksDir, name)))) {
          result.orphans.push(name);
        }
        break;
      case "inactive":
        await attempt(`remove files of ${name}`, () => removeIfPresent(layout.dir(name)));
        break;
      case "completed":
        for (const path of [layout.temp(name), layout.runLock(name), layout.runRecord(name)]) {
          await attempt(`remove ${path}`, () => removeIfPresent(path));
        }
        break;
      case "queued":
      case "active":
        break;
    }
  }

  // A failed or cancelled task keeps its URL for a retry; only completed or vanished ones let go.
  for (const taskId of await sources.ids()) {
    const state = manager.state(taskId);
    if (state === "unknown" || state === "completed") {
      await attempt(`remove the kept URL of ${taskId}`, () => sources.delete(taskId));
    }
  }
  return result;
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
