// What the compiled aegis says about the client keys: `aegis check` describes PROXY, GeoIP, regions,
// send_proxy and stick (and names a missing database); the admin API lists the clients PROXY headers
// named; and /metrics of an aegis with stick tables and PROXY listeners passes Prometheus's linter.
import { afterEach, describe, expect, test } from "bun:test";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startScripted, type Backend } from "./helpers/backends.ts";
import { ensureBinary, run } from "./helpers/build.ts";
import { GEO_DB } from "./helpers/geo.ts";
import { exchangeFrom } from "./helpers/haproxy.ts";
import { waitFor } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
const backends: Backend[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

const TOKEN = "e2e-admin-token-0123456789";

/** A config with every client key, its GeoIP database named relative to the file. */
const clientKeys = (geoip: string) => `
[global]
workers = 2
geoip = "${geoip}"

[global.regions]
eu-west = ["GB", "IE", "FR"]
na = ["US", "CA"]

[[listener]]
name = "edge"
bind = "127.0.0.1:0"
upstream = "app"
proxy_protocol = "v2"
proxy_protocol_from = ["10.0.0.0/8", "127.0.0.1/32"]
prefer_region = true

[[listener.route]]
country = ["US", "CA"]
upstream = "app"

[[upstream]]
name = "app"
send_proxy = "v1"
stick = { on = "source", ttl = "10m", max_entries = 1000 }
servers = [{ address = "127.0.0.1:7001", region = "eu-west" }, { address = "127.0.0.1:7002", region = "na" }]
`;

describe("aegis check", () => {
  test("describes the PROXY listener, the GeoIP database, the regions, send PROXY and stick, and exits 0", async () => {
    const dir = tempDir();
    symlinkSync(GEO_DB, join(dir, "countries.mmdb"));
    writeFileSync(join(dir, "aegis.toml"), clientKeys("countries.mmdb"));
    // Run from elsewhere: the database is found beside the config file, not in the working directory.
    const out = await run([ensureBinary(), "check", "--config", join(dir, "aegis.toml")], { cwd: tempDir() });
    expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 0, stderr: "" });
    const lines = out.stdout.split("\n");
    const has = (re: RegExp) => expect({ re: String(re), found: lines.some((l) => re.test(l)) }).toEqual({ re: String(re), found: true });
    has(new RegExp(`^  geoip\\s+${join(dir, "countries.mmdb").replace(/[.]/g, "\\.")}: country .*IPv4 and IPv6, built \\d{4}-\\d\\d-\\d\\d`));
    has(/^  region eu-west\s+GB IE FR$/);
    has(/^  region na\s+US CA$/);
    has(/^  edge\s+127\.0\.0\.1:0\s+-> app\s+.*PROXY v2 from 10\.0\.0\.0\/8 127\.0\.0\.1\/32, 1 route, prefer region of the client$/);
    has(/^  app: round_robin, .*, send PROXY v1, stick on source \(ttl 10m, 1000 entries\)$/);
    has(/^    127\.0\.0\.1:7001\s+weight 1\s+region eu-west$/);
    has(/^    127\.0\.0\.1:7002\s+weight 1\s+region na$/);
    // A country route reads no ClientHello: nothing about TLS is said of it.
    expect(out.stdout).not.toContain("ClientHello");
    expect(out.stdout).toContain("is valid");
  });

  test("a GeoIP database that is not there: exits non-zero naming the path it looked for", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "aegis.toml"), clientKeys("geo/GeoLite2-Country.mmdb"));
    const out = await run([ensureBinary(), "check", "--config", join(dir, "aegis.toml")], { cwd: tempDir() });
    expect(out.code).not.toBe(0);
    expect(out.code).not.toBeNull();
    expect(out.stdout + out.stderr).toContain(`global.geoip: GeoIP database ${join(dir, "geo/GeoLite2-Country.mmdb")}: does not exist`);
    expect(out.stdout).not.toContain("is valid");
  });
});

describe("/metrics with stick tables and PROXY listeners", () => {
  test("the header's clients stick to their servers across Workers and are the ones the admin API lists; promtool check metrics passes", async () => {
    const servers = ["a", "b"].map((name) => startScripted({
      open(socket) { socket.write(`${name}\n`); },
      end(socket) { socket.shutdown(); },
    }));
    backends.push(...servers);
    aegis = await startAegis(`
[global]
workers = 2
log_level = "info"
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"

[admin]
token = "${TOKEN}"

[[listener]]
name = "pp"
bind = "127.0.0.1:0"
upstream = "app"
proxy_protocol = "any"
proxy_protocol_from = ["127.0.0.1/32"]

[[listener]]
name = "untrusted"
bind = "127.0.0.1:0"
upstream = "app"
proxy_protocol = "v1"
proxy_protocol_from = ["10.0.0.0/8"]

[[upstream]]
name = "app"
servers = [${servers.map((s) => `"${s.address}"`).join(", ")}]
stick = { on = "source", ttl = "10m", max_entries = 1000 }
`, { command: [ensureBinary()], cwd: tempDir() });
    const a = aegis;
    const clients = ["198.51.100.1", "198.51.100.2", "2001:db8::9"];
    const placed: Record<string, string[]> = {};
    for (let round = 0; round < 4; round++) {
      for (const [i, client] of clients.entries()) {
        const family = client.includes(":") ? "TCP6 2001:db8::9 2001:db8::1" : `TCP4 ${client} 192.0.2.1`;
        const exchange = await exchangeFrom("127.0.0.1", a.ports.pp!, Buffer.from(`PROXY ${family} ${30_000 + round * 10 + i} 80\r\n`));
        (placed[client] ??= []).push(Buffer.from(exchange.received).toString().trim());
      }
    }
    for (const client of clients) expect({ client, servers: new Set(placed[client]).size }).toEqual({ client, servers: 1 });
    expect((await exchangeFrom("127.0.0.1", a.ports.untrusted!, Buffer.from("PROXY TCP4 192.0.2.9 192.0.2.1 1 2\r\n"))).received.length).toBe(0);

    await waitFor(async () => {
      const m = await a.metrics();
      return m.get(`aegis_stick_entries{upstream="app"}`) === clients.length && m.get(`aegis_connections_rejected_total{listener="untrusted",reason="proxy_protocol"}`) === 1;
    }, { what: "3 stick entries and 1 proxy_protocol refusal on /metrics" });
    const api = async (path: string, method = "GET") => (await fetch(`http://127.0.0.1:${a.metricsPort}/api/${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } })).json();
    // The stick table and the top talkers hold the clients the headers named (an IPv6 one by its /64), not HAProxy's address.
    const addressOf = (name: string) => servers[["a", "b"].indexOf(name)]!.address;
    const stick = (await api("upstreams/app/stick")) as { entries: number; clients: { client: string; server: string }[] };
    expect(stick.clients.map((c) => [c.client, c.server]).sort()).toEqual([
      ["198.51.100.1", addressOf(placed["198.51.100.1"]![0]!)], ["198.51.100.2", addressOf(placed["198.51.100.2"]![0]!)], ["2001:db8::/64", addressOf(placed["2001:db8::9"]![0]!)],
    ].sort());
    type Top = { listeners: { clients: { client: string; sessions: number }[] }[] };
    const top = await waitFor(async () => {
      const rows = ((await api("clients?listener=pp&by=sessions")) as Top).listeners[0]?.clients ?? [];
      return rows.length === clients.length && rows.every((r) => r.sessions === 4) ? rows : false;
    }, { what: "the top talkers posted by the Workers (every 2 s)" });
    expect(top.map((r) => r.client).sort()).toEqual([...clients].sort());
    expect(await api("upstreams/app/stick/198.51.100.1", "DELETE")).toEqual({ upstream: "app", removed: 1 });
    await waitFor(async () => (await a.metrics()).get(`aegis_stick_entries{upstream="app"}`) === clients.length - 1 || false, { what: "one stick entry fewer" });
    const text = await (await fetch(`http://127.0.0.1:${a.metricsPort}/metrics`)).text();
    expect(text).toMatch(/^aegis_stick_capacity\{upstream="app"\} \d+$/m);
    const promtool = Bun.spawn(["promtool", "check", "metrics"], { stdin: Buffer.from(text), stdout: "pipe", stderr: "pipe" });
    const [lint, lintErr, lintCode] = await Promise.all([new Response(promtool.stdout).text(), new Response(promtool.stderr).text(), promtool.exited]);
    expect({ code: lintCode, out: lint + lintErr }).toEqual({ code: 0, out: "" });
  });
});
