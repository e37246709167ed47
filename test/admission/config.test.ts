// The admission keys in aegis.toml: what they read as, and how mistakes are reported (with key paths).
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { parseRate } from "../../src/config/rate.ts";
import { summarizeConfig } from "../../src/config/summary.ts";
import { problemsOf as withFile } from "../config/helpers.ts";

/** Problems without the "aegis.toml: " every one starts with. */
const problemsOf = (text: string) => withFile(text).map((p) => p.replace(/^aegis\.toml: /, ""));

const config = (listener: string, upstream = "", servers = `["127.0.0.1:6379"]`) => `
[[listener]]
bind = "127.0.0.1:8081"
upstream = "redis"
${listener}

[[upstream]]
name = "redis"
servers = ${servers}
${upstream}
`;

describe("listener keys", () => {
  test("absent: the listener has no admission settings at all (nothing to check at accept)", () => {
    expect(parseConfig(config(""), "a").listeners[0]!.admission).toBeUndefined();
  });

  test("allow and deny are read into canonical CIDRs; rate and cap as numbers", () => {
    const c = parseConfig(config(`allow = ["10.0.0.0/8", "::1", "192.168.1.7"]
deny = ["10.1.0.0/16", "2001:DB8::/32"]
max_connections_per_ip = 20
connection_rate_per_ip = "50/10s"`), "a");
    expect(c.listeners[0]!.admission).toEqual({
      allow: ["10.0.0.0/8", "::1/128", "192.168.1.7/32"],
      deny: ["10.1.0.0/16", "2001:db8::/32"],
      maxConnectionsPerIp: 20,
      connectionRatePerIp: { count: 50, periodMs: 10_000 },
    });
  });

  test("each bad entry is named by its index, with what is wrong", () => {
    expect(problemsOf(config(`allow = ["10.0.0.1/8", "localhost", 7]\ndeny = "10.0.0.0/8"`))).toEqual([
      `listener[0].allow[0]: "10.0.0.1/8" has host bits set (did you mean "10.0.0.0/8"?)`,
      `listener[0].allow[1]: "localhost" is not an IP address or CIDR (expected e.g. "10.0.0.0/8", "192.168.1.7" or "2001:db8::/32")`,
      "listener[0].allow[2]: expected an address or CIDR string, got 7",
      `listener[0].deny: expected an array of addresses or CIDRs such as ["10.0.0.0/8", "::1"], got "10.0.0.0/8"`,
    ]);
    expect(problemsOf(config(`deny = ["::1/200"]`))).toEqual([`listener[0].deny[0]: "::1/200" has an invalid prefix length (0 to 128 for IPv6)`]);
  });

  test("rates: count/duration, or count/unit", () => {
    expect(parseRate("50/10s", "k")).toEqual({ count: 50, periodMs: 10_000 });
    expect(parseRate("100/m", "k")).toEqual({ count: 100, periodMs: 60_000 });
    expect(parseRate("3/1m30s", "k")).toEqual({ count: 3, periodMs: 90_000 });
    expect(problemsOf(config(`connection_rate_per_ip = "50"`))).toEqual([
      `listener[0].connection_rate_per_ip: "50" is not a rate (expected <count>/<duration>, e.g. "50/10s" or "100/m")`,
    ]);
    expect(problemsOf(config(`connection_rate_per_ip = "0/10s"`))).toEqual([
      `listener[0].connection_rate_per_ip: "0/10s" needs a whole count from 1 to 1000000 before the "/"`,
    ]);
    expect(problemsOf(config(`connection_rate_per_ip = "5/10"`))[0]).toContain("has no unit");
    expect(problemsOf(config(`connection_rate_per_ip = "5/0s"`))).toEqual([
      `listener[0].connection_rate_per_ip: "5/0s" needs a period of at least 1ms after the "/"`,
    ]);
    expect(problemsOf(config(`connection_rate_per_ip = 50`))[0]).toBe(`listener[0].connection_rate_per_ip: expected a rate such as "50/10s", got 50`);
    expect(problemsOf(config(`max_connections_per_ip = -1`))[0]).toBe("listener[0].max_connections_per_ip: -1 is out of range (0..10000000)");
  });
});

describe("server and upstream keys", () => {
  test("limits on servers written as tables; the queue is read only when a server can be full", () => {
    const limited = parseConfig(config("", `queue = 20\nqueue_timeout = "2s"`,
      `[{ address = "127.0.0.1:6379", weight = 2, max_connections = 100, soft_limit = 80 }, "127.0.0.1:6380"]`), "a").upstreams[0]!;
    expect(limited.servers.map((s) => [s.maxConnections, s.softLimit])).toEqual([[100, 80], [undefined, undefined]]);
    expect(limited.queue).toEqual({ size: 20, timeoutMs: 2000 });
    const defaults = parseConfig(config("", "", `[{ address = "127.0.0.1:6379", max_connections = 5 }]`), "a").upstreams[0]!;
    expect(defaults.queue).toEqual({ size: 100, timeoutMs: 5000 });
    const soft = parseConfig(config("", "", `[{ address = "127.0.0.1:6379", soft_limit = 5 }]`), "a").upstreams[0]!;
    expect(soft.servers[0]!.softLimit).toBe(5);
    expect(soft.queue).toBeUndefined();
  });

  test("a soft limit at or above the hard one is a mistake", () => {
    expect(problemsOf(config("", "", `[{ address = "127.0.0.1:6379", max_connections = 10, soft_limit = 10 }]`))).toEqual([
      "upstream[0].servers[0].soft_limit: 10 is not below max_connections (10), so it would never apply",
    ]);
  });

  test("unknown or misplaced keys get the usual hints", () => {
    expect(problemsOf(config("", "", `[{ address = "127.0.0.1:6379", max_conections = 10 }]`))[0]).toContain(`unknown key "max_conections" (did you mean "max_connections"?)`);
    expect(problemsOf(config(`queue = 5`))[0]).toBe(`listener[0]: unknown key "queue" (it belongs in [[upstream]])`);
  });
});

test("`aegis check` shows the admission settings where they are set", () => {
  const c = parseConfig(config(`allow = ["10.0.0.0/8", "::1"]\nmax_connections_per_ip = 20\nconnection_rate_per_ip = "50/10s"`, `queue = 10`,
    `[{ address = "127.0.0.1:6379", max_connections = 100, soft_limit = 80 }, "127.0.0.1:6380"]`), "/etc/aegis/aegis.toml");
  const text = summarizeConfig(c);
  expect(text).toContain("-> redis  idle timeout 10m  allow 2, 20 per IP, 50/10s per IP");
  expect(text).toContain("retries 2, pool off, queue 10 (timeout 5s)");
  expect(text).toContain("127.0.0.1:6379  weight 1  max 100, soft 80\n    127.0.0.1:6380  weight 1");
});
