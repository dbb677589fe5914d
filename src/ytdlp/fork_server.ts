import { dirname, join } from "node:path";
import { closeQuietly, writeAll } from "../conn_io.ts";
import {
  type ProcessExit,
  pumpLines,
  PYTHON_ENV,
  type RunOptions,
  runYtdlp,
  type StartedRun,
  superviseRun,
} from "./process.ts";

const SCRIPT = new URL("./fork_server.py", import.meta.url).pathname;
/** Bytes of command line a forked child can show in `ps` (a long URL and every option). */
const COMMAND_LINE_ROOM = 16 * 1024;
const SIGNALS: Record<number, Deno.Signal> = {
  1: "SIGHUP",
  2: "SIGINT",
  6: "SIGABRT",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  15: "SIGTERM",
};

/** Raised when a fork server cannot be started for a yt-dlp; runs then spawn yt-dlp instead. */
export class ForkServerError extends Error {
  override name = "ForkServerError";
}

/** One warm Python with yt-dlp imported, forking a child per run (see fork_server.py). */
export class ForkServer implements AsyncDisposable {
  readonly #process: Deno.ChildProcess;
  readonly #socket: string;
  readonly #dir: string;
  #alive = true;
  /** Resolves when the server process has exited, for whatever reason. */
  readonly exited: Promise<void>;

  private constructor(
    process: Deno.ChildProcess,
    dir: string,
    readonly python: string,
    readonly version: string,
  ) {
    this.#process = process;
    this.#dir = dir;
    this.#socket = join(dir, "fork.sock");
    this.exited = process.status.then(() => {
      this.#alive = false;
    });
  }

  /**
   * Starts a server with `python` (which must import yt_dlp) and waits until it is warm. Its
   * stderr goes to `log`, line by line.
   */
  static async start(options: {
    python: string;
    env: Record<string, string>;
    log: (line: string) => void;
    timeoutMs?: number;
  }): Promise<ForkServer> {
    const dir = await Deno.makeTempDir({ prefix: "ytdl-fork-" });
    let process: Deno.ChildProcess;
    try {
      process = new Deno.Command(options.python, {
        // The blank argument is room for each child's own command line (see set_command_line).
        args: [
          "-u",
          SCRIPT,
          join(dir, "fork.sock"),
          " ".repeat(COMMAND_LINE_ROOM),
          String(Deno.pid),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        clearEnv: true,
        env: { ...options.env, ...PYTHON_ENV },
      }).spawn();
    } catch (error) {
      await Deno.remove(dir, { recursive: true });
      throw new ForkServerError(`cannot start ${options.python}: ${(error as Error).message}`);
    }
    const stderr: string[] = [];
    const logged = pumpLines(process.stderr, (line) => {
      stderr.push(line);
      if (stderr.length > 20) stderr.shift();
      options.log(line);
    }).catch(() => {});
    const ready = Promise.withResolvers<string>();
    pumpLines(process.stdout, (line) => {
      const match = line.match(/^ready (\S+)$/);
      if (match) ready.resolve(match[1]);
    }).catch(() => {});
    process.status.then(async (status) => {
      await logged;
      ready.reject(
        new ForkServerError(
          `the fork server exited (${status.code}) before it was ready: ${
            stderr.slice(-3).join(" | ") || "no output"
          }`,
        ),
      );
    });
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(
      () => ready.reject(new ForkServerError(`the fork server was not ready in ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const version = await ready.promise;
      return new ForkServer(process, dir, options.python, version);
    } catch (error) {
      try {
        process.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await process.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Where it listens (in a directory only this user can enter). */
  get socketPath(): string {
    return this.#socket;
  }

  /** The server process's own pid (not a run's). */
  get pid(): number {
    return this.#process.pid;
  }

  /** Runs yt-dlp in a forked child, with the same guarantees as `runYtdlp`. */
  async run(options: RunOptions): Promise<ProcessExit> {
    const stdout = await this.#stream();
    const stderr = await this.#stream().catch((error) => {
      closeQuietly(stdout.conn);
      throw error;
    });
    let control: Deno.UnixConn;
    try {
      control = await Deno.connect({ transport: "unix", path: this.#socket });
    } catch (error) {
      closeQuietly(stdout.conn);
      closeQuietly(stderr.conn);
      throw new ForkServerError(`the fork server does not answer: ${(error as Error).message}`);
    }
    const replies = lineReader(control.readable);
    await writeLine(control, {
      op: "run",
      argv: options.args,
      cwd: options.cwd,
      env: { ...options.env, ...PYTHON_ENV },
      stdout: stdout.slot,
      stderr: stderr.slot,
      lock: options.lockPath ?? null,
    });
    const first = await replies.next();
    if (typeof first?.pid !== "number") {
      closeQuietly(control);
      closeQuietly(stdout.conn);
      closeQuietly(stderr.conn);
      throw new ForkServerError(`the fork server did not start the run: ${first?.error ?? "gone"}`);
    }
    const lost = { value: false };
    const status = replies.next().then((reply) => {
      closeQuietly(control);
      if (typeof reply?.exit === "number") {
        return {
          code: reply.exit,
          signal: typeof reply.signal === "number" ? SIGNALS[reply.signal] ?? null : null,
        };
      }
      // The server died with our child still running: stop the child, report why.
      lost.value = true;
      try {
        Deno.kill(-first.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      return { code: 1, signal: null };
    });
    const run: StartedRun = {
      pid: first.pid,
      stdout: stdout.rest,
      stderr: appendOnLoss(stderr.rest, lost),
      status,
    };
    return await superviseRun(run, options);
  }

  /** Opens a connection that becomes a child's stdout or stderr. */
  async #stream(): Promise<
    { conn: Deno.UnixConn; slot: string; rest: ReadableStream<Uint8Array> }
  > {
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path: this.#socket });
    } catch (error) {
      throw new ForkServerError(`the fork server does not answer: ${(error as Error).message}`);
    }
    await writeLine(conn, { op: "stream" });
    const { line, rest } = await firstLine(conn.readable);
    const slot = line === null ? null : JSON.parse(line).slot;
    if (typeof slot !== "string") {
      closeQuietly(conn);
      throw new ForkServerError("the fork server refused a stream");
    }
    return { conn, slot, rest };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.exited;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** What the service tells about its fork server (`/healthz`). */
export interface ForkServerInfo {
  /** `ready`: downloads fork from a warm yt-dlp; `fallback`: they spawn yt-dlp (see `problem`). */
  state: "off" | "starting" | "ready" | "fallback";
  version: string | null;
  problem: string | null;
}

/**
 * Keeps one fork server for the yt-dlp in use and sends runs to it; a dead server is restarted, a
 * different yt-dlp (an update) gets a new one, and whenever no server can be had a run spawns
 * yt-dlp as before. Runs already forked keep their old server until they end.
 */
export class ForkServerPool implements AsyncDisposable {
  #current: { executable: string; server: Promise<ForkServer> } | null = null;
  #retired = new Set<ForkServer>();
  #problem: string | null = null;
  #failedAt = -Infinity;
  #state: ForkServerInfo["state"];
  #inFlight = new Map<ForkServer, number>();
  #version: string | null = null;

  constructor(
    readonly options: {
      enabled: boolean;
      env: Record<string, string>;
      log: (message: string) => void;
      /** After a failed start, runs spawn yt-dlp for this long before another start is tried. */
      retryAfterMs?: number;
      now?: () => number;
    },
  ) {
    this.#state = options.enabled ? "starting" : "off";
  }

  /** The launcher to give to the download runner and the format lister. */
  readonly launch = async (options: RunOptions): Promise<ProcessExit> => {
    const server = this.options.enabled ? await this.#serverFor(options.executable) : null;
    if (server === null) return await runYtdlp(options);
    this.#inFlight.set(server, (this.#inFlight.get(server) ?? 0) + 1);
    try {
      return await server.run(options);
    } catch (error) {
      if (!(error instanceof ForkServerError)) throw error;
      this.#fail(error.message);
      return await runYtdlp(options);
    } finally {
      const left = this.#inFlight.get(server)! - 1;
      if (left > 0) this.#inFlight.set(server, left);
      else this.#inFlight.delete(server);
      if (left === 0 && this.#retired.has(server)) this.#stop(server);
    }
  };

  /** Starts the server for `executable` ahead of the first download. */
  async warm(executable: string): Promise<void> {
    if (this.options.enabled) await this.#serverFor(executable);
  }

  /** The running server's pid, or null; for tests that kill it. */
  async serverPid(): Promise<number | null> {
    const server = await this.#current?.server.catch(() => null);
    return server?.alive ? server.pid : null;
  }

  info(): ForkServerInfo {
    return {
      state: this.#state,
      version: this.#state === "ready" ? this.#version : null,
      problem: this.#problem,
    };
  }

  async #serverFor(executable: string): Promise<ForkServer | null> {
    const current = this.#current;
    if (current !== null && current.executable === executable) {
      const server = await current.server.catch(() => null);
      if (server?.alive) return server;
      if (server !== null) this.#fail("the fork server exited; restarting it");
      if (server === null && this.#sinceFailure() < (this.options.retryAfterMs ?? 30_000)) {
        return null;
      }
    }
    if (current !== null) {
      current.server.then((old) => this.#retire(old), () => {});
    }
    const python = await pythonOf(executable);
    if (python === null) {
      this.#current = null;
      this.#fail(`no Python found for ${executable}; downloads spawn yt-dlp`);
      return null;
    }
    this.#state = "starting";
    const server = ForkServer.start({
      python,
      env: this.options.env,
      log: (line) => this.options.log(`fork server: ${line}`),
    });
    this.#current = { executable, server };
    try {
      const started = await server;
      this.#state = "ready";
      this.#problem = null;
      this.#version = started.version;
      this.options.log(`fork server ready (yt-dlp ${started.version}, ${python})`);
      return started;
    } catch (error) {
      this.#failedAt = (this.options.now ?? Date.now)();
      this.#fail((error as Error).message);
      return null;
    }
  }

  #sinceFailure(): number {
    return (this.options.now ?? Date.now)() - this.#failedAt;
  }

  #fail(problem: string): void {
    this.#state = "fallback";
    this.#problem = problem;
    this.options.log(`fork server: ${problem}`);
  }

  #retire(server: ForkServer): void {
    if (this.#inFlight.has(server)) this.#retired.add(server);
    else this.#stop(server);
  }

  #stop(server: ForkServer): void {
    this.#retired.delete(server);
    server[Symbol.asyncDispose]().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const servers = [...this.#retired];
    const current = await this.#current?.server.catch(() => null);
    if (current) servers.push(current);
    this.#current = null;
    await Promise.all(servers.map((server) => server[Symbol.asyncDispose]()));
  }
}

/**
 * The Python that runs a yt-dlp entry script: the `python` beside it (a venv, as the managed one
 * is), else the interpreter its `#!` line names. Null for anything else (a standalone binary).
 */
export async function pythonOf(executable: string): Promise<string | null> {
  for (const name of ["python", "python3"]) {
    const beside = join(dirname(executable), name);
    try {
      await Deno.stat(beside);
      return beside;
    } catch {
      // Not a venv.
    }
  }
  let head: string;
  try {
    using file = await Deno.open(executable);
    const buffer = new Uint8Array(256);
    const n = await file.read(buffer) ?? 0;
    head = new TextDecoder().decode(buffer.subarray(0, n));
  } catch {
    return null;
  }
  const shebang = head.match(/^#!\s*(\S+)(?:\s+(\S+))?/);
  if (!shebang) return null;
  const [, interpreter, argument] = shebang;
  if (/\/env$/.test(interpreter) && argument && /python/.test(argument)) return argument;
  return /python/.test(interpreter) ? interpreter : null;
}

async function writeLine(conn: Deno.UnixConn, message: unknown): Promise<void> {
  await writeAll(conn, new TextEncoder().encode(`${JSON.stringify(message)}\n`));
}

/** Splits off the first line of a stream; `rest` is everything after it. */
async function firstLine(
  stream: ReadableStream<Uint8Array>,
): Promise<{ line: string | null; rest: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  let buffered = new Uint8Array(0);
  while (true) {
    const newline = buffered.indexOf(10);
    if (newline >= 0) {
      const line = new TextDecoder().decode(buffered.subarray(0, newline));
      const leftover = buffered.slice(newline + 1);
      const rest = new ReadableStream<Uint8Array>({
        start(controller) {
          if (leftover.length > 0) controller.enqueue(leftover);
        },
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return { line, rest };
    }
    const { value, done } = await reader.read();
    if (done) return { line: null, rest: new ReadableStream({ start: (c) => c.close() }) };
    const joined = new Uint8Array(buffered.length + value.length);
    joined.set(buffered);
    joined.set(value, buffered.length);
    buffered = joined;
  }
}

/** Reads JSON lines one at a time; null once the stream has ended. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let ended = false;
  pumpLines(stream, (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else lines.push(line);
  }).catch(() => {}).finally(() => {
    ended = true;
    for (const next of waiting.splice(0)) next(null);
  });
  return {
    // deno-lint-ignore no-explicit-any
    next(): Promise<any> {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(JSON.parse(line));
      if (ended) return Promise.resolve(null);
      return new Promise((resolve) =>
        waiting.push((l) => resolve(l === null ? null : JSON.parse(l)))
      );
    },
  };
}

/** Adds an ERROR line to a stderr stream when the server was lost, so the task says why. */
function appendOnLoss(
  stream: ReadableStream<Uint8Array>,
  lost: { readonly value: boolean },
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (!done) return controller.enqueue(value);
      if (lost.value) {
        controller.enqueue(
          new TextEncoder().encode("\nERROR: the yt-dlp fork server stopped during this run\n"),
        );
      }
      controller.close();
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
