// In-place upgrade of the compiled binary, run from a copy in a temp dir (so the upgrade re-executes
// that copy): sessions and new connections survive five upgrades in a row, the old processes exit
// once drained, a failed upgrade leaves the old one serving, and /metrics stays up during a SIGTERM drain.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { simpleConfig, startAegis, tempDir, type Aegis, type LogLine } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startChurn } from "./helpers/churn.ts";
import { connect } from "./helpers/client.ts";
import { pacedStreams } from "./helpers/streams.ts";
import { stopAfterEach } from "./helpers/teardown.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "upgrade-test-token-0123456789";
const MIGRATE = "/proc/sys/net/ipv4/tcp_migrate_req";

let aegis: Aegis | null = null;
/** Every pid an upgrade started: killed at teardown if still there (the test's own children only). */
const pids: number[] = [];
const { backends, cleanups } = stopAfterEach(() => aegis);

let binaryCopy = "";
let migrateBefore: string | null = null;
beforeAll(() => {
  binaryCopy = join(tempDir("aegis-upgrade-bin-"), "aegis");
  copyFileSync(ensureBinary(), binaryCopy);
  chmodSync(binaryCopy, 0o755);
  // The README asks for tcp_migrate_req = 1: without it a connection still in the old listener's
  // accept queue when it closes is reset (bench/upgrade.ts measures both). Restored afterwards.
  if (existsSync(MIGRATE)) {
    const found = readFileSync(MIGRATE, "utf8").trim();
    try {
      writeFileSync(MIGRATE, "1");
      migrateBefore = found;
    } catch {
      // not root: the test runs as the machine is set up
    }
  }
}, 120_000);
afterAll(() => {
  if (migrateBefore !== null) writeFileSync(MIGRATE, migrateBefore);
});

const config = (server: string, grace = "120s") =>
  simpleConfig([server], { logLevel: "info", grace, adminToken: TOKEN });

/** Whether `pid` has exited (gone, or a zombie nobody reaped yet). */
function exited(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return true;
  }
}

/** Replaces the binary as an installer does: a new file renamed over it (the running one is busy for writes). */
function replaceBinary(content: string | Buffer, mode: number): void {
  writeFileSync(`${binaryCopy}.new`, content);
  chmodSync(`${binaryCopy}.new`, mode);
  renameSync(`${binaryCopy}.new`, binaryCopy);
}

/** Kills what a test left: the pids it noted, and every process that logged ready after an upgrade. */
function killLeftovers(started: Aegis): void {
  for (const l of started.logs) if (l.msg === "ready" && typeof l.pid === "number") pids.push(l.pid);
  for (const pid of new Set(pids.splice(0))) {
    if (!exited(pid)) process.kill(pid, "SIGKILL");
  }
}

async function upgradeByApi(metricsPort: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/api/upgrade`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, connection: "close" },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Starts the copy of the binary; `config` is written next to it so a test can change the file. */
async function start(toml: string, env?: Record<string, string>): Promise<Aegis> {
  const started = await startAegis(toml, { command: [binaryCopy], cwd: tempDir(), ...(env ? { env } : {}) });
  pids.push(started.proc.pid);
  cleanups.push(() => killLeftovers(started));
  return started;
}

const readyOf = (from: number) => (l: LogLine) => l.msg === "ready" && l.upgraded_from === from;

describe("upgrade in place", () => {
  test("200 streams and a stream of new connections across 5 upgrades: nothing dropped, reset or refused; the old processes exit after their drain", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await start(config(echo.address));
    const port = aegis.port;
    const metricsPort = aegis.metricsPort!;
    const load = pacedStreams(port, 200, 0.2, 2 * 1024 * 1024);
    const churn = startChurn(port, 4);
    let pid = aegis.proc.pid;
    const old: number[] = [];
    try {
      await waitFor(() => churn.done() >= 20, { timeoutMs: 30_000, what: "new connections flowing before the first upgrade" });
      for (let n = 1; n <= 5; n++) {
        const before = churn.done();
        let next: number;
        if (n % 2 === 1) {
          const { status, body } = await upgradeByApi(metricsPort);
          expect({ status, body }).toMatchObject({ status: 200, body: { ok: true, old_pid: pid } });
          next = body.new_pid as number;
          await aegis.waitForLog(readyOf(pid), 30_000);
        } else {
          process.kill(pid, "SIGUSR2");
          next = (await aegis.waitForLog(readyOf(pid), 30_000)).pid as number;
        }
        // The old process stops listening on the metrics port when it hands over, and logs it: the
        // next upgrade asked before that could land on it (SO_REUSEPORT) and get a 409.
        await aegis.waitForLog((l) => l.msg?.startsWith("upgrade: the new process serves") === true && l.new_pid === next, 30_000);
        expect(next).not.toBe(pid);
        pids.push(next);
        old.push(pid);
        pid = next;
        // Connections keep coming through the change, and through the new process alone after it.
        await waitFor(() => churn.done() >= before + 20, { timeoutMs: 30_000, what: `new connections after upgrade ${n}` });
      }
      const streams = await load.finish();
      const churned = await churn.stop();
      // Every stream whole, and each still flowing when the upgrades ran; how much a paced (slow)
      // stream got through depends on how busy the machine is, so no byte count beyond "some".
      expect(streams.errors).toEqual([]);
      expect(streams).toMatchObject({ ok: 200, mismatched: 0, short: 0 });
      expect(streams.minSent).toBeGreaterThan(0);
      expect(churned.errors).toEqual([]);
      expect(churned.failures).toEqual({});
      expect(churned.ok).toBeGreaterThan(100);
      // Each old process exits once its sessions have ended; the newest serves on.
      await waitFor(() => old.every(exited), { timeoutMs: 30_000, what: "every old process exited after its drain" });
      expect(exited(pid)).toBe(false);
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(text).toContain("aegis_connections_active");
      const client = await connect(port);
      client.write("still here\n");
      await client.waitFor((t) => t === "still here\n");
      client.socket.end();
    } finally {
      load.kill();
      await churn.stop();
    }
  }, 120_000);

  test("a failed upgrade (binary not executable, not aegis, or config invalid) answers an error and the old process keeps serving", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await start(config(echo.address, "5s"));
    const pid = aegis.proc.pid;
    const metricsPort = aegis.metricsPort!;
    const serves = async () => {
      const client = await connect(aegis!.port);
      client.write("ping\n");
      await client.waitFor((t) => t === "ping\n");
      client.socket.end();
    };
    const saved = readFileSync(binaryCopy);
    try {
      replaceBinary(saved, 0o644);
      const notExecutable = await upgradeByApi(metricsPort);
      expect(notExecutable.status).toBe(500);
      expect(notExecutable.body.error).toContain("is not executable");

      replaceBinary("#!/bin/sh\necho 'not aegis' >&2\nexit 3\n", 0o755);
      const notAegis = await upgradeByApi(metricsPort);
      expect(notAegis.status).toBe(500);
      expect(notAegis.body.error).toContain("exited (code 3) before it was ready");
    } finally {
      replaceBinary(saved, 0o755);
    }
    await serves();

    const file = aegis.logs.find((l) => l.msg === "ready")!.config as string;
    const good = readFileSync(file, "utf8");
    writeFileSync(file, good.replace('servers = [', 'servers = 7 # ['));
    const invalid = await upgradeByApi(metricsPort);
    expect(invalid.status).toBe(500);
    expect(invalid.body.error).toContain("invalid config");
    // The same through SIGUSR2: a second such line (the answer above may arrive before its own line).
    const failedOnConfig = () => aegis!.logs.filter((l) => l.msg === "upgrade failed, this process keeps serving" && String(l.error).includes("invalid config")).length;
    process.kill(pid, "SIGUSR2");
    await waitFor(() => failedOnConfig() >= 2, { timeoutMs: 30_000, what: "the SIGUSR2 upgrade failed on the invalid config" });
    writeFileSync(file, good);
    await serves();
    expect(exited(pid)).toBe(false);
    expect(aegis.logs.some((l) => l.msg === "ready" && l.upgraded_from !== undefined)).toBe(false);

    // Two at once: one proceeds, the other is told an upgrade is already running.
    const both = await Promise.all([upgradeByApi(metricsPort), upgradeByApi(metricsPort)]);
    const statuses = both.map((b) => b.status).sort();
    expect(statuses).toEqual([200, 409]);
    expect(both.find((b) => b.status === 409)!.body.error).toBe("an upgrade is already running");
    const newPid = both.find((b) => b.status === 200)!.body.new_pid as number;
    pids.push(newPid);
    await waitFor(() => exited(pid), { timeoutMs: 30_000, what: "the old process exited (nothing to drain)" });
    const after = await upgradeByApi(metricsPort);
    expect(after.status).toBe(200); // the new one answers the admin API now
    pids.push(after.body.new_pid as number);
  }, 120_000);
});

describe("upgrade and stop at once", () => {
  test("SIGTERM right after SIGUSR2: the stop wins, and no new process is left serving", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await start(config(echo.address, "5s"));
    const pid = aegis.proc.pid;
    process.kill(pid, "SIGUSR2");
    process.kill(pid, "SIGTERM");
    expect(await aegis.proc.exited).toBe(0);
    const outcome = await aegis.waitForLog((l) => l.msg === "upgrade refused" || l.msg === "upgrade failed, this process keeps serving", 30_000);
    expect(String(outcome.error)).toMatch(/shutting down/);
    // If the new process got as far as listening, it was stopped too.
    const started = aegis.logs.find((l) => l.msg === "ready" && l.upgraded_from === pid);
    if (started) {
      pids.push(started.pid as number);
      await waitFor(() => exited(started.pid as number), { timeoutMs: 30_000, what: "the new process stopped" });
    }
  }, 60_000);

  test("the old process killed while the new one starts: the new one serves on, and stops on SIGTERM", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await start(config(echo.address, "5s"));
    const pid = aegis.proc.pid;
    process.kill(pid, "SIGUSR2");
    await aegis.waitForLog((l) => l.msg === "upgrade starting");
    process.kill(pid, "SIGKILL");
    const ready = await aegis.waitForLog((l) => l.msg === "ready" && l.upgraded_from === pid, 30_000);
    const next = ready.pid as number;
    pids.push(next);
    const client = await connect(aegis.port);
    client.write("alone\n");
    await client.waitFor((t) => t === "alone\n");
    client.socket.end();
    process.kill(next, "SIGTERM");
    await waitFor(() => exited(next), { timeoutMs: 30_000, what: "the new process stopped on SIGTERM" });
  }, 60_000);
});

// A stand-in for systemd's NOTIFY_SOCKET that prints, for each datagram, the sender's pid (SCM_CREDENTIALS,
// as systemd reads it to accept only the main process) and the message.
const NOTIFY_LISTENER = `
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack("iII", d[:12])[0] for l, t, d in anc if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS), 0)
    print(pid, repr(msg.decode()), flush=True)
`;

describe("under systemd (Type=notify)", () => {
  test("the old process, still the main one, hands MAINPID to the new one; the new one sends nothing before that", async () => {
    const echo = startEcho();
    backends.push(echo);
    const path = join(tempDir("aegis-notify-"), "notify.sock");
    const listener = Bun.spawn(["python3", "-c", NOTIFY_LISTENER, path], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    cleanups.push(() => listener.kill());
    const lines: string[] = [];
    void (async () => {
      let buffered = "";
      for await (const chunk of listener.stdout) {
        buffered += Buffer.from(chunk).toString();
        for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
          lines.push(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
        }
      }
    })();
    await waitFor(() => lines.includes("bound"), { what: "the notify socket bound" });
    aegis = await start(config(echo.address, "5s"), { NOTIFY_SOCKET: path });
    const oldPid = aegis.proc.pid;
    await waitFor(() => lines.some((l) => l.startsWith(`${oldPid} `) && l.includes("READY=1")), { what: `READY=1 from the first process (pid ${oldPid}), got ${JSON.stringify(lines)}` });
    const { status, body } = await upgradeByApi(aegis.metricsPort!);
    expect(status).toBe(200);
    const newPid = body.new_pid as number;
    pids.push(newPid);
    const handover = await waitFor(() => lines.find((l) => l.includes(`MAINPID=${newPid}`)), { what: "MAINPID of the new process" });
    expect(handover.startsWith(`${oldPid} `)).toBe(true);
    expect(lines.some((l) => l.startsWith(`${newPid} `))).toBe(false); // systemd would refuse it: not main yet
    // The old process says nothing more (STOPPING=1 would now be about someone else); the new one is main.
    await waitFor(() => exited(oldPid), { timeoutMs: 30_000, what: "the old process exited" });
    expect(lines.filter((l) => l.startsWith(`${oldPid} `)).some((l) => l.includes("STOPPING=1"))).toBe(false);
    process.kill(newPid, "SIGTERM");
    await waitFor(() => lines.some((l) => l.startsWith(`${newPid} `) && l.includes("STOPPING=1")), { what: "STOPPING=1 from the new main process" });
  }, 60_000);
});

describe("SIGTERM drain", () => {
  test("/metrics answers while a session is still open during shutdown_grace, and the process exits when it ends", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await start(config(echo.address, "60s"));
    const client = await connect(aegis.port);
    client.write("hello\n");
    await client.waitFor((t) => t === "hello\n");
    aegis.proc.kill("SIGTERM");
    await aegis.waitForLog((l) => l.msg === "shutting down");
    const during = await aegis.metrics();
    expect(during.get("aegis_connections_active")).toBe(1);
    const ready = await fetch(`http://127.0.0.1:${aegis.metricsPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reasons: string[] }).reasons).toContain("shutting down: draining the sessions open, accepting no new ones");
    await aegis.waitForLog((l) => l.msg === "draining" && l.active === 1); // every 5 s while sessions are open
    client.write("still\n");
    await client.waitFor((t) => t === "hello\nstill\n");
    expect(aegis.proc.exitCode).toBeNull();
    client.socket.end();
    expect(await aegis.proc.exited).toBe(0);
  }, 60_000);
});
