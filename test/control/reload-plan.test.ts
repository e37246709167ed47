// planReload: which listeners keep their sockets across a reload, and the change lines it reports.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { planReload } from "../../src/control/reload-plan.ts";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GEO_DB } from "../helpers/geo.ts";

interface Shape {
  listeners?: { name: string; bind: string; upstream?: string; extra?: string }[];
  upstreams?: { name: string; servers: string[]; extra?: string }[];
  global?: string;
  metrics?: string;
}

function config(shape: Shape = {}): Config {
  const listeners = shape.listeners ?? [{ name: "main", bind: "127.0.0.1:7001" }];
  const upstreams = shape.upstreams ?? [{ name: "app", servers: ["127.0.0.1:9001", "127.0.0.1:9002"] }];
  return parseConfig(`
[global]
workers = 1
${shape.global ?? ""}

[metrics]
listen = "${shape.metrics ?? "127.0.0.1:0"}"

${listeners.map((l) => `[[listener]]\nname = "${l.name}"\nbind = "${l.bind}"\nupstream = "${l.upstream ?? "app"}"\n${l.extra ?? ""}\n`).join("\n")}
${upstreams.map((u) => `[[upstream]]\nname = "${u.name}"\nservers = [${u.servers.map((s) => (s.startsWith("{") ? s : JSON.stringify(s))).join(", ")}]\n${u.extra ?? ""}\n`).join("\n")}
`, "reload-plan-test.toml");
}

describe("planReload: listener sockets", () => {
  test("the same config keeps every socket and reports no change", () => {
    const old = config({ listeners: [{ name: "a", bind: "127.0.0.1:7001" }, { name: "b", bind: "127.0.0.1:7002" }] });
    const plan = planReload(old, config({ listeners: [{ name: "a", bind: "127.0.0.1:7001" }, { name: "b", bind: "127.0.0.1:7002" }] }), [7001, 7002]);
    expect(plan).toEqual({ ports: [7001, 7002], fresh: [], changes: [] });
  });

  test("a listener written with port 0 keeps the port the kernel gave it, whether the new config says 0 or that port", () => {
    const old = config({ listeners: [{ name: "main", bind: "127.0.0.1:0" }] });
    expect(planReload(old, config({ listeners: [{ name: "main", bind: "127.0.0.1:0" }] }), [41234]).ports).toEqual([41234]);
    expect(planReload(old, config({ listeners: [{ name: "main", bind: "127.0.0.1:41234" }] }), [41234]).ports).toEqual([41234]);
    const moved = planReload(old, config({ listeners: [{ name: "main", bind: "127.0.0.1:41235" }] }), [41234]);
    expect(moved.ports).toEqual([null]);
    expect(moved.fresh.map((l) => l.bind.port)).toEqual([41235]);
  });

  test("a new port, a new host or a new name binds anew; the old one is reported removed", () => {
    const old = config({ listeners: [{ name: "main", bind: "127.0.0.1:7001" }] });
    for (const next of [{ name: "main", bind: "127.0.0.1:7009" }, { name: "main", bind: "127.0.0.2:7001" }, { name: "other", bind: "127.0.0.1:7001" }]) {
      const plan = planReload(old, config({ listeners: [next] }), [7001]);
      expect(plan.ports).toEqual([null]);
      expect(plan.fresh.map((l) => l.name)).toEqual([next.name]);
      expect(plan.changes).toEqual([
        `listeners.${next.name}: added on ${next.bind}`,
        "listeners.main: removed from 127.0.0.1:7001 (it stops accepting, its sessions go on)",
      ]);
    }
  });

  test("ports follow the listener, not its position in the file", () => {
    const old = config({ listeners: [{ name: "a", bind: "127.0.0.1:7001" }, { name: "b", bind: "127.0.0.1:7002" }] });
    const plan = planReload(old, config({ listeners: [{ name: "c", bind: "127.0.0.1:7003" }, { name: "b", bind: "127.0.0.1:7002" }, { name: "a", bind: "127.0.0.1:7001" }] }), [7001, 7002]);
    expect(plan.ports).toEqual([null, 7002, 7001]);
    expect(plan.fresh.map((l) => l.name)).toEqual(["c"]);
    expect(plan.changes).toEqual(["listeners.c: added on 127.0.0.1:7003"]);
  });

  test("a kept listener's changed settings are each named, and it keeps its socket", () => {
    const old = config({ listeners: [{ name: "main", bind: "127.0.0.1:7001" }] });
    const extra = `idle_timeout = "5s"\ndeny = ["10.0.0.0/8"]\nconnection_rate_per_ip = "50/10s"\nproxy_protocol = "v2"\nproxy_protocol_from = ["10.1.0.0/16"]`;
    const plan = planReload(old, config({ listeners: [{ name: "main", bind: "127.0.0.1:7001", extra }] }), [7001]);
    expect(plan.ports).toEqual([7001]);
    expect(plan.changes).toEqual([
      "listeners.main.idle_timeout: 10m -> 5s",
      `listeners.main.deny: [] -> ["10.0.0.0/8"]`,
      `listeners.main.connection_rate_per_ip: none -> "50/10s"`,
      `listeners.main.proxy_protocol: "off" -> "v2"`,
      `listeners.main.proxy_protocol_from: none -> ["10.1.0.0/16"]`,
    ]);
  });

  test("a listener written with port 0 and reloaded with its port shows no bind change", () => {
    const old = config({ listeners: [{ name: "main", bind: "127.0.0.1:0" }] });
    expect(planReload(old, config({ listeners: [{ name: "main", bind: "127.0.0.1:41234" }] }), [41234]).changes).toEqual([]);
  });
});

describe("planReload: upstreams and the rest", () => {
  const base = () => config();

  test("servers added and removed are one line with their counts; a setting changed too gets its own line", () => {
    const plan = planReload(base(), config({ upstreams: [{ name: "app", servers: ["127.0.0.1:9002", "127.0.0.1:9003"], extra: "retries = 7" }] }), [7001]);
    expect(plan.changes).toEqual([
      "upstreams.app.servers (+1 -1): added 127.0.0.1:9003; removed 127.0.0.1:9001 (their sessions go on, they get no new ones)",
      "upstreams.app.retries: 2 -> 7",
    ]);
  });

  test("many servers added are counted, and only the first few named", () => {
    const many = Array.from({ length: 12 }, (_, i) => `127.0.0.1:${9101 + i}`);
    const plan = planReload(base(), config({ upstreams: [{ name: "app", servers: ["127.0.0.1:9001", "127.0.0.1:9002", ...many] }] }), [7001]);
    expect(plan.changes).toEqual([`upstreams.app.servers (+12 -0): added ${many.slice(0, 8).join(", ")} and 4 more`]);
  });

  test("a kept server's settings are named under its name, and a new order is said", () => {
    const weighted = planReload(base(), config({ upstreams: [{ name: "app", servers: ['{ address = "127.0.0.1:9001", weight = 5, backup = true }', "127.0.0.1:9002"] }] }), [7001]);
    expect(weighted.changes).toEqual([
      `upstreams.app.servers["127.0.0.1:9001"].weight: 1 -> 5`,
      `upstreams.app.servers["127.0.0.1:9001"].backup: false -> true`,
    ]);
    const swapped = planReload(base(), config({ upstreams: [{ name: "app", servers: ["127.0.0.1:9002", "127.0.0.1:9001"] }] }), [7001]);
    expect(swapped.changes).toEqual(["upstreams.app.servers: order changed"]);
  });

  test("max_connections set on a server where none had one is named, with the queue the upstream gains", () => {
    const limited = planReload(base(), config({ upstreams: [{ name: "app", servers: ['{ address = "127.0.0.1:9001", max_connections = 3 }', "127.0.0.1:9002"] }] }), [7001]);
    expect(limited.changes).toEqual([
      `upstreams.app.servers["127.0.0.1:9001"].max_connections: none -> 3`,
      "upstreams.app.queue: none -> 100",
      "upstreams.app.queue_timeout: none -> 5s",
    ]);
  });

  test("a health check's keys are named one by one; a table added is one line", () => {
    const checked = (h: string) => config({ upstreams: [{ name: "app", servers: ["127.0.0.1:9001", "127.0.0.1:9002"], extra: `health = { ${h} }` }] });
    expect(planReload(base(), checked(`interval = "2s"`), [7001]).changes).toEqual(["upstreams.app.health: added"]);
    expect(planReload(checked(`interval = "2s", send = "PING"`), checked(`interval = "3s", send = "PING", expect = "+PONG"`), [7001]).changes).toEqual([
      "upstreams.app.health.interval: 2s -> 3s",
      "upstreams.app.health.expect: none -> 0x2b504f4e47",
    ]);
    expect(planReload(checked(`send = "PING"`), checked(`check = "redis", role = "primary"`), [7001]).changes).toEqual([
      "upstreams.app.health.send: 0x50494e47 -> none",
      `upstreams.app.health.check: "tcp" -> "redis"`,
      `upstreams.app.health.role: none -> "primary"`,
    ]);
  });

  test("upstreams added and removed", () => {
    const old = config({ upstreams: [{ name: "app", servers: ["127.0.0.1:9001"] }, { name: "old", servers: ["127.0.0.1:9100"] }] });
    const next = config({ upstreams: [{ name: "app", servers: ["127.0.0.1:9001"] }, { name: "new", servers: ["127.0.0.1:9200"] }] });
    expect(planReload(old, next, [7001]).changes).toEqual(["upstreams.new: added", "upstreams.old: removed"]);
  });

  test("each global setting is named with its values, the metrics address as taking effect at restart", () => {
    const plan = planReload(base(), config({ global: `max_connections = 77\nshutdown_grace = "5s"\nlog_level = "debug"\naccess_log = false`, metrics: "127.0.0.1:9999" }), [7001]);
    expect(plan.changes).toEqual([
      "global.max_connections: 10000 -> 77",
      "global.shutdown_grace: 30s -> 5s",
      `global.log_level: "info" -> "debug"`,
      "global.access_log: true -> false",
      "metrics.listen: 127.0.0.1:0 -> 127.0.0.1:9999 (takes effect at restart)",
    ]);
    expect(plan.ports).toEqual([7001]);
  });

  test("an admin token changed, added or removed is named, never shown", () => {
    const withToken = (t: string) => config({ global: `[admin]\ntoken = "${t}"` });
    const a = "0123456789abcdef0001";
    const b = "0123456789abcdef0002";
    expect(planReload(withToken(a), withToken(b), [7001]).changes).toEqual(["admin.token: changed"]);
    expect(planReload(base(), withToken(a), [7001]).changes).toEqual(["admin.token: changed"]);
    expect(planReload(withToken(a), base(), [7001]).changes.join("\n")).not.toContain(a);
  });

  // The Workers apply every server setting, so each one is reported, not weight alone.
  test("a server's backup flag or max_connections changed is reported", () => {
    const backup = planReload(base(), config({ upstreams: [{ name: "app", servers: ["127.0.0.1:9001", '{ address = "127.0.0.1:9002", backup = true }'] }] }), [7001]);
    expect(backup.changes).toEqual([`upstreams.app.servers["127.0.0.1:9002"].backup: false -> true`]);
    const limit = (n: number) => config({ upstreams: [{ name: "app", servers: [`{ address = "127.0.0.1:9001", max_connections = ${n} }`, "127.0.0.1:9002"] }] });
    expect(planReload(limit(3), limit(5), [7001]).changes).toEqual([`upstreams.app.servers["127.0.0.1:9001"].max_connections: 3 -> 5`]);
  });
});

describe("planReload: who the client is", () => {
  test("a GeoIP database added, replaced on disk, removed, and regions changed are each named", () => {
    const dir = mkdtempSync(join(tmpdir(), "aegis-plan-geo-"));
    const db = join(dir, "countries.mmdb");
    copyFileSync(GEO_DB, db);
    const withDb = (regions = "") => config({ global: `geoip = ${JSON.stringify(db)}\n${regions}` });
    const first = withDb();
    expect(planReload(config(), first, [7001]).changes).toEqual([`global.geoip: ${db} added`]);
    expect(planReload(first, withDb(), [7001]).changes).toEqual([]);
    // The same path with other contents (a monthly GeoLite2 update): the fingerprint tells.
    copyFileSync(join(GEO_DB, "../geolite2-country-ipv4.mmdb"), db);
    expect(planReload(first, withDb(), [7001]).changes).toEqual([`global.geoip: ${db} changed`]);
    expect(planReload(first, config(), [7001]).changes).toEqual(["global.geoip: removed"]);
    const now = withDb();
    expect(planReload(now, withDb(`[global.regions]\neu-west = ["IE"]`), [7001]).changes).toEqual([`global.regions.eu-west: none -> ["IE"]`]);
  });
});
