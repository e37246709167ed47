import { expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { summarizeConfig } from "../../src/config/summary.ts";

test("summarizeConfig lays out globals, listeners and upstreams in aligned columns", () => {
  const c = parseConfig(`
    [global]
    workers = 4
    max_connections = 20000
    log_level = "debug"
    access_log = false
    [[listener]]
    bind = "127.0.0.1:8081"
    upstream = "redis"
    [[listener]]
    name = "pg-public"
    bind = "[::]:5432"
    upstream = "pg"
    idle_timeout = "0s"
    [[upstream]]
    name = "redis"
    servers = ["127.0.0.1:6379", { address = "redis-replica.internal:6379", weight = 2 }]
    [[upstream]]
    name = "pg"
    connect_timeout = "1.5s"
    retries = 0
    pool = 4
    pool_max_idle = "90s"
    servers = ["[::1]:5433"]
  `, "/etc/aegis/aegis.toml");
  expect(summarizeConfig(c)).toBe(`config /etc/aegis/aegis.toml
  workers          4
  max_connections  20000
  shutdown_grace   30s
  log_level        debug
  access_log       off
  metrics          127.0.0.1:8082
listeners (2)
  redis      127.0.0.1:8081  -> redis  idle timeout 10m
  pg-public  [::]:5432       -> pg     no idle timeout
upstreams (2)
  redis: round_robin, connect timeout 3s, retries 2, pool off
    127.0.0.1:6379               weight 1
    redis-replica.internal:6379  weight 2
  pg: round_robin, connect timeout 1s500ms, retries 0, pool 4 (max idle 1m30s)
    [::1]:5433  weight 1`);
});

test("a disabled metrics endpoint reads as off", () => {
  const c = parseConfig(`[metrics]\nenabled = false\n[[listener]]\nbind = ":1"\nupstream = "u"\n[[upstream]]\nname = "u"\nservers = ["h:1"]\n`, "a.toml");
  expect(summarizeConfig(c).split("\n")).toContain("  metrics          off");
});

test("who the client is: PROXY in, routes on the client, regions, send PROXY and stick", () => {
  const c = parseConfig(`
    [global]
    workers = 1
    [global.regions]
    eu-west = ["IE", "GB"]
    [[listener]]
    bind = "127.0.0.1:8081"
    upstream = "pg"
    proxy_protocol = "v2"
    proxy_protocol_from = ["10.0.0.0/8", "192.168.0.1"]
    [[listener.route]]
    source = ["192.168.0.0/16"]
    prefer_region = "eu-west"
    upstream = "pg"
    [[upstream]]
    name = "pg"
    send_proxy = "v1"
    stick = { ttl = "5m", max_entries = 500 }
    servers = [{ address = "127.0.0.1:5432", region = "eu-west" }]
  `, "/etc/aegis/aegis.toml");
  const text = summarizeConfig(c);
  expect(text).toContain("  region eu-west   IE GB\n");
  expect(text).toContain("PROXY v2 from 10.0.0.0/8 192.168.0.1/32, 1 route\n");
  expect(text).toContain("  pg route 1: source 192.168.0.0/16 -> pg (prefers region eu-west)\n");
  expect(text).toContain("send PROXY v1, stick on source (ttl 5m, 500 entries)\n");
  expect(text).toContain("    127.0.0.1:5432  weight 1  region eu-west");
});

test("servers that change: names, backups, each health check, discovery, on_down, resolvers and the state file", () => {
  const c = parseConfig(`
    [global]
    workers = 1
    resolvers = ["127.0.0.1:8600"]
    state_file = "/var/lib/aegis/state.json"
    [[listener]]
    bind = "127.0.0.1:8081"
    upstream = "redis"
    [[upstream]]
    name = "redis"
    on_down = "close_sessions"
    servers = [{ name = "r1", address = "10.0.0.5:6379" }, { name = "r2", address = "10.0.0.6:6379", backup = true }]
    discovery = [{ dns = "redis.service.consul", port = 6379 }, { sqlite = "/var/lib/aegis/routing.db", app = "redis", hold = "1m" }]
    health = { check = "redis", role = "primary", interval = "2s", rise = 2, fall = 2 }
    [[upstream]]
    name = "pg"
    servers = ["10.0.0.7:5432"]
    health = { check = "http", path = "/primary", status = "200", port = 8008 }
    [[upstream]]
    name = "my"
    servers = ["10.0.0.8:3306"]
    health = { check = "mysql" }
    [[upstream]]
    name = "pg2"
    servers = ["10.0.0.9:5432"]
    health = { check = "postgres", user = "monitor" }
  `, "/etc/aegis/aegis.toml");
  const text = summarizeConfig(c);
  expect(text).toContain("  resolvers        127.0.0.1:8600\n");
  expect(text).toContain("  state_file       /var/lib/aegis/state.json\n");
  expect(text).toMatch(/\n    r1 +weight 1\n    r2 +weight 1 +backup\n/);
  expect(text).toContain("    health redis PING, role primary, every 2s (timeout 1s), rise 2, fall 2\n");
  expect(text).toContain("    discovery dns redis.service.consul (A/AAAA) port 6379, again when the TTL runs out, no sooner than every 10s, hold 5m\n");
  expect(text).toContain("    discovery sqlite /var/lib/aegis/routing.db table backends app redis, polled every 1s, hold 1m\n");
  expect(text).toContain("    on_down close_sessions: sessions on a server that goes down, is disabled or removed are reset\n");
  expect(text).toContain("    health http GET /primary expecting 200 on port 8008, every 2s");
  expect(text).toContain("    health mysql greeting, every 2s");
  expect(text).toContain("    health postgres StartupMessage (user monitor), every 2s");
});
