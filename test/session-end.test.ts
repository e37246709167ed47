// Every session ends exactly once, and a reset stays a reset: hostile peers from a Python fixture
// (servers that reset mid-upload, clients that reset mid-download) against the real relay.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";

const FIXTURE = join(import.meta.dir, "fixtures/reset-load.py");

let aegis: Aegis | null = null;
const peers: Subprocess<"pipe", "pipe", "inherit">[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const p of peers.splice(0)) p.kill();
});

/** A long-running fixture peer: its stdout lines as they come, the first being its port. */
async function startPeer(mode: string): Promise<{ port: number; lines: string[] }> {
  const proc = Bun.spawn(["python3", FIXTURE, mode], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  peers.push(proc);
  const lines: string[] = [];
  const port = Promise.withResolvers<string>();
  let first = true;
  void (async () => {
    let buffered = "";
    for await (const chunk of proc.stdout) {
      buffered += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (first) port.resolve(line);
        else lines.push(line);
        first = false;
      }
    }
  })();
  return { port: Number(await port.promise), lines };
}

/** Run a fixture client to the end and parse its one JSON line. */
async function runClient(args: string[]): Promise<Record<string, number>> {
  const proc = Bun.spawn(["python3", FIXTURE, ...args], { stdout: "pipe", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 120_000);
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(timer);
  return JSON.parse(out.trim().split("\n").pop()!);
}

/**
 * The process's open sockets that belong to relayed sessions: accepted on `listenPort` or
 * connected to `serverPort` (Workers are threads, so one fd table; metrics fetches don't count).
 */
function relaySockets(pid: number, listenPort: number, serverPort: number): number {
  const ours = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith("socket:[")) ours.add(link.slice(8, -1));
    } catch {
      // closed while we looked
    }
  }
  let n = 0;
  for (const row of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = row.trim().split(/\s+/);
    if (f.length < 10 || !ours.has(f[9]!) || f[3] === "0A") continue; // 0A: a listening socket
    const local = parseInt(f[1]!.split(":")[1]!, 16);
    const remote = parseInt(f[2]!.split(":")[1]!, 16);
    if (local === listenPort || remote === serverPort) n++;
  }
  return n;
}

const CONFIG_EXTRA = {
  workers: 2,
  logLevel: "info",
  listener: `idle_timeout = "0s"`, // a leaked session would never come back on its own
  upstream: "fail_threshold = 0", // every session is reset: passive checks would eject the server
};

async function sessionsLogged(a: Aegis, count: number): Promise<Record<string, unknown>[]> {
  await eventually(() => a.logs.filter((l) => l.msg === "session").length >= count, 30_000, `${count} access-log lines`);
  return a.logs.filter((l) => l.msg === "session");
}

async function activeIsZero(a: Aegis): Promise<void> {
  await eventually(async () => (await a.metrics()).get("aegis_connections_active") === 0, 30_000, "aegis_connections_active back to 0");
}

describe("session ending", () => {
  test("a server that resets mid-upload: every client sees a reset, every session finishes once, no fd stays open", async () => {
    const server = await startPeer("server");
    aegis = await startAegis(simpleConfig([`127.0.0.1:${server.port}`], CONFIG_EXTRA));

    const outcomes = await runClient(["client", String(aegis.port), "300", "50"]);
    // A direct connection to this server gives a reset in every session; so must aegis.
    expect(outcomes).toEqual({ reset: 300, eof: 0, other: 0, hung: 0 });

    const sessions = await sessionsLogged(aegis, 300);
    await activeIsZero(aegis);
    expect(sessions.length).toBe(300); // once each: no second line for any session
    expect(sessions.filter((s) => s.end !== "server_reset")).toEqual([]);
    await eventually(() => relaySockets(aegis!.proc.pid, aegis!.port, server.port) === 0, 10_000, "no relayed socket left open in aegis");
  }, 120_000);

  test("a client that resets mid-download: the server is reset too, the log says client_reset, nothing leaks", async () => {
    const streamer = await startPeer("streamer");
    aegis = await startAegis(simpleConfig([`127.0.0.1:${streamer.port}`], CONFIG_EXTRA));

    expect(await runClient(["resetter", String(aegis.port), "200", "50"])).toEqual({ done: 200 });

    const sessions = await sessionsLogged(aegis, 200);
    await activeIsZero(aegis);
    expect(sessions.length).toBe(200);
    expect(sessions.filter((s) => s.end !== "client_reset")).toEqual([]);
    // The server learns of each reset: none of its streams ends as if the client had read it all.
    await eventually(() => streamer.lines.length >= 200, 30_000, "the streamer saw every connection end");
    expect(streamer.lines.filter((l) => l !== "reset")).toEqual([]);
    await eventually(() => relaySockets(aegis!.proc.pid, aegis!.port, streamer.port) === 0, 10_000, "no relayed socket left open in aegis");
  }, 120_000);
});
