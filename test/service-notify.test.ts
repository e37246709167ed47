// systemd readiness from the compiled binary: a real AF_UNIX datagram socket (python3) stands in for
// systemd's NOTIFY_SOCKET. READY=1 must arrive only once the listener accepts; STOPPING=1 at shutdown;
// RELOADING=1 then READY=1 around a reload. Also the one warning given when run as root by hand.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { sdNotify, socketAddress } from "../src/control/sd-notify.ts";
import { rootWarning } from "../src/cli/service/root-warning.ts";
import { startAegis, tempDir, writeConfig } from "./helpers/aegis.ts";
import { closedPort, startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";

// Prints "bound", then one line per datagram. On READY=1 it first connects to the proxy's port
// itself, so "accept=ok" proves the listener accepted at the moment readiness was reported.
const LISTENER = `
import socket, sys, os
path, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(("\\0" + path[1:]) if path.startswith("@") else path)
print("bound", flush=True)
while True:
    msg = s.recv(4096).decode()
    accept = ""
    if "READY=1" in msg.split("\\n") and port:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            accept = " accept=ok"
        except OSError as e:
            accept = " accept=failed:" + str(e)
    print(repr(msg) + accept, flush=True)
`;

interface NotifyListener {
  path: string;
  lines: string[];
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(): void;
}

async function listenNotify(port: number, path = join(tempDir("aegis-notify-"), "notify.sock")): Promise<NotifyListener> {
  const proc = Bun.spawn(["python3", "-c", LISTENER, path, String(port)], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const lines: string[] = [];
  void (async () => {
    let buffered = "";
    for await (const chunk of proc.stdout) {
      buffered += Buffer.from(chunk).toString();
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    }
  })();
  const waitFor = async (match: (line: string) => boolean, timeoutMs = 10_000) => {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const found = lines.find(match);
      if (found) return found;
      await Bun.sleep(10);
    }
    throw new Error(`notification not seen within ${timeoutMs} ms; got ${JSON.stringify(lines)}`);
  };
  await waitFor((l) => l === "bound");
  return { path, lines, waitFor, stop: () => proc.kill() };
}

let binary = "";
beforeAll(() => {
  binary = ensureBinary();
}, 120_000);

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

const TOKEN = "notify-test-token-0123456789";
const config = (port: number, server: string, metricsPort = 0) => `
[global]
workers = 2
shutdown_grace = "2s"

[metrics]
${metricsPort ? `listen = "127.0.0.1:${metricsPort}"\n\n[admin]\ntoken = "${TOKEN}"` : "enabled = false"}

[[listener]]
name = "main"
bind = "127.0.0.1:${port}"
upstream = "app"

[[upstream]]
name = "app"
servers = ["${server}"]
`;

describe("sd_notify from the binary", () => {
  test("READY=1 arrives once the listener accepts; RELOADING=1 and READY=1 around SIGHUP and an API reload; STOPPING=1 on SIGTERM", async () => {
    const echo: Backend = startEcho();
    cleanup.push(() => echo.stop());
    const port = closedPort();
    const metricsPort = closedPort();
    const notify = await listenNotify(port);
    cleanup.push(() => notify.stop());
    const env = { ...process.env, NOTIFY_SOCKET: notify.path };
    const path = writeConfig(config(port, echo.address, metricsPort));
    const proc = Bun.spawn([binary, "--config", path], { cwd: tempDir(), env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    cleanup.push(() => proc.kill("SIGKILL"));
    let logs = "";
    void (async () => {
      for await (const chunk of proc.stdout) logs += Buffer.from(chunk).toString();
    })();

    const ready = await notify.waitFor((l) => l.includes("READY=1"));
    expect(ready).toContain(" accept=ok");
    expect(ready).toContain(`STATUS=serving 127.0.0.1:${port}`);
    expect(ready).toContain(`MAINPID=${proc.pid}`);
    // Under systemd, no warning about root (NOTIFY_SOCKET says a service manager started it).
    expect(logs).not.toContain("running as root");

    proc.kill("SIGHUP");
    await notify.waitFor((l) => l.includes("RELOADING=1") && l.includes("MONOTONIC_USEC="));
    await eventuallyCount(notify, "READY=1", 2);

    // The admin API's reload is the same reload: systemd hears of it too.
    const answer = await fetch(`http://127.0.0.1:${metricsPort}/api/reload`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(200);
    await eventuallyCount(notify, "READY=1", 3);

    proc.kill("SIGTERM");
    await notify.waitFor((l) => l.includes("STOPPING=1"));
    expect(await proc.exited).toBe(0);
    const order = notify.lines.filter((l) => l !== "bound").map((l) => /(READY|RELOADING|STOPPING)=1/.exec(l)![1]);
    expect(order).toEqual(["READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING"]);
  }, 30_000);

  test("no READY=1 when a listener cannot bind: exit 1 and nothing but silence on the socket", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    cleanup.push(() => busy.stop(true));
    const notify = await listenNotify(0);
    cleanup.push(() => notify.stop());
    const path = writeConfig(config(busy.port, "127.0.0.1:9"));
    const proc = Bun.spawn([binary, "--config", path], { cwd: tempDir(), env: { ...process.env, NOTIFY_SOCKET: notify.path }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    cleanup.push(() => proc.kill("SIGKILL"));
    expect(await proc.exited).toBe(1);
    // Datagrams on one socket arrive in order: once our own marker is printed, anything aegis sent
    // before it exited would have been printed first. No sleep, and no "probably arrived by now".
    expect(sdNotify("MARK=1", { NOTIFY_SOCKET: notify.path })).toBeNull();
    await notify.waitFor((l) => l.includes("MARK=1"));
    expect(notify.lines).toEqual(["bound", "'MARK=1'"]);
  }, 30_000);

  test("an abstract socket (@name) works too, and a bad NOTIFY_SOCKET is reported, never thrown", async () => {
    const name = `@aegis-test-${process.pid}-${Date.now()}`;
    const notify = await listenNotify(0, name);
    cleanup.push(() => notify.stop());
    expect(sdNotify("READY=1\nSTATUS=test", { NOTIFY_SOCKET: name })).toBeNull();
    await notify.waitFor((l) => l.includes("READY=1\\nSTATUS=test"));
    expect(sdNotify("READY=1", {})).toBeNull(); // not under systemd: nothing to do
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "relative/path" })).toContain("is not a unix socket path");
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: join(tempDir(), "nobody-listens") })).toMatch(/sendto .* failed: errno \d+/);
    expect(socketAddress("/" + "x".repeat(200))).toBeNull();
  });
});

describe("running as root by hand", () => {
  test("the warning is given to root outside systemd only", () => {
    expect(rootWarning(0, {})).toContain("aegis service install");
    expect(rootWarning(0, { INVOCATION_ID: "abc" })).toBeNull();
    expect(rootWarning(0, { NOTIFY_SOCKET: "/run/systemd/notify" })).toBeNull();
    expect(rootWarning(1000, {})).toBeNull();
  });

  test.skipIf(process.getuid?.() !== 0)("as root, aegis logs exactly one warning pointing at the service unit", async () => {
    const echo = startEcho();
    cleanup.push(() => echo.stop());
    // As by hand: whatever started this test runner, the child must not look started by systemd.
    const saved = { INVOCATION_ID: process.env.INVOCATION_ID, NOTIFY_SOCKET: process.env.NOTIFY_SOCKET };
    delete process.env.INVOCATION_ID;
    delete process.env.NOTIFY_SOCKET;
    cleanup.push(() => Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined))));
    const aegis = await startAegis(config(0, echo.address), { command: [binary] });
    cleanup.push(() => aegis.stop());
    // The open-file warning depends on this machine's limit (a hard limit of 20000 cannot fit the
    // default max_connections of 10000): it is tested in fd-limit.test.ts, not here.
    const warnings = aegis.logs.filter((l) => l.level === "warn" && l.msg !== "max_connections does not fit the open-file limit");
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!.msg)).toContain("running as root");
    expect(String(warnings[0]!.msg)).toContain("aegis service install");
  }, 30_000);
});

async function eventuallyCount(notify: NotifyListener, what: string, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (notify.lines.filter((l) => l.includes(what)).length >= count) return;
    await Bun.sleep(10);
  }
  throw new Error(`${count}x ${what} not seen within ${timeoutMs} ms; got ${JSON.stringify(notify.lines)}`);
}
