import { writeFileAtomic } from "../model/atomic_file.ts";
import { join } from "node:path";
import { z } from "zod";
import type { YtdlpFeatures } from "./args.ts";
import { createVenv, installYtdlp, newestYtdlp, type PipOptions, venvYtdlp } from "./pip.ts";
import { probeYtdlp, type YtdlpProbe } from "./probe.ts";
import { SelfTestError, selfTestYtdlp } from "./self_check.ts";
import {
  probedInfo,
  type UpdateAttempt,
  type YtdlpBinary,
  type YtdlpInfo,
  type YtdlpSource,
} from "./source.ts";

/** Settings of the managed yt-dlp, from the service's configuration. */
export interface ManagedYtdlpOptions {
  /** `YTDLP_HOME`: the directory the service owns for its venvs and their state. */
  home: string;
  python: string;
  /** `YTDLP_PIP_INDEX`, or null for PyPI. */
  pipIndex: string | null;
  /** `YTDLP_UPDATE`: which releases updates follow; `off` stops the scheduled ones. */
  mode: "stable" | "nightly" | "off";
  /** `YTDLP_UPDATE_SCHEDULE`, shown in the info; the cron itself is main.ts's. */
  schedule: string | null;
  denoPath: string;
  /** The environment pip and yt-dlp run with. */
  env: Record<string, string>;
  log?: (message: string) => void;
  now?: () => number;
}

/** Raised when an update or rollback cannot even start; the message says why. */
export class YtdlpManagementError extends Error {
  override name = "YtdlpManagementError";
  constructor(readonly code: "no_previous" | "not_installed", message: string) {
    super(message);
  }
}

const versionSchema = z.object({ dir: z.string().min(1), version: z.string().min(1) });
const stateSchema = z.object({
  current: versionSchema.nullable(),
  previous: versionSchema.nullable(),
  last_attempt: z.object({
    at: z.string(),
    outcome: z.enum(["updated", "up_to_date", "failed", "rolled_back"]),
    from: z.string().nullable(),
    to: z.string().nullable(),
    reason: z.string().nullable(),
  }).nullable(),
});
type State = z.infer<typeof stateSchema>;
type Installed = z.infer<typeof versionSchema>;

/**
 * The service's own yt-dlp: `yt-dlp[default]` in a Python venv under `YTDLP_HOME`, installed with
 * pip on first start. An update installs the newest release into a fresh venv beside the current
 * one, self-tests it, and only then switches; the previous venv is kept for a rollback, and a venv
 * is never deleted while a download still runs from it.
 *
 * ```
 * YTDLP_HOME/state.json        which venv is current, which previous, the last attempt
 *            venvs/<install time>/
 *            self-test/        scratch for the self-test (and its cached media file)
 * ```
 */
export class ManagedYtdlp implements YtdlpSource {
  readonly #options: Required<ManagedYtdlpOptions>;
  #state: State = { current: null, previous: null, last_attempt: null };
  #probe: YtdlpProbe | null = null;
  #checkedAt = -Infinity;
  #busy: Promise<UpdateAttempt> | null = null;
  /** The venv an update is filling right now; never pruned. */
  #installing: string | null = null;
  readonly #inUse = new Map<string, number>();

  private constructor(options: ManagedYtdlpOptions) {
    this.#options = { ...options, log: options.log ?? console.log, now: options.now ?? Date.now };
  }

  /**
   * Loads the state; installs yt-dlp (newest release, logging pip's progress) when there is none
   * yet or the current venv is gone, and probes it. Never throws for a failed install: the service
   * starts, reports the problem in /healthz, and a later update can repair it.
   */
  static async open(options: ManagedYtdlpOptions): Promise<ManagedYtdlp> {
    const managed = new ManagedYtdlp(options);
    await Deno.mkdir(join(options.home, "venvs"), { recursive: true });
    await managed.#load();
    const current = managed.#state.current;
    if (current !== null && await exists(venvYtdlp(current.dir))) {
      await managed.#probeCurrent();
    } else {
      managed.#options.log(
        `yt-dlp: none installed in ${options.home}; installing yt-dlp[default] with pip…`,
      );
      const attempt = await managed.update();
      if (attempt.outcome === "failed") {
        managed.#options.log(`yt-dlp: install failed: ${attempt.reason}`);
      }
    }
    return managed;
  }

  acquire(): YtdlpBinary {
    const current = this.#state.current;
    const features: YtdlpFeatures = this.#probe?.features ?? {
      progressDelta: false,
      jsRuntimes: false,
    };
    if (current === null) {
      return { path: join(this.#options.home, "not-installed"), features, [Symbol.dispose]() {} };
    }
    this.#inUse.set(current.dir, (this.#inUse.get(current.dir) ?? 0) + 1);
    let released = false;
    return {
      path: venvYtdlp(current.dir),
      features,
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        const left = (this.#inUse.get(current.dir) ?? 1) - 1;
        if (left > 0) this.#inUse.set(current.dir, left);
        else this.#inUse.delete(current.dir);
        this.#prune().catch((error) => this.#options.log(`yt-dlp: pruning failed: ${error}`));
      },
    };
  }

  info(): YtdlpInfo {
    const now = this.#options.now();
    const current = this.#state.current;
    const base = this.#probe && current
      ? probedInfo(venvYtdlp(current.dir), this.#probe, this.#checkedAt, now)
      : {
        path: null,
        version: null,
        channel: null,
        release_age_days: null,
        js_runtime: null,
        ejs: null,
        problem: this.#state.last_attempt?.reason ?? "yt-dlp is not installed yet",
        checked_at: null,
      };
    return {
      managed: true,
      ...base,
      previous: this.#state.previous?.version ?? null,
      update: {
        mode: this.#options.mode,
        schedule: this.#options.mode === "off" ? null : this.#options.schedule,
        running: this.#busy !== null,
        last_attempt: this.#state.last_attempt,
      },
    };
  }

  /**
   * Installs the newest release of the configured channel into a fresh venv, self-tests it, and
   * switches to it only if the test passes; otherwise the current one stays and the attempt says
   * why. Concurrent calls share one attempt. Running downloads keep the yt-dlp they started with.
   */
  update(): Promise<UpdateAttempt> {
    return this.#exclusive(() => this.#update());
  }

  /** Switches back to the previous venv (which stays as the new previous). */
  rollback(): Promise<UpdateAttempt> {
    if (this.#state.previous === null) {
      return Promise.reject(
        new YtdlpManagementError("no_previous", "there is no previous yt-dlp to go back to"),
      );
    }
    return this.#exclusive(async () => {
      const { current, previous } = this.#state;
      if (previous === null || !(await exists(venvYtdlp(previous.dir)))) {
        throw new YtdlpManagementError("no_previous", "the previous yt-dlp is no longer there");
      }
      this.#state = { ...this.#state, current: previous, previous: current };
      await this.#probeCurrent();
      return await this.#record({
        outcome: "rolled_back",
        from: current?.version ?? null,
        to: previous.version,
        reason: null,
      });
    });
  }

  async #update(): Promise<UpdateAttempt> {
    const { home, python, pipIndex, mode, env, log } = this.#options;
    const from = this.#state.current;
    const pip: PipOptions = {
      index: pipIndex,
      pre: mode === "nightly",
      env,
      log: (line) => log(`yt-dlp: pip: ${line}`),
    };
    let target: string | null = null;
    try {
      if (from !== null && await exists(venvYtdlp(from.dir))) {
        target = await newestYtdlp(from.dir, pip);
        if (target === from.version) {
          return await this.#record({
            outcome: "up_to_date",
            from: from.version,
            to: target,
            reason: null,
          });
        }
      }
      const stamp = new Date(this.#options.now()).toISOString().replace(/[:.]/g, "-");
      // Named by install time: the version is known only once pip has run (state.json has it).
      const dir = join(home, "venvs", stamp);
      log(`yt-dlp: installing ${target ?? "the newest release"} into ${dir}`);
      this.#installing = dir;
      try {
        await createVenv(python, dir, pip);
        await installYtdlp(dir, target, pip);
        const probe = await selfTestYtdlp(venvYtdlp(dir), {
          denoPath: this.#options.denoPath,
          workDir: join(home, "self-test"),
          env,
          expectedVersion: target,
        });
        const installed: Installed = { dir, version: probe.version! };
        this.#state = { ...this.#state, current: installed, previous: from };
        this.#probe = probe;
        this.#checkedAt = this.#options.now();
        log(`yt-dlp: now ${installed.version} (${probe.jsRuntime}, ejs ${probe.ejs})`);
        return await this.#record({
          outcome: "updated",
          from: from?.version ?? null,
          to: installed.version,
          reason: null,
        });
      } catch (error) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw error;
      } finally {
        this.#installing = null;
      }
    } catch (error) {
      const why = error instanceof SelfTestError
        ? `the new yt-dlp failed its self-test: ${error.message}`
        : String((error as Error)?.message ?? error);
      log(`yt-dlp: update failed, keeping ${from?.version ?? "nothing"}: ${why}`);
      return await this.#record({
        outcome: "failed",
        from: from?.version ?? null,
        to: target,
        reason: why,
      });
    } finally {
      await this.#prune().catch(() => {});
    }
  }

  async #exclusive(work: () => Promise<UpdateAttempt>): Promise<UpdateAttempt> {
    if (this.#busy !== null) return await this.#busy;
    this.#busy = work().finally(() => this.#busy = null);
    return await this.#busy;
  }

  async #record(attempt: Omit<UpdateAttempt, "at">): Promise<UpdateAttempt> {
    const full = { at: new Date(this.#options.now()).toISOString(), ...attempt };
    this.#state = { ...this.#state, last_attempt: full };
    await writeFileAtomic(
      join(this.#options.home, "state.json"),
      JSON.stringify(this.#state, null, 2),
    );
    return full;
  }

  async #load(): Promise<void> {
    try {
      const text = await Deno.readTextFile(join(this.#options.home, "state.json"));
      const parsed = stateSchema.safeParse(JSON.parse(text));
      if (parsed.success) this.#state = parsed.data;
      else this.#options.log("yt-dlp: state.json is not valid; starting from scratch");
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#options.log(`yt-dlp: state.json cannot be read (${error}); starting from scratch`);
      }
    }
  }

  async #probeCurrent(): Promise<void> {
    const current = this.#state.current;
    if (current === null) return;
    this.#probe = await probeYtdlp(
      venvYtdlp(current.dir),
      this.#options.denoPath,
      this.#options.env,
    );
    this.#checkedAt = this.#options.now();
  }

  /**
   * Deletes venvs that are neither current nor previous, unless a download still uses them. Stands
   * aside while an update fills a new venv (the update prunes when done), and checks each entry
   * against the state at that moment, not at the start of the listing.
   */
  async #prune(): Promise<void> {
    const venvs = join(this.#options.home, "venvs");
    for await (const entry of Deno.readDir(venvs)) {
      if (this.#installing !== null) return;
      const dir = join(venvs, entry.name);
      const kept = dir === this.#state.current?.dir || dir === this.#state.previous?.dir ||
        this.#inUse.has(dir);
      if (!kept) await Deno.remove(dir, { recursive: true });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
