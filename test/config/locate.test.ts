// Where problems are placed: the TOML scanner that finds a key path's line, and the report in file order.
import { describe, expect, test } from "bun:test";
import { keyPositions, locate } from "../../src/config/locate.ts";
import { placedProblemsOf } from "./helpers.ts";

/** "line:column" of `path` in `text`, or "none". */
function at(text: string, path: string): string {
  const p = locate(keyPositions(text), path);
  return p ? `${p.line}:${p.column}` : "none";
}

describe("keyPositions", () => {
  const text = [
    "# aegis.toml", //                                     1
    "[global]", //                                         2
    "workers = 4 # one per core", //                       3
    'regions."eu west" = ["10.0.0.0/8"]', //               4
    "", //                                                 5
    "[[listener]]", //                                     6
    'bind = ":1"', //                                      7
    "[[listener.route]]", //                               8
    "sni = ['a.example']", //                              9
    "upstream = 'a'", //                                   10
    "[[listener.route]]", //                               11
    'upstream = "b"', //                                   12
    "[[listener]]", //                                     13
    '  name = """two', //                                  14
    'lines"""', //                                         15
    "  bind = ':2'", //                                    16
    "[listener.tls]", //                                   17
    'cert = "c.pem"', //                                   18
    "[[upstream]]", //                                     19
    'name = "redis"', //                                   20
    "servers = [", //                                      21
    '  "10.0.0.1:6379", # the primary', //                 22
    '  { address = "10.0.0.2:6379",', //                   23
    "    weight = 2 },", //                                24
    "  '''10.0.0.3:6379''',", //                           25
    "]", //                                                26
    'health.send = "PING\\r\\n"', //                       27
    "health.expect = '+PONG'", //                          28
    "[upstream.tls]", //                                   29
    "verify = false", //                                   30
    "[[upstream]]", //                                     31
    'name = "pg"', //                                      32
    'health = { interval = "2s", timeout = "1s" }', //     33
    "when = 1979-05-27 07:32:00Z", //                      34
    "after = 1", //                                        35
  ].join("\n");

  test.each([
    ["global", "2:1"],
    ["global.workers", "3:1"],
    ["global.regions", "4:1"],
    ["global.regions.eu west", "4:1"],
    ["global.regions.eu west[0]", "4:22"],
    ["listener[0]", "6:1"],
    ["listener[0].bind", "7:1"],
    ["listener[0].route[0]", "8:1"],
    ["listener[0].route[0].sni[0]", "9:8"],
    ["listener[0].route[0].upstream", "10:1"],
    ["listener[0].route[1].upstream", "12:1"],
    ["listener[1]", "13:1"],
    ["listener[1].name", "14:3"],
    // The line after a string of two lines is counted right.
    ["listener[1].bind", "16:3"],
    // [listener.tls] belongs to the last [[listener]].
    ["listener[1].tls.cert", "18:1"],
    ["upstream[0].servers", "21:1"],
    ["upstream[0].servers[0]", "22:3"],
    ["upstream[0].servers[1]", "23:3"],
    ["upstream[0].servers[1].address", "23:5"],
    ["upstream[0].servers[1].weight", "24:5"],
    ["upstream[0].servers[2]", "25:3"],
    ["upstream[0].health", "27:1"],
    ["upstream[0].health.expect", "28:1"],
    ["upstream[0].tls.verify", "30:1"],
    ["upstream[1].name", "32:1"],
    ["upstream[1].health.timeout", "33:29"],
    ["upstream[1].when", "34:1"],
    ["upstream[1].after", "35:1"],
  ])("%s is at %s", (path, place) => {
    expect(at(text, path)).toBe(place);
  });

  test("a key not written falls back to the nearest enclosing one, then to nothing", () => {
    expect(at(text, "upstream[0].servers[1].backup")).toBe("23:3");
    expect(at(text, "upstream[1].health.rise")).toBe("33:1");
    expect(at(text, "upstream[1].balance")).toBe("31:1");
    expect(at(text, "listener[1].route[0]")).toBe("13:1");
    expect(at(text, "metrics.listen")).toBe("none");
  });

  test("a multi-line string that ends in quotes, a literal string, and escapes do not throw off the count", () => {
    const t = `a = """x""""\nb = '''y\n'''\nc = "q\\"#"\nd = 'e\\'\n[t]\ne = 1`;
    expect(at(t, "b")).toBe("2:1");
    expect(at(t, "c")).toBe("4:1");
    expect(at(t, "d")).toBe("5:1");
    expect(at(t, "t.e")).toBe("7:1");
  });
});

describe("problems in the report", () => {
  const config = [
    "[global]", //                                         1
    'workers = "four"', //                                 2
    "[[listener]]", //                                     3
    'bind = "127.0.0.1:8081"', //                          4
    'upstream = "redis"', //                               5
    'idle_timout = "5m"', //                               6
    "[[upstream]]", //                                     7
    'name = "redis"', //                                   8
    "servers = [", //                                      9
    '  "10.0.0.1:6379:1",', //                             10
    '  { address = "10.0.0.2:6379", weight = 0 },', //     11
    "]", //                                                12
    "[upstream.health]", //                                13
    'interval = "soon"', //                                14
    'send = "PING\\r\\n"', //                              15
    'send_hex = "50494e470d0a"', //                        16
    "[[upstream]]", //                                     17
    'balance = "leastconn"', //                            18
  ].join("\n");

  test("every one at once, at its line and column, in the order of the file", () => {
    expect(placedProblemsOf(config)).toEqual([
      `aegis.toml:2:1: global.workers: expected an integer, got "four"`,
      `aegis.toml:6:1: listener[0]: unknown key "idle_timout" (did you mean "idle_timeout"?)`,
      `aegis.toml:10:3: upstream[0].servers[0]: "10.0.0.1:6379:1" has ":1" after its port (a server is host:port; to give it a weight, write { address = "10.0.0.1:6379", weight = 1 })`,
      `aegis.toml:11:32: upstream[0].servers[1].weight: 0 is out of range (1..1000)`,
      // The conflict is reported although interval is wrong too.
      `aegis.toml:13:1: upstream[0].health: give send or send_hex, not both`,
      `aegis.toml:14:1: upstream[0].health.interval: "soon" is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`,
      // A missing key is placed at the header of its table.
      `aegis.toml:17:1: upstream[1]: missing required key "name"`,
      `aegis.toml:17:1: upstream[1]: missing required key "servers" (or discovery, to find them)`,
      `aegis.toml:18:1: upstream[1].balance: "leastconn" is not a valid value (did you mean "least_conn"?)`,
    ]);
  });

  test("problems about the whole file have no line and come first", () => {
    expect(placedProblemsOf(`[global]\nworkers = "x"\n[[upstream]]\nname = "a"\nservers = ["h:1"]\n`)).toEqual([
      "aegis.toml: no [[listener]] defined: nothing to do (add one with bind and upstream)",
      `aegis.toml:2:1: global.workers: expected an integer, got "x"`,
    ]);
  });

  test("an unknown table and a key above the first header are placed at their own lines", () => {
    const text = `\nworkers = 4\n[[listener]]\nbind = ":1"\nupstream = "a"\n[[upstream]]\nname = "a"\nservers = ["h:1"]\n[metric]\n`;
    expect(placedProblemsOf(text)).toEqual([
      `aegis.toml:2:1: unknown top-level key "workers" (it belongs in [global])`,
      `aegis.toml:9:1: unknown table [metric] (did you mean [metrics]?)`,
    ]);
  });

  test("a listener's certificate file and an upstream's discovery and tls are checked beside a bad key of the same item", () => {
    const text = [
      "[[listener]]", //                                   1
      'bind = "127.0.0.1:0"', //                           2
      'upstream = "app"', //                               3
      'tls = { cert = "/nonexistent/aegis-test.pem" }', // 4
      'idle_timeout = "x"', //                             5
      "[[upstream]]", //                                   6
      'name = "app"', //                                   7
      'balance = "nope"', //                               8
      'discovery = [{ dns = "x.test" }]', //               9
      'tls = { key = "k.pem" }', //                        10
    ].join("\n");
    expect(placedProblemsOf(text)).toEqual([
      `aegis.toml:4:9: listener[0].tls.cert: cannot read "/nonexistent/aegis-test.pem": no such file`,
      `aegis.toml:5:1: listener[0].idle_timeout: "x" is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`,
      `aegis.toml:8:1: upstream[0].balance: "nope" is not a valid value (expected one of "round_robin", "least_conn", "random", "p2c", "p2c_ewma", "source", "consistent", "first")`,
      `aegis.toml:9:14: upstream[0].discovery[0]: dns = "x.test" needs a port (the servers' port)`,
      "aegis.toml:10:9: upstream[0].tls.key: needs cert, the client certificate it belongs to",
    ]);
  });

  test("a GeoIP file is opened although another [global] key is wrong", () => {
    const text = `[global]\nworkers = "x"\ngeoip = "/nonexistent/geo.mmdb"\n[[listener]]\nbind = ":1"\nupstream = "a"\n[[upstream]]\nname = "a"\nservers = ["h:1"]\n`;
    expect(placedProblemsOf(text)).toEqual([
      `aegis.toml:2:1: global.workers: expected an integer, got "x"`,
      "aegis.toml:3:1: global.geoip: GeoIP database /nonexistent/geo.mmdb: does not exist",
    ]);
  });

  test("checks across servers run although another server is mis-written", () => {
    const text = `[[listener]]\nbind = ":1"\nupstream = "a"\n[[upstream]]\nname = "a"\nservers = ["h:0", "h:2", { address = "h:2" }, { address = "h:3", name = "h:2", max_connections = 5, soft_limit = 5 }]\n`;
    expect(placedProblemsOf(text)).toEqual([
      `aegis.toml:6:12: upstream[0].servers[0]: "h:0" is not a valid port for a server (0 is only for binds)`,
      `aegis.toml:6:26: upstream[0].servers[2]: "h:2" is listed twice (also servers[1])`,
      `aegis.toml:6:66: upstream[0].servers[3].name: duplicate name "h:2" (also servers[1])`,
      `aegis.toml:6:101: upstream[0].servers[3].soft_limit: 5 is not below max_connections (5), so it would never apply`,
    ]);
  });
});
