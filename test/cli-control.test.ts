// `aegis status | reload | drain | enable | upgrade` as an operator runs them: the compiled binary,
// finding a real running aegis through the same config file, and every way that can go wrong.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { simpleConfig, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { closedPort, startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary, run } from "./helpers/build.ts";
import { locate } from "../src/cli/control/locate.ts";

const TOKEN = "control-token-0123456789abcdef";
let aegis: Aegis;
let backends: Backend[];
let toml: string;

/** The running aegis's config: two upstreams sharing one server (for "ambiguous"), one named server. */
function config(metricsPort: number, admin = `[admin]\ntoken = "${TOKEN}"\n`): string {
  const [a, b] = backends.map((x) => x.address);
  return simpleConfig([a!], { workers: 2, logLevel: "info", global: "access_log = false" })
    .replace(`listen = "127.0.0.1:0"`, `listen = "127.0.0.1:${metricsPort}"`)
    .replace(`servers = ["${a}"]`, `servers = ["${a}", { address = "${b}", name = "second" }]`)
    + `\n[[listener]]\nname = "side"\nbind = "127.0.0.1:0"\nupstream = "other"\n\n[[upstream]]\nname = "other"\nservers = ["${a}"]\n\n${admin}`;
}

/** `aegis ARGS` from the compiled binary, in a directory of its own. */
const aegisCli = (args: string[]) => run([ensureBinary(), ...args], { cwd: tempDir(), timeoutMs: 60_000 });

/** A file beside nothing, holding `text`. */
function file(text: string): string {
  const path = join(tempDir(), "aegis.toml");
  writeFileSync(path, text);
  return path;
}

async function serverView(upstream: string, server: string): Promise<{ state: string; admin: string }> {
  const r = await fetch(`http://127.0.0.1:${aegis.metricsPort}/api/upstreams/${upstream}/servers/${encodeURIComponent(server)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await r.json()) as { state: string; admin: string };
}

beforeAll(async () => {
  backends = [startEcho(), startEcho()];
  toml = config(closedPort());
  aegis = await startAegis(toml, { command: [ensureBinary()], cwd: tempDir() });
});
afterAll(async () => {
  await aegis?.stop();
  for (const b of backends ?? []) b.stop();
});

describe("aegis status", () => {
  test("shows the process, the listeners and every server with its state", async () => {
    const r = await aegisCli(["status", "-c", aegis.configPath]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^aegis \\S+, pid ${aegis.proc.pid}, up `));
    expect(r.stdout).toMatch(/main\s+127\.0\.0\.1:\d+\s+app/);
    expect(r.stdout).toMatch(/side\s+127\.0\.0\.1:\d+\s+other/);
    expect(r.stdout).toContain("Upstream app (round_robin): 2 of 2 servers up");
    expect(r.stdout).toMatch(new RegExp(`${backends[0]!.address.replace(/\./g, "\\.")}\\s+up\\s+1`));
    expect(r.stdout).toMatch(new RegExp(`second\\s+${backends[1]!.address.replace(/\./g, "\\.")}\\s+up`));
    expect(r.stdout).toContain("Upstream other (round_robin): 1 of 1 servers up");
  });

  test("--json prints the API's answer for scripts", async () => {
    const r = await aegisCli(["status", "--json", "--config", aegis.configPath]);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { process: { pid: number }; listeners: unknown[]; upstreams: { name: string; servers: unknown[] }[] };
    expect(body.process.pid).toBe(aegis.proc.pid!);
    expect(body.listeners).toHaveLength(2);
    expect(body.upstreams.map((u) => [u.name, u.servers.length])).toEqual([["app", 2], ["other", 1]]);
  });
});

describe("aegis drain and enable", () => {
  test("drain then enable, by upstream/address and by a unique name: the state changes and the API agrees", async () => {
    const address = backends[0]!.address;
    const drain = await aegisCli(["drain", `app/${address}`, "-c", aegis.configPath]);
    expect(drain.stderr).toBe("");
    expect(drain.code).toBe(0);
    expect(drain.stdout).toContain(`app/${address}: draining (was ready), no new sessions`);
    expect(await serverView("app", address)).toMatchObject({ admin: "draining", state: "draining" });
    const status = await aegisCli(["status", "-c", aegis.configPath]);
    expect(status.stdout).toMatch(new RegExp(`${address.replace(/\./g, "\\.")}\\s+draining`));
    const enable = await aegisCli(["enable", `app/${address}`, "-c", aegis.configPath]);
    expect(enable.code).toBe(0);
    expect(enable.stdout).toContain(`app/${address}: ready (was draining), takes new sessions`);
    expect(await serverView("app", address)).toMatchObject({ admin: "ready", state: "up" });

    const byName = await aegisCli(["drain", "second", "-c", aegis.configPath]);
    expect(byName.code).toBe(0);
    expect(byName.stdout).toContain("app/second: draining");
    expect(await serverView("app", "second")).toMatchObject({ admin: "draining" });
    const back = await aegisCli(["enable", "app/1", "-c", aegis.configPath]);
    expect(back.code).toBe(0);
    expect(await serverView("app", "second")).toMatchObject({ admin: "ready" });
    // The other upstream's copy of the address was never touched.
    expect(await serverView("other", address)).toMatchObject({ admin: "ready" });
  });

  test("an address two upstreams have is ambiguous; an unknown name gets a did-you-mean and the list", async () => {
    const address = backends[0]!.address;
    const ambiguous = await aegisCli(["drain", address, "-c", aegis.configPath]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain(`"${address}" is ambiguous: 2 upstreams have it. Give one of: app/${address}, other/${address}`);
    const typo = await aegisCli(["drain", "secnod", "-c", aegis.configPath]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`no server "secnod" (did you mean "second"?). The servers: app/${address}, app/second, other/${address}`);
    const upstream = await aegisCli(["enable", "appp/second", "-c", aegis.configPath]);
    expect(upstream.code).toBe(2);
    expect(upstream.stderr).toContain('no upstream named "appp" (did you mean "app"?)');
    expect(await serverView("app", address)).toMatchObject({ admin: "ready" });
  });
});

describe("aegis reload", () => {
  test("a good file reloads and lists the changes; an invalid one is refused with the reason and changes nothing", async () => {
    const same = await aegisCli(["reload", "-c", aegis.configPath]);
    expect(same.stderr).toBe("");
    expect(same.code).toBe(0);
    expect(same.stdout).toBe("reloaded: nothing changed\n");

    writeFileSync(aegis.configPath, toml.replace(`name = "second"`, `name = "second", weight = 4`));
    const changed = await aegisCli(["reload", "-c", aegis.configPath]);
    expect(changed.code).toBe(0);
    expect(changed.stdout).toMatch(/^reloaded: 1 change\n  upstreams\.app\.servers/);

    // Broken past the two sections the command reads: the running aegis is asked, and refuses.
    writeFileSync(aegis.configPath, toml.replace(`name = "second"`, `name = "second", weight = "heavy"`));
    const refused = await aegisCli(["reload", "-c", aegis.configPath]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("aegis: reload refused: every Worker keeps the running config");
    expect(refused.stderr).toContain("weight");
    expect(refused.stderr).toContain(aegis.configPath);

    // Not TOML at all: nobody can tell where aegis runs from it, so nothing is asked.
    writeFileSync(aegis.configPath, toml + "\n[[listener]\n");
    const syntax = await aegisCli(["reload", "-c", aegis.configPath]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain("invalid config, so the running aegis cannot be found from it (and was not asked anything)");
    expect(syntax.stderr).toMatch(/aegis\.toml:\d+:\d+: /);

    writeFileSync(aegis.configPath, toml);
    const restored = await aegisCli(["reload", "-c", aegis.configPath]);
    expect(restored.code).toBe(0);
    expect(readFileSync(aegis.configPath, "utf8")).toBe(toml);
  });
});

describe("when the running aegis cannot be reached or refuses", () => {
  test("nothing running: exit 3, the address and the setting it came from", async () => {
    const port = closedPort();
    const path = file(config(port));
    for (const command of ["status", "reload", "upgrade"]) {
      const r = await aegisCli([command, "-c", path]);
      expect(r.code, command).toBe(3);
      expect(r.stderr).toBe(`aegis: no aegis answers on 127.0.0.1:${port} ([metrics] listen in ${path}): is it running?\n`);
    }
  });

  test("a wrong token: exit 1, the token's place in the file and the likely cause", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "admin.token"), "some-other-token-0123456789abcdef\n");
    const path = join(dir, "aegis.toml");
    writeFileSync(path, toml.replace(`token = "${TOKEN}"`, `token_file = "admin.token"`));
    const r = await aegisCli(["status", "-c", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the running aegis on 127.0.0.1:${aegis.metricsPort} refused the token (wrong token): [admin] token_file = "admin.token" in ${path} differs`);
    expect(r.stdout).toBe("");
  });

  test("the admin API off in the file, or off in the running aegis", async () => {
    const off = file(config(aegis.metricsPort!, ""));
    const r = await aegisCli(["drain", "second", "-c", off]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the admin API is off in ${off} (no [admin] token or token_file)`);

    const plain = await startAegis(config(closedPort(), ""), { command: [ensureBinary()], cwd: tempDir() });
    try {
      const withToken = file(config(plain.metricsPort!));
      const refused = await aegisCli(["status", "-c", withToken]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`the running aegis on 127.0.0.1:${plain.metricsPort} has its admin API off`);
    } finally {
      await plain.stop();
    }
  });

  test("a config that cannot tell: metrics off, port 0, no file", async () => {
    const disabled = await aegisCli(["status", "-c", file(toml.replace(/listen = "127\.0\.0\.1:\d+"/, "enabled = false"))]);
    expect(disabled.code).toBe(2);
    expect(disabled.stderr).toContain("[metrics] enabled = false");
    const zero = await aegisCli(["status", "-c", file(toml.replace(/listen = "127\.0\.0\.1:\d+"/, `listen = "127.0.0.1:0"`))]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("is port 0 (a free port picked at each start)");
    const none = await aegisCli(["status", "-c", join(tempDir(), "nowhere.toml")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("nowhere.toml: no such file");
  });
});

describe("finding the instance", () => {
  test("a wildcard [metrics] listen is dialled on loopback, IPv4 and IPv6 alike; the token file is read relative to the config", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "t"), `${TOKEN}\n`);
    const at = (listen: string) => {
      const path = join(dir, "aegis.toml");
      writeFileSync(path, `[metrics]\nlisten = "${listen}"\n[admin]\ntoken_file = "t"\n[[listener]]\nbind = "nonsense"\n`);
      return locate(path);
    };
    expect(at("0.0.0.0:9182")).toMatchObject({ url: "http://127.0.0.1:9182", token: TOKEN });
    expect(at(":9182").url).toBe("http://127.0.0.1:9182");
    expect(at("[::]:9182").url).toBe("http://[::1]:9182");
    expect(at("[::1]:9182").url).toBe("http://[::1]:9182");
    expect(at("10.1.2.3:9182").url).toBe("http://10.1.2.3:9182");
  });
});

describe("aegis upgrade", () => {
  // The endpoint's contract (200 with both pids, or an error sentence) from a stand-in, so the
  // command's output is tested apart from the upgrade itself.
  async function against(status: number, body: unknown) {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json(body, { status }) });
    try {
      return await aegisCli(["upgrade", "-c", file(config(server.port!))]);
    } finally {
      server.stop(true);
    }
  }

  test("prints the old and the new pid, or the error, or that the running aegis has no such endpoint", async () => {
    const ok = await against(200, { ok: true, old_pid: 100, new_pid: 200 });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("upgraded: pid 100 -> 200");
    const failed = await against(500, { error: "the new binary exited with 1 before ready" });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("aegis: upgrade failed: the new binary exited with 1 before ready (HTTP 500)");
    const missing = await against(404, { error: "no such endpoint: POST /api/upgrade" });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("has no upgrade endpoint (POST /api/upgrade)");
  });
});
