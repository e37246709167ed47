import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir, availableParallelism } from "node:os";
import { join } from "node:path";
import type { Config } from "../../src/config/types.ts";
import { parseConfig, loadConfigFile } from "../../src/config/load.ts";
import { configError, MINIMAL } from "./helpers.ts";

const EXAMPLE = `
[global]
workers = 0                  # 0 = one per core
max_connections = 10000      # process-wide, >= 1
shutdown_grace = "30s"
log_level = "info"           # error | warn | info | debug
access_log = true            # one JSON line per finished session on stdout

[metrics]
listen = "127.0.0.1:8082"

[[listener]]
name = "redis"
bind = "127.0.0.1:8081"
upstream = "redis"
idle_timeout = "10m"

[[upstream]]
name = "redis"
balance = "round_robin"
connect_timeout = "3s"
retries = 2
pool = 0
pool_max_idle = "5s"
servers = ["127.0.0.1:6379", { address = "127.0.0.1:6380", weight = 2 }]
`;

const EXPECTED: Config = {
  source: "aegis.toml",
  global: { workers: availableParallelism(), maxConnections: 10000, shutdownGraceMs: 30_000, bufferBudget: 256 * 1024 * 1024, logLevel: "info", accessLog: true, watch: false, logFormat: "json", geoip: null, regions: {}, resolvers: [], stateFile: null },
  metrics: { listen: { host: "127.0.0.1", port: 8082 } },
  listeners: [{ name: "redis", bind: { host: "127.0.0.1", port: 8081 }, upstream: "redis", idleTimeoutMs: 600_000, bufferLimit: 256 * 1024 }],
  upstreams: [{
    name: "redis", balance: "round_robin", connectTimeoutMs: 3_000, retries: 2, pool: 0, poolMaxIdleMs: 5_000,
    health: null, failThreshold: 5, ejectForMs: 10_000,
    servers: [
      { name: "127.0.0.1:6379", address: { host: "127.0.0.1", port: 6379 }, weight: 1, backup: false },
      { name: "127.0.0.1:6380", address: { host: "127.0.0.1", port: 6380 }, weight: 2, backup: false },
    ],
  }],
};

describe("parseConfig", () => {
  test("the documented example parses to the expected Config", () => {
    expect(parseConfig(EXAMPLE, "aegis.toml")).toEqual(EXPECTED);
  });

  test("every optional key takes its documented default", () => {
    // The example spells out every default, so the minimal file must give the same result.
    expect(parseConfig(MINIMAL, "aegis.toml")).toEqual({
      ...EXPECTED,
      upstreams: [{ ...EXPECTED.upstreams[0]!, servers: [EXPECTED.upstreams[0]!.servers[0]!] }],
    });
  });

  test("the result is plain data that survives structuredClone (it is posted to Workers)", () => {
    const c = parseConfig(EXAMPLE, "aegis.toml");
    expect(structuredClone(c)).toEqual(c);
    expect(Object.getPrototypeOf(c.global)).toBe(Object.prototype);
  });

  test("explicit workers, metrics off, idle timeout off, IPv6 everywhere", () => {
    const c = parseConfig(`
      [global]
      workers = 3
      [metrics]
      enabled = false
      [[listener]]
      bind = "[::1]:0"
      upstream = "db"
      idle_timeout = "0s"
      [[upstream]]
      name = "db"
      servers = ["[::1]:5432", { address = "[2001:db8::7]:5432", weight = 1000 }]
    `, "<inline>");
    expect(c.global.workers).toBe(3);
    expect(c.metrics.listen).toBeNull();
    expect(c.listeners[0]).toEqual({ name: "db", bind: { host: "::1", port: 0 }, upstream: "db", idleTimeoutMs: 0, bufferLimit: 256 * 1024 });
    expect(c.upstreams[0]!.servers).toEqual([
      { name: "[::1]:5432", address: { host: "::1", port: 5432 }, weight: 1, backup: false },
      { name: "[2001:db8::7]:5432", address: { host: "2001:db8::7", port: 5432 }, weight: 1000, backup: false },
    ]);
  });

  test("backup servers: `backup = true` on a server table, false by default and in the shorthand", () => {
    const c = parseConfig(MINIMAL.replace(
      `servers = ["127.0.0.1:6379"]`,
      `servers = ["127.0.0.1:6379", { address = "127.0.0.1:6380", weight = 2, backup = false }, { address = "127.0.0.1:6381", backup = true }]`,
    ), "a");
    expect(c.upstreams[0]!.servers.map((s) => [s.name, s.weight, s.backup])).toEqual([
      ["127.0.0.1:6379", 1, false],
      ["127.0.0.1:6380", 2, false],
      ["127.0.0.1:6381", 1, true],
    ]);
  });

  test("unnamed listeners take the upstream's name only when that is unambiguous", () => {
    const c = parseConfig(`
      [[listener]]
      bind = ":7001"
      upstream = "a"
      [[listener]]
      bind = ":7002"
      upstream = "b"
      [[listener]]
      bind = ":7003"
      upstream = "b"
      [[listener]]
      name = "c"
      bind = ":7004"
      upstream = "a2"
      [[listener]]
      bind = ":7005"
      upstream = "c"
      [[upstream]]
      name = "a"
      servers = ["h:1"]
      [[upstream]]
      name = "a2"
      servers = ["h:1"]
      [[upstream]]
      name = "b"
      servers = ["h:1"]
      [[upstream]]
      name = "c"
      servers = ["h:1"]
    `, "aegis.toml");
    // "b" has two listeners; "c" is already an explicit listener name.
    expect(c.listeners.map((l) => l.name)).toEqual(["a", "listener-1", "listener-2", "c", "listener-4"]);
  });

  test("several listeners may bind port 0: each gets its own port from the kernel", () => {
    const c = parseConfig(`${MINIMAL}
      [[listener]]
      bind = "127.0.0.1:0"
      upstream = "redis"
      [[listener]]
      bind = "127.0.0.1:0"
      upstream = "redis"
    `, "aegis.toml");
    expect(c.listeners.map((l) => l.name)).toEqual(["listener-0", "listener-1", "listener-2"]);
  });

  test("an unused upstream is fine", () => {
    const c = parseConfig(`${MINIMAL}
      [[upstream]]
      name = "spare"
      servers = ["127.0.0.1:6390"]
    `, "aegis.toml");
    expect(c.upstreams.map((u) => u.name)).toEqual(["redis", "spare"]);
  });

  test("a byte order mark at the start is ignored", () => {
    expect(parseConfig(`\uFEFF${MINIMAL}`, "aegis.toml").listeners).toHaveLength(1);
  });
});

describe("loadConfigFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("reads and validates a file, keeping its path as the source", () => {
    const path = join(dir, "aegis.toml");
    writeFileSync(path, EXAMPLE);
    expect(loadConfigFile(path)).toEqual({ ...EXPECTED, source: path });
  });

  test("problems name the file by the path it was opened with", () => {
    const path = join(dir, "bad.toml");
    writeFileSync(path, MINIMAL.replace("6379", "0"));
    expect(configError(() => loadConfigFile(path)).problems).toEqual([
      `${path}:8:12: upstream[0].servers[0]: "127.0.0.1:0" is not a valid port for a server (0 is only for binds)`,
    ]);
  });

  test("a missing file, a directory and a non-UTF-8 file are ConfigErrors naming the path", () => {
    const missing = join(dir, "nope.toml");
    expect(configError(() => loadConfigFile(missing)).message).toBe(`${missing}: cannot read the config file: no such file`);
    expect(configError(() => loadConfigFile(dir)).message).toBe(`${dir}: cannot read the config file: it is a directory`);
    const latin1 = join(dir, "latin1.toml");
    writeFileSync(latin1, Buffer.from([0x23, 0x20, 0xe9, 0x0a])); // "# é" in Latin-1
    expect(configError(() => loadConfigFile(latin1)).message).toBe(`${latin1}: the file is not valid UTF-8 (TOML files must be)`);
  });

  test.skipIf(process.getuid?.() === 0)("an unreadable file says permission denied", () => {
    const path = join(dir, "secret.toml");
    writeFileSync(path, MINIMAL);
    chmodSync(path, 0o000);
    expect(configError(() => loadConfigFile(path)).message).toBe(`${path}: cannot read the config file: permission denied`);
  });
});
