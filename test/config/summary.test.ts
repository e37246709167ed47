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
