// The command line as a user meets it: real `aegis` processes (from source, and the compiled binary), their output and exit codes.
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { SOURCE_COMMAND, startAegis, tempDir } from "./helpers/aegis.ts";
import { ensureBinary, run } from "./helpers/build.ts";
import { COMMANDS, commandSpec } from "../src/cli/commands.ts";

/** Runs the compiled dist/aegis with `args` in `cwd` (an empty temp directory by default). */
function binary(args: string[], cwd = tempDir()) {
  return run([ensureBinary(), ...args], { cwd });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs aegis with `args` in `cwd` (an empty temp directory by default), killed after `timeoutMs`. */
async function aegis(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  const proc = Bun.spawn([...SOURCE_COMMAND, ...args], {
    cwd: options.cwd ?? tempDir(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 10_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Writes `toml` as `name` in a fresh temp directory and returns the directory. */
function dirWith(name: string, toml: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, name), toml);
  return dir;
}

const VALID = `
[global]
workers = 1

[[listener]]
name = "web"
bind = "127.0.0.1:0"
upstream = "backends"

[[upstream]]
name = "backends"
servers = ["127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 }]
`;

describe("version and help", () => {
  test("--version prints the package version and exits 0", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await aegis([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`aegis ${pkg.version} `);
      expect(r.stdout).toContain(`bun ${Bun.version}`);
      expect(r.stderr).toBe("");
    }
  });

  test("--help and `help` print the usage with every command", async () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const r = await aegis(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Usage:");
      for (const signal of ["SIGTERM", "SIGHUP"]) expect(r.stdout).toContain(signal);
      for (const command of ["aegis [run] [-c FILE]", "aegis check [FILE]", "aegis demo", "aegis status", "aegis drain SERVER", "aegis help [COMMAND]", "aegis --version"]) {
        expect(r.stdout).toContain(command);
      }
      expect(r.stdout).toContain("SIGTERM");
    }
  });

  test("`help check` and `check --help` describe check", async () => {
    for (const args of [["help", "check"], ["check", "--help"]]) {
      const r = await aegis(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Usage: aegis check [FILE] [-c FILE]");
      expect(r.stdout).toContain("exit code is 2");
    }
  });

  test("every command has its own help: `help CMD` and `CMD --help` print the same, with its usage and options", async () => {
    const texts = new Set<string>();
    for (const command of COMMANDS) {
      const viaHelp = await binary(["help", command]);
      expect(viaHelp.code, command).toBe(0);
      expect(viaHelp.stdout, command).toContain(`Usage: aegis ${commandSpec(command)!.usage[0]}`);
      expect(viaHelp.stdout, command).toContain("-h, --help");
      for (const o of commandSpec(command)!.options) expect(viaHelp.stdout, `${command} ${o.long}`).toContain(o.long);
      texts.add(viaHelp.stdout);
      const flag = command === "version" ? ["help", "version"] : [command, "--help"];
      const viaFlag = await binary(flag);
      expect(viaFlag.code, command).toBe(0);
      expect(viaFlag.stdout, command).toBe(viaHelp.stdout);
    }
    expect(texts.size).toBe(COMMANDS.length);
  });

  test("`help nope` exits 2 and says there is no such help", async () => {
    const r = await aegis(["help", "nope"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('no help for "nope"');
    const typo = await aegis(["help", "relaod"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('no help for "relaod" (did you mean "reload"?)');
  });
});

describe("usage errors exit 2 with a message", () => {
  test("unknown command", async () => {
    const r = await aegis(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('aegis: unknown command "frobnicate"');
    expect(r.stderr).toContain("aegis --help");
  });

  test("unknown option", async () => {
    const r = await aegis(["--frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("aegis: unknown option --frobnicate");
  });

  test("--config without a path", async () => {
    const r = await aegis(["check", "--config"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--config needs a file path");
  });

  test("an extra argument", async () => {
    const r = await aegis(["check", "a.toml", "extra"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unexpected argument "extra"');
    expect(r.stderr).toContain("aegis help check");
  });

  test("`aegis init` without a terminal asks nothing: exit 2 and the flags to use instead", async () => {
    const r = await aegis(["init"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("aegis: init asks its questions on a terminal");
    expect(r.stderr).toContain("aegis init --listen 0.0.0.0:6380 --server 10.0.0.5:6379");
  });
});

describe("finding the config", () => {
  // With a system-wide /etc/aegis/aegis.toml present, aegis would (rightly) use it.
  test.skipIf(existsSync("/etc/aegis/aegis.toml"))("no config in an empty directory: exit 2, names the paths looked at, suggests init, --config and the demo", async () => {
    for (const args of [[], ["check"]]) {
      const r = await aegis(args, { timeoutMs: 15_000 });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("aegis: no config file: looked for ./aegis.toml and /etc/aegis/aegis.toml");
      expect(r.stderr).toContain("aegis init");
      expect(r.stderr).toContain("--config PATH");
      expect(r.stderr).toContain("aegis demo");
    }
  });

  test("./aegis.toml in the working directory is found without --config", async () => {
    const r = await aegis(["check"], { cwd: dirWith("aegis.toml", VALID) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("config ./aegis.toml is valid");
  });

  test("check warns about what an algorithm cannot honour, and the config still loads", async () => {
    const toml = `[[listener]]\nname = "db"\nbind = "127.0.0.1:0"\nupstream = "db"\n\n[[upstream]]\nname = "db"\nbalance = "first"\nservers = ["127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 }]\n`;
    const r = await aegis(["check"], { cwd: dirWith("aegis.toml", toml) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('warning: upstream db: balance = "first" ignores weights');
    expect(r.stdout).toContain('warning: upstream db: balance = "first" sends every connection to the first available server');
    expect(r.stdout).toContain("config ./aegis.toml is valid");
    const plain = await aegis(["check"], { cwd: dirWith("aegis.toml", VALID) });
    expect(plain.stdout).not.toContain("warning:");
  });

  test("a --config path that does not exist: exit 2 naming the path", async () => {
    const r = await aegis(["check", "--config", "missing.toml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing.toml: cannot read the config file: no such file");
  });
});

describe("aegis check", () => {
  test("a valid config: exit 0 and a summary listing the listener and the upstream", async () => {
    const dir = dirWith("proxy.toml", VALID);
    for (const args of [["check", "--config", "proxy.toml"], ["check", "-c", "proxy.toml"], ["check", "--config=proxy.toml"]]) {
      const r = await aegis(args, { cwd: dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("listeners (1)");
      expect(r.stdout).toMatch(/web\s+127\.0\.0\.1:0\s+-> backends/);
      expect(r.stdout).toContain("upstreams (1)");
      expect(r.stdout).toMatch(/backends: round_robin/);
      expect(r.stdout).toMatch(/127\.0\.0\.1:9001\s+weight 1/);
      expect(r.stdout).toMatch(/127\.0\.0\.1:9002\s+weight 3/);
      expect(r.stdout).toContain("config proxy.toml is valid");
    }
  });

  test("a TOML syntax error: exit 2, the file with line:column and the offending line", async () => {
    const dir = dirWith("broken.toml", `[global]\nworkers = 1\n[[listener]\nbind = "127.0.0.1:0"\n`);
    const r = await aegis(["check", "--config", "broken.toml"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("aegis: invalid config");
    expect(r.stderr).toMatch(/broken\.toml:3:\d+: /);
    expect(r.stderr).toContain("[[listener]");
  });

  test("a bad port: exit 2, the file, line and column, and the key path of the value", async () => {
    const toml = VALID.replace(`"127.0.0.1:9001"`, `"127.0.0.1:99999"`);
    const dir = dirWith("bad-port.toml", toml);
    const r = await aegis(["check", "--config", "bad-port.toml"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`bad-port.toml:12:12: upstream[0].servers[0]: "127.0.0.1:99999" is not a valid port`);
  });

  test("every problem is reported at once", async () => {
    const toml = VALID.replace(`"127.0.0.1:9001"`, `"127.0.0.1:99999"`).replace(`upstream = "backends"`, `upstream = "nowhere"`);
    const dir = dirWith("two.toml", toml);
    const r = await aegis(["check", "--config", "two.toml"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("upstream[0].servers[0]");
    expect(r.stderr).toContain("nowhere");
  });

  test("running (not checking) an invalid config also exits 2 before listening", async () => {
    const dir = dirWith("aegis.toml", VALID.replace(`"127.0.0.1:9001"`, `"127.0.0.1:99999"`));
    const r = await aegis([], { cwd: dir, timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not a valid port");
    expect(r.stdout).not.toContain('"ready"');
  });
});

describe("start-up failures", () => {
  test("a listener port already in use: exit 1 with a JSON error naming the listener", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const toml = VALID.replace(`bind = "127.0.0.1:0"`, `bind = "127.0.0.1:${busy.port}"`) + `\n[metrics]\nenabled = false\n`;
      const r = await aegis(["--config", "aegis.toml"], { cwd: dirWith("aegis.toml", toml) });
      expect(r.code).toBe(1);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const failure = lines.find((l) => l.msg === "could not start");
      expect(failure?.level).toBe("error");
      expect(String(failure?.error)).toContain(`listener web: cannot listen on 127.0.0.1:${busy.port}`);
    } finally {
      busy.stop(true);
    }
  });

  test("a second aegis on the same port is refused, not silently sharing it through SO_REUSEPORT", async () => {
    const first = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = first.port;
    first.stop(true);
    const toml = VALID.replace(`bind = "127.0.0.1:0"`, `bind = "127.0.0.1:${port}"`) + `\n[metrics]\nenabled = false\n`;
    const running = await startAegis(toml);
    try {
      const r = await aegis(["--config", "aegis.toml"], { cwd: dirWith("aegis.toml", toml) });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`cannot listen on 127.0.0.1:${port}: address already in use`);
    } finally {
      await running.stop();
    }
  });
});

describe("mistyped commands and options get a did-you-mean", () => {
  test("a command one edit away is named; a file name gets the -c hint", async () => {
    const typo = await binary(["stauts"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('aegis: unknown command "stauts" (did you mean "status"?)');
    const file = await binary(["proxy.toml"]);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain("aegis -c proxy.toml");
  });

  test("an option one edit away is named, with the command's help to read", async () => {
    const r = await binary(["check", "--confg", "x.toml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("aegis: check: unknown option --confg (did you mean --config?)");
    expect(r.stderr).toContain("Run `aegis help check` for usage.");
    const other = await binary(["status", "--port-base", "9000"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("status: unknown option --port-base (an option of demo)");
  });

  test("a missing or extra argument names the usage", async () => {
    const missing = await binary(["drain"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("drain needs SERVER: aegis drain SERVER [-c FILE]");
    const shell = await binary(["completion"]);
    expect(shell.code).toBe(2);
    expect(shell.stderr).toContain("completion needs SHELL");
    const extra = await binary(["status", "now"]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('unexpected argument "now" (status takes none)');
  });
});

describe("the config file: `check FILE`, and -c for --config everywhere", () => {
  test("check takes the file as an argument, as -c and as --config, all alike", async () => {
    const dir = dirWith("proxy.toml", VALID);
    for (const args of [["check", "proxy.toml"], ["check", "-c", "proxy.toml"], ["-c", "proxy.toml", "check"], ["check", "--config=proxy.toml"]]) {
      const r = await binary(args, dir);
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout).toContain("config proxy.toml is valid");
    }
    const two = await binary(["check", "proxy.toml", "-c", "other.toml"], dir);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain("two files given");
  });

  test("every command that reads a config takes -c and --config", async () => {
    for (const command of COMMANDS.filter((c) => commandSpec(c)!.options.some((o) => o.long === "--config" && o.short === "-c"))) {
      const extra = command === "drain" || command === "enable" ? ["app/x"] : command === "service" ? ["install", "--dry-run", "--binary", "/bin/true"] : [];
      for (const flag of ["-c", "--config"]) {
        const r = await binary([command, ...extra, flag, "missing.toml"]);
        // service --dry-run writes the file into the unit it prints (and warns that it does not load).
        if (command === "service") {
          expect(r.code, `${command} ${flag}`).toBe(0);
          expect(r.stdout).toMatch(/ExecStart=\/bin\/true --config \S*\/missing\.toml/);
          continue;
        }
        expect(r.code, `${command} ${flag}`).toBe(2);
        expect(r.stderr, `${command} ${flag}`).toMatch(/missing\.toml: cannot read the config file: no such file|cannot read the config file missing\.toml: no such file/);
      }
    }
  });
});

describe("aegis demo", () => {
  test("-c is refused with the reason, and so are a bad --port-base and clashing ports", async () => {
    const c = await binary(["demo", "-c", "x.toml"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("demo reads no config file");
    expect(c.stderr).toContain("aegis -c FILE");
    const base = await binary(["demo", "--port-base", "70000"]);
    expect(base.code).toBe(2);
    expect(base.stderr).toContain('--port-base "70000" must be a port from 1 to 65534');
    const both = await binary(["demo", "--port-base", "9000", "--listen", "127.0.0.1:9000"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--port-base sets both ports");
    const same = await binary(["demo", "--listen", "127.0.0.1:9000", "--metrics", "127.0.0.1:9000"]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain("both use port 9000");
  });

  test("a taken port: exit 1, and the hint to move the demo", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await binary(["demo", "--listen", `127.0.0.1:${busy.port}`, "--metrics", "127.0.0.1:0"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`cannot listen on 127.0.0.1:${busy.port}`);
      expect(r.stderr).toContain("move it: aegis demo --port-base 9000");
    } finally {
      busy.stop(true);
    }
  });

  test("--listen and --metrics move it; the banner gives the status page URL; the servers show by name", async () => {
    const proc = Bun.spawn([ensureBinary(), "demo", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"], { cwd: tempDir(), stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    try {
      let banner = "";
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr) {
        banner += decoder.decode(chunk, { stream: true });
        if (banner.includes("Stop:")) break;
      }
      const status = /Status:\s+(http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(banner);
      expect(status, banner).not.toBeNull();
      expect(banner).toContain("echo-1, echo-2, echo-3");
      expect(banner).toMatch(/nc 127\.0\.0\.1 \d+/);
      const page = await fetch(status![1]!);
      expect(page.status).toBe(200);
      const metrics = await (await fetch(`${status![1]}metrics`)).text();
      for (const name of ["echo-1", "echo-2", "echo-3"]) expect(metrics).toContain(`server="${name}"`);
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  });
});

describe("shell completion and the man page, from the same table as the help", () => {
  /** Runs `script` in `shell` (its arguments after it) in `cwd`. */
  const inShell = (shell: string[], cwd = tempDir()) => run(shell, { cwd });

  test("bash: the script parses, and completes commands, options, choices and config files", async () => {
    const dir = tempDir();
    const script = join(dir, "aegis.bash");
    const r = await binary(["completion", "bash"]);
    expect(r.code).toBe(0);
    writeFileSync(script, r.stdout);
    expect((await inShell(["bash", "-n", script])).code).toBe(0);
    writeFileSync(join(dir, "proxy.toml"), VALID);
    writeFileSync(join(dir, "notes.txt"), "");
    const complete = async (...words: string[]) => {
      const probe = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _aegis; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const out = await inShell(["bash", "-c", probe], dir);
      expect(out.stderr).toBe("");
      return out.stdout.split("\n").filter(Boolean).sort();
    };
    expect(await complete("aegis", "sta")).toEqual(["status"]);
    expect(await complete("aegis", "")).toEqual([...COMMANDS].sort());
    expect(await complete("aegis", "check", "--")).toEqual(["--config", "--help"]);
    expect(await complete("aegis", "completion", "")).toEqual(["bash", "fish", "zsh"]);
    expect(await complete("aegis", "-c", "")).toEqual(["proxy.toml"]);
    expect(await complete("aegis", "status", "--config", "p")).toEqual(["proxy.toml"]);
    expect(await complete("aegis", "check", "")).toEqual(["proxy.toml"]);
    expect(await complete("aegis", "init", "--balance", "p2")).toEqual(["p2c", "p2c_ewma"]);
  });

  test("zsh: the script parses", async () => {
    const script = join(tempDir(), "_aegis");
    writeFileSync(script, (await binary(["completion", "zsh"])).stdout);
    const r = await inShell(["zsh", "-n", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("fish: the script parses and fish completes from it", async () => {
    const dir = tempDir();
    const script = join(dir, "aegis.fish");
    writeFileSync(script, (await binary(["completion", "fish"])).stdout);
    expect((await inShell(["fish", "--no-execute", script])).code).toBe(0);
    const complete = async (line: string) => {
      const out = await inShell(["fish", "--no-config", "-c", `source ${script}; complete -C '${line}'`], dir);
      expect(out.stderr).toBe("");
      return out.stdout.split("\n").filter(Boolean).map((l) => l.split("\t")[0]!).sort();
    };
    expect(await complete("aegis sta")).toEqual(["status"]);
    expect(await complete("aegis completion ")).toEqual(["bash", "fish", "zsh"]);
    expect(await complete("aegis status --j")).toEqual(["--json"]);
  });

  test("an unknown shell is a usage error naming the three", async () => {
    const r = await binary(["completion", "tcsh"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('completion: SHELL must be bash, zsh, fish; got "tcsh"');
  });

  test("man: renders without a warning, with every command, its summary and its options", async () => {
    const dir = tempDir();
    const r = await binary(["man"]);
    expect(r.code).toBe(0);
    writeFileSync(join(dir, "aegis.1"), r.stdout);
    const rendered = await run(["man", "--warnings", "-l", "aegis.1"], { cwd: dir, env: { MANWIDTH: "200", MAN_KEEP_FORMATTING: undefined } });
    expect(rendered.stderr).toBe("");
    expect(rendered.code).toBe(0);
    const text = rendered.stdout.replace(/.\x08/g, ""); // drop overstrike bold/underline, if any
    expect(text).toContain("AEGIS(1)");
    for (const c of COMMANDS) {
      const spec = commandSpec(c)!;
      expect(text, c).toContain(spec.summary);
      for (const o of spec.options) expect(text, `${c} ${o.long}`).toContain(o.long);
    }
    expect(text).toContain("EXIT STATUS");
  });
});
