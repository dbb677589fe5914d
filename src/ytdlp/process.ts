/** How a yt-dlp run ended. */
export interface ProcessExit {
  code: number;
  signal: Deno.Signal | null;
  /** True when the run was stopped through its AbortSignal. */
  aborted: boolean;
}

/** Raised when the yt-dlp executable cannot be started at all. */
export class YtdlpNotFoundError extends Error {
  override name = "YtdlpNotFoundError";
  constructor(executable: string) {
    super(`yt-dlp not found at '${executable}'`);
  }
}

/** Options for one yt-dlp run. */
export interface RunOptions {
  executable: string;
  args: string[];
  cwd: string;
  /** The whole environment of the child; nothing is inherited. */
  env: Record<string, string>;
  signal: AbortSignal;
  /** Called for every line of stdout and stderr, in order within each stream. */
  onLine: (line: string, stream: "stdout" | "stderr") => void;
  /** How long yt-dlp and its ffmpeg get to exit after SIGTERM before the group is killed. */
  graceMs?: number;
  /**
   * A file yt-dlp holds an flock on for as long as it lives (it is exec'd by `flock --no-fork`), so
   * a restarted service can tell whether a run outlived it. Null where flock(1) is missing.
   */
  lockPath?: string | null;
  /** Told the process group id right after the spawn, before any output. */
  onSpawn?: (pgid: number) => void;
}

/**
 * Runs yt-dlp in its own process group so that stopping it also stops the ffmpeg it started: yt-dlp
 * installs no signal handlers, and a signal to it alone leaves ffmpeg behind. On abort the group gets
 * SIGTERM, then SIGKILL after the grace period (or at once once yt-dlp is gone), and the exit is
 * always awaited before this resolves.
 */
export async function runYtdlp(options: RunOptions): Promise<ProcessExit> {
  const { lockPath = null } = options;
  const [executable, args] = lockPath === null
    ? [options.executable, options.args]
    : ["flock", ["--no-fork", lockPath, options.executable, ...options.args]];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(executable, {
      args,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
      clearEnv: true,
      env: { ...options.env, ...PYTHON_ENV },
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new YtdlpNotFoundError(options.executable);
    throw error;
  }
  return await superviseRun(child, options, (line) =>
    // flock could not exec yt-dlp: the same as a missing executable without flock.
    lockPath !== null && line.startsWith("flock: failed to execute"));
}

/** What yt-dlp's Python is told, however it is started. */
export const PYTHON_ENV = { PYTHONUNBUFFERED: "1", PYTHONIOENCODING: "utf-8" };

/** A yt-dlp that has been started, by a spawn or by the fork server. */
export interface StartedRun {
  /** Its pid, which is also its process group id. */
  readonly pid: number;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly status: Promise<{ code: number; signal: Deno.Signal | null }>;
}

/**
 * Watches a started yt-dlp to its end: delivers its lines, stops its group on abort (SIGTERM, then
 * SIGKILL after the grace period or at once once yt-dlp is gone), and always awaits the exit.
 * `launchFailed` names a stderr line that means the executable never ran.
 */
export async function superviseRun(
  child: StartedRun,
  options: RunOptions,
  launchFailed: (line: string) => boolean = () => false,
): Promise<ProcessExit> {
  const { signal, graceMs = 500 } = options;
  let aborted = false;
  let stopping: Promise<void> | null = null;
  const stop = () => {
    aborted = true;
    stopping ??= (async () => {
      killGroup(child.pid, "SIGTERM");
      const timer = Promise.withResolvers<void>();
      const id = setTimeout(timer.resolve, graceMs);
      await Promise.race([child.status, timer.promise]);
      clearTimeout(id);
      killGroup(child.pid, "SIGKILL");
    })();
  };
  // A failing listener stops the run instead of leaving an uncancellable child behind.
  let failure: unknown = null;
  let launchFailure: string | null = null;
  const deliver = (line: string, stream: "stdout" | "stderr") => {
    if (failure !== null) return;
    if (stream === "stderr" && launchFailed(line)) {
      launchFailure = line;
      return;
    }
    try {
      options.onLine(line, stream);
    } catch (error) {
      failure = error;
      stop();
    }
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    if (signal.aborted) stop();
    options.onSpawn?.(child.pid);
    const pumps = await Promise.allSettled([
      pumpLines(child.stdout, (line) => deliver(line, "stdout")),
      pumpLines(child.stderr, (line) => deliver(line, "stderr")),
    ]);
    for (const pump of pumps) if (pump.status === "rejected") failure ??= pump.reason;
    if (failure !== null) stop();
    const status = await child.status;
    await stopping;
    if (failure !== null) throw failure;
    if (launchFailure !== null) throw new YtdlpNotFoundError(options.executable);
    return { code: status.code, signal: status.signal, aborted };
  } catch (error) {
    stop();
    await child.status;
    await stopping;
    throw error;
  } finally {
    signal.removeEventListener("abort", stop);
    // Children yt-dlp left in its group (an ffmpeg it spawned) must not outlive the run.
    killGroup(child.pid, "SIGKILL");
  }
}

/** Starts and watches one yt-dlp run: a spawn (`runYtdlp`) or the fork server's. */
export type YtdlpLauncher = (options: RunOptions) => Promise<ProcessExit>;

function killGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Calls `onLine` for every non-empty line of a byte stream, the last one unterminated or not. */
export async function pumpLines(
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

const PROXY_VARIABLES = /^(http|https|ftp|all|no)_proxy$/i;

/**
 * The environment yt-dlp runs with: the service's own, minus proxy variables. yt-dlp is given the
 * egress proxy explicitly, and ffmpeg would otherwise follow `no_proxy` around it.
 */
export function childEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !PROXY_VARIABLES.test(name)));
}
