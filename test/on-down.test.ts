// on_down = "close_sessions" through the compiled binary: sessions on a server that is disabled,
// goes down or is removed by a reload, the admin API or discovery are reset (ECONNRESET; access log
// end "server_down"); the others go on, and with the default ("keep") nobody's session is touched.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { startAegis, simpleConfig, tempDir, type Aegis, type LogLine } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "on-down-token-0123456789abcdef";
let aegis: Aegis | null = null;
let backends: Backend[] = [];

afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends) b.stop();
  backends = [];
});

async function start(onDown: "keep" | "close_sessions", extra = ""): Promise<Aegis> {
  // Each backend says who it is first, so a client knows where it landed.
  backends = ["A", "B"].map((tag) => startEcho({ greeting: `${tag}:` }));
  const toml = simpleConfig(backends.map((b) => b.address), {
    workers: 2, logLevel: "info",
    upstream: `on_down = "${onDown}"\nbalance = "round_robin"\n${extra}`,
  }) + `\n[admin]\ntoken = "${TOKEN}"\n`;
  aegis = await startAegis(toml, { command: [ensureBinary()], cwd: tempDir() });
  return aegis;
}

/** `n` sessions, each echoing once, so each is relaying; grouped by the backend they reached. */
async function sessions(port: number, n: number): Promise<{ A: Client[]; B: Client[] }> {
  const out = { A: [] as Client[], B: [] as Client[] };
  for (let i = 0; i < n; i++) {
    const c = await connect(port);
    c.write(`hello-${i}\n`);
    const text = await c.waitFor((t) => t.includes(`hello-${i}\n`));
    out[text.startsWith("A:") ? "A" : "B"].push(c);
  }
  return out;
}

async function setState(a: Aegis, server: string, state: string): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${a.metricsPort}/api/upstreams/app/servers/${encodeURIComponent(server)}/state`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ state }),
  });
  expect(r.status).toBe(200);
}

/** Each client still relays: a new line comes back. */
async function stillRelaying(clients: Client[]): Promise<void> {
  for (const [i, c] of clients.entries()) {
    c.write(`again-${i}\n`);
    await c.waitFor((t) => t.includes(`again-${i}\n`));
  }
}

const downEnds = (a: Aegis) => a.logs.filter((l: LogLine) => l.msg === "session" && l.end === "server_down");

describe("on_down", () => {
  test("close_sessions: disabling a server resets its sessions, the other server's go on", async () => {
    const a = await start("close_sessions");
    const { A, B } = await sessions(a.port, 8);
    expect(A.length).toBeGreaterThan(0);
    expect(B.length).toBeGreaterThan(0);
    await setState(a, backends[0]!.address, "disabled");
    // A reset, not a FIN: a client must not take a cut session for a complete one.
    for (const error of await Promise.all(A.map((c) => c.closed))) expect((error as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET");
    await a.waitForLog(() => downEnds(a).length === A.length);
    expect(downEnds(a).every((l) => l.server === backends[0]!.address)).toBe(true);
    await stillRelaying(B);
    // Draining is not down: sessions stay.
    await setState(a, backends[1]!.address, "draining");
    await stillRelaying(B);
  });

  test("close_sessions: a server that fails its checks takes its sessions with it", async () => {
    const a = await start("close_sessions", `health = { interval = "200ms", timeout = "100ms", rise = 1, fall = 1, send = "x\\n", expect = "x" }`);
    const { A, B } = await sessions(a.port, 8);
    expect(A.length).toBeGreaterThan(0);
    // Backend A keeps its open sessions but stops answering new connections' probes: it no longer accepts.
    backends[0]!.stopAccepting?.();
    for (const error of await Promise.all(A.map((c) => c.closed))) expect((error as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET");
    await a.waitForLog((l) => l.msg === "server state" && l.to === "down");
    // Ended by aegis for the server's state, not by the backend (which keeps its connections).
    await a.waitForLog(() => downEnds(a).length === A.length);
    await stillRelaying(B);
  });

  test("close_sessions: a reload that removes a server resets its sessions", async () => {
    const a = await start("close_sessions");
    const { A, B } = await sessions(a.port, 8);
    const path = a.logs.find((l) => l.msg === "ready")!.config as string;
    const toml = simpleConfig([backends[1]!.address], { workers: 2, logLevel: "info", upstream: `on_down = "close_sessions"` }) + `\n[admin]\ntoken = "${TOKEN}"\n`;
    writeFileSync(path, toml.replace(/listen = "127\.0\.0\.1:0"/, `listen = "127.0.0.1:${a.metricsPort}"`).replace(/bind = "127\.0\.0\.1:0"/, `bind = "127.0.0.1:${a.port}"`));
    a.proc.kill("SIGHUP");
    await a.waitForLog((l) => l.msg === "reloaded");
    for (const error of await Promise.all(A.map((c) => c.closed))) expect((error as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET");
    await a.waitForLog(() => downEnds(a).length === A.length);
    await stillRelaying(B);
  });

  test("close_sessions: the admin API removing a server at once (DELETE ?now=1) resets its sessions", async () => {
    const a = await start("close_sessions");
    const { A, B } = await sessions(a.port, 8);
    expect(A.length).toBeGreaterThan(0);
    const r = await fetch(`http://127.0.0.1:${a.metricsPort}/api/upstreams/app/servers/${encodeURIComponent(backends[0]!.address)}?now=1`, {
      method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(r.status).toBe(200);
    for (const error of await Promise.all(A.map((c) => c.closed))) expect((error as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET");
    await a.waitForLog(() => downEnds(a).length === A.length);
    await stillRelaying(B);
  });

  test("close_sessions: a server that discovery takes away (its SQLite row drained) has its sessions reset", async () => {
    backends = ["A", "B"].map((tag) => startEcho({ greeting: `${tag}:` }));
    const dir = tempDir();
    const dbPath = join(dir, "routing.db");
    const db = new Database(dbPath);
    db.run("CREATE TABLE backends (id TEXT PRIMARY KEY, app TEXT, region TEXT, wg_ip TEXT, port INTEGER, healthy INTEGER DEFAULT 1, weight INTEGER DEFAULT 1, soft_limit INTEGER DEFAULT 0, hard_limit INTEGER DEFAULT 0, deleted INTEGER DEFAULT 0)");
    backends.forEach((b, i) => db.run("INSERT INTO backends (id, app, wg_ip, port) VALUES (?, 'app', '127.0.0.1', ?)", [`node-${"AB"[i]}`, b.port]));
    try {
      const toml = simpleConfig([], { workers: 2, logLevel: "info", upstream: `on_down = "close_sessions"\nbalance = "round_robin"\ndiscovery = [{ sqlite = "${dbPath}", app = "app", interval = "100ms" }]` })
        .replace(/\nservers = \[\]/, "") + `\n[admin]\ntoken = "${TOKEN}"\n`;
      aegis = await startAegis(toml, { command: [ensureBinary()], cwd: dir });
      const a = aegis;
      const names = async () => ((await (await fetch(`http://127.0.0.1:${a.metricsPort}/api/upstreams/app`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { servers: { name: string }[] }).servers.map((x) => x.name);
      await waitFor(async () => (await names()).length === 2, { what: "both rows swapped in" });
      const { A, B } = await sessions(a.port, 8);
      expect(A.length).toBeGreaterThan(0);
      expect(B.length).toBeGreaterThan(0);
      db.run("UPDATE backends SET healthy = 0 WHERE id = 'node-A'");
      for (const error of await Promise.all(A.map((c) => c.closed))) expect((error as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET");
      await a.waitForLog(() => downEnds(a).length === A.length);
      expect(downEnds(a).every((l) => l.server === "node-A")).toBe(true);
      await stillRelaying(B);
    } finally {
      db.close();
    }
  });

  test("keep (the default): a disabled server's sessions go on", async () => {
    const a = await start("keep");
    const { A } = await sessions(a.port, 6);
    expect(A.length).toBeGreaterThan(0);
    await setState(a, backends[0]!.address, "disabled");
    await stillRelaying(A);
    expect(downEnds(a)).toHaveLength(0);
  });
});
