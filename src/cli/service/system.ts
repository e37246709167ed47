// What `aegis service` asks of the machine: accounts, systemd, running commands. Tests replace it.
import { existsSync, readFileSync } from "node:fs";

export interface CommandResult {
  code: number;
  output: string;
}

export interface System {
  isRoot: boolean;
  /** systemd is PID 1 here (sd_booted: /run/systemd/system exists). */
  systemdRunning(): boolean;
  hasCommand(name: string): boolean;
  userExists(name: string): boolean;
  /** Runs a command to completion, output captured. */
  run(argv: string[]): CommandResult;
  /** Runs a command with the terminal (systemctl status); returns its exit code. */
  runInteractive(argv: string[]): number;
}

export const realSystem: System = {
  isRoot: process.getuid?.() === 0,
  systemdRunning: () => existsSync("/run/systemd/system"),
  hasCommand: (name) => Bun.which(name) !== null,
  userExists(name) {
    const getent = Bun.which("getent") ? Bun.spawnSync(["getent", "passwd", name], { stdout: "ignore", stderr: "ignore" }) : null;
    if (getent) return getent.exitCode === 0;
    try {
      return readFileSync("/etc/passwd", "utf8").split("\n").some((line) => line.split(":")[0] === name);
    } catch {
      return false;
    }
  },
  run(argv) {
    const r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode ?? 1, output: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
  },
  runInteractive(argv) {
    return Bun.spawnSync(argv, { stdin: "inherit", stdout: "inherit", stderr: "inherit" }).exitCode ?? 1;
  },
};

/** The command that creates a system account for the service: no home, no login shell, its own group. */
export function useraddCommand(user: string): string[] {
  return ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "aegis proxy", user];
}
