// `aegis service`: the unit's content, systemd's own verdict on it (systemd-analyze verify and security),
// install/uninstall/status through the compiled binary into a temporary unit directory, and the
// decisions that need root or a running systemd, on a fake system.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runService, type ServiceDeps } from "../src/cli/service/command.ts";
import type { System } from "../src/cli/service/system.ts";
import { execArg, renderUnit } from "../src/cli/service/unit.ts";
import { tempDir } from "./helpers/aegis.ts";
import { ensureBinary, run } from "./helpers/build.ts";

const CONFIG = `
[global]
shutdown_grace = "45s"

[[listener]]
bind = "0.0.0.0:6380"
upstream = "redis"

[[upstream]]
name = "redis"
servers = ["10.0.0.5:6379"]
`;

let binary = "";
beforeAll(() => {
  binary = ensureBinary();
}, 120_000);

/** A directory holding a copy of the real binary and a valid config, as systemd-analyze needs them to exist. */
function installation(dirName = "aegis"): { dir: string; bin: string; config: string } {
  const dir = join(tempDir("aegis-svc-"), dirName);
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, "aegis");
  copyFileSync(binary, bin);
  chmodSync(bin, 0o755);
  const config = join(dir, "aegis.toml");
  writeFileSync(config, CONFIG, { mode: 0o644 });
  return { dir, bin, config };
}

/** The unit `aegis service install --dry-run` prints, written where systemd-analyze can read it. */
async function dryRunUnit(i: { dir: string; bin: string; config: string }): Promise<string> {
  const r = await run([i.bin, "service", "install", "--dry-run", "--config", i.config, "--user", "aegis"], { cwd: i.dir });
  expect(r.code).toBe(0);
  const path = join(i.dir, "aegis.service");
  writeFileSync(path, `${r.stdout}`);
  return path;
}

/** systemd-analyze comes with Debian's systemd package, which scripts/setup.sh --test installs. */
function needAnalyze(): void {
  if (!Bun.which("systemd-analyze")) throw new Error("systemd-analyze is missing: run `bash scripts/setup.sh --test` (it installs Debian's systemd package)");
}

describe("the unit", () => {
  const unit = renderUnit({ binary: "/usr/local/bin/aegis", config: "/etc/aegis/aegis.toml", user: "aegis", shutdownGraceMs: 45_000 });
  const lines = unit.split("\n").filter((l) => l && !l.startsWith("#"));

  test("runs the config, reloads by SIGHUP, restarts on failure, reports readiness", () => {
    expect(lines).toContain("Type=notify");
    expect(lines).toContain("NotifyAccess=main");
    expect(lines).toContain("ExecStart=/usr/local/bin/aegis --config /etc/aegis/aegis.toml");
    expect(lines).toContain("ExecStartPre=/usr/local/bin/aegis check --config /etc/aegis/aegis.toml");
    expect(lines).toContain("ExecReload=/bin/kill -HUP $MAINPID");
    expect(lines).toContain("Restart=on-failure");
    expect(lines).toContain("TimeoutStopSec=55s"); // shutdown_grace 45 s + 10 s
  });

  test("says how to upgrade in place, and keeps NotifyAccess=main (the old main process hands MAINPID over)", () => {
    expect(unit).toContain("# `systemctl kill --kill-whom=main -s USR2 aegis`");
    expect(unit).toContain("sends MAINPID= of the new one");
    expect(lines).toContain("NotifyAccess=main");
  });

  test("unprivileged with one capability, a million open files, and the sandbox the issue lists", () => {
    for (const line of [
      "User=aegis", "LimitNOFILE=1048576", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
      "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service", "UMask=0077",
      "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
      "RestrictNamespaces=yes", "LockPersonality=yes",
    ]) expect(lines).toContain(line);
  });

  test("MemoryDenyWriteExecute is left out, with the reason in a comment", () => {
    expect(lines.some((l) => l.startsWith("MemoryDenyWriteExecute"))).toBe(false);
    expect(unit).toContain("# - MemoryDenyWriteExecute=yes: Bun's JavaScript JIT needs writable and executable memory.");
  });

  test("paths with spaces, % and $ stay literal", () => {
    expect(execArg("/opt/my dir/aegis")).toBe(`"/opt/my dir/aegis"`);
    expect(execArg("/etc/aegis/100%.toml")).toBe("/etc/aegis/100%%.toml");
    expect(execArg("/etc/$HOME.toml")).toBe("/etc/$$HOME.toml");
  });
});

describe("systemd's verdict on the generated unit", () => {
  test("systemd-analyze verify: no warnings (also with a space in the paths)", async () => {
    needAnalyze();
    for (const name of ["aegis", "with space"]) {
      const i = installation(name);
      const unit = await dryRunUnit(i);
      const r = await run(["systemd-analyze", "verify", unit], { cwd: i.dir, timeoutMs: 30_000 });
      expect(`${r.stdout}${r.stderr}`.trim()).toBe("");
      expect(r.code).toBe(0);
    }
  }, 60_000);

  test("systemd-analyze security --offline=yes rates it 2.0 or better (\"OK\")", async () => {
    needAnalyze();
    const i = installation();
    const unit = await dryRunUnit(i);
    const r = await run(["systemd-analyze", "security", "--offline=yes", unit], { cwd: i.dir, timeoutMs: 30_000 });
    const m = /Overall exposure level for aegis\.service: (\d+\.\d+) (\S+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
    expect(["OK", "SAFE"]).toContain(m![2]!);
  }, 60_000);
});

describe("MemoryDenyWriteExecute and Bun", () => {
  // PR_SET_MDWE (Linux 6.3+) is the kernel mechanism systemd uses for MemoryDenyWriteExecute=yes.
  const underMdwe = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])`;
  const jitProbe = `import { numberOfDFGCompiles } from "bun:jsc";
function f(x) { let s = 0; for (let i = 0; i < 100; i++) s += i * x; return s; }
for (let i = 0; i < 100000; i++) f(i);
console.log(numberOfDFGCompiles(f));`;

  test("under it aegis starts, but JavaScriptCore has no JIT (which is why the unit leaves it out)", async () => {
    const dir = tempDir("aegis-mdwe-");
    writeFileSync(join(dir, "mdwe.py"), underMdwe);
    writeFileSync(join(dir, "jit.js"), jitProbe);
    const version = await run(["python3", join(dir, "mdwe.py"), binary, "--version"]);
    if (version.code === 77) return; // kernel without PR_SET_MDWE: nothing to show
    expect(version.code).toBe(0);
    const free = await run([process.execPath, join(dir, "jit.js")]);
    const confined = await run(["python3", join(dir, "mdwe.py"), process.execPath, join(dir, "jit.js")]);
    const withJit = Number(free.stdout.trim());
    expect(withJit).toBeGreaterThan(0);
    expect(withJit).toBeLessThan(1_000_000);
    // JavaScriptCore answers 1000000 when its DFG JIT is unavailable.
    expect(Number(confined.stdout.trim())).toBeGreaterThanOrEqual(1_000_000);
  }, 60_000);
});

describe("install, status, uninstall through the binary (into --unit-dir)", () => {
  test("install writes the unit the dry run prints; status explains; uninstall removes it", async () => {
    const i = installation();
    const unitDir = join(i.dir, "units");
    const common = ["--config", i.config, "--unit-dir", unitDir];
    const dry = await run([i.bin, "service", "install", "--dry-run", ...common, "--user", "daemon"], { cwd: i.dir });
    expect(existsSync(unitDir)).toBe(false);

    // "daemon" exists on every Debian system, so nothing is created.
    const install = await run([i.bin, "service", "install", ...common, "--user", "daemon"], { cwd: i.dir });
    expect(install.code).toBe(0);
    expect(install.stdout).toContain(`wrote ${unitDir}/aegis.service`);
    expect(install.stdout).toContain("not started:");
    expect(install.stderr).toContain("PrivateTmp=yes gives the service its own empty /tmp"); // the config lives in /tmp here
    expect(readFileSync(join(unitDir, "aegis.service"), "utf8")).toBe(`${dry.stdout.trimEnd()}\n`);
    expect(dry.stdout).toContain(`ExecStart=${i.bin} --config ${i.config}`);

    const status = await run([i.bin, "service", "status", "--unit-dir", unitDir], { cwd: i.dir });
    expect(status.code).toBe(4);
    expect(status.stdout).toContain(`unit file: ${unitDir}/aegis.service`);
    expect(status.stdout).toContain("state: unknown");

    const uninstall = await run([i.bin, "service", "uninstall", "--unit-dir", unitDir], { cwd: i.dir });
    expect(uninstall.code).toBe(0);
    expect(uninstall.stdout).toContain(`removed ${unitDir}/aegis.service`);
    expect(existsSync(join(unitDir, "aegis.service"))).toBe(false);
    const again = await run([i.bin, "service", "uninstall", "--unit-dir", unitDir], { cwd: i.dir });
    expect(again.stdout).toContain("not installed");
    const after = await run([i.bin, "service", "status", "--unit-dir", unitDir], { cwd: i.dir });
    expect(after.stdout).toContain("not installed");
  }, 30_000);

  test("with --unit-dir a missing user is not created: the machine is left alone, the command to run is printed", async () => {
    const i = installation();
    const unitDir = join(i.dir, "units");
    const user = `aegis-t${process.pid}`;
    const install = await run([i.bin, "service", "install", "--config", i.config, "--unit-dir", unitDir, "--user", user], { cwd: i.dir });
    expect(install.code).toBe(0);
    expect(install.stdout).toContain(`the user ${user} is not created here`);
    expect(install.stdout).toContain(`useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --comment aegis proxy ${user}`);
    expect(readFileSync(join(unitDir, "aegis.service"), "utf8")).toContain(`User=${user}`);
    expect((await run(["getent", "passwd", user])).code).not.toBe(0);
  }, 30_000);

  test("refusals: a config that does not load, --user root, an unknown action or option", async () => {
    const i = installation();
    writeFileSync(i.config, "[[listener]]\nbind = 1\n");
    const bad = await run([i.bin, "service", "install", "--config", i.config, "--unit-dir", join(i.dir, "u")], { cwd: i.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("service not installed");
    expect(bad.stderr).toContain("the config does not load");
    expect(existsSync(join(i.dir, "u"))).toBe(false);
    for (const [args, message] of [
      [["install", "--user", "root"], "--user root"],
      [["restart"], `unknown action "restart"`],
      [["install", "--frob"], "unknown option --frob"],
      [[], "service needs an action"],
    ] as const) {
      const r = await run([i.bin, "service", ...args], { cwd: i.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  }, 30_000);
});

test("`aegis help service` and `aegis help schema` describe them", async () => {
  const service = await run([binary, "help", "service"]);
  expect(service.code).toBe(0);
  for (const word of ["install", "uninstall", "status", "--dry-run", "--user", "--unit-dir", "Type=notify"]) expect(service.stdout).toContain(word);
  const schema = await run([binary, "schema", "--help"]);
  expect(schema.stdout).toContain("Usage: aegis schema");
});

describe("decisions on a fake system", () => {
  function fake(o: { root: boolean; systemd: boolean; users?: string[] }) {
    const commands: string[][] = [];
    const system: System = {
      isRoot: o.root,
      systemdRunning: () => o.systemd,
      hasCommand: () => true,
      userExists: (name) => (o.users ?? []).includes(name),
      run: (argv) => (commands.push(argv), { code: 0, output: "" }),
      runInteractive: (argv) => (commands.push(argv), 3),
    };
    const dir = tempDir("aegis-svc-");
    const config = join(dir, "aegis.toml");
    writeFileSync(config, CONFIG, { mode: 0o644 });
    const out: string[] = [];
    const err: string[] = [];
    const deps: ServiceDeps = { system, cwd: dir, binary: process.execPath, systemUnitDir: join(dir, "system"), out: (t) => out.push(t), err: (t) => err.push(t) };
    return { deps, commands, config, dir, out, err };
  }

  test("a missing user is created as a system account only on a real install, as root", async () => {
    const f = fake({ root: true, systemd: false });
    expect(await runService(["install", "--dry-run", "--config", f.config], f.deps)).toBe(0);
    expect(f.commands).toEqual([]);
    expect(await runService(["install", "--config", f.config, "--user", "proxy"], f.deps)).toBe(0);
    expect(f.commands[0]).toEqual(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "aegis proxy", "proxy"]);

    const notRoot = fake({ root: false, systemd: false });
    expect(await runService(["install", "--config", notRoot.config], notRoot.deps)).toBe(1);
    expect(notRoot.err.join("\n")).toContain("the user aegis does not exist and creating it needs root");
    expect(notRoot.commands).toEqual([]);
  });

  test("with systemd running: daemon-reload, and enable --now with --now; uninstall disables first; status is systemctl's", async () => {
    const f = fake({ root: true, systemd: true, users: ["aegis"] });
    expect(await runService(["install", "--config", f.config, "--now"], f.deps)).toBe(0);
    expect(f.commands).toEqual([["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "aegis.service"]]);
    expect(existsSync(join(f.dir, "system/aegis.service"))).toBe(true);
    f.commands.length = 0;
    expect(await runService(["status"], f.deps)).toBe(3);
    expect(f.commands).toEqual([["systemctl", "status", "aegis.service", "--no-pager"]]);
    f.commands.length = 0;
    expect(await runService(["uninstall"], f.deps)).toBe(0);
    expect(f.commands).toEqual([["systemctl", "disable", "--now", "aegis.service"], ["systemctl", "daemon-reload"]]);
    expect(existsSync(join(f.dir, "system/aegis.service"))).toBe(false);
  });

  test("--unit-dir elsewhere touches nothing but that directory: no useradd, no systemctl, even as root with systemd", async () => {
    const f = fake({ root: true, systemd: true });
    const dir = join(f.dir, "image/etc/systemd/system");
    expect(await runService(["install", "--config", f.config, "--unit-dir", dir, "--now"], f.deps)).toBe(0);
    expect(f.commands).toEqual([]);
    expect(existsSync(join(dir, "aegis.service"))).toBe(true);
    expect(existsSync(join(f.dir, "system"))).toBe(false);
    expect(f.out.join("\n")).toContain("the user aegis is not created here");
    expect(f.out.join("\n")).toContain(`not started: ${dir} is not where systemd looks for units`);
    // Named as systemd's own directory, it is the system's install.
    expect(await runService(["install", "--config", f.config, "--unit-dir", join(f.dir, "system")], f.deps)).toBe(0);
    expect(f.commands[0]?.[0]).toBe("useradd");
  });

  test("without systemd the unit is written and the user told it was not started", async () => {
    const f = fake({ root: true, systemd: false, users: ["aegis"] });
    expect(await runService(["install", "--config", f.config, "--now"], f.deps)).toBe(0);
    expect(f.out.join("\n")).toContain("not started: systemd is not running on this machine");
    expect(f.commands).toEqual([]);
  });

  test("a config hidden by the sandbox or unreadable by the service user is warned about", async () => {
    const f = fake({ root: true, systemd: false, users: ["aegis"] });
    chmodSync(f.config, 0o600);
    expect(await runService(["install", "--dry-run", "--config", f.config], f.deps)).toBe(0);
    expect(f.err.join("\n")).toContain("is not readable by others");
    const home = fake({ root: true, systemd: false, users: ["aegis"] });
    await runService(["install", "--dry-run", "--config", "/root/aegis.toml"], home.deps);
    expect(home.err.join("\n")).toContain("ProtectHome=yes hides home directories");
  });
});
