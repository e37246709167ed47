// The compiled executable dist/aegis, run from directories outside the repository (where a binary that
// did not embed its Worker would fail): the demo, a real config, --version, and graceful shutdown.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { BINARY, REPO, eventually, startAegis, tempDir, type Aegis, type LogLine } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";

const DEMO_PORT = 8081;
const DEMO_METRICS_PORT = 8082;

/** Newest modification time of the files the binary is built from. */
function newestSource(): number {
  const files = ["package.json", "bun.lock", "scripts/build.ts"].map((f) => join(REPO, f));
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(join(REPO, "src"));
  return Math.max(...files.filter(existsSync).map((f) => statSync(f).mtimeMs));
}

beforeAll(() => {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= newestSource()) return;
  const build = Bun.spawnSync([process.execPath, "run", "build"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) {
    throw new Error(`bun run build failed (${build.exitCode}):\n${build.stdout.toString()}\n${build.stderr.toString()}`);
  }
}, 120_000);

let aegis: Aegis | null = null;
const backends: Backend[] = [];
const clients: Client[] = [];
const procs: { kill(signal?: number | NodeJS.Signals): void; exitCode: number | null }[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.terminate();
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
  for (const b of backends.splice(0)) b.stop();
});

/** Resolves with the exit code, or with "timeout" if the process is still running after `ms`. */
async function exitWithin(proc: { exited: Promise<number> }, ms: number): Promise<number | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
  const result = await Promise.race([proc.exited, timeout]);
  clearTimeout(timer);
  return result;
}

/**
 * A new connection to `port` is refused, or accepted and closed without a byte: true if so within `ms`.
 * With `resetIfAccepted`, a connection still open after `ms` is reset, so it holds no session.
 */
async function turnedAway(port: number, ms = 1_000, resetIfAccepted = false): Promise<boolean> {
  let client: Client;
  try {
    client = await connect(port);
  } catch {
    return true; // ECONNREFUSED: the listening socket is gone
  }
  clients.push(client);
  const closed = await Promise.race([client.closed.then(() => true), Bun.sleep(ms).then(() => false)]);
  if (!closed && resetIfAccepted) client.socket.terminate();
  return closed && client.received().length === 0;
}

/** True if nothing listens on 127.0.0.1:`port` (probed by binding it). */
function portFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

const graceConfig = (backend: string, grace: string) => `
[global]
workers = 2
shutdown_grace = "${grace}"
log_level = "info"
access_log = true

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"

[[upstream]]
name = "app"
servers = ["${backend}"]
`;

describe("the compiled binary, outside the repository", () => {
  test("--version shows the version, the commit it was built from and its target", async () => {
    const proc = Bun.spawn([BINARY, "--version"], { cwd: tempDir(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    expect(out).toMatch(/^aegis \d+\.\d+\.\d+ \(commit [0-9a-f]{7,}, built \d{4}-\d{2}-\d{2}, bun \d+\.\d+\.\d+, (linux|darwin)-(x64|arm64)(-baseline)?\)\n$/);
    expect(out).not.toContain("commit dev");
  });

  test("aegis demo: ready, a client meets an echo server and gets its bytes back, SIGTERM exits 0", async () => {
    const busy = [DEMO_PORT, DEMO_METRICS_PORT].filter((p) => !portFree(p));
    if (busy.length > 0) {
      throw new Error(`aegis demo listens on the fixed ports ${DEMO_PORT} and ${DEMO_METRICS_PORT}, but ${busy.join(" and ")} ` +
        `already in use on this machine (ss -ltnp | grep 808): stop whatever holds them and run again`);
    }
    const proc = Bun.spawn([BINARY, "demo"], { cwd: tempDir(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    // Read stdout and stderr to the end in the background, so the logger never blocks on a full pipe.
    let text = "";
    let errText = "";
    void (async () => { for await (const chunk of proc.stdout) text += Buffer.from(chunk).toString(); })();
    void (async () => { for await (const chunk of proc.stderr) errText += Buffer.from(chunk).toString(); })();
    const deadline = performance.now() + 15_000;
    while (!text.includes('"msg":"ready"')) {
      if (proc.exitCode !== null || performance.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`aegis demo printed no ready line (exit ${proc.exitCode}); stdout: ${text}; stderr: ${errText}`);
      }
      await Bun.sleep(10);
    }
    // The banner goes to stderr, the ready line to stdout: two pipes, read in no set order.
    while (!errText.includes(`nc 127.0.0.1 ${DEMO_PORT}`)) {
      if (proc.exitCode !== null || performance.now() > deadline) throw new Error(`aegis demo printed no banner with the nc line; stderr: ${errText}`);
      await Bun.sleep(10);
    }
    const ready = JSON.parse(text.split("\n").find((l) => l.includes('"msg":"ready"'))!) as LogLine;
    expect(ready).toMatchObject({ config: "<demo>", listeners: [{ name: "demo", address: `127.0.0.1:${DEMO_PORT}` }], metrics: `127.0.0.1:${DEMO_METRICS_PORT}` });

    const client = await connect(DEMO_PORT);
    clients.push(client);
    const greeting = await client.waitFor((t) => t.includes("\n"));
    expect(greeting).toMatch(/^hello from echo-[123]\n$/);
    client.write("ping through the demo\n");
    expect(await client.waitFor((t) => t.endsWith("ping through the demo\n"))).toBe(`${greeting}ping through the demo\n`);

    const metrics = await (await fetch(`http://127.0.0.1:${DEMO_METRICS_PORT}/metrics`)).text();
    expect(metrics).toContain('aegis_connections_total{listener="demo"} 1');

    client.socket.end();
    proc.kill("SIGTERM");
    expect(await exitWithin(proc, 15_000)).toBe(0);
    await eventually(() => text.includes('"msg":"stopped"'), 10_000, "the demo's stopped log line");
  });

  test("with a config file: relays bytes to an echo backend both ways", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(graceConfig(echo.address, "5s"), { command: [BINARY], cwd: tempDir() });
    expect(aegis.logs.find((l) => l.msg === "ready")?.workers).toBe(2);
    const client = await connect(aegis.port);
    clients.push(client);
    const payload = Buffer.alloc(256 * 1024, "abcdefghij");
    client.write(payload);
    await client.waitFor((t) => t.length === payload.length, 10_000);
    expect(client.received().equals(payload)).toBe(true);
    client.socket.shutdown();
    await client.closed;
    const line = await aegis.waitForLog((l) => l.msg === "session");
    expect(line).toMatchObject({ listener: "main", upstream: "app", server: echo.address, bytes_in: payload.length, bytes_out: payload.length, end: "client_closed" });
    expect(await aegis.stop()).toBe(0);
  });
});

describe("graceful shutdown through the binary", () => {
  test("SIGTERM: new connections are turned away, the open session goes on, and aegis exits 0 when it ends", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(graceConfig(echo.address, "20s"), { command: [BINARY], cwd: tempDir() });
    const client = await connect(aegis.port);
    clients.push(client);
    client.write("before the signal\n");
    await client.waitFor((t) => t === "before the signal\n");

    aegis.proc.kill("SIGTERM");
    await aegis.waitForLog((l) => l.msg === "shutting down", 10_000);
    // The drain message reaches the Workers just after that line: until it has, a new connection may
    // still be accepted. Probe until one is turned away; a probe accepted before is reset at once.
    await waitFor(() => turnedAway(aegis!.port, 500, true), { timeoutMs: 15_000, intervalMs: 50, what: "a new connection turned away" });

    // The session that was open before the signal still relays both ways.
    client.write("during the drain\n");
    await client.waitFor((t) => t === "before the signal\nduring the drain\n");
    expect(aegis.proc.exitCode).toBeNull();

    const endedAt = performance.now();
    const clientAddress = `127.0.0.1:${client.socket.localPort}`;
    client.socket.shutdown();
    await client.closed;
    // When the session ends, not when the 20 s grace does: seconds of margin either way.
    expect(await exitWithin(aegis.proc, 15_000)).toBe(0);
    expect(performance.now() - endedAt).toBeLessThan(15_000);
    const session = await aegis.waitForLog((l) => l.msg === "session" && l.client === clientAddress);
    expect(session).toMatchObject({ end: "client_closed", bytes_in: 35, bytes_out: 35 });
    await aegis.waitForLog((l) => l.msg === "stopped", 10_000);
  }, 30_000);

  test("a session still open when shutdown_grace runs out is closed, and aegis exits 0", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(graceConfig(echo.address, "1s"), { command: [BINARY], cwd: tempDir() });
    const client = await connect(aegis.port);
    clients.push(client);
    client.write("stay open\n");
    await client.waitFor((t) => t === "stay open\n");

    const signalledAt = performance.now();
    aegis.proc.kill("SIGTERM");
    await client.ended; // aegis's FIN (the test client is half-open: it would stay open for writing)
    const closedAfter = performance.now() - signalledAt;
    expect(closedAfter).toBeGreaterThan(900); // not before the grace ran out
    expect(closedAfter).toBeLessThan(15_000); // and then (wide: the order is what matters)
    expect(await exitWithin(aegis.proc, 15_000)).toBe(0);
    await aegis.waitForLog((l) => l.msg === "shutdown grace over, closing remaining sessions", 10_000);
    const session = await aegis.waitForLog((l) => l.msg === "session", 10_000);
    expect(session).toMatchObject({ end: "shutdown", bytes_in: 10, bytes_out: 10 });
  }, 30_000);

  test("SIGHUP reloads the config file (the binary keeps running and serving); SIGINT stops aegis like SIGTERM", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(graceConfig(echo.address, "5s"), { command: [BINARY], cwd: tempDir() });
    aegis.proc.kill("SIGHUP");
    const reloaded = await aegis.waitForLog((l) => l.msg === "reloaded", 15_000);
    expect(reloaded.changes).toEqual([]);
    expect(aegis.proc.exitCode).toBeNull();
    const client = await connect(aegis.port);
    clients.push(client);
    client.write("still here\n");
    await client.waitFor((t) => t === "still here\n");
    client.socket.shutdown();
    await client.closed;

    aegis.proc.kill("SIGINT");
    expect(await exitWithin(aegis.proc, 15_000)).toBe(0);
    await aegis.waitForLog((l) => l.msg === "signal received" && l.signal === "SIGINT", 10_000);
  }, 30_000);

  test("a second SIGTERM while draining exits at once", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(graceConfig(echo.address, "30s"), { command: [BINARY], cwd: tempDir() });
    const client = await connect(aegis.port);
    clients.push(client);
    client.write("keep me\n");
    await client.waitFor((t) => t === "keep me\n");

    aegis.proc.kill("SIGTERM");
    await aegis.waitForLog((l) => l.msg === "shutting down", 10_000);
    expect(aegis.proc.exitCode).toBeNull();
    aegis.proc.kill("SIGTERM");
    const code = await exitWithin(aegis.proc, 10_000); // "at once": long before the 30 s grace
    expect(code).not.toBe("timeout");
    await aegis.waitForLog((l) => l.msg === "second signal, exiting now", 10_000);
  }, 30_000);

  test("a SIGTERM right after the first relayed connection, before \"ready\" is logged, still drains and exits 0", async () => {
    const echo = startEcho();
    backends.push(echo);
    const free = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = free.port;
    free.stop(true);
    const dir = tempDir();
    await Bun.write(join(dir, "aegis.toml"), graceConfig(echo.address, "5s").replace(`bind = "127.0.0.1:0"`, `bind = "127.0.0.1:${port}"`));
    const proc = Bun.spawn([BINARY, "--config", "aegis.toml"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    const started = performance.now();
    let relayed = false;
    while (!relayed && performance.now() - started < 15_000) {
      relayed = await new Promise<boolean>((resolve) => {
        Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: {
            open(s) { s.write("x"); },
            data(s) { resolve(true); s.end(); }, // end() runs close() synchronously: resolve first
            connectError() { resolve(false); },
            close() { resolve(false); },
          },
        }).catch(() => resolve(false));
      });
      if (!relayed) await Bun.sleep(1);
    }
    expect(relayed).toBe(true);
    proc.kill("SIGTERM");
    expect(await exitWithin(proc, 15_000)).toBe(0);
    expect(proc.signalCode).toBeNull();
    expect(await new Response(proc.stdout).text()).toContain(`"msg":"stopped"`);
  }, 30_000);
});
