/** A process seen in /proc. */
export interface ProcessInfo {
  pid: number;
  pgid: number;
  args: string[];
}

/**
 * Processes (other than this one) with an argument containing `text`. Reads /proc, so it finds
 * nothing off Linux.
 */
export async function processesWithArg(text: string): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  try {
    for await (const entry of Deno.readDir("/proc")) {
      const pid = Number(entry.name);
      if (!Number.isInteger(pid) || pid === Deno.pid) continue;
      try {
        const args = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter(Boolean);
        if (!args.some((arg) => arg.includes(text))) continue;
        const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
        const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
        found.push({ pid, pgid, args });
      } catch {
        // The process exited while we looked.
      }
    }
  } catch {
    return [];
  }
  return found;
}

/**
 * Kills the process groups of processes whose command line names `taskDir`: yt-dlp (and its ffmpeg)
 * run in their own group and outlive a service that was SIGKILLed, so on the next start they must be
 * stopped before the task's partial files are removed.
 */
export async function killLeftoverProcesses(taskDir: string): Promise<void> {
  const groups = new Set(
    (await processesWithArg(taskDir)).map((p) => p.pgid).filter((g) => g > 1 && g !== Deno.pid),
  );
  for (const pgid of groups) {
    try {
      Deno.kill(-pgid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
