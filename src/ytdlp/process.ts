/** How a yt-dlp run ended. */
export interface ProcessExit {
  code: number;
  signal: Deno.Signal | null;
  /** True when the run was stopped through its AbortSignal. */
  aborted: boolean;
}

/** Options for one yt-dlp run. */
export interface RunOptions {
  executable: string;
  args: string[];
  cwd: string;
  signal: AbortSignal;
  /** Called for every line of stdout and stderr, in order within each stream. */
  onLine: (line: string, stream: "stdout" | "stderr") => void;
  /** How long yt-dlp and its ffmpeg get to exit after SIGTERM before the group is killed. */
  graceMs?: number;
}

/**
 * Runs yt-dlp in its own process group so that stopping it also stops the ffmpeg it started: yt-dlp
 * installs no signal handlers, and a signal to it alone leaves ffmpeg behind. On abort the group gets
 * SIGTERM, then SIGKILL after the grace period (or at once once yt-dlp is gone), and the exit is
 * always awaited before this resolves.
 */
export async function runYtdlp(options: RunOptions): Promise<ProcessExit> {
  const { signal, graceMs = 500 } = options;
  const child = new Deno.Command(options.executable, {
    args: options.args,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
    env: { PYTHONUNBUFFERED: "1", PYTHONIOENCODING: "utf-8" },
  }).spawn();

  let aborted = false;
  const stop = async () => {
    aborted = true;
    killGroup(child.pid, "SIGTERM");
    const timer = Promise.withResolvers<void>();
    const id = setTimeout(timer.resolve, graceMs);
    await Promise.race([child.status, timer.promise]);
    clearTimeout(id);
    killGroup(child.pid, "SIGKILL");
  };
  let stopping: Promise<void> | null = null;
  const onAbort = () => {
    stopping ??= stop();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });

  try {
    const [status] = await Promise.all([
      child.status,
      pumpLines(child.stdout, (line) => options.onLine(line, "stdout")),
      pumpLines(child.stderr, (line) => options.onLine(line, "stderr")),
    ]);
    await stopping;
    // Children yt-dlp left in its group (an ffmpeg it spawned) must not outlive the run.
    killGroup(child.pid, "SIGKILL");
    return { code: status.code, signal: status.signal, aborted };
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function killGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line !== "") onLine(line);
        newline = buffered.indexOf("\n");
      }
    }
    if (buffered !== "") onLine(buffered);
  } finally {
    reader.releaseLock();
  }
}
