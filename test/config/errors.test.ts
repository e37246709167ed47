import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { configError, problemsOf, placedProblemsOf, MINIMAL } from "./helpers.ts";

/** MINIMAL with extra lines under its [[listener]] and [[upstream]] (and before both). */
function withKeys(o: { top?: string; listener?: string; upstream?: string }): string {
  return `${o.top ?? ""}
[[listener]]
bind = "127.0.0.1:8081"
upstream = "redis"
${o.listener ?? ""}
[[upstream]]
name = "redis"
${o.upstream ?? `servers = ["127.0.0.1:6379"]`}
`;
}

describe("TOML syntax errors", () => {
  test("name the file, line and column, then show smol-toml's excerpt", () => {
    const e = configError(() => parseConfig(`[global]\nworkers = 4\nlog_level = \n`, "aegis.toml"));
    expect(e.problems).toEqual(["aegis.toml:3:13: invalid value"]);
    expect(e.message).toBe([
      "aegis.toml:3:13: invalid value",
      "2:  workers = 4",
      "3:  log_level = ",
      "                ^",
    ].join("\n"));
  });

  test("a key defined twice", () => {
    expect(placedProblemsOf(`[global]\nworkers = 1\nworkers = 2\n`)).toEqual([
      "aegis.toml:3:1: trying to redefine an already defined table or value",
    ]);
  });

  test("an unterminated table header", () => {
    expect(placedProblemsOf(`${MINIMAL}\n[global\n`)).toEqual(["aegis.toml:10:8: illegal character in key"]);
  });
});

describe("the whole file", () => {
  test("empty, or only comments", () => {
    const empty = ["aegis.toml: the file is empty: it needs at least one [[listener]] and one [[upstream]]"];
    expect(problemsOf("")).toEqual(empty);
    expect(problemsOf("# nothing yet\n\n")).toEqual(empty);
  });

  test("no [[listener]] means nothing to do", () => {
    expect(problemsOf(`[global]\nworkers = 2\n[[upstream]]\nname = "a"\nservers = ["h:1"]\n`)).toEqual([
      "aegis.toml: no [[listener]] defined: nothing to do (add one with bind and upstream)",
    ]);
  });

  test("unknown tables get a did-you-mean in the form they should be written", () => {
    expect(problemsOf(`${MINIMAL}\n[metric]\nlisten = ":9000"\n[[listeners]]\nbind = ":1"\n[frobnicate]\n`)).toEqual([
      "aegis.toml: unknown table [metric] (did you mean [metrics]?)",
      "aegis.toml: unknown table [[listeners]] (did you mean [[listener]]?)",
      "aegis.toml: unknown table [frobnicate]",
    ]);
  });

  test("a key above the first header is pointed to its section", () => {
    expect(problemsOf(withKeys({ top: "workers = 4\nbalance = 'round_robin'\nglobl = 1" }))).toEqual([
      `aegis.toml: unknown top-level key "workers" (it belongs in [global])`,
      `aegis.toml: unknown top-level key "balance" (it belongs in [[upstream]])`,
      `aegis.toml: unknown top-level key "globl" (did you mean "global"?)`,
    ]);
  });

  test("a section written as the wrong kind of table", () => {
    expect(problemsOf(`[[global]]\nworkers = 1\n[listener]\nbind = ":1"\n`)).toEqual([
      "aegis.toml: global: write [global] once, not [[global]]",
      "aegis.toml: listener: write [[listener]] (one per listener), not [listener]",
    ]);
    // The listener naming "redis" is not blamed for the mis-written upstream.
    expect(problemsOf(MINIMAL.replace("[[upstream]]", "[upstream]"))).toEqual([
      "aegis.toml: upstream: write [[upstream]] (one per upstream), not [upstream]",
    ]);
    expect(problemsOf(withKeys({ top: "metrics = false" }))).toEqual([
      "aegis.toml: metrics: expected a table ([metrics]), got false",
    ]);
  });
});

describe("keys and values", () => {
  test("an unknown key gets a did-you-mean, or the section it belongs in", () => {
    expect(problemsOf(withKeys({ listener: `idle_timout = "5m"\nretries = 3` }))).toEqual([
      `aegis.toml: listener[0]: unknown key "idle_timout" (did you mean "idle_timeout"?)`,
      `aegis.toml: listener[0]: unknown key "retries" (it belongs in [[upstream]])`,
    ]);
  });

  test("missing required keys", () => {
    expect(problemsOf(`[[listener]]\nname = "x"\n[[upstream]]\nbalance = "round_robin"\n`)).toEqual([
      `aegis.toml: listener[0]: missing required key "bind"`,
      `aegis.toml: listener[0]: missing required key "upstream"`,
      `aegis.toml: upstream[0]: missing required key "name"`,
      `aegis.toml: upstream[0]: missing required key "servers" (or discovery, to find them)`,
    ]);
  });

  test.each([
    ["workers = \"four\"", `global.workers: expected an integer, got "four"`],
    ["workers = \"4\"", `global.workers: expected an integer, got "4" (remove the quotes)`],
    ["workers = 2.5", `global.workers: expected an integer, got 2.5`],
    ["workers = 1025", `global.workers: 1025 is out of range (0..1024)`],
    ["workers = -1", `global.workers: -1 is out of range (0..1024)`],
    ["workers = 99999999999999999999", `global.workers: 99999999999999999999 is out of range (0..1024)`],
    ["workers = -9007199254740993", `global.workers: -9007199254740993 is out of range (0..1024)`],
    ["max_connections = 0", `global.max_connections: 0 is out of range (1..10000000)`],
    ["workers = [1]", `global.workers: expected an integer, got an array`],
    ["workers = { n = 1 }", `global.workers: expected an integer, got a table`],
    ["workers = 1979-05-27", `global.workers: expected an integer, got a date`],
    ["shutdown_grace = 30", `global.shutdown_grace: 30 has no unit (write it as a string with a unit, e.g. "30s" or "30ms")`],
    ["shutdown_grace = true", `global.shutdown_grace: expected a duration such as "30s", got true`],
    ["shutdown_grace = \"-1s\"", `global.shutdown_grace: "-1s" must not be negative`],
    ["log_level = \"warning\"", `global.log_level: "warning" is not a valid value (expected one of "error", "warn", "info", "debug")`],
    ["log_level = \"debg\"", `global.log_level: "debg" is not a valid value (did you mean "debug"?)`],
    ["log_level = 3", `global.log_level: expected a string, got 3`],
    ["access_log = \"true\"", `global.access_log: expected true or false, got "true" (remove the quotes)`],
    ["access_log = 1", `global.access_log: expected true or false, got 1`],
  ])("[global] %s", (line, problem) => {
    expect(problemsOf(`[global]\n${line}\n${MINIMAL}`)).toEqual([`aegis.toml: ${problem}`]);
  });

  test.each([
    ["listen = \"127.0.0.1\"", `metrics.listen: "127.0.0.1" is missing a port (expected host:port, e.g. "127.0.0.1:8081")`],
    ["listen = 9090", `metrics.listen: expected an address string such as ":9090", got 9090`],
    ["enabled = \"no\"", `metrics.enabled: expected true or false, got "no"`],
  ])("[metrics] %s", (line, problem) => {
    expect(problemsOf(`[metrics]\n${line}\n${MINIMAL}`)).toEqual([`aegis.toml: ${problem}`]);
  });

  test.each([
    [`name = "my listener"`, `listener[0].name: "my listener" is not a valid name (1-64 letters, digits, "_", "-" or ".", starting with a letter or digit)`],
    [`idle_timeout = "10"`, `listener[0].idle_timeout: "10" has no unit (write e.g. "10s" or "10ms")`],
  ])("[[listener]] %s", (line, problem) => {
    expect(problemsOf(withKeys({ listener: line }))).toEqual([`aegis.toml: ${problem}`]);
  });

  test.each([
    [`balance = "roundrobin"`, `upstream[0].balance: "roundrobin" is not a valid value (did you mean "round_robin"?)`],
    [`balance = "leastconn"`, `upstream[0].balance: "leastconn" is not a valid value (did you mean "least_conn"?)`],
    [`balance = "maglev"`, `upstream[0].balance: "maglev" is not a valid value (expected one of "round_robin", "least_conn", "random", "p2c", "p2c_ewma", "source", "consistent", "first")`],
    [`connect_timeout = "0s"`, `upstream[0].connect_timeout: "0s" is too short (at least 1ms)`],
    [`retries = 101`, `upstream[0].retries: 101 is out of range (0..100)`],
    [`pool = 1001`, `upstream[0].pool: 1001 is out of range (0..1000)`],
    [`pool_max_idle = 0`, `upstream[0].pool_max_idle: 0 is too short (at least 1ms)`],
  ])("[[upstream]] %s", (line, problem) => {
    expect(problemsOf(withKeys({ upstream: `servers = ["127.0.0.1:6379"]\n${line}` }))).toEqual([`aegis.toml: ${problem}`]);
  });

  test.each([
    [`servers = ["127.0.0.1:6379", "127.0.0.1:99999"]`, `upstream[0].servers[1]: "127.0.0.1:99999" is not a valid port`],
    [`servers = [{ address = "127.0.0.1:99999" }]`, `upstream[0].servers[0].address: "127.0.0.1:99999" is not a valid port`],
    [`servers = ["[::1]:6379", "::1:6379"]`, `upstream[0].servers[1]: "::1:6379" looks like an IPv6 address without brackets (write "[::1]:6379")`],
    [`servers = ["h:1", { address = "h:2", weight = 0 }]`, `upstream[0].servers[1].weight: 0 is out of range (1..1000)`],
    [`servers = [{ address = "h:2", wieght = 2 }]`, `upstream[0].servers[0]: unknown key "wieght" (did you mean "weight"?)`],
    [`servers = [{ weight = 2 }]`, `upstream[0].servers[0]: missing required key "address"`],
    [`servers = [{ address = "h:1", backup = "yes" }]`, `upstream[0].servers[0].backup: expected true or false, got "yes"`],
    [`servers = [{ address = "h:1", bakup = true }]`, `upstream[0].servers[0]: unknown key "bakup" (did you mean "backup"?)`],
    [`servers = [6379]`, `upstream[0].servers[0]: expected a string or a table with "address", got 6379`],
    [`servers = "127.0.0.1:6379"`, `upstream[0].servers: expected an array of servers, got "127.0.0.1:6379"`],
    [`servers = []`, `upstream[0].servers: needs at least one server (or discovery, to find them)`],
    [`servers = ["h:1", "h:2", { address = "h:1", weight = 3 }]`, `upstream[0].servers[2]: "h:1" is listed twice (also servers[0])`],
    [`servers = ["[::1]:80", "[0:0:0:0:0:0:0:1]:80"]`, `upstream[0].servers[1]: "[0:0:0:0:0:0:0:1]:80" is listed twice (also servers[0])`],
  ])("servers: %s", (line, problem) => {
    expect(problemsOf(withKeys({ upstream: line }))).toEqual([`aegis.toml: ${problem}`]);
  });
});

describe("checks across items", () => {
  test("a listener naming an unknown upstream, with did-you-mean", () => {
    expect(problemsOf(MINIMAL.replace(`upstream = "redis"`, `upstream = "rediss"`))).toEqual([
      `aegis.toml: listener[0].upstream: no [[upstream]] named "rediss" (did you mean "redis"?)`,
    ]);
    expect(problemsOf(MINIMAL.replace(`upstream = "redis"`, `upstream = "postgres"`))).toEqual([
      `aegis.toml: listener[0].upstream: no [[upstream]] named "postgres"`,
    ]);
  });

  test("duplicate listener names, upstream names and bind addresses", () => {
    expect(problemsOf(`${MINIMAL}
      [[listener]]
      name = "redis"
      bind = "127.0.0.1:8090"
      upstream = "redis"
      [[listener]]
      name = "redis"
      bind = "0.0.0.0:8091"
      upstream = "redis"
      [[listener]]
      bind = ":8091"
      upstream = "redis"
      [[upstream]]
      name = "redis"
      servers = ["127.0.0.1:6380"]
    `)).toEqual([
      `aegis.toml: listener[2].name: duplicate name "redis" (also listener[1])`,
      `aegis.toml: listener[3].bind: "0.0.0.0:8091" is already bound by listener[2]`,
      `aegis.toml: upstream[1].name: duplicate name "redis" (also upstream[0])`,
    ]);
  });

  test("the metrics endpoint cannot share a listener's address", () => {
    expect(problemsOf(`[metrics]\nlisten = "127.0.0.1:8081"\n${MINIMAL}`)).toEqual([
      `aegis.toml: metrics.listen: "127.0.0.1:8081" is already bound by listener[0]`,
    ]);
    // Turned off, it binds nothing and so clashes with nothing.
    expect(parseConfig(`[metrics]\nenabled = false\nlisten = "127.0.0.1:8081"\n${MINIMAL}`, "a").metrics.listen).toBeNull();
  });
});

test("every problem in the file is reported in one pass, in file order", () => {
  const e = configError(() => parseConfig(`
workers = 4
[global]
workers = "four"
log_level = "verbose"
[metric]
listen = ":9000"
[[listener]]
bind = "127.0.0.1:8081"
upstream = "rediss"
idle_timout = "10m"
[[listener]]
name = "bad name"
bind = "127.0.0.1:8081"
upstream = "redis"
[[upstream]]
name = "redis"
pool = 99999999999999999999
servers = ["127.0.0.1:99999", "127.0.0.1:6379", "127.0.0.1:6379"]
[[upstream]]
name = "redis"
servers = []
`, "aegis.toml"));
  // In the order of the file, each at its key (an unknown key at its own line, a missing one at its
  // table's header), and the checks across items (the duplicate server) with the rest.
  const expected = [
    `aegis.toml:2:1: unknown top-level key "workers" (it belongs in [global])`,
    `aegis.toml:4:1: global.workers: expected an integer, got "four"`,
    `aegis.toml:5:1: global.log_level: "verbose" is not a valid value (expected one of "error", "warn", "info", "debug")`,
    `aegis.toml:6:1: unknown table [metric] (did you mean [metrics]?)`,
    `aegis.toml:10:1: listener[0].upstream: no [[upstream]] named "rediss" (did you mean "redis"?)`,
    `aegis.toml:11:1: listener[0]: unknown key "idle_timout" (did you mean "idle_timeout"?)`,
    `aegis.toml:13:1: listener[1].name: "bad name" is not a valid name (1-64 letters, digits, "_", "-" or ".", starting with a letter or digit)`,
    `aegis.toml:14:1: listener[1].bind: "127.0.0.1:8081" is already bound by listener[0]`,
    `aegis.toml:18:1: upstream[0].pool: 99999999999999999999 is out of range (0..1000)`,
    `aegis.toml:19:12: upstream[0].servers[0]: "127.0.0.1:99999" is not a valid port`,
    `aegis.toml:19:49: upstream[0].servers[2]: "127.0.0.1:6379" is listed twice (also servers[1])`,
    `aegis.toml:21:1: upstream[1].name: duplicate name "redis" (also upstream[0])`,
    `aegis.toml:22:1: upstream[1].servers: needs at least one server (or discovery, to find them)`,
  ];
  expect(e.problems).toEqual(expected);
  expect(e.message).toBe(expected.join("\n"));
});
