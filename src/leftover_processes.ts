/**
 * Kills the process groups of processes whose command line names `taskDir`: yt-dlp (and its ffmpeg)
 * run in their own group and outlive a service that was SIGKILLed, so on the next start they must be
 * stopped before the task's partial files are removed. Reads /proc, so it does nothing off Linux.
 * Returns the process groups it killed.
 */
export async function killLeftoverProcesses(taskDir: string): Promise<number[]> {
  const groups = new Set<number>();
  try {
    for await (const entry of Deno.readDir("/proc")) {
      const pid = Number(entry.name);
      if (!Number.isInteger(pid) || pid === Deno.pid) continue;
      try {
        const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
        if (!cmdline.split("\0").some((arg) => arg.includes(taskDir))) continue;
        const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
        const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
        if (pgid > 1 && pgid !== Deno.pid) groups.add(pgid);
      } catch {
        // The process exited while we looked.
      }
    }
  } catch {
    return [];
  }
  for (const pgid of groups) {
    try {
      Deno.kill(-pgid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  return [...groups];
}
