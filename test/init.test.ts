// `aegis init` in-process: every branch of the wizard driven through clack's input/output streams,
// the flags, the rendered file (loaded by the real config loader) and the refusal without a terminal.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../src/config/errors.ts";
import { loadConfigFile, parseConfig } from "../src/config/load.ts";
import { BALANCE_ALGORITHMS } from "../src/config/schema.ts";
import { ALGORITHM_EXPLANATIONS, offeredAlgorithms } from "../src/cli/init/algorithms.ts";
import type { InitAnswers } from "../src/cli/init/answers.ts";
import { runInit, type InitDeps } from "../src/cli/init/command.ts";
import type { PortProblem } from "../src/cli/init/checks.ts";
import { answersFromFlags, parseInitFlags } from "../src/cli/init/flags.ts";
import { HEALTH_CHOICES, HEALTH_PRESETS, healthFields } from "../src/cli/init/health-presets.ts";
import { renderConfig } from "../src/cli/init/render.ts";
import type { Address } from "../src/config/types.ts";
import { SOURCE_COMMAND, tempDir } from "./helpers/aegis.ts";
import { run } from "./helpers/build.ts";
import { issueCertificate } from "./helpers/certs.ts";
import { KEY, streamTerminal } from "./helpers/terminal.ts";

type Term = ReturnType<typeof streamTerminal>;

interface Harness {
  term: Term;
  dir: string;
  installs: string[];
  /** Waits for `prompt`, then types `keys` (text is followed by Enter unless it is a key already). */
  answer(prompt: string, keys?: string): Promise<void>;
}

interface DriveOptions {
  argv?: string[];
  dir?: string;
  busy?: (a: Address) => PortProblem | null;
  unreachable?: string[];
  interactive?: boolean;
  /** Whether systemd runs (the service is offered); default yes. */
  systemd?: boolean;
  /** The process's stdout stream; default the terminal. */
  output?: import("node:stream").Writable;
  /** Where the wizard draws with `-o -` (stderr); default the terminal. */
  errorOutput?: import("node:stream").Writable;
}

/** Runs runInit on streams while `script` plays the user; everything bounded by `timeoutMs`. */
async function drive(script: (h: Harness) => Promise<void>, o: DriveOptions = {}, timeoutMs = 10_000) {
  const term = streamTerminal();
  const dir = o.dir ?? tempDir("aegis-init-");
  const installs: string[] = [];
  const errors: string[] = [];
  const stdout: string[] = [];
  const deps: InitDeps = {
    input: term.input,
    output: o.output ?? term.output,
    errorOutput: o.errorOutput ?? term.output,
    interactive: o.interactive ?? true,
    cwd: dir,
    out: (t) => (stdout.push(t), term.screen.feed(`${t}\n`)),
    err: (t) => errors.push(t),
    portProblem: o.busy ?? (() => null),
    reach: async (a) => (o.unreachable?.includes(`${a.host}:${a.port}`) ? "connection refused" : null),
    offerService: o.systemd ?? true,
    installService: async (path) => (installs.push(path), 0),
    now: new Date("2026-01-02T03:04:05Z"),
    trapSigint: false,
  };
  const h: Harness = {
    term,
    dir,
    installs,
    async answer(prompt, keys = "") {
      await term.screen.waitFor(prompt, 5_000);
      // Typed text replaces a prefilled default (Ctrl-U clears the line first), as a person would.
      term.send(keys.startsWith("\x1b") || keys === KEY.ctrlC ? keys : keys === "" || keys === KEY.enter ? `${keys}\r` : `${KEY.clearLine}${keys}\r`);
    },
  };
  const running = runInit(o.argv ?? [], deps);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`wizard still running after ${timeoutMs} ms:\n${term.screen.text().slice(-1500)}`)), timeoutMs)));
  try {
    const [code] = await Promise.race([Promise.all([running, script(h)]), deadline]);
    return { code, screen: term.screen.text(), dir, installs, errors, stdout };
  } finally {
    clearTimeout(timer);
    term.input.end();
  }
}

const LISTEN = "Which address should aegis accept";
const TLS = "Terminate TLS on this listener";
const CERT = "Path of the certificate PEM file?";
const KEYFILE = "Path of the private key PEM file?";
const MODE = "Use the PostgreSQL mode";
const FIRST = "Address of the first server";
const NEXT = (n: number) => `Server ${n}?`;
const REACH = "Check now that the servers accept connections?";
const BALANCE = "How should a server be picked";
const HEALTH = "Health checks: how should aegis tell";
const CLIENT = "Set up who the client is?";
const METRICS = "Address for Prometheus metrics";
const SERVICE = "Install aegis as a systemd service";
const OUTPUT = "Where should the config file go?";

/** Moves a select's cursor from `from` to `to` in `options` and confirms. */
function selectKeys(options: readonly string[], from: string, to: string): string {
  const steps = options.indexOf(to) - options.indexOf(from);
  return (steps >= 0 ? KEY.down : KEY.up).repeat(Math.abs(steps)) + KEY.enter;
}

/** After a yes to TLS: answers the certificate and key prompts, and the PostgreSQL mode when given. */
interface TlsScript {
  files(h: Harness): Promise<void>;
  mode?: string;
}

/** The usual path through the wizard with `servers`; the caller answers from `stopAt` on. */
async function answerAll(h: Harness, o: { begun?: boolean; listen?: string; tls?: TlsScript; servers?: string[]; balance?: string; health?: string; redis?: (h: Harness) => Promise<void>; client?: (h: Harness) => Promise<void>; metrics?: string; service?: boolean; output?: string } = {}) {
  if (!o.begun) await begin(h, o);
  await h.answer(LISTEN, o.listen ?? "127.0.0.1:16380");
  await h.answer(TLS, o.tls ? KEY.left + KEY.enter : KEY.enter);
  await o.tls?.files(h);
  const servers = o.servers ?? ["127.0.0.1:6379", "127.0.0.1:6380"];
  await h.answer(FIRST, servers[0]);
  for (let i = 1; i < servers.length; i++) await h.answer(NEXT(i + 1), servers[i]);
  await h.answer(NEXT(servers.length + 1), "");
  await h.answer(REACH, KEY.enter);
  await h.answer(BALANCE, selectKeys(BALANCE_ALGORITHMS, "round_robin", o.balance ?? "round_robin"));
  await h.answer(HEALTH, selectKeys(HEALTH_CHOICES, "tcp", o.health ?? "tcp"));
  if (o.health === "redis") {
    if (o.redis) await o.redis(h);
    else {
      await h.answer("Password file for AUTH", "");
      await h.answer("Which servers take the traffic?", KEY.enter);
    }
  }
  if (o.tls?.mode !== undefined) await h.answer(MODE, o.tls.mode);
  await h.answer(CLIENT, o.client ? KEY.left + KEY.enter : KEY.enter);
  await o.client?.(h);
  await h.answer(METRICS, o.metrics ?? "");
}

/** The first two questions: the service (No unless `service`), then where the file goes (Enter: the suggestion). */
async function begin(h: Harness, o: { service?: boolean; output?: string } = {}) {
  await h.answer(SERVICE, o.service ? KEY.up + KEY.enter : KEY.enter);
  await h.answer(OUTPUT, o.output ?? "");
}

describe("the wizard, in-process", () => {
  test("a full run with the defaults writes a commented file the real loader accepts", async () => {
    const r = await drive(async (h) => {
      await answerAll(h);
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    const path = join(r.dir, "aegis.toml");
    const config = loadConfigFile(path);
    expect(config.listeners[0]).toMatchObject({ name: "app", bind: { host: "127.0.0.1", port: 16380 }, upstream: "app" });
    expect(config.upstreams[0]!.servers.map((s) => s.name)).toEqual(["127.0.0.1:6379", "127.0.0.1:6380"]);
    expect(config.upstreams[0]!.balance).toBe("round_robin");
    expect(config.metrics.listen).toEqual({ host: "127.0.0.1", port: 8082 });
    // TCP connect is the default health check: an empty health table.
    expect(config.upstreams[0]!.health).toMatchObject({ sendHex: null, expect: null });
    const text = readFileSync(path, "utf8");
    expect(text).toContain("# Address to accept client connections on");
    expect(text).toContain('# idle_timeout = "10m"');
    // Summary and preview come before the question.
    expect(r.screen.indexOf("Summary")).toBeLessThan(r.screen.indexOf("Write aegis.toml?"));
    expect(r.screen).toContain('bind = "127.0.0.1:16380"');
    expect(r.screen).toContain("Next steps:");
    expect(r.installs).toEqual([]);
  });

  test("listen: a syntax error and a busy port are refused at the prompt; a low port only warns", async () => {
    const r = await drive(async (h) => {
      await begin(h);
      await h.answer(LISTEN, "localhost");
      await h.term.screen.waitFor("is missing a port");
      h.term.send(`${KEY.backspace.repeat(9)}127.0.0.1:7000\r`);
      await h.term.screen.waitFor("127.0.0.1:7000 is already in use");
      h.term.send(`${KEY.backspace.repeat(14)}0.0.0.0:80\r`);
      await h.term.screen.waitFor("ports below 1024 need root");
      await h.answer(TLS, KEY.ctrlC);
    }, {
      busy: (a) => a.port === 7000 ? { kind: "busy", message: "127.0.0.1:7000 is already in use: another program listens there" }
        : a.port === 80 ? { kind: "denied", message: "ports below 1024 need root or CAP_NET_BIND_SERVICE" } : null,
    });
    expect(r.code).toBe(130);
  });

  test("servers: several, with syntax, duplicate and at-least-one checks; unreachable ones are reported with the spinner", async () => {
    const r = await drive(async (h) => {
      await begin(h);
      await h.answer(LISTEN, "");
      await h.answer(TLS, KEY.enter);
      await h.answer(FIRST, "");
      await h.term.screen.waitFor("at least one server is needed");
      h.term.send("10.0.0.5:99999\r");
      await h.term.screen.waitFor("is not a valid port");
      h.term.send(`${KEY.backspace.repeat(5)}6379\r`);
      await h.answer(NEXT(2), "10.0.0.5:6379");
      await h.term.screen.waitFor("10.0.0.5:6379 is already in the list");
      h.term.send(`${KEY.backspace}8\r`);
      await h.answer(NEXT(3), "db.internal:6379");
      await h.answer(NEXT(4), "");
      await h.answer(REACH, KEY.enter);
      await h.term.screen.waitFor("2 of 3 servers accept connections");
      await h.term.screen.waitFor("10.0.0.5:6378: connection refused");
      await h.answer(BALANCE, KEY.ctrlC);
    }, { unreachable: ["10.0.0.5:6378"] });
    expect(r.code).toBe(130);
    expect(r.screen).toContain("Connecting to db.internal:6379 (3 of 3)");
    expect(r.screen).not.toContain("Listen on"); // cancelled before the summary
  }, 15_000);

  test("every algorithm the schema accepts is offered with its one-line explanation, and the choice is written", async () => {
    const chosen = BALANCE_ALGORITHMS.at(-1)!;
    const r = await drive(async (h) => {
      await answerAll(h, { balance: chosen });
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    for (const a of offeredAlgorithms()) expect(r.screen).toContain(`${a.value.padEnd(12)} ${a.explanation}`);
    expect(loadConfigFile(join(r.dir, "aegis.toml")).upstreams[0]!.balance).toBe(chosen);
  });

  test.each(["redis", "postgresql", "mysql", "http", "none"] as const)("health preset %s is written in a form the loader accepts", async (preset) => {
    const r = await drive(async (h) => {
      await answerAll(h, { health: preset });
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    const u = loadConfigFile(join(r.dir, "aegis.toml")).upstreams[0]!;
    if (preset === "none") return expect(u.health).toBeNull();
    expect(u.name).toBe(HEALTH_PRESETS[preset].serviceName);
    const keys = HEALTH_PRESETS[preset].keys;
    if (keys.send) expect(Buffer.from(u.health!.sendHex!, "hex").toString()).toBe(keys.send);
    if (keys.send_hex) expect(u.health!.sendHex).toBe(keys.send_hex);
    if (keys.expect) expect(u.health!.expect).toEqual({ kind: "bytes", hex: Buffer.from(keys.expect).toString("hex") });
    if (keys.expect_regex) expect(u.health!.expect).toEqual({ kind: "regex", source: keys.expect_regex });
    if (keys.check) expect(u.health!.check?.kind).toBe(keys.check as "redis");
  });

  test("the Redis check asks for AUTH's password file and the role; a missing file is asked again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aegis-init-pw-"));
    const pass = join(dir, "redis.pass");
    writeFileSync(pass, "s3cret\n");
    const r = await drive(async (h) => {
      await answerAll(h, {
        health: "redis",
        redis: async (h) => {
          const missing = join(dir, "missing.pass");
          await h.answer("Password file for AUTH", missing);
          await h.term.screen.waitFor("does not exist");
          h.term.send(`${KEY.backspace.repeat(missing.length)}${pass}\r`);
          await h.answer("Which servers take the traffic?", KEY.down + KEY.enter);
        },
      });
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    const u = loadConfigFile(join(r.dir, "aegis.toml")).upstreams[0]!;
    expect(u.health!.check).toEqual({ kind: "redis", password: "s3cret", username: null, role: "primary" });
  });

  test("a custom check takes send and expect text, escapes as in TOML", async () => {
    const r = await drive(async (h) => {
      await begin(h, { output: "memcached.toml" });
      await h.answer(LISTEN, "");
      await h.answer(TLS, KEY.enter);
      await h.answer(FIRST, "10.0.0.5:11211");
      await h.answer(NEXT(2), "");
      await h.answer(REACH, KEY.right + KEY.enter);
      await h.answer(BALANCE, KEY.enter);
      await h.answer(HEALTH, selectKeys(HEALTH_CHOICES, "tcp", "custom"));
      await h.answer("Text to send", "version\\r\\n");
      await h.answer("Text the reply must contain", "VERSION ");
      await h.answer(CLIENT, KEY.enter);
      await h.answer(METRICS, "off");
      await h.answer("Write memcached.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    const config = loadConfigFile(join(r.dir, "memcached.toml"));
    expect(Buffer.from(config.upstreams[0]!.health!.sendHex!, "hex").toString()).toBe("version\r\n");
    expect(config.upstreams[0]!.health!.expect).toEqual({ kind: "bytes", hex: Buffer.from("VERSION ").toString("hex") });
    expect(config.metrics.listen).toBeNull();
    expect(r.screen).not.toContain("Connecting to");
  });

  test("metrics: the proxy's own address is refused", async () => {
    const r = await drive(async (h) => {
      await begin(h);
      await h.answer(LISTEN, "127.0.0.1:16380");
      await h.answer(TLS, KEY.enter);
      await h.answer(FIRST, "10.0.0.5:6379");
      await h.answer(NEXT(2), "");
      await h.answer(REACH, KEY.right + KEY.enter);
      await h.answer(BALANCE, KEY.enter);
      await h.answer(HEALTH, KEY.enter);
      await h.answer(CLIENT, KEY.enter);
      await h.answer(METRICS, "127.0.0.1:16380");
      await h.term.screen.waitFor("that is the proxy's own listen address");
      h.term.send(KEY.ctrlC);
    });
    expect(r.code).toBe(130);
  });

  test("choosing the service suggests /etc/aegis/aegis.toml and installs after writing", async () => {
    const r = await drive(async (h) => {
      await answerAll(h, { service: true, output: "svc/aegis.toml" });
      await h.answer("Write svc/aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    expect(r.screen).toContain("/etc/aegis/aegis.toml"); // the suggested place
    expect(r.installs).toEqual([join(r.dir, "svc/aegis.toml")]);
    expect(r.screen).toContain("systemctl status aegis");
  });

  test("an existing file is settled before the other questions: No asks for another path, Yes replaces it after the final yes", async () => {
    const dir = tempDir("aegis-init-");
    const path = join(dir, "aegis.toml");
    writeFileSync(path, "# mine\n");
    const other = await drive(async (h) => {
      await h.answer(SERVICE, KEY.enter);
      await h.answer(OUTPUT, "");
      await h.answer("aegis.toml already exists. Replace it?", KEY.enter); // default: No, another path
      await h.answer(OUTPUT, "other.toml");
      await answerAll(h, { begun: true });
      await h.answer("Write other.toml?", KEY.enter);
    }, { dir });
    expect(other.code).toBe(0);
    expect(other.screen.indexOf("already exists")).toBeLessThan(other.screen.indexOf(LISTEN));
    expect(readFileSync(path, "utf8")).toBe("# mine\n");
    expect(() => loadConfigFile(join(dir, "other.toml"))).not.toThrow();

    const replaced = await drive(async (h) => {
      await h.answer(SERVICE, KEY.enter);
      await h.answer(OUTPUT, "");
      await h.answer("aegis.toml already exists. Replace it?", KEY.down + KEY.enter);
      await answerAll(h, { begun: true });
      await h.answer("Replace aegis.toml with this file?", KEY.enter);
    }, { dir });
    expect(replaced.code).toBe(0);
    expect(replaced.screen).toMatch(/File +aegis\.toml \(replaced\)/);
    expect(() => loadConfigFile(path)).not.toThrow();

    // Said yes at first, no at the end: the old file stays.
    writeFileSync(path, "# mine\n");
    const kept = await drive(async (h) => {
      await h.answer(SERVICE, KEY.enter);
      await h.answer(OUTPUT, "");
      await h.answer("aegis.toml already exists. Replace it?", KEY.down + KEY.enter);
      await answerAll(h, { begun: true });
      await h.answer("Replace aegis.toml with this file?", KEY.down + KEY.down + KEY.enter);
    }, { dir });
    expect(kept.code).toBe(1);
    expect(kept.screen).toContain("Nothing written: aegis.toml is unchanged.");
    expect(readFileSync(path, "utf8")).toBe("# mine\n");
  });

  test("a directory is refused as the path, with the file name to add", async () => {
    const r = await drive(async (h) => {
      await h.answer(SERVICE, KEY.enter);
      await h.answer(OUTPUT, ".");
      await h.term.screen.waitFor(". is a directory: give a file name, e.g. ./aegis.toml");
      h.term.send(KEY.ctrlC);
    });
    expect(r.code).toBe(130);
  });

  test("declining the write writes nothing (exit 1)", async () => {
    const r = await drive(async (h) => {
      await answerAll(h);
      await h.answer("Write aegis.toml?", KEY.down + KEY.down + KEY.enter);
    });
    expect(r.code).toBe(1);
    expect(r.screen).toContain("Nothing written.");
    expect(existsSync(join(r.dir, "aegis.toml"))).toBe(false);
  });

  test("no at the end offers another path and keeps every answer", async () => {
    const r = await drive(async (h) => {
      await answerAll(h, { listen: "127.0.0.1:16391", servers: ["10.0.0.7:6379"], balance: "least_conn" });
      await h.answer("Write aegis.toml?", KEY.down + KEY.enter);
      await h.answer(OUTPUT, "kept/answers.toml");
      await h.answer("Write kept/answers.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    expect(existsSync(join(r.dir, "aegis.toml"))).toBe(false);
    const config = loadConfigFile(join(r.dir, "kept/answers.toml"));
    expect(config.listeners[0]!.bind).toEqual({ host: "127.0.0.1", port: 16391 });
    expect(config.upstreams[0]).toMatchObject({ balance: "least_conn" });
    expect(config.upstreams[0]!.servers.map((s) => s.name)).toEqual(["10.0.0.7:6379"]);
  });

  test("a write that fails says why and offers another path; the answers are kept", async () => {
    const dir = tempDir("aegis-init-");
    writeFileSync(join(dir, "plain"), "a file, not a directory\n");
    const r = await drive(async (h) => {
      await answerAll(h, { output: "plain/aegis.toml", listen: "127.0.0.1:16392" });
      await h.answer("Write plain/aegis.toml?", KEY.enter);
      await h.answer("Could not write plain/aegis.toml. Try again?", KEY.down + KEY.enter);
      await h.answer(OUTPUT, "elsewhere.toml");
      await h.answer("Write elsewhere.toml?", KEY.enter);
    }, { dir });
    expect(r.code).toBe(0);
    expect(r.screen).toContain(`cannot write ${join(dir, "plain/aegis.toml")}`);
    expect(loadConfigFile(join(dir, "elsewhere.toml")).listeners[0]!.bind.port).toBe(16392);
  });

  test("a bare port listens on every IPv4 address; for metrics it stays on loopback", async () => {
    const r = await drive(async (h) => {
      await answerAll(h, { listen: "16393", metrics: "16394" });
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    const config = loadConfigFile(join(r.dir, "aegis.toml"));
    expect(config.listeners[0]!.bind).toEqual({ host: "0.0.0.0", port: 16393 });
    expect(config.metrics.listen).toEqual({ host: "127.0.0.1", port: 16394 });
    expect(r.screen).toMatch(/Listen on +0\.0\.0\.0:16393/);
  });

  test("where systemd does not run, the service is not offered, nor suggested in the next steps", async () => {
    const r = await drive(async (h) => {
      await h.term.screen.waitFor("systemd does not run here");
      await h.answer(OUTPUT, "");
      await answerAll(h, { begun: true });
      await h.answer("Write aegis.toml?", KEY.enter);
    }, { systemd: false });
    expect(r.code).toBe(0);
    expect(r.screen).not.toContain(SERVICE);
    expect(r.screen).toContain("Next steps:");
    expect(r.screen).not.toContain("service install");
    expect(r.screen).toMatch(/Service +no/);
  });

  test("next steps warn that the service would not see a file under /tmp (PrivateTmp)", async () => {
    // The test's directory is under /tmp, as a newcomer's first try often is.
    const r = await drive(async (h) => {
      await answerAll(h);
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    const path = join(r.dir, "aegis.toml");
    expect(r.dir.startsWith("/tmp/")).toBe(true);
    expect(r.screen).toContain(`sudo aegis service install --config ${path} --now`);
    expect(r.screen).toContain(`warning: the service would not see ${path} (PrivateTmp=yes gives the service its own empty /tmp): copy it to /etc/aegis/aegis.toml`);
  });

  test("choosing the service and a path under /tmp warns at once", async () => {
    const r = await drive(async (h) => {
      await h.answer(SERVICE, KEY.up + KEY.enter);
      await h.answer(OUTPUT, "here.toml");
      await h.term.screen.waitFor("The service would not see");
      await h.answer(LISTEN, KEY.ctrlC);
    });
    expect(r.code).toBe(130);
    expect(r.screen).toContain(`The service would not see ${join(r.dir, "here.toml")}: PrivateTmp=yes gives the service its own empty /tmp`);
  });

  test("-o - draws the wizard on stderr and puts the file alone on stdout", async () => {
    let raw = "";
    const stdoutStream = new (await import("node:stream")).Writable({ write(chunk, _e, cb) { raw += chunk.toString(); cb(); } });
    const r = await drive(async (h) => {
      // No service question (a printed file cannot be installed) and no path question.
      await answerAll(h, { begun: true, listen: "127.0.0.1:16395" });
      await h.answer("Write it to stdout?", KEY.enter);
    }, { argv: ["-o", "-"], output: stdoutStream });
    expect(r.code).toBe(0);
    expect(raw).toBe("");
    expect(r.stdout).toHaveLength(1);
    expect(parseConfig(r.stdout[0]!, "stdin.toml").listeners[0]!.bind.port).toBe(16395);
    expect(r.screen).not.toContain(SERVICE);
    expect(r.screen).not.toContain(OUTPUT);
  });

  test("--service where systemd does not run is refused before anything is written", async () => {
    const r = await drive(async () => {}, { argv: ["--listen", "6380", "--server", "10.0.0.5:6379", "--yes", "--service"], systemd: false, interactive: false });
    expect(r.code).toBe(2);
    expect(r.errors.join("\n")).toContain("--service: systemd does not run here (no /run/systemd/system)");
    expect(existsSync(join(r.dir, "aegis.toml"))).toBe(false);
    expect(r.installs).toEqual([]);
  });

  // Ctrl-C at each prompt in turn: exit 130 and nothing on disk.
  const prompts = [SERVICE, OUTPUT, LISTEN, TLS, FIRST, NEXT(2), REACH, BALANCE, HEALTH, CLIENT, METRICS, "Write aegis.toml?"];
  test.each(prompts.map((p, i) => [i, p] as const))("Ctrl-C at prompt %d (%s): exit 130, nothing written", async (index) => {
    const r = await drive(async (h) => {
      const answers: [string, string][] = [
        [SERVICE, KEY.enter], [OUTPUT, ""], [LISTEN, ""], [TLS, KEY.enter], [FIRST, "10.0.0.5:6379"], [NEXT(2), ""], [REACH, KEY.right + KEY.enter],
        [BALANCE, KEY.enter], [HEALTH, KEY.enter], [CLIENT, KEY.enter], [METRICS, ""], ["Write aegis.toml?", KEY.enter],
      ];
      for (const [prompt, keys] of answers.slice(0, index)) await h.answer(prompt, keys);
      await h.answer(prompts[index]!, KEY.ctrlC);
    });
    expect(r.code).toBe(130);
    expect(r.screen).toContain("Cancelled: nothing written.");
    expect(existsSync(join(r.dir, "aegis.toml"))).toBe(false);
  });

  test("flags prefill the answers: Enter accepts each", async () => {
    const r = await drive(async (h) => {
      await begin(h);
      await h.answer(LISTEN, "");
      await h.answer(TLS, KEY.enter);
      await h.answer(FIRST, "");
      await h.answer(NEXT(2), "");
      await h.answer(NEXT(3), "");
      await h.answer(REACH, KEY.right + KEY.enter);
      await h.answer(BALANCE, KEY.enter);
      await h.answer(HEALTH, KEY.enter);
      await h.answer(CLIENT, KEY.enter);
      await h.answer(METRICS, "");
      await h.answer("Write pre.toml?", KEY.enter);
    }, { argv: ["--listen", "127.0.0.1:16399", "--server", "10.1.1.1:5432", "--server", "10.1.1.2:5432", "--balance", "least_conn", "--health", "postgresql", "--metrics", "off", "-o", "pre.toml"] });
    expect(r.code).toBe(0);
    const config = loadConfigFile(join(r.dir, "pre.toml"));
    expect(config.listeners[0]!.bind.port).toBe(16399);
    expect(config.upstreams[0]).toMatchObject({ name: "postgres", balance: "least_conn" });
    expect(config.upstreams[0]!.servers.map((s) => s.name)).toEqual(["10.1.1.1:5432", "10.1.1.2:5432"]);
    expect(config.metrics.listen).toBeNull();
  });

  test("without a terminal it refuses at once (exit 2) and names the flags", async () => {
    const r = await drive(async () => {}, { interactive: false });
    expect(r.code).toBe(2);
    expect(r.errors.join("\n")).toContain("aegis init --listen 0.0.0.0:6380 --server 10.0.0.5:6379");
    expect(r.screen).toBe("");
  });
});

describe("the TLS question", () => {
  /** A self-signed localhost certificate as server.pem and server-key.pem, and both in one file, in a fresh dir. */
  const certDir = () => {
    const dir = tempDir("aegis-init-");
    const c = issueCertificate(dir, "server", "/CN=localhost", ["subjectAltName=DNS:localhost"], null);
    writeFileSync(join(dir, "both.pem"), c.cert + c.key);
    return dir;
  };

  test("no (the default) writes a plaintext listener and asks nothing more", async () => {
    const r = await drive(async (h) => {
      await answerAll(h);
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    expect(r.screen).not.toContain(CERT);
    expect(r.screen).toMatch(/TLS +no \(plaintext\)/);
    expect(readFileSync(join(r.dir, "aegis.toml"), "utf8")).not.toContain("tls = ");
  });

  test("yes: a missing file and a swapped key are refused with the reason; relative paths are written absolute", async () => {
    const dir = certDir();
    const r = await drive(async (h) => {
      await answerAll(h, {
        tls: {
          async files(h) {
            await h.answer(CERT, "missing.pem");
            await h.term.screen.waitFor(`cannot read ${dir}/missing.pem: no such file`);
            h.term.send(`${KEY.backspace.repeat(11)}server.pem\r`);
            await h.answer(KEYFILE, "server.pem");
            await h.term.screen.waitFor("are cert and key swapped?");
            h.term.send(`${KEY.backspace.repeat(10)}server-key.pem\r`);
          },
        },
      });
      await h.answer("Write aegis.toml?", KEY.enter);
    }, { dir });
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, "aegis.toml"), "utf8");
    expect(text).toContain("# TLS is terminated here: clients must now connect with TLS; the servers behind stay plaintext.");
    expect(text).toContain(`\ntls = { cert = "${dir}/server.pem", key = "${dir}/server-key.pem" }\n`);
    const tls = loadConfigFile(join(dir, "aegis.toml")).listeners[0]!.tls!;
    expect(tls.mode).toBe("tls");
    expect(tls.certificates.map((c) => [c.cert.file, c.key.file, c.names])).toEqual([[`${dir}/server.pem`, `${dir}/server-key.pem`, ["localhost"]]]);
    expect(r.screen).toContain(`Certificate   ${dir}/server.pem`); // the summary
    expect(r.screen).toContain(`Key           ${dir}/server-key.pem`);
    expect(r.screen).not.toContain(MODE); // not a PostgreSQL listener
    expect(r.screen).toContain("openssl s_client -connect 127.0.0.1:16380");
  });

  test("an empty key is refused unless the certificate file holds the key", async () => {
    const dir = certDir();
    const r = await drive(async (h) => {
      await begin(h);
      await h.answer(LISTEN, "");
      await h.answer(TLS, KEY.left + KEY.enter);
      await h.answer(CERT, "server.pem");
      await h.answer(KEYFILE, "");
      await h.term.screen.waitFor(`${dir}/server.pem holds no private key, so the key file is needed too`);
      h.term.send(KEY.ctrlC);
    }, { dir });
    expect(r.code).toBe(130);
    expect(existsSync(join(dir, "aegis.toml"))).toBe(false);
  });

  // The PostgreSQL mode is offered after the health question names the protocol, default yes.
  test.each([["yes (Enter)", KEY.enter, true], ["no", KEY.right + KEY.enter, false]] as const)("PostgreSQL, mode %s", async (_, keys, postgres) => {
    const dir = certDir();
    const r = await drive(async (h) => {
      await answerAll(h, {
        health: "postgresql",
        tls: {
          async files(h) {
            await h.answer(CERT, "both.pem");
            await h.answer(KEYFILE, "");
          },
          mode: keys,
        },
      });
      await h.answer("Write aegis.toml?", KEY.enter);
    }, { dir });
    expect(r.code).toBe(0);
    expect(r.screen).toContain(`mode = "postgres" answers it and then does the handshake, so \`psql "sslmode=require"\` works`);
    const text = readFileSync(join(dir, "aegis.toml"), "utf8");
    expect(text).toContain("# The certificate file holds the private key too.");
    expect(text).toContain(postgres ? `\ntls = { cert = "${dir}/both.pem", mode = "postgres" }\n` : `\ntls = { cert = "${dir}/both.pem" }\n`);
    const config = loadConfigFile(join(dir, "aegis.toml"));
    expect(config.listeners[0]!.name).toBe("postgres");
    expect(config.listeners[0]!.tls!.mode).toBe(postgres ? "postgres" : "tls");
    expect(config.listeners[0]!.tls!.certificates.map((c) => [c.cert.file, c.key.file])).toEqual([[`${dir}/both.pem`, `${dir}/both.pem`]]);
    if (postgres) expect(r.screen).toContain(`psql "host=127.0.0.1 port=16380 sslmode=require"`);
  });

  test("--tls-cert and --tls-key prefill the answers: Enter accepts each", async () => {
    const dir = certDir();
    const r = await drive(async (h) => {
      await begin(h);
      await h.answer(LISTEN, "");
      await h.answer(TLS, KEY.enter); // the flags make yes the default
      await h.answer(CERT, "");
      await h.answer(KEYFILE, "");
      await h.answer(FIRST, "");
      await h.answer(NEXT(2), "");
      await h.answer(REACH, KEY.right + KEY.enter);
      await h.answer(BALANCE, KEY.enter);
      await h.answer(HEALTH, KEY.enter);
      await h.answer(CLIENT, KEY.enter);
      await h.answer(METRICS, "");
      await h.answer("Write aegis.toml?", KEY.enter);
    }, { dir, argv: ["--listen", "127.0.0.1:16398", "--server", "10.1.1.1:6379", "--tls-cert", "server.pem", "--tls-key", "server-key.pem", "--metrics", "off"] });
    expect(r.code).toBe(0);
    const tls = loadConfigFile(join(dir, "aegis.toml")).listeners[0]!.tls!;
    expect(tls.certificates.map((c) => [c.cert.file, c.key.file])).toEqual([[`${dir}/server.pem`, `${dir}/server-key.pem`]]);
  });

  test("a key replaced after its question: the loader's refusal is shown and nothing is written (exit 1)", async () => {
    const dir = certDir();
    const stray = issueCertificate(dir, "stray", "/CN=stray", [], null);
    const r = await drive(async (h) => {
      await answerAll(h, {
        tls: {
          async files(h) {
            await h.answer(CERT, "server.pem");
            await h.answer(KEYFILE, "server-key.pem");
            // As a certificate renewal might, between the question and the write.
            writeFileSync(join(dir, "server-key.pem"), stray.key);
          },
        },
      });
    }, { dir });
    expect(r.code).toBe(1);
    expect(r.screen).toContain("the config would not load, so nothing is written:");
    expect(r.screen).toContain("does not match the certificate");
    expect(existsSync(join(dir, "aegis.toml"))).toBe(false);
  });

  test.each([CERT, KEYFILE])("Ctrl-C at %s exits 130 and writes nothing", async (prompt) => {
    const dir = certDir();
    const r = await drive(async (h) => {
      await begin(h);
      await h.answer(LISTEN, "");
      await h.answer(TLS, KEY.left + KEY.enter);
      if (prompt === KEYFILE) await h.answer(CERT, "server.pem");
      await h.answer(prompt, KEY.ctrlC);
    }, { dir });
    expect(r.code).toBe(130);
    expect(existsSync(join(dir, "aegis.toml"))).toBe(false);
  });
});

describe("flags", () => {
  const problem = (argv: string[]) => {
    try {
      parseInitFlags(argv);
    } catch (e) {
      return (e as Error).message;
    }
    return null;
  };

  test("the issue's example parses into complete answers", () => {
    const flags = parseInitFlags(["--listen", "0.0.0.0:6380", "--server", "10.0.0.5:6379", "--server", "10.0.0.6:6379", "--balance", "least_conn", "--yes", "--output", "aegis.toml"]);
    expect(answersFromFlags(flags)).toEqual({
      listen: "0.0.0.0:6380", servers: ["10.0.0.5:6379", "10.0.0.6:6379"], balance: "least_conn", health: "none",
      metrics: "127.0.0.1:8082", service: false, output: "aegis.toml",
    });
    expect(parseInitFlags(["--server=a:1,b:2", "-y", "--output=x"]).servers).toEqual(["a:1", "b:2"]);
  });

  test("each mistake is named", () => {
    expect(problem(["--frob"])).toBe("init: unknown option --frob");
    expect(problem(["extra"])).toBe(`init: unexpected argument "extra"`);
    expect(problem(["--listen"])).toBe("--listen needs a value");
    expect(problem(["--listen", "nope"])).toContain(`--listen "nope" is missing a port`);
    expect(problem(["--server", "1.2.3.4:0"])).toContain("is not a valid port for a server");
    expect(problem(["--server", "a:1", "--server", "a:1"])).toBe(`--server "a:1" is given twice`);
    expect(problem(["--balance", "fastest"])).toBe(`--balance "fastest" is not an algorithm of this aegis; choose one of: ${BALANCE_ALGORITHMS.join(", ")}`);
    expect(problem(["--health", "mongo"])).toContain(`--health "mongo" is not a preset`);
    expect(problem(["--metrics", ":99999"])).toContain("is not a valid port");
    expect(problem(["--yes=no"])).toBe("--yes takes no value");
    expect(answersFromFlags(parseInitFlags(["--yes"]))).toEqual(["--listen HOST:PORT", "--server HOST:PORT (once per server)"]);
  });

  test("a bare port: --listen on every IPv4 address, --metrics on loopback", () => {
    const flags = parseInitFlags(["--listen", "6380", "--metrics", "9091"]);
    expect(flags.listen).toBe("0.0.0.0:6380");
    expect(flags.metrics).toBe("127.0.0.1:9091");
    expect(problem(["--listen", "99999"])).toContain(`--listen "0.0.0.0:99999" is not a valid port`);
  });

  test("only algorithms the schema accepts at run time pass --balance", () => {
    expect(() => parseInitFlags(["--balance", "least_conn"], ["round_robin"])).toThrow("choose one of: round_robin");
  });
});

describe("the rendered file", () => {
  const base: InitAnswers = { listen: "0.0.0.0:6380", servers: ["10.0.0.5:6379"], balance: "round_robin", health: "redis", metrics: null, service: false, output: "aegis.toml" };
  const opts = { version: "9.9.9", date: "2026-01-02" };

  test("every algorithm in the schema has an explanation of one line", () => {
    for (const a of BALANCE_ALGORITHMS) {
      expect(ALGORITHM_EXPLANATIONS[a], a).toBeString();
      expect(ALGORITHM_EXPLANATIONS[a]!.length, a).toBeLessThan(80);
    }
  });

  test("the presets use keys of the schema's health table", () => {
    const fields = healthFields();
    expect(fields).not.toBeNull();
    for (const preset of Object.values(HEALTH_PRESETS)) for (const key of Object.keys(preset.keys)) expect(Object.keys(fields!)).toContain(key);
  });

  test("without a health table in the schema the check is written commented out, and the file still loads", () => {
    const r = renderConfig(base, { ...opts, health: null });
    expect(r.healthWritten).toBe(false);
    expect(r.text).toContain("# [upstream.health]");
    expect(r.text).toContain(`# check = "redis"`);
    expect(r.text).not.toMatch(/^\[upstream\.health\]/m);
    expect(r.config.upstreams[0]!.health ?? null).toBeNull();
  });

  test("a value the schema refuses falls back to the commented form rather than an invalid file", () => {
    // This build's loader refuses the file with the health table (say, a check it cannot run).
    const refuseHealth = (text: string, source: string) => {
      if (text.includes("\n[upstream.health]")) throw new ConfigError([`${source}: upstream[0].health: not here`]);
      return parseConfig(text, source);
    };
    const r = renderConfig(base, { ...opts, load: refuseHealth });
    expect(r.healthWritten).toBe(false);
    expect(() => parseConfig(r.text, "x")).not.toThrow();
  });

  test("the header names the version and date, and how to check and run the file", () => {
    const r = renderConfig(base, opts);
    expect(r.text.split("\n")[0]).toBe("# aegis.toml, written by `aegis init` (aegis 9.9.9, 2026-01-02).");
    expect(r.text).toContain("aegis check --config aegis.toml");
    expect(r.text).toContain("enabled = false");
  });
});

describe("through the command line (from source)", () => {
  test("init --yes writes the file; a second run refuses to overwrite without --force; --force does", async () => {
    const dir = tempDir("aegis-init-");
    const args = ["init", "--listen", "0.0.0.0:6380", "--server", "10.0.0.5:6379", "--server", "10.0.0.6:6379", "--balance", "least_conn", "--yes", "--output", "aegis.toml"];
    const first = await run([...SOURCE_COMMAND, ...args], { cwd: dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("wrote aegis.toml");
    const check = await run([...SOURCE_COMMAND, "check", "--config", "aegis.toml"], { cwd: dir });
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/app: least_conn/);

    writeFileSync(join(dir, "aegis.toml"), "# mine\n");
    const again = await run([...SOURCE_COMMAND, ...args], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("aegis.toml already exists: nothing written. Pass --force");
    expect(readFileSync(join(dir, "aegis.toml"), "utf8")).toBe("# mine\n");
    const forced = await run([...SOURCE_COMMAND, ...args, "--force"], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, "aegis.toml"), "utf8")).toContain(`balance = "least_conn"`);
  });

  test("a file that cannot be written is explained, not thrown (exit 1)", async () => {
    const dir = tempDir("aegis-init-");
    writeFileSync(join(dir, "not-a-dir"), "");
    const r = await run([...SOURCE_COMMAND, "init", "--listen", "0.0.0.0:6380", "--server", "10.0.0.5:6379", "--yes", "--output", "not-a-dir/aegis.toml"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`aegis: cannot write ${dir}/not-a-dir/aegis.toml`);
  });

  test("--output - puts the file alone on stdout: it loads as it is", async () => {
    const dir = tempDir("aegis-init-");
    const r = await run([...SOURCE_COMMAND, "init", "--listen", "6380", "--server", "10.0.0.5:6379", "--yes", "-o", "-"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("# aegis.toml, written by `aegis init`")).toBe(true);
    expect(r.stdout).toContain("aegis check --config FILE");
    expect(parseConfig(r.stdout, "stdout.toml").listeners[0]!.bind).toEqual({ host: "0.0.0.0", port: 6380 });
    expect(readdirSync(dir)).toEqual([]);
    const service = await run([...SOURCE_COMMAND, "init", "--listen", "6380", "--server", "10.0.0.5:6379", "--yes", "-o", "-", "--service"], { cwd: dir });
    expect(service.code).toBe(2);
    expect(service.stderr).toContain("--service needs a file to install, not --output -");
    expect(service.stdout).toBe("");
  });

  test("bad flags exit 2 with the problem and a pointer to the help", async () => {
    const r = await run([...SOURCE_COMMAND, "init", "--listen", "0.0.0.0:6380", "--server", "10.0.0.5", "--yes"], { cwd: tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`aegis: --server "10.0.0.5" is missing a port`);
    expect(r.stderr).toContain("aegis help init");
  });

  test("CI=true refuses like a missing terminal; `init --help` shows the options", async () => {
    const r = await run([...SOURCE_COMMAND, "init"], { cwd: tempDir(), env: { CI: "true" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("CI is set");
    const help = await run([...SOURCE_COMMAND, "init", "--help"]);
    expect(help.code).toBe(0);
    for (const flag of ["--listen", "--server", "--balance", "--health", "--metrics", "--output", "--yes", "--force", "--service", "--tls-cert", "--tls-key", "--tls-postgres"]) expect(help.stdout).toContain(flag);
  });
});

describe("who the client is", () => {
  test("PROXY protocol in front (its peers checked as typed), PROXY to the servers, sticky clients: written, and the loader agrees", async () => {
    const client = async (h: Harness) => {
      await h.answer("send a PROXY header first?", KEY.down + KEY.enter); // v2
      await h.answer("Which addresses may send it?", "10.0.0.1/8");
      await h.term.screen.waitFor("has host bits set");
      h.term.send(`${KEY.backspace.repeat(10)}10.0.0.0/8, 192.168.1.7\r`);
      await h.answer("Tell the servers the client's address", KEY.down + KEY.down + KEY.enter); // v1
      await h.answer("Keep each client on the same server", KEY.left + KEY.enter);
      await h.answer("For how long after its last session", "half an hour");
      await h.term.screen.waitFor("is not a duration");
      h.term.send(`${KEY.backspace.repeat(12)}45m\r`);
    };
    const r = await drive(async (h) => {
      await answerAll(h, { listen: "127.0.0.1:16381", servers: ["10.0.0.5:5432"], client, metrics: "off" });
      await h.answer("Write aegis.toml?", KEY.enter);
    });
    expect(r.code).toBe(0);
    expect(r.screen).toContain("PROXY in");
    const config = loadConfigFile(join(r.dir, "aegis.toml"));
    expect(config.listeners[0]!.proxyProtocol).toEqual({ accept: "v2", from: ["10.0.0.0/8", "192.168.1.7/32"], timeoutMs: 5000 });
    expect(config.upstreams[0]!.sendProxy).toBe(1);
    expect(config.upstreams[0]!.stick).toEqual({ ttlMs: 45 * 60_000, maxEntries: 100_000 });
  });

  test("the flags give the same answers without a question; each mistake is named", async () => {
    const flags = parseInitFlags(["--listen", "0.0.0.0:5432", "--server", "10.0.0.5:5432", "--proxy-protocol", "any", "--proxy-protocol-from", "10.0.0.0/8,10.1.0.0/16", "--send-proxy", "v2", "--stick", "10m"]);
    expect(flags.client).toEqual({ proxyProtocol: { accept: "any", from: ["10.0.0.0/8", "10.1.0.0/16"] }, sendProxy: "v2", stickTtl: "10m" });
    const r = await drive(async () => {}, { argv: ["--listen", "127.0.0.1:16382", "--server", "10.0.0.5:5432", "--proxy-protocol", "v1", "--proxy-protocol-from", "127.0.0.1", "--stick", "1h", "--metrics", "off", "--yes"] });
    expect(r.code).toBe(0);
    const config = loadConfigFile(join(r.dir, "aegis.toml"));
    expect(config.listeners[0]!.proxyProtocol).toMatchObject({ accept: "v1", from: ["127.0.0.1/32"] });
    expect(config.upstreams[0]!.stick!.ttlMs).toBe(3_600_000);
    const problem = (argv: string[]) => {
      try {
        parseInitFlags(argv);
      } catch (e) {
        return (e as Error).message;
      }
      return null;
    };
    expect(problem(["--proxy-protocol", "v2"])).toBe("--proxy-protocol needs --proxy-protocol-from CIDR[,CIDR]: the balancers allowed to send the header");
    expect(problem(["--proxy-protocol-from", "10.0.0.0/8"])).toBe("--proxy-protocol-from needs --proxy-protocol v1|v2|any");
    expect(problem(["--proxy-protocol", "v3", "--proxy-protocol-from", "10.0.0.0/8"])).toBe(`--proxy-protocol "v3": choose v1, v2 or any`);
    expect(problem(["--proxy-protocol", "v2", "--proxy-protocol-from", "10.0.0.1/8"])).toContain(`--proxy-protocol-from: "10.0.0.1/8" has host bits set`);
    expect(problem(["--send-proxy", "any"])).toBe(`--send-proxy "any": choose v1 or v2`);
    expect(problem(["--stick", "100ms"])).toBe("--stick at least 1s");
    expect(problem(["--stick", "soon"])).toBe(`--stick "soon" is not a duration such as "30m" or "1h"`);
  });
});
