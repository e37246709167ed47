// The keys of servers that change: server names, discovery sources, on_down, [global] resolvers and
// state_file, read with their defaults, and every mistake named by its key path.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { problemsOf } from "./helpers.ts";

const upstream = (lines: string, global = "") =>
  `${global ? `[global]\n${global}\n` : ""}[[listener]]\nbind = "127.0.0.1:8081"\nupstream = "u"\n[[upstream]]\nname = "u"\n${lines}\n`;
const parsed = (lines: string, global = "") => parseConfig(upstream(lines, global), "/etc/aegis/aegis.toml");

describe("server names", () => {
  test("a name defaults to the address; a duplicate is an error", () => {
    expect(parsed(`servers = ["h:1", { name = "two", address = "h:2" }]`).upstreams[0]!.servers.map((s) => s.name)).toEqual(["h:1", "two"]);
    expect(problemsOf(upstream(`servers = [{ name = "a", address = "h:1" }, { name = "a", address = "h:2" }]`))).toEqual([
      `aegis.toml: upstream[0].servers[1].name: duplicate name "a" (also servers[0])`,
    ]);
  });
});

describe("discovery", () => {
  test("each kind with its defaults; paths relative to the config file; servers may be left out", () => {
    const u = parsed(`discovery = [{ dns = "Redis.Service.Consul.", port = 6379 }, { srv = "_redis._tcp.service.consul", interval = "30s", hold = "1m" }, { sqlite = "routing.db", app = "redis" }]`).upstreams[0]!;
    expect(u.servers).toEqual([]);
    expect(u.discovery).toEqual([
      { kind: "dns", name: "redis.service.consul", port: 6379, intervalMs: 10_000, holdMs: 300_000 },
      { kind: "srv", name: "_redis._tcp.service.consul", intervalMs: 30_000, holdMs: 60_000 },
      { kind: "sqlite", path: "/etc/aegis/routing.db", table: "backends", app: "redis", intervalMs: 1_000, holdMs: 300_000 },
    ]);
    expect(parsed(`discovery = ["_pg._tcp.test"]`).upstreams[0]!.discovery).toEqual([{ kind: "srv", name: "_pg._tcp.test", intervalMs: 10_000, holdMs: 300_000 }]);
  });

  test("every mistake says what to write", () => {
    const p = (d: string) => problemsOf(upstream(`discovery = [${d}]`));
    expect(p(`{ port = 1 }`)).toEqual([`aegis.toml: upstream[0].discovery[0]: give exactly one of dns, srv and sqlite`]);
    expect(p(`{ dns = "a.test", srv = "b.test", port = 1 }`)).toEqual([`aegis.toml: upstream[0].discovery[0]: give exactly one of dns, srv and sqlite (got dns and srv)`]);
    expect(p(`{ dns = "a.test" }`)).toEqual([`aegis.toml: upstream[0].discovery[0]: dns = "a.test" needs a port (the servers' port)`]);
    expect(p(`{ srv = "a.test", port = 1 }`)).toEqual([`aegis.toml: upstream[0].discovery[0].port: only with dns (SRV records and SQLite rows carry their own port)`]);
    expect(p(`{ dns = "a.test", port = 1, app = "x" }`)).toEqual([`aegis.toml: upstream[0].discovery[0].app: only with sqlite`]);
    expect(p(`{ sqlite = "r.db" }`)).toEqual([`aegis.toml: upstream[0].discovery[0]: sqlite = "r.db" needs app (whose rows of the table are this upstream's servers)`]);
    expect(p(`{ dns = "not a name", port = 1 }`)).toEqual([`aegis.toml: upstream[0].discovery[0].dns: "not a name" is not a DNS name`]);
    expect(p(`{ dns = "a.test", port = 0 }`)[0]).toContain("upstream[0].discovery[0].port");
    expect(p(`{ srv = "a.test", interval = "10ms" }`)[0]).toContain("upstream[0].discovery[0].interval");
    expect(p(`{ srv = "a.test", hold = "soon" }`)[0]).toContain("upstream[0].discovery[0].hold");
    expect(p(`{ srv = "a.test", ttl = "1s" }`)[0]).toContain(`upstream[0].discovery[0]: unknown key "ttl"`);
    expect(problemsOf(upstream(`discovery = []`))[0]).toContain("upstream[0].discovery");
    expect(problemsOf(upstream(`servers = []`))).toEqual([`aegis.toml: upstream[0].servers: needs at least one server (or discovery, to find them)`]);
  });
});

describe("on_down, resolvers and state_file", () => {
  test("defaults: keep, the system's resolvers, no state file", () => {
    const c = parsed(`servers = ["h:1"]`);
    expect(c.upstreams[0]!.onDown).toBeFalsy();
    expect(c.global.resolvers).toEqual([]);
    expect(c.global.stateFile).toBeNull();
  });

  test("given: close_sessions, resolvers with port 53 by default, the state file relative to the config", () => {
    const c = parsed(`servers = ["h:1"]\non_down = "close_sessions"`, `resolvers = ["127.0.0.1:8600", "10.0.0.2", "::1"]\nstate_file = "state.json"`);
    expect(c.upstreams[0]!.onDown).toBe("close_sessions");
    expect(c.global.resolvers).toEqual([{ host: "127.0.0.1", port: 8600 }, { host: "10.0.0.2", port: 53 }, { host: "::1", port: 53 }]);
    expect(c.global.stateFile).toBe("/etc/aegis/state.json");
  });

  test("bad values are named", () => {
    expect(problemsOf(upstream(`servers = ["h:1"]\non_down = "close"`))[0]).toMatch(/upstream\[0\]\.on_down: "close" is not a valid value/);
    expect(problemsOf(upstream(`servers = ["h:1"]`, `resolvers = []`))[0]).toContain("global.resolvers");
    expect(problemsOf(upstream(`servers = ["h:1"]`, `resolvers = ["no port:x"]`))[0]).toContain("global.resolvers[0]");
    expect(problemsOf(upstream(`servers = ["h:1"]`, `state_file = 7`))[0]).toContain("global.state_file");
  });
});
