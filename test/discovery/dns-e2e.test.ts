// DNS discovery through the compiled binary, against a real dnsmasq: an upstream with only SRV
// discovery finds its servers (the lowest priority primaries, the others backups), adds a new record
// without touching the sessions on the others and drains a vanished one while 10 sha256-checked
// streams run, keeps its last good set while the DNS server is down, and `aegis check` lists the source.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { startAegis, tempDir, type Aegis } from "../helpers/aegis.ts";
import { ensureBinary, run } from "../helpers/build.ts";
import { startEcho, type Backend } from "../helpers/backends.ts";
import { waitFor } from "../helpers/wait.ts";
import { expectIntact, pacedStreams } from "../helpers/streams.ts";
import { startDnsmasq, type Dnsmasq } from "./dnsmasq.ts";

const TOKEN = "dns-e2e-token-0123456789abcdef";
let dns: Dnsmasq;
let aegis: Aegis;
let configText = "";
const backends: Backend[] = [];

const srv = (port: number, priority: number, weight: number) => `_echo._tcp.test,echo.test,${port},${priority},${weight}`;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) backends.push(startEcho());
  dns = await startDnsmasq({ hosts: ["127.0.0.1 echo.test"], srv: [srv(backends[0]!.port, 0, 10), srv(backends[1]!.port, 5, 1)] });
  configText = `
[global]
workers = 2
log_level = "info"
access_log = false
resolvers = ["127.0.0.1:${dns.port}"]
[metrics]
listen = "127.0.0.1:0"
[admin]
token = "${TOKEN}"
[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "echo"
[[upstream]]
name = "echo"
discovery = [{ srv = "_echo._tcp.test", interval = "100ms", hold = "1h" }]
`;
  aegis = await startAegis(configText, { command: [ensureBinary()], cwd: tempDir() });
});
afterAll(async () => {
  await aegis?.stop("SIGKILL");
  dns?.stop();
  for (const b of backends) b.stop();
});

async function servers(): Promise<{ name: string; backup: boolean; weight: number; source: string }[]> {
  const r = await fetch(`http://127.0.0.1:${aegis.metricsPort}/api/upstreams/echo`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await r.json()) as { servers: never[] }).servers;
}
const names = async () => (await servers()).map((s) => s.name).sort();

/** A new session reaches backend `i` (round robin may give the others some first). */
async function reaches(i: number): Promise<void> {
  const before = backends[i]!.accepted;
  await waitFor(async () => {
    const s = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, socket: { data() {} } });
    s.end();
    return backends[i]!.accepted > before;
  }, { timeoutMs: 15_000, what: `a session on backend ${i}` });
}

describe("srv discovery through the binary", () => {
  test("the records are the servers: priority makes backups, weight the weight", async () => {
    await waitFor(async () => (await servers()).length === 2, { timeoutMs: 15_000, what: "two SRV servers" });
    const byName = Object.fromEntries((await servers()).map((s) => [s.name, s]));
    expect(byName[`echo.test:${backends[0]!.port}`]).toMatchObject({ backup: false, weight: 10, source: "srv" });
    expect(byName[`echo.test:${backends[1]!.port}`]).toMatchObject({ backup: true, weight: 1, source: "srv" });
    // Sessions go to the primary while it is up.
    const before = backends[0]!.accepted;
    const s = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, socket: { data() {} } });
    await waitFor(() => backends[0]!.accepted > before, { what: "a session on the primary" });
    s.end();
  });

  test("a new record is added without touching the others' sessions; a vanished one is drained", async () => {
    const streams = pacedStreams(aegis.port, 10, 0.1, 2 * 1024 * 1024);
    await waitFor(() => backends[0]!.open >= 10, { timeoutMs: 30_000, what: "10 streams on the primary" });
    await dns.restart([srv(backends[0]!.port, 0, 10), srv(backends[2]!.port, 0, 3)]);
    const both = [`echo.test:${backends[0]!.port}`, `echo.test:${backends[2]!.port}`].sort();
    await waitFor(async () => JSON.stringify(await names()) === JSON.stringify(both), { timeoutMs: 15_000, what: "the added record" });
    await reaches(2);
    // Each change is logged with what it changed.
    expect(await aegis.waitForLog((l) => l.msg === "discovery changed" && String(l.why).startsWith(`added echo.test:${backends[2]!.port}`))).toMatchObject({ upstream: "echo", source: "srv:_echo._tcp.test", servers: 2 });
    await dns.restart([srv(backends[2]!.port, 0, 3)]);
    await waitFor(async () => JSON.stringify(await names()) === JSON.stringify([`echo.test:${backends[2]!.port}`]), { timeoutMs: 15_000, what: "the record gone" });
    // Drained: no new session reaches it, and its streams go on.
    const before = backends[0]!.accepted;
    await reaches(2);
    expect(backends[0]!.accepted).toBe(before);
    const relayed = async () => (await aegis.metrics()).get(`aegis_bytes_received_total{listener="main"}`) ?? 0;
    const start = await relayed();
    await waitFor(async () => (await relayed()) > start + 10 * 128 * 1024, { timeoutMs: 60_000, what: "1.25 MiB more relayed after the change" });
    expectIntact(await streams.finish(), 10);
  }, 90_000);

  test("the DNS server down keeps the last good set", async () => {
    const want = [`echo.test:${backends[2]!.port}`];
    await waitFor(async () => JSON.stringify(await names()) === JSON.stringify(want), { timeoutMs: 15_000, what: "the new record" });
    const errors = async () => (await aegis.metrics()).get(`aegis_discovery_errors_total{upstream="echo",source="srv:_echo._tcp.test"}`) ?? 0;
    const before = await errors();
    dns.stop();
    await waitFor(async () => (await errors()) > before, { timeoutMs: 15_000, what: "a failed lookup counted" });
    expect(await names()).toEqual(want);
    expect((await aegis.metrics()).get(`aegis_discovery_changes_total{upstream="echo",source="srv:_echo._tcp.test"}`)).toBe(3);
    await dns.restart([srv(backends[2]!.port, 0, 3)]);
  }, 60_000);

  test("aegis check lists the source", async () => {
    const path = join(tempDir(), "aegis.toml");
    writeFileSync(path, configText);
    const r = await run([ensureBinary(), "check", "--config", path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("discovery srv _echo._tcp.test (lowest priority primary, others backup)");
    expect(r.stdout).toContain("(no servers in the file: discovery finds them)");
  });
});
