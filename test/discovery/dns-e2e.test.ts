// DNS discovery through the compiled binary, against a real dnsmasq: an upstream with only SRV
// discovery finds its servers (the lowest priority primaries, the others backups), follows a change of
// the records, keeps its last good set while the DNS server is down, and `aegis check` lists the source.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { startAegis, tempDir, type Aegis } from "../helpers/aegis.ts";
import { ensureBinary, run } from "../helpers/build.ts";
import { startEcho, type Backend } from "../helpers/backends.ts";
import { waitFor } from "../helpers/wait.ts";
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

  test("a change of the records is swapped in; the DNS server down keeps the last good set", async () => {
    await dns.restart([srv(backends[2]!.port, 0, 3)]);
    const want = [`echo.test:${backends[2]!.port}`];
    await waitFor(async () => JSON.stringify(await names()) === JSON.stringify(want), { timeoutMs: 15_000, what: "the new record" });
    const errors = async () => (await aegis.metrics()).get(`aegis_discovery_errors_total{upstream="echo",source="srv:_echo._tcp.test"}`) ?? 0;
    const before = await errors();
    dns.stop();
    await waitFor(async () => (await errors()) > before, { timeoutMs: 15_000, what: "a failed lookup counted" });
    expect(await names()).toEqual(want);
    expect((await aegis.metrics()).get(`aegis_discovery_changes_total{upstream="echo",source="srv:_echo._tcp.test"}`)).toBe(2);
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
