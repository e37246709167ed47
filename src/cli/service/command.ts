// `aegis service install | uninstall | status`: the systemd unit that runs aegis unprivileged.
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../../config/errors.ts";
import { loadConfigFile } from "../../config/load.ts";
import { UsageError } from "../args.ts";
import { realSystem, useraddCommand, type System } from "./system.ts";
import { DEFAULT_CONFIG, DEFAULT_UNIT_DIR, DEFAULT_USER, renderUnit, UNIT_NAME } from "./unit.ts";

export interface ServiceDeps {
  system: System;
  cwd: string;
  /** This executable when it is the compiled aegis, else null (running from source). */
  binary: string | null;
  /** The directory systemd reads units from: only a unit written there is managed with systemctl. */
  systemUnitDir: string;
  out(text: string): void;
  err(text: string): void;
}

export function realServiceDeps(): ServiceDeps {
  return {
    system: realSystem,
    cwd: process.cwd(),
    // A compiled binary runs its code from Bun's embedded file system.
    binary: Bun.main.startsWith("/$bunfs/") ? process.execPath : null,
    systemUnitDir: DEFAULT_UNIT_DIR,
    out: (text) => console.log(text),
    err: (text) => console.error(text),
  };
}

interface ServiceOptions {
  action: "install" | "uninstall" | "status";
  config: string;
  user: string;
  userGiven: boolean;
  dryRun: boolean;
  /** null: the system's unit directory. */
  unitDir: string | null;
  binary: string | null;
  now: boolean;
}

const ACTIONS = ["install", "uninstall", "status"] as const;
const VALUED: Record<string, keyof ServiceOptions> = { "--config": "config", "-c": "config", "--user": "user", "--unit-dir": "unitDir", "--binary": "binary" };
/** useradd's rule for portable names (and systemd's User= check). */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export function parseServiceArgs(argv: readonly string[]): ServiceOptions {
  const action = argv[0];
  if (!action) throw new UsageError("service needs an action: install, uninstall or status");
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`service: unknown action "${action}" (install, uninstall or status)`);
  const o: ServiceOptions = {
    action: action as ServiceOptions["action"], config: DEFAULT_CONFIG, user: DEFAULT_USER, userGiven: false,
    dryRun: false, unitDir: null, binary: null, now: false,
  };
  for (let i = 1; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    if (eq > 0) [arg, value] = [arg.slice(0, eq), arg.slice(eq + 1)];
    if (arg === "--dry-run" || arg === "--now") {
      if (value !== undefined) throw new UsageError(`${arg} takes no value`);
      if (arg === "--dry-run") o.dryRun = true;
      else o.now = true;
      continue;
    }
    const key = VALUED[arg];
    if (!key) throw new UsageError(arg.startsWith("-") ? `service: unknown option ${arg}` : `service: unexpected argument "${arg}"`);
    value ??= argv[++i];
    if (value === undefined || value === "") throw new UsageError(`${arg} needs a value`);
    (o as unknown as Record<string, string>)[key] = value;
    if (key === "user") o.userGiven = true;
  }
  if (!USER_NAME.test(o.user)) throw new UsageError(`--user ${JSON.stringify(o.user)} is not a valid user name (lower-case letters, digits, "_" and "-")`);
  if (o.user === "root") throw new UsageError("--user root: the unit exists to run aegis unprivileged; give an account of its own (the default, aegis, is created if missing)");
  return o;
}

export async function runService(argv: readonly string[], deps: ServiceDeps = realServiceDeps()): Promise<number> {
  let o: ServiceOptions;
  try {
    o = parseServiceArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    deps.err(`aegis: ${err.message}\nRun \`aegis help service\` for usage.`);
    return 2;
  }
  if (o.action === "install") return install(o, deps);
  if (o.action === "uninstall") return uninstall(o, deps);
  return status(o, deps);
}

/** Where the unit goes: --unit-dir, else the directory systemd reads. */
function unitDir(o: ServiceOptions, deps: ServiceDeps): string {
  return resolve(deps.cwd, o.unitDir ?? deps.systemUnitDir);
}

/** Whether the unit goes where systemd reads it: only then is this machine the one the service is for. */
function systemDir(o: ServiceOptions, deps: ServiceDeps): boolean {
  return unitDir(o, deps) === resolve(deps.systemUnitDir);
}

/** systemd only reads units from its own directories: with --unit-dir elsewhere, systemctl is left alone. */
function managed(o: ServiceOptions, deps: ServiceDeps): boolean {
  return systemDir(o, deps) && deps.system.systemdRunning() && deps.system.hasCommand("systemctl");
}

/** Why systemctl is not used, for the messages. */
function unmanagedReason(o: ServiceOptions, deps: ServiceDeps): string {
  if (!systemDir(o, deps)) return `${unitDir(o, deps)} is not where systemd looks for units`;
  if (!deps.system.hasCommand("systemctl")) return "systemctl is not installed";
  return "systemd is not running on this machine (no /run/systemd/system: a container, or another init)";
}

function install(o: ServiceOptions, deps: ServiceDeps): number {
  const { system } = deps;
  const config = resolve(deps.cwd, o.config);
  const binaryGiven = o.binary ?? deps.binary;
  if (!binaryGiven) {
    deps.err("aegis: this is aegis running from source: pass --binary with the installed executable (scripts/install.sh puts it in /usr/local/bin/aegis)");
    return 2;
  }
  const binary = resolve(deps.cwd, binaryGiven);
  const problems: string[] = [];
  const warnings: string[] = [];

  let shutdownGraceMs = 30_000;
  try {
    shutdownGraceMs = loadConfigFile(config).global.shutdownGraceMs;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    (o.dryRun ? warnings : problems).push(`the config does not load (write one with \`aegis init\`):\n${err.message}`);
  }
  if (!existsSync(binary)) (o.dryRun ? warnings : problems).push(`${binary} does not exist`);
  warnings.push(...sandboxWarnings(binary, config, o.user));

  const unit = renderUnit({ binary, config, user: o.user, shutdownGraceMs });
  for (const w of warnings) deps.err(`aegis: warning: ${w}`);
  if (o.dryRun) {
    deps.out(unit.trimEnd());
    return problems.length > 0 ? 1 : 0;
  }
  if (problems.length > 0) {
    deps.err(`aegis: service not installed:\n${problems.map((p) => `  ${p.replace(/\n/g, "\n    ")}`).join("\n")}`);
    return 2;
  }

  // A unit written elsewhere (a package's tree, an image being built) is only a file: the machine
  // this runs on is not the one it is for, so its accounts and systemd are left alone.
  const own = systemDir(o, deps);
  if (!own && !system.userExists(o.user)) {
    deps.out(`the user ${o.user} is not created here (--unit-dir ${unitDir(o, deps)} is not systemd's directory, so nothing else is touched); where the unit is used, create it with: ${useraddCommand(o.user).join(" ")}`);
  } else if (!system.userExists(o.user)) {
    if (!system.isRoot) {
      deps.err(`aegis: the user ${o.user} does not exist and creating it needs root: run this with sudo`);
      return 1;
    }
    const created = system.run(useraddCommand(o.user));
    if (created.code !== 0) {
      deps.err(`aegis: could not create the user ${o.user}: ${created.output}`);
      return 1;
    }
    deps.out(`created the system user ${o.user} (no home, no login shell)`);
  }

  const dir = unitDir(o, deps);
  const path = join(dir, UNIT_NAME);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, unit, { mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    deps.err(`aegis: cannot write ${path}: ${code === "EACCES" || code === "EPERM" ? "permission denied (run this with sudo)" : (err as Error).message}`);
    return 1;
  }
  deps.out(`wrote ${path}`);

  if (!managed(o, deps)) {
    deps.out(`not started: ${unmanagedReason(o, deps)}.`);
    return 0;
  }
  for (const step of [["daemon-reload"], ...(o.now ? [["enable", "--now", UNIT_NAME]] : [])]) {
    const r = system.run(["systemctl", ...step]);
    if (r.code !== 0) {
      deps.err(`aegis: systemctl ${step.join(" ")} failed (exit ${r.code}):\n${r.output}\nSee: journalctl -u aegis -n 50`);
      return 1;
    }
  }
  deps.out(o.now
    ? "aegis is running and starts at boot. State: systemctl status aegis; logs: journalctl -u aegis -f"
    : "Start it now and at every boot with: systemctl enable --now aegis");
  return 0;
}

/** Why the unit's sandbox hides the absolute `path` from the service, or null when the service sees it. */
export function sandboxHides(path: string): string | null {
  return /^\/(home|root|run\/user)(\/|$)/.test(path) ? "ProtectHome=yes hides home directories from the service"
    : /^\/(tmp|var\/tmp)(\/|$)/.test(path) ? "PrivateTmp=yes gives the service its own empty /tmp"
    : null;
}

/** Paths the sandbox hides from the service, and a config the service user cannot read. */
export function sandboxWarnings(binary: string, config: string, user: string): string[] {
  const out: string[] = [];
  for (const [what, path] of [["the executable", binary], ["the config", config]] as const) {
    const why = sandboxHides(path);
    if (why) out.push(`${what} ${path} is out of the service's sight (${why}); install it under /usr/local/bin or /etc/aegis`);
  }
  try {
    const mode = statSync(config).mode;
    if ((mode & 0o004) === 0) out.push(`${config} is not readable by others: make sure the ${user} user can read it (chmod 644, or chgrp ${user} and chmod 640)`);
  } catch {
    // A missing config is reported by the loader.
  }
  return out;
}

function uninstall(o: ServiceOptions, deps: ServiceDeps): number {
  const path = join(unitDir(o, deps), UNIT_NAME);
  if (!existsSync(path)) {
    deps.out(`aegis is not installed as a service (no ${path}); nothing to do.`);
    return 0;
  }
  const manage = managed(o, deps);
  if (o.dryRun) {
    deps.out([...(manage ? [`systemctl disable --now ${UNIT_NAME}`] : []), `rm ${path}`, ...(manage ? ["systemctl daemon-reload"] : [])].join("\n"));
    return 0;
  }
  if (manage) {
    const r = deps.system.run(["systemctl", "disable", "--now", UNIT_NAME]);
    if (r.code !== 0) deps.err(`aegis: warning: systemctl disable --now failed (exit ${r.code}): ${r.output}`);
  }
  try {
    rmSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    deps.err(`aegis: cannot remove ${path}: ${code === "EACCES" || code === "EPERM" ? "permission denied (run this with sudo)" : (err as Error).message}`);
    return 1;
  }
  if (manage) deps.system.run(["systemctl", "daemon-reload"]);
  deps.out(`removed ${path}${manage ? " (stopped and disabled first)" : ""}.
The config and the service user are left in place; remove them with: rm -r /etc/aegis; userdel ${o.user}`);
  return 0;
}

function status(o: ServiceOptions, deps: ServiceDeps): number {
  const path = join(unitDir(o, deps), UNIT_NAME);
  const installed = existsSync(path);
  if (managed(o, deps)) return deps.system.runInteractive(["systemctl", "status", UNIT_NAME, "--no-pager"]);
  const why = unmanagedReason(o, deps);
  deps.out(`unit file: ${installed ? path : `not installed (no ${path}; aegis service install writes it)`}
state: unknown: ${why}, so there is no service state to show.${installed ? "" : "\nWithout systemd, run aegis in the foreground: aegis --config /etc/aegis/aegis.toml"}`);
  // LSB: 4 = "program or service status is unknown".
  return 4;
}
