// In-place upgrade, the old process's side: start the executable now on disk with the same arguments,
// let it bind the same ports beside ours (SO_REUSEPORT), and wait for it to say it serves. Bun cannot
// adopt an inherited listening socket (oven-sh/bun#22559), so the two overlap instead of passing fds.
import { accessSync, constants } from "node:fs";
import type { Logger } from "../telemetry/log.ts";
import { UPGRADE_FROM_ENV, UPGRADE_PORTS_ENV, type HandoffMessage, type UpgradePorts } from "./upgrade-handoff.ts";

/** How long the new process may take to load its config and listen in every Worker. */
export const UPGRADE_READY_MS = 60_000;
/** After a failed or timed-out start, how long the child gets to exit on SIGTERM before SIGKILL. */
const CHILD_STOP_MS = 5_000;

export type UpgradeResult =
  | { ok: true; old_pid: number; new_pid: number }
  /** `status`: the HTTP status the admin API answers with. */
  | { ok: false; status: number; error: string };

export interface UpgradeDeps {
  logger: Logger;
  /** The ports served now, handed to the new process. */
  ports(): UpgradePorts;
  /** Called before the child starts: anything the new process reads at start (the state file) is written now. */
  beforeSpawn?(): void;
  /** The new process serves: stop accepting and drain. Called once, after the result is known. */
  handOver(newPid: number): void;
  readyTimeoutMs?: number;
}

/**
 * The executable's path as it was at start. Bun reads process.execPath from /proc/self/exe, which
 * names "<path> (deleted)" once an installer has renamed a new file over ours: the path is the point.
 */
const EXEC_PATH = process.execPath.replace(/ \(deleted\)$/, "");

/** The command line that started this process, with the executable as it is on disk now. */
export function relaunchCommand(): string[] {
  // A compiled binary's argv is ["bun", "/$bunfs/root/<name>", ...args]; `bun src/main.ts` has the
  // script in argv[1], which must be kept.
  const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
  return [EXEC_PATH, ...process.argv.slice(compiled ? 2 : 1)];
}

export class Upgrader {
  readonly #deps: UpgradeDeps;
  #running = false;
  #done = false;
  /** The new process while it starts, and the upgrade under way (for close and idle). */
  #child: Bun.Subprocess | null = null;
  #pending: Promise<UpgradeResult> | null = null;

  constructor(deps: UpgradeDeps) {
    this.#deps = deps;
  }

  /**
   * Refuses from here on (this process is stopping, or already handed over). A new process still
   * starting is stopped: it must not outlive a process that was told to stop.
   */
  close(): void {
    this.#done = true;
    if (this.#child) stopChild(this.#child);
  }

  /** Resolves once no upgrade is under way (before this process exits, so no child is left behind). */
  async idle(): Promise<void> {
    await this.#pending;
  }

  /** Start the new binary and wait for it; on success this process hands over (see UpgradeDeps.handOver). */
  async start(trigger: string): Promise<UpgradeResult> {
    const { logger } = this.#deps;
    if (this.#done) return this.#refuse(409, "this aegis is shutting down (or has already handed over to a new process)", trigger);
    if (this.#running) return this.#refuse(409, "an upgrade is already running", trigger);
    const command = relaunchCommand();
    try {
      accessSync(command[0]!, constants.X_OK);
    } catch (err) {
      return this.#refuse(500, `the new binary cannot start: ${command[0]} is not executable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, trigger);
    }
    this.#running = true;
    try {
      this.#deps.beforeSpawn?.();
      logger.info("upgrade starting", { trigger, binary: command[0] });
      const result = await (this.#pending = this.#spawnAndWait(command));
      if (result.ok) {
        this.#done = true;
        logger.info("upgrade: the new process serves, this one stops accepting and drains", { old_pid: result.old_pid, new_pid: result.new_pid });
        this.#deps.handOver(result.new_pid);
      } else {
        logger.error("upgrade failed, this process keeps serving", { error: result.error });
      }
      return result;
    } finally {
      this.#running = false;
      this.#pending = null;
    }
  }

  #refuse(status: number, error: string, trigger: string): UpgradeResult {
    this.#deps.logger.warn("upgrade refused", { trigger, error });
    return { ok: false, status, error };
  }

  async #spawnAndWait(command: string[]): Promise<UpgradeResult> {
    let answer!: (m: HandoffMessage) => void;
    const answered = new Promise<HandoffMessage>((resolve) => (answer = resolve));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "NODE_CHANNEL_FD") env[k] = v;
    env[UPGRADE_FROM_ENV] = String(process.pid);
    env[UPGRADE_PORTS_ENV] = JSON.stringify(this.#deps.ports());
    let child: Bun.Subprocess;
    try {
      child = Bun.spawn(command, {
        cwd: process.cwd(), // a relative --config names the same file
        env,
        // stdout and stderr are ours: under systemd both go to the journal, and stay there after we exit.
        stdio: ["ignore", "inherit", "inherit"],
        ipc: (message: HandoffMessage) => answer(message),
      });
    } catch (err) {
      return { ok: false, status: 500, error: `the new binary cannot start: ${(err as Error).message}` };
    }
    this.#child = child;
    const timeoutMs = this.#deps.readyTimeoutMs ?? UPGRADE_READY_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      answered,
      child.exited.then((code): HandoffMessage => ({ type: "failed", error: `the new process exited (code ${code}) before it was ready` })),
      new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs))),
    ]);
    clearTimeout(timer);
    this.#child = null;
    if (this.#done) {
      // A signal to stop came meanwhile: the operator's stop wins, and the new process goes too.
      stopChild(child);
      await child.exited;
      return { ok: false, status: 409, error: "this aegis began shutting down during the upgrade; the new process was stopped" };
    }
    if (outcome !== "timeout" && outcome.type === "ready") {
      child.unref(); // it outlives us: nothing of ours should wait for it
      return { ok: true, old_pid: process.pid, new_pid: child.pid };
    }
    stopChild(child);
    if (outcome === "timeout") return { ok: false, status: 504, error: `the new process (pid ${child.pid}) was not ready within ${timeoutMs / 1000} s; it was stopped` };
    return { ok: false, status: 500, error: `the new process (pid ${child.pid}) failed: ${outcome.error}` };
  }
}

/** A child that failed may have bound some listeners beside ours: SIGTERM drains those, SIGKILL after a deadline. */
function stopChild(child: Bun.Subprocess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const kill = setTimeout(() => child.kill("SIGKILL"), CHILD_STOP_MS);
  kill.unref();
  void child.exited.then(() => clearTimeout(kill));
}
