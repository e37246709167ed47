// state_file through the compiled binary: a drained server, a runtime weight, a server added through
// the API and a server known down all survive a restart; a corrupt or foreign file is ignored with a
// warning; the file is replaced atomically (every read of it during a burst of changes parses).
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAegis, simpleConfig, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startEcho, startScripted, type Backend } from "./helpers/backends.ts";
import { waitFor } from "./helpers/wait.ts";
import { startDnsmasq } from "./discovery/dnsmasq.ts";

const TOKEN = "state-token-0123456789abcdef";
const running: Aegis[] = [];
const backends: Backend[] = [];
afterAll(async () => {
  for (const a of running) await a.stop("SIGKILL");
  for (const b of backends) b.stop();
});

const dir = tempDir("aegis-state-");
const statePath = join(dir, "state.json");

function toml(servers: string[]): string {
  return simpleConfig(servers, {
    workers: 2, logLevel: "info", global: `access_log = false\nstate_file = "${statePath}"`,
    upstream: `health = { interval = "200ms", timeout = "200ms", rise = 2, fall = 1 }`,
  }) + `\n[admin]\ntoken = "${TOKEN}"\n`;
}
async function start(servers: string[]): Promise<Aegis> {
  const a = await startAegis(toml(servers), { command: [ensureBinary()], cwd: tempDir() });
  running.push(a);
  return a;
}
async function call(a: Aegis, method: string, path: string, body?: unknown) {
  const r = await fetch(`http://127.0.0.1:${a.metricsPort}/api${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, any> };
}
const view = async (a: Aegis) => Object.fromEntries(((await call(a, "GET", "/upstreams/app")).json.servers as any[]).map((s) => [s.name, s]));

describe("state_file", () => {
  test("drain, weight, an API server and a down server survive a restart", async () => {
    for (let i = 0; i < 4; i++) backends.push(startEcho());
    const [A, B, C, D] = backends.map((b) => b.address) as [string, string, string, string];
    const first = await start([A, B, C]);
    expect((await call(first, "POST", `/upstreams/app/servers/${encodeURIComponent(A)}/state`, { state: "draining" })).status).toBe(200);
    expect((await call(first, "POST", `/upstreams/app/servers/${encodeURIComponent(B)}/weight`, { weight: 7 })).status).toBe(200);
    expect((await call(first, "POST", "/upstreams/app/servers", { address: D, name: "added" })).status).toBe(201);
    const cPort = backends[2]!.port;
    backends[2]!.stop();
    await first.waitForLog((l) => l.msg === "server state" && l.server === C && l.to === "down");
    await waitFor(() => { try { return JSON.parse(readFileSync(statePath, "utf8")).health.app[C].healthy === false; } catch { return false; } }, { what: "the state file has C down", timeoutMs: 10_000 });
    expect(await first.stop()).toBe(0);

    const second = await start([A, B, C]);
    const v = await view(second);
    expect(v[A]).toMatchObject({ admin: "draining", state: "draining" });
    expect(v[B]).toMatchObject({ weight: 7, configured_weight: 1 });
    expect(v.added).toMatchObject({ source: "api", address: D });
    // C was known down: restored so, before any check could say anything.
    await second.waitForLog((l) => l.msg === "server state" && l.server === C && l.to === "down" && l.reason === "restored from the state file");
    // Its backend back on the same port: rise (2) passing checks bring it up, not the restart.
    backends.push(startScripted({}, cPort));
    const up = await second.waitForLog((l) => l.msg === "server state" && l.server === C && l.to === "up");
    expect(up.reason).toBe("2 check(s) in a row passed");
    // With a state file, the API's servers also outlast a reload (without one, a reload forgets them).
    second.proc.kill("SIGHUP");
    await second.waitForLog((l) => l.msg === "reloaded");
    expect((await view(second)).added).toMatchObject({ source: "api", address: D });
    expect(await second.stop()).toBe(0);
  }, 60_000);

  test("every read during a burst of changes parses: the file is replaced whole", async () => {
    const a = await start(backends.slice(0, 2).map((b) => b.address));
    const B = encodeURIComponent(backends[1]!.address);
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      for (let i = 0; i < 100_000 && !stop; i++) {
        JSON.parse(readFileSync(statePath, "utf8")); // throws on a half-written file
        reads++;
        await Promise.resolve();
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 40; i++) expect((await call(a, "POST", `/upstreams/app/servers/${B}/weight`, { weight: 2 + (i % 5) })).status).toBe(200);
    stop = true;
    await reader;
    expect(reads).toBeGreaterThan(0);
    await a.stop();
  }, 60_000);

  test("discovery's last good set survives a restart while the DNS server is down", async () => {
    const echo = startEcho();
    backends.push(echo);
    const dns = await startDnsmasq({ hosts: ["127.0.0.1 echo.test"], srv: [`_echo._tcp.test,echo.test,${echo.port},0,6`] });
    const path = join(tempDir("aegis-state-"), "state.json");
    const config = (resolver: number) =>
      simpleConfig([], {
        logLevel: "info",
        adminToken: TOKEN,
        global: `access_log = false\nstate_file = "${path}"\nresolvers = ["127.0.0.1:${resolver}"]`,
        upstream: `discovery = [{ srv = "_echo._tcp.test", interval = "100ms", hold = "1h" }]`,
      });
    const name = `echo.test:${echo.port}`;
    try {
      const first = await startAegis(config(dns.port), { command: [ensureBinary()], cwd: tempDir() });
      running.push(first);
      await waitFor(async () => (await view(first))[name]?.source === "srv", { timeoutMs: 15_000, what: "the SRV server found" });
      await waitFor(() => { try { return JSON.parse(readFileSync(path, "utf8")).servers.app.discovered["srv:_echo._tcp.test"].length === 1; } catch { return false; } }, { what: "the set in the state file", timeoutMs: 10_000 });
      expect(await first.stop()).toBe(0);
      dns.stop();
      // No DNS server answers now: what serves is the set the state file kept, weight and all.
      const second = await startAegis(config(dns.port), { command: [ensureBinary()], cwd: tempDir() });
      running.push(second);
      expect((await view(second))[name]).toMatchObject({ source: "srv", weight: 6, state: "up" });
      const before = echo.accepted;
      const s = await Bun.connect({ hostname: "127.0.0.1", port: second.port, socket: { data() {} } });
      await waitFor(() => echo.accepted > before, { what: "a session on the restored server" });
      s.end();
      await second.waitForLog((l) => l.msg === "discovery failed");
      expect((await view(second))[name]).toMatchObject({ source: "srv" });
      expect(await second.stop()).toBe(0);
    } finally {
      dns.stop();
    }
  }, 60_000);

  test("a corrupt file, or one of another version, is ignored with a warning", async () => {
    for (const [content, why] of [["{ not json", /JSON|Unexpected|parse/i], [JSON.stringify({ version: 9, health: {}, servers: {} }), /version is 9/]] as const) {
      writeFileSync(statePath, content);
      const a = await start(backends.slice(0, 2).map((b) => b.address));
      const warning = await a.waitForLog((l) => String(l.msg).startsWith("state file ignored"));
      expect(String(warning.why)).toMatch(why);
      expect(Object.values(await view(a)).every((s: any) => s.admin === "ready" && s.weight === 1)).toBe(true);
      await a.stop();
    }
  }, 60_000);
});
