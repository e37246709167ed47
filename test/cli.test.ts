// The command line as a user meets it: real `aegis` processes (from source), their output and exit codes.
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { SOURCE_COMMAND, startAegis, tempDir } from "./helpers/aegis.ts";

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
      for (const command of ["aegis [--config PATH]", "aegis check", "aegis demo", "aegis help [command]", "aegis --version"]) {
        expect(r.stdout).toContain(command);
      }
      expect(r.stdout).toContain("SIGTERM");
    }
  });

  test("`help check` and `check --help` describe check", async () => {
    for (const args of [["help", "check"], ["check", "--help"]]) {
      const r = await aegis(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Usage: aegis check [--config PATH]");
      expect(r.stdout).toContain("exit code is 2");
    }
  });

  test("help for every command exists", async () => {
    for (const topic of ["run", "check", "demo", "help", "version"]) {
      const r = await aegis(["help", topic]);
      expect(r.code, topic).toBe(0);
      expect(r.stdout, topic).toContain("Usage:");
    }
  });

  test("`help nope` exits 2 and says there is no such help", async () => {
    const r = await aegis(["help", "nope"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('no help for "nope"');
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
    const r = await aegis(["check", "extra"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unexpected argument "extra"');
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
