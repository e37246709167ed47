// `aegis init` as a person meets it: the compiled binary on a real pseudo-terminal (util-linux `script`),
// keys typed one answer at a time. A full run whose file then serves traffic (plaintext, and TLS), Ctrl-C, a refused overwrite.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BALANCE_ALGORITHMS } from "../src/config/schema.ts";
import { HEALTH_CHOICES } from "../src/cli/init/health-presets.ts";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { closedPort, startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary, run } from "./helpers/build.ts";
import { issueCertificate } from "./helpers/certs.ts";
import { connect } from "./helpers/client.ts";
import { KEY, spawnPty, type Pty } from "./helpers/terminal.ts";
import { tlsClient } from "./helpers/tls.ts";

let binary = "";
beforeAll(() => {
  binary = ensureBinary();
}, 120_000);

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

function init(cwd: string, args: string[] = []): Pty {
  const pty = spawnPty([binary, "init", ...args], { cwd });
  cleanup.push(() => pty.kill());
  return pty;
}

/** Waits for `prompt`, then types `keys`; plain text gets an Enter after it. */
async function answer(pty: Pty, prompt: string, keys: string): Promise<void> {
  await pty.waitFor(prompt);
  // Arrow keys as separate writes: readline tells a lone Escape from a sequence by timing.
  if (keys.startsWith("\x1b")) {
    for (const key of keys.match(/\x1b\[[A-D]|[^\x1b]/g)!) {
      pty.send(key);
      await Bun.sleep(20);
    }
  } else pty.send(keys === KEY.ctrlC || keys === KEY.enter ? keys : `${KEY.clearLine}${keys}\r`); // typed text replaces a prefilled default
}

/** The machine decides whether the service is offered: systemd runs (sd_booted) or not. */
const SYSTEMD = existsSync("/run/systemd/system");

/** The first two questions: the service (No) where systemd runs, then the path (Enter: aegis.toml, or what -o gave). */
async function begin(pty: Pty): Promise<void> {
  if (SYSTEMD) await answer(pty, "Install aegis as a systemd service", KEY.enter);
  else await pty.waitFor("systemd does not run here (no /run/systemd/system), so installing a service is not offered.");
  await answer(pty, "Where should the config file go?", KEY.enter);
}

async function exitCode(pty: Pty, timeoutMs = 10_000): Promise<number | "timeout"> {
  return await Promise.race([pty.exited, Bun.sleep(timeoutMs).then(() => "timeout" as const)]);
}

describe("aegis init on a terminal (compiled binary)", () => {
  test("a full run: every question answered, the file written, `aegis check` accepts it and aegis serves with it", async () => {
    const echo: Backend = startEcho();
    cleanup.push(() => echo.stop());
    const down = `127.0.0.1:${closedPort()}`;
    const listenPort = closedPort();
    const dir = tempDir("aegis-pty-");
    const pty = init(dir);

    await begin(pty);
    await answer(pty, "Which address should aegis accept", `127.0.0.1:${listenPort}`);
    await answer(pty, "Terminate TLS on this listener", KEY.enter); // default: No
    await answer(pty, "Address of the first server", echo.address);
    await answer(pty, "Server 2?", down);
    await answer(pty, "Server 3?", KEY.enter);
    await answer(pty, "Check now that the servers accept connections?", KEY.enter);
    await pty.waitFor("1 of 2 servers accept connections");
    await pty.waitFor(`${down}: connection refused`);
    const toLeastConn = KEY.down.repeat(BALANCE_ALGORITHMS.indexOf("least_conn")) + KEY.enter;
    await answer(pty, "How should a server be picked", toLeastConn);
    await answer(pty, "Health checks", KEY.down.repeat(HEALTH_CHOICES.indexOf("redis") - HEALTH_CHOICES.indexOf("tcp")) + KEY.enter);
    await answer(pty, "Password file for AUTH", KEY.enter); // none
    await answer(pty, "Which servers take the traffic?", KEY.enter); // any
    await answer(pty, "Set up who the client is?", KEY.enter); // default: No
    await answer(pty, "Address for Prometheus metrics", "127.0.0.1:0");
    await pty.waitFor("Summary");
    await pty.waitFor(`bind = "127.0.0.1:${listenPort}"`); // the preview
    await answer(pty, "Write aegis.toml?", KEY.enter);
    expect(await exitCode(pty)).toBe(0);
    expect(pty.screen.text()).toContain("Next steps:");

    const path = join(dir, "aegis.toml");
    const text = readFileSync(path, "utf8");
    expect(text).toContain(`balance = "least_conn"`);
    expect(text).toContain(`check = "redis"`);
    const check = await run([binary, "check", "--config", path], { cwd: dir });
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/redis: least_conn/);

    // The written file runs as it is: a client reaches the echo server through aegis.
    const aegis: Aegis = await startAegis(text, { command: [binary], cwd: dir });
    cleanup.push(() => void aegis.stop("SIGKILL"));
    expect(aegis.port).toBe(listenPort);
    const client = await connect(listenPort);
    client.write("through the wizard's config\n");
    await client.waitFor((t) => t === "through the wizard's config\n");
    client.socket.end();
    expect(await aegis.stop()).toBe(0);
  }, 60_000);

  test("TLS: the certificate and key typed at the prompts give a listener that terminates TLS before a plaintext server", async () => {
    const echo: Backend = startEcho();
    cleanup.push(() => echo.stop());
    const listenPort = closedPort();
    const dir = tempDir("aegis-pty-");
    const cert = issueCertificate(dir, "server", "/CN=localhost", ["subjectAltName=DNS:localhost"], null);
    const pty = init(dir, ["--server", echo.address, "--metrics", "off"]);

    await begin(pty);
    await answer(pty, "Which address should aegis accept", `127.0.0.1:${listenPort}`);
    await pty.waitFor("Terminate TLS on this listener");
    pty.send("y"); // a confirm takes y at once, without Enter
    await answer(pty, "Path of the certificate PEM file?", "server.pem"); // relative to where init runs
    await answer(pty, "Path of the private key PEM file?", "server-key.pem");
    await answer(pty, "Address of the first server", KEY.enter); // prefilled by --server
    await answer(pty, "Server 2?", KEY.enter);
    await answer(pty, "Check now that the servers accept connections?", KEY.enter);
    await answer(pty, "How should a server be picked", KEY.enter);
    await answer(pty, "Health checks", KEY.enter);
    await answer(pty, "Set up who the client is?", KEY.enter); // default: No
    await answer(pty, "Address for Prometheus metrics", KEY.enter);
    await answer(pty, "Write aegis.toml?", KEY.enter);
    expect(await exitCode(pty)).toBe(0);
    const text = readFileSync(join(dir, "aegis.toml"), "utf8");
    expect(text).toContain(`tls = { cert = "${cert.certPath}", key = "${cert.keyPath}" }`);

    // Started from another directory: the paths in the file are absolute.
    const aegis: Aegis = await startAegis(text, { command: [binary], cwd: tempDir("aegis-pty-run-") });
    cleanup.push(() => void aegis.stop("SIGKILL"));
    const through = await tlsClient(listenPort, { serverName: "localhost", ca: cert.cert, send: "over TLS\n" });
    expect(through.error).toBeNull();
    expect(through).toMatchObject({ ok: true, peer: "localhost", reply: "over TLS\n" });
    expect(await aegis.stop()).toBe(0);
  }, 60_000);

  test("Ctrl-C at a question: exit 130, nothing written", async () => {
    const dir = tempDir("aegis-pty-");
    const pty = init(dir);
    await begin(pty);
    await answer(pty, "Which address should aegis accept", KEY.enter);
    await answer(pty, "Terminate TLS on this listener", KEY.enter); // default: No
    await answer(pty, "Address of the first server", "10.0.0.5:6379");
    await answer(pty, "Server 2?", KEY.enter);
    await answer(pty, "Check now that the servers accept connections?", KEY.right + KEY.enter);
    await answer(pty, "How should a server be picked", KEY.ctrlC);
    expect(await exitCode(pty)).toBe(130);
    expect(pty.screen.text()).toContain("Cancelled: nothing written.");
    expect(existsSync(join(dir, "aegis.toml"))).toBe(false);
  }, 30_000);

  test("Ctrl-C while the reachability check spins (a SIGINT, not a key): exit 130, nothing written", async () => {
    // A port whose connects never complete keeps the spinner up for its 2 s timeout.
    const hole = Bun.spawn(["python3", join(import.meta.dir, "fixtures/blackhole.py")], { stdin: "pipe", stdout: "pipe" });
    cleanup.push(() => hole.kill());
    const reader = hole.stdout.getReader();
    const { value } = await reader.read();
    const port = Number(new TextDecoder().decode(value).trim());
    expect(port).toBeGreaterThan(0);

    const dir = tempDir("aegis-pty-");
    const pty = init(dir);
    await begin(pty);
    await answer(pty, "Which address should aegis accept", KEY.enter);
    await answer(pty, "Terminate TLS on this listener", KEY.enter); // default: No
    await answer(pty, "Address of the first server", `127.0.0.1:${port}`);
    await answer(pty, "Server 2?", KEY.enter);
    await answer(pty, "Check now that the servers accept connections?", KEY.enter);
    await pty.waitFor(`Connecting to 127.0.0.1:${port}`);
    pty.send(KEY.ctrlC);
    expect(await exitCode(pty)).toBe(130);
    expect(pty.screen.text()).toContain("Cancelled: nothing written.");
    expect(existsSync(join(dir, "aegis.toml"))).toBe(false);
  }, 30_000);

  test("an existing file is asked about first; another path, then no at the end: exit 1, nothing written, the file unchanged", async () => {
    const dir = tempDir("aegis-pty-");
    const path = join(dir, "aegis.toml");
    writeFileSync(path, "# hand-written, keep me\n");
    // Flags prefill every answer, so Enter accepts each.
    const pty = init(dir, ["--listen", `127.0.0.1:${closedPort()}`, "--server", "10.0.0.5:6379", "--metrics", "off"]);
    await begin(pty);
    await answer(pty, "aegis.toml already exists. Replace it?", KEY.enter); // default: No, another path
    await answer(pty, "Where should the config file go?", "second.toml");
    await answer(pty, "Which address should aegis accept", KEY.enter);
    await answer(pty, "Terminate TLS on this listener", KEY.enter); // default: No
    await answer(pty, "Address of the first server", KEY.enter);
    await answer(pty, "Server 2?", KEY.enter);
    await answer(pty, "Check now that the servers accept connections?", KEY.right + KEY.enter);
    await answer(pty, "How should a server be picked", KEY.enter);
    await answer(pty, "Health checks", KEY.enter);
    await answer(pty, "Set up who the client is?", KEY.enter); // default: No
    await answer(pty, "Address for Prometheus metrics", KEY.enter);
    await answer(pty, "Write second.toml?", KEY.down + KEY.down + KEY.enter); // write nothing
    expect(await exitCode(pty)).toBe(1);
    expect(pty.screen.text()).toContain("Nothing written.");
    expect(readFileSync(path, "utf8")).toBe("# hand-written, keep me\n");
    expect(existsSync(join(dir, "second.toml"))).toBe(false);
  }, 30_000);

  test("a default is typed in, an example is grey: Enter takes the default, not the example; a bare port means 0.0.0.0", async () => {
    const dir = tempDir("aegis-pty-");
    const pty = init(dir, ["--metrics", "off"]);
    await begin(pty);
    await pty.waitFor("Which address should aegis accept");
    await pty.waitFor("0.0.0.0:6380");
    // The default is shown as typed text: no dim (SGR 2) right before it.
    expect(pty.screen.raw()).not.toMatch(/\x1b\[2m0\.0\.0\.0:6380/);
    const port = closedPort();
    await answer(pty, "", `${port}`);
    await answer(pty, "Terminate TLS on this listener", KEY.enter);
    await pty.waitFor("Address of the first server");
    await pty.waitFor("0.0.0.5:6379"); // the example, after its first character in inverse
    expect(pty.screen.raw()).toMatch(/\x1b\[2m0\.0\.0\.5:6379/);
    pty.send(KEY.enter);
    await pty.waitFor("at least one server is needed");
    pty.send("10.0.0.5:6379\r");
    await answer(pty, "Server 2?", KEY.enter);
    await answer(pty, "Check now that the servers accept connections?", KEY.right + KEY.enter);
    await answer(pty, "How should a server be picked", KEY.enter);
    await answer(pty, "Health checks", KEY.enter);
    await answer(pty, "Set up who the client is?", KEY.enter);
    await answer(pty, "Address for Prometheus metrics", KEY.enter);
    await pty.waitFor(`Listen on     0.0.0.0:${port}`);
    await answer(pty, "Write aegis.toml?", KEY.enter);
    expect(await exitCode(pty)).toBe(0);
    expect(readFileSync(join(dir, "aegis.toml"), "utf8")).toContain(`bind = "0.0.0.0:${port}"`);
    expect(pty.screen.text()).toContain("Next steps:");
    if (!SYSTEMD) expect(pty.screen.text()).not.toContain("service install");
  }, 30_000);
});
