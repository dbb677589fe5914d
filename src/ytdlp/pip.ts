import { join } from "node:path";

/** Where pip looks and what it may pick. */
export interface PipOptions {
  /** A PEP 503 index (a mirror, or the tests' own); PyPI when null. */
  index: string | null;
  /** Allow pre-releases: yt-dlp publishes its nightly builds to PyPI as those. */
  pre: boolean;
  /** The environment pip runs with (an operator's HTTPS_PROXY is honoured). */
  env: Record<string, string>;
  /** Every line pip prints, as it prints it. */
  log: (line: string) => void;
}

/** Raised when python or pip fail; the message carries the end of their output. */
export class PipError extends Error {
  override name = "PipError";
}

/** The yt-dlp executable inside a venv. */
export function venvYtdlp(venv: string): string {
  return join(venv, "bin", "yt-dlp");
}

/** Creates a virtual environment with its own pip. */
export async function createVenv(python: string, venv: string, options: PipOptions): Promise<void> {
  await run(python, ["-m", "venv", venv], options, "python3 -m venv");
}

/** Installs `yt-dlp[default]` (optionally at one version) into a venv. */
export async function installYtdlp(
  venv: string,
  version: string | null,
  options: PipOptions,
): Promise<void> {
  await run(
    join(venv, "bin", "python"),
    [
      "-m",
      "pip",
      "install",
      ...pipFlags(options),
      "--progress-bar",
      "off",
      version === null ? "yt-dlp[default]" : `yt-dlp[default]==${version}`,
    ],
    options,
    "pip install",
  );
}

/** The version pip would install now, asked without installing anything (`--dry-run --report`). */
export async function newestYtdlp(venv: string, options: PipOptions): Promise<string> {
  const report = await run(
    join(venv, "bin", "python"),
    [
      "-m",
      "pip",
      "install",
      ...pipFlags(options),
      "--dry-run",
      "--ignore-installed",
      "--quiet",
      "--report",
      "-",
      "yt-dlp[default]",
    ],
    { ...options, log: () => {} },
    "pip install --dry-run",
  );
  try {
    const install = JSON.parse(report).install as { metadata: { name: string; version: string } }[];
    const found = install.find((item) => item.metadata.name.toLowerCase() === "yt-dlp");
    if (found) return found.metadata.version;
  } catch {
    // Reported below.
  }
  throw new PipError("pip's report names no yt-dlp release");
}

function pipFlags(options: PipOptions): string[] {
  return [
    "--disable-pip-version-check",
    "--no-input",
    ...(options.index ? ["--index-url", options.index] : []),
    ...(options.pre ? ["--pre"] : []),
  ];
}

async function run(
  command: string,
  args: string[],
  options: PipOptions,
  what: string,
): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      env: options.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new PipError(`${what}: cannot run ${command}: ${(error as Error).message}`);
  }
  const tail: string[] = [];
  let stdout = "";
  const pump = async (stream: ReadableStream<Uint8Array>, keep: boolean) => {
    let buffered = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      if (keep) stdout += text;
      buffered += text;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === "") continue;
        options.log(line);
        tail.push(line);
        if (tail.length > 8) tail.shift();
      }
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, true),
    pump(child.stderr, false),
  ]);
  if (!status.success) {
    throw new PipError(`${what} exited with code ${status.code}: ${tail.join(" | ").slice(-600)}`);
  }
  return stdout;
}
