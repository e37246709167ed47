// Each balance algorithm over live backends through a real aegis (one Worker, so counts are exact where the algorithm is).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BalanceAlgorithm } from "../src/config/types.ts";
import { startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho, startScripted, type Backend } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { snapshotsApplied, waitFor } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
const backends: Backend[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.end();
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

/** Echo servers greeting with their names, and a config balancing over them. */
function setUp(names: string[], balance: BalanceAlgorithm, weights: number[] = [], extra = ""): { servers: Backend[]; config: string } {
  const servers = names.map((n) => startEcho({ greeting: `${n}\n` }));
  backends.push(...servers);
  const list = servers.map((s, i) => `{ address = "${s.address}", weight = ${weights[i] ?? 1} }`).join(", ");
  const config = simpleConfig([], { workers: 1, upstream: `balance = "${balance}"\n${extra}` }).replace("servers = []", `servers = [${list}]`);
  return { servers, config };
}

/** Open a connection and read the greeting of the server it reached; `hold` keeps it open until the test ends. */
async function greetingOf(port: number, hold = false): Promise<string> {
  const client = await connect(port);
  const text = await client.waitFor((t) => t.includes("\n"));
  if (hold) clients.push(client);
  else client.socket.end();
  return text.trim();
}

async function tally(port: number, n: number, hold = false): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = await greetingOf(port, hold);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

describe("spread over live backends", () => {
  test("least_conn: 40 connections held open over weights 2, 1, 1 are exactly 20, 10, 10", async () => {
    const { config } = setUp(["a", "b", "c"], "least_conn", [2, 1, 1]);
    aegis = await startAegis(config);
    expect(await tally(aegis.port, 40, true)).toEqual({ a: 20, b: 10, c: 10 });
  });

  test("least_conn: a server whose connections close takes the next ones", async () => {
    const { servers, config } = setUp(["a", "b"], "least_conn");
    aegis = await startAegis(config);
    expect(await tally(aegis.port, 4, true)).toEqual({ a: 2, b: 2 });
    // Close both of a's sessions: the next two go to a.
    const onA = clients.filter((c) => c.text().startsWith("a"));
    for (const c of onA) c.socket.end();
    await Promise.all(onA.map((c) => c.closed));
    // The client's close comes first; the Worker counts a's sessions down when it has seen both ends.
    const onServerA = `aegis_upstream_connections_active{upstream="app",server="${servers[0]!.address}"}`;
    await waitFor(async () => (await aegis!.metrics()).get(onServerA) === 0, { what: "a's sessions gone in the Worker" });
    expect(await tally(aegis.port, 2, true)).toEqual({ a: 2 });
  });

  test("random: 90 short connections reach every server, none far from a third", async () => {
    const { config } = setUp(["a", "b", "c"], "random");
    aegis = await startAegis(config);
    const counts = await tally(aegis.port, 90);
    // Binomial(90, 1/3): mean 30, σ ≈ 4.5; 12 is four σ below.
    for (const name of ["a", "b", "c"]) expect(counts[name] ?? 0).toBeGreaterThanOrEqual(12);
  });

  test("p2c: 30 connections held open stay level (the most loaded server always loses)", async () => {
    const { config } = setUp(["a", "b", "c"], "p2c");
    aegis = await startAegis(config);
    const counts = await tally(aegis.port, 30, true);
    for (const name of ["a", "b", "c"]) expect(counts[name] ?? 0).toBeGreaterThanOrEqual(7);
  });

  test("p2c_ewma: equally fast servers share 30 held-open connections", async () => {
    // Equally fast means equally slow here: each server answers a session's first bytes after
    // 100 ms, so the reply estimates p2c_ewma compares are about 100 ms each. Loopback connects
    // alone (a tenth of a millisecond) let a busy machine's scheduling noise make one server look
    // 100 times slower than the others (it got 1 of 30 under stress-ng); next to 100 ms that noise
    // is small, and the (active + 1) factor keeps every server in use.
    const REPLY_MS = 100;
    const servers = ["a", "b", "c"].map((name) => startScripted({
      data(socket) { setTimeout(() => socket.write(`${name}\n`), REPLY_MS); },
      end(socket) { socket.shutdown(); },
    }));
    backends.push(...servers);
    const list = servers.map((s) => `"${s.address}"`).join(", ");
    aegis = await startAegis(simpleConfig([], { workers: 1, upstream: `balance = "p2c_ewma"` }).replace("servers = []", `servers = [${list}]`));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const client = await connect(aegis.port);
      clients.push(client); // held open until the test ends
      client.write("hello\n");
      const name = (await client.waitFor((t) => t.endsWith("\n"))).trim();
      counts[name] = (counts[name] ?? 0) + 1;
    }
    expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe(30);
    for (const name of ["a", "b", "c"]) expect(counts[name] ?? 0).toBeGreaterThanOrEqual(2);
  });

  test.each(["source", "consistent"] as const)("%s: every connection from 127.0.0.1 lands on the same server", async (balance) => {
    const { config } = setUp(["a", "b", "c"], balance);
    aegis = await startAegis(config);
    const counts = await tally(aegis.port, 20);
    expect(Object.values(counts)).toEqual([20]);
  });

  test.each(["source", "consistent"] as const)("%s: 30 client addresses, each always on the same server, together on all three", async (balance) => {
    const { config } = setUp(["a", "b", "c"], balance, [], "retries = 0");
    aegis = await startAegis(config);
    const placed = await greetingsFrom(aegis.port, "127.6.0.1", 30, 3);
    expect(Object.keys(placed).length).toBe(30);
    for (const [address, names] of Object.entries(placed)) expect({ address, names: [...new Set(names)] }).toEqual({ address, names: [names[0]!] });
    const shares: Record<string, number> = {};
    for (const names of Object.values(placed)) shares[names[0]!] = (shares[names[0]!] ?? 0) + 1;
    expect(Object.keys(shares).sort()).toEqual(["a", "b", "c"]);
    for (const n of Object.values(shares)) expect(n).toBeGreaterThanOrEqual(4); // 10 each on average
  });

  test("first: every connection goes to the first server while it is up", async () => {
    const { config } = setUp(["a", "b", "c"], "first");
    aegis = await startAegis(config);
    expect(await tally(aegis.port, 10)).toEqual({ a: 10 });
    expect(await tally(aegis.port, 10, true)).toEqual({ a: 10 });
  });
});

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Which server greeted each client address, connecting `repeat` times from each (test/fixtures/greetings-from.py). */
async function greetingsFrom(port: number, first: string, count: number, repeat: number): Promise<Record<string, string[]>> {
  const proc = Bun.spawn([PYTHON, join(import.meta.dir, "fixtures/greetings-from.py"), String(port), first, String(count), String(repeat)], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  if (!out.trim()) throw new Error(`greetings-from.py printed nothing: ${err}`);
  return JSON.parse(out) as Record<string, string[]>;
}

/** A server greeting with `name` on a given port (0 = any), so a primary can come back where it was. */
function greeter(name: string, port = 0): Backend {
  const b = startScripted({
    open(socket) { socket.write(`${name}\n`); },
    data(socket, data) { socket.write(data); },
    end(socket) { socket.shutdown(); },
  }, port);
  backends.push(b);
  return b;
}

describe("backup servers", () => {
  const HEALTH = `health = { interval = "100ms", timeout = "100ms", rise = 2, fall = 2 }`; // timeout = interval: the most a busy machine gets

  test.each(["round_robin", "least_conn", "consistent"] as const)("%s: backups only while every primary is down, then primaries again", async (balance) => {
    const p1 = greeter("p1");
    const p2 = greeter("p2");
    const b1 = greeter("b1");
    const b2 = greeter("b2");
    const servers = `servers = ["${p1.address}", "${p2.address}", { address = "${b1.address}", backup = true }, { address = "${b2.address}", backup = true }]`;
    aegis = await startAegis(simpleConfig([], { workers: 1, upstream: `balance = "${balance}"\n${HEALTH}` }).replace("servers = []", servers));
    const primaries = await tally(aegis.port, 12);
    expect(Object.keys(primaries).every((n) => n.startsWith("p"))).toBe(true);

    const ports = [p1.port, p2.port];
    p1.stop();
    p2.stop();
    for (const p of [p1, p2]) {
      await aegis.waitForLog((l) => l.msg === "server state" && l.server === p.address && l.to === "down", 10_000);
    }
    // The main thread logs the change, then tells the Worker: wait for the Worker's acknowledgement.
    await snapshotsApplied(aegis.metricsPort);
    const fallback = await tally(aegis.port, 12);
    expect(Object.keys(fallback).every((n) => n.startsWith("b"))).toBe(true);
    if (balance !== "consistent") expect(Object.keys(fallback).sort()).toEqual(["b1", "b2"]);

    greeter("p1", ports[0]);
    greeter("p2", ports[1]);
    for (const p of [p1, p2]) {
      await aegis.waitForLog((l) => l.msg === "server state" && l.server === p.address && l.to === "up" && l.from === "down", 10_000);
    }
    await snapshotsApplied(aegis.metricsPort);
    const back = await tally(aegis.port, 12);
    expect(Object.keys(back).every((n) => n.startsWith("p"))).toBe(true);
  });

  test("without health checks, a connect refused by every primary moves on to a backup", async () => {
    const [d1, d2] = [greeter("d1"), greeter("d2")];
    const backup = greeter("backup");
    const refused = [d1.address, d2.address];
    d1.stop();
    d2.stop();
    const servers = `servers = ["${refused[0]}", "${refused[1]}", { address = "${backup.address}", backup = true }]`;
    aegis = await startAegis(simpleConfig([], { workers: 1, upstream: "retries = 2\nfail_threshold = 0" }).replace("servers = []", servers));
    expect(await tally(aegis.port, 5)).toEqual({ backup: 5 });
  });
});
