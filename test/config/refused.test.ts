// Values that look close enough to valid that they used to be accepted, and now are refused with
// a message naming the key: floats for integers, a doubled BOM, spaces in rates, repeated or
// out-of-order duration units, leading zeros in ports and prefix lengths, and a metrics address
// that overlaps a listener's (found before, only at start).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile, parseConfig } from "../../src/config/load.ts";
import { bindClash, parseAddress } from "../../src/config/address.ts";
import { parseDuration } from "../../src/config/duration.ts";
import { configError, MINIMAL, problemsOf, placedProblemsOf } from "./helpers.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "aegis-refused-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** MINIMAL with `line` under its [[listener]]. */
const inListener = (line: string) => MINIMAL.replace(`upstream = "redis"`, `upstream = "redis"\n${line}`);

describe("floats for integer keys", () => {
  test.each([
    ["workers = 2.0", `[global]\nworkers = 2.0\n${MINIMAL}`, `global.workers: expected an integer, got the float 2.0 (write 2)`],
    ["workers = -0.0", `[global]\nworkers = -0.0\n${MINIMAL}`, `global.workers: expected an integer, got the float -0.0 (write 0)`],
    ["max_connections = 1e3", `[global]\nmax_connections = 1e3\n${MINIMAL}`, `global.max_connections: expected an integer, got the float 1000.0 (write 1000)`],
    ["max_connections_per_ip = 10.0", inListener(`max_connections_per_ip = 10.0`), `listener[0].max_connections_per_ip: expected an integer, got the float 10.0 (write 10)`],
    ["weight = 3.0", MINIMAL.replace(`servers = ["127.0.0.1:6379"]`, `servers = [{ address = "127.0.0.1:6379", weight = 3.0 }]`),
      `upstream[0].servers[0].weight: expected an integer, got the float 3.0 (write 3)`],
  ])("%s", (_line, toml, problem) => {
    expect(problemsOf(toml)).toEqual([`aegis.toml: ${problem}`]);
  });

  test("integers, in every TOML spelling, still read as numbers", () => {
    const c = parseConfig(`[global]\nworkers = 0x10\nmax_connections = 1_000\n${inListener("max_connections_per_ip = +7")}`, "aegis.toml");
    expect(c.global.workers).toBe(16);
    expect(c.global.maxConnections).toBe(1000);
    expect(c.listeners[0]!.admission!.maxConnectionsPerIp).toBe(7);
    expect(c.upstreams[0]!.retries).toBe(2); // a default
  });

  test("a float where an address or a boolean goes is shown as a float", () => {
    expect(problemsOf(`[metrics]\nlisten = 9090.0\n${MINIMAL}`)).toEqual([
      `aegis.toml: metrics.listen: expected an address string such as "127.0.0.1:8081", got 9090.0`,
    ]);
    expect(problemsOf(`[global]\naccess_log = 1.0\n${MINIMAL}`)).toEqual([`aegis.toml: global.access_log: expected true or false, got 1.0`]);
  });
});

describe("byte order marks", () => {
  test("one is accepted, two are an error at line 1", () => {
    expect(parseConfig(`\uFEFF${MINIMAL}`, "aegis.toml").listeners).toHaveLength(1);
    expect(placedProblemsOf(`\uFEFF\uFEFF${MINIMAL}`)).toEqual([
      "aegis.toml:1:2: a second byte order mark (U+FEFF): a file may start with one at most",
    ]);
  });

  test("read from a file, as bytes: one is accepted, two are refused", () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const one = join(dir, "one-bom.toml");
    writeFileSync(one, Buffer.concat([bom, Buffer.from(MINIMAL)]));
    expect(loadConfigFile(one).listeners).toHaveLength(1);
    const two = join(dir, "two-bom.toml");
    writeFileSync(two, Buffer.concat([bom, bom, Buffer.from(MINIMAL)]));
    expect(configError(() => loadConfigFile(two)).problems).toEqual([
      `${two}:1:2: a second byte order mark (U+FEFF): a file may start with one at most`,
    ]);
  });
});

describe("rates", () => {
  test.each([" 50/10s", "50/10s ", "50 /10s", "50/ 10s", "50/\t10s"])("%j has a space", (rate) => {
    expect(problemsOf(inListener(`connection_rate_per_ip = ${JSON.stringify(rate)}`))).toEqual([
      `aegis.toml: listener[0].connection_rate_per_ip: ${JSON.stringify(rate)} must not contain spaces (write e.g. "50/10s")`,
    ]);
  });

  test("written without spaces they are read as before", () => {
    const c = parseConfig(inListener(`connection_rate_per_ip = "50/10s"`), "aegis.toml");
    expect(c.listeners[0]!.admission!.connectionRatePerIp).toEqual({ count: 50, periodMs: 10_000 });
  });
});

describe("durations", () => {
  test.each([
    ["1h1h", `"1h1h" has the unit "h" twice (write each unit once, e.g. "1h30m")`],
    ["1s1s", `"1s1s" has the unit "s" twice (write each unit once, e.g. "1h30m")`],
    ["30s1m", `"30s1m" has "m" after "s" (write the largest unit first, e.g. "1h30m")`],
    ["1ms1s", `"1ms1s" has "s" after "ms" (write the largest unit first, e.g. "1h30m")`],
    ["1m1d", `"1m1d" has "d" after "m" (write the largest unit first, e.g. "1h30m")`],
  ])("%s", (value, problem) => {
    expect(problemsOf(`[global]\nshutdown_grace = "${value}"\n${MINIMAL}`)).toEqual([`aegis.toml: global.shutdown_grace: ${problem}`]);
  });

  test("each unit once, largest first, is read as before", () => {
    expect(parseDuration("1d1h1m1s1ms", "d")).toBe(90_061_001);
    expect(parseDuration("1h30m", "d")).toBe(5_400_000);
    expect(parseDuration("1.5s", "d")).toBe(1500);
  });

  test("in a rate's period too", () => {
    expect(problemsOf(inListener(`connection_rate_per_ip = "5/1s1s"`))).toEqual([
      `aegis.toml: listener[0].connection_rate_per_ip: "1s1s" has the unit "s" twice (write each unit once, e.g. "1h30m")`,
    ]);
  });
});

describe("leading zeros", () => {
  test.each([
    ["127.0.0.1:00080", "80"],
    ["127.0.0.1:08081", "8081"],
    ["127.0.0.1:00", "0"],
    ["[::1]:0443", "443"],
  ])("port %s", (address, port) => {
    expect(problemsOf(MINIMAL.replace("127.0.0.1:8081", address))).toEqual([
      `aegis.toml: listener[0].bind: ${JSON.stringify(address)} has a port with leading zeros (write ${port})`,
    ]);
  });

  test("a server port too, and 0 alone is still port 0", () => {
    expect(problemsOf(MINIMAL.replace("127.0.0.1:6379", "127.0.0.1:06379"))).toEqual([
      `aegis.toml: upstream[0].servers[0]: "127.0.0.1:06379" has a port with leading zeros (write 6379)`,
    ]);
    expect(parseAddress("127.0.0.1:0", "bind").port).toBe(0);
  });

  test.each([
    ["1.2.3.4/032", "32"],
    ["10.0.0.0/08", "8"],
    ["2001:db8::/032", "32"],
    ["0.0.0.0/00", "0"],
  ])("CIDR prefix length %s", (cidr, length) => {
    expect(problemsOf(inListener(`allow = ["10.0.0.0/8", ${JSON.stringify(cidr)}]`))).toEqual([
      `aegis.toml: listener[0].allow[1]: ${JSON.stringify(cidr)} has a prefix length with leading zeros (write "/${length}")`,
    ]);
  });

  test("prefix lengths without leading zeros are read as before", () => {
    expect(parseConfig(inListener(`deny = ["1.2.3.4/32", "0.0.0.0/0", "10.0.0.0/8"]`), "a").listeners[0]!.admission!.deny)
      .toEqual(["1.2.3.4/32", "0.0.0.0/0", "10.0.0.0/8"]);
  });
});

describe("the metrics address against the listeners' binds", () => {
  const config = (metrics: string, bind: string, extra = "") =>
    `[metrics]\nlisten = ${JSON.stringify(metrics)}\n${extra}${MINIMAL.replace("127.0.0.1:8081", bind)}`;

  test.each([
    ["0.0.0.0:8081", "127.0.0.1:8081"],
    ["127.0.0.1:8081", "0.0.0.0:8081"],
    ["[::]:8081", "127.0.0.1:8081"],
    ["127.0.0.1:8081", "[::]:8081"],
    ["[::1]:8081", "[::]:8081"],
    ["localhost:8081", "127.0.0.1:8081"],
    ["[::1]:8081", "localhost:8081"],
    ["[::ffff:127.0.0.1]:8081", "0.0.0.0:8081"],
  ])("metrics %s and a listener on %s overlap", (metrics, bind) => {
    const shown = (a: string) => JSON.stringify(a.replace(/^:/, "0.0.0.0:"));
    expect(problemsOf(config(metrics, bind))).toEqual([
      `aegis.toml: metrics.listen: ${shown(metrics)} overlaps listener[0].bind ${shown(bind)} (one address includes the other: give metrics another port)`,
    ]);
  });

  test("a wildcard written as \":port\" overlaps too; metrics off binds nothing", () => {
    expect(problemsOf(config(":8081", "127.0.0.1:8081"))).toEqual([
      `aegis.toml: metrics.listen: "0.0.0.0:8081" overlaps listener[0].bind "127.0.0.1:8081" (one address includes the other: give metrics another port)`,
    ]);
    expect(parseConfig(`[metrics]\nenabled = false\nlisten = ":8081"\n${MINIMAL}`, "a").metrics.listen).toBeNull();
  });

  test("the default metrics address (127.0.0.1:8082) against a listener on every address", () => {
    expect(problemsOf(MINIMAL.replace("127.0.0.1:8081", ":8082"))).toEqual([
      `aegis.toml: metrics.listen: "127.0.0.1:8082" overlaps listener[0].bind "0.0.0.0:8082" (one address includes the other: give metrics another port)`,
    ]);
  });

  test("with the admin API on, the message says it is served there too", () => {
    expect(problemsOf(config("127.0.0.1:8081", "127.0.0.1:8081", `[admin]\ntoken = "${TOKEN}"\n`))).toEqual([
      `aegis.toml: metrics.listen: "127.0.0.1:8081" is already bound by listener[0] (the admin API is served there too)`,
    ]);
    expect(problemsOf(config(":8081", "127.0.0.1:8081", `[admin]\ntoken = "${TOKEN}"\n`))).toEqual([
      `aegis.toml: metrics.listen: "0.0.0.0:8081" overlaps listener[0].bind "127.0.0.1:8081" (one address includes the other: give metrics another port) (the admin API is served there too)`,
    ]);
  });

  test("different addresses, different ports, port 0 and IPv6 beside IPv4 do not clash", () => {
    const a = (s: string) => parseAddress(s, "");
    expect(bindClash(a("127.0.0.2:8081"), a("127.0.0.1:8081"))).toBeUndefined();
    expect(bindClash(a("0.0.0.0:8081"), a("0.0.0.0:8082"))).toBeUndefined();
    expect(bindClash(a("0.0.0.0:0"), a("127.0.0.1:0"))).toBeUndefined();
    expect(bindClash(a("0.0.0.0:8081"), a("[::1]:8081"))).toBeUndefined();
    expect(bindClash(a("[::1]:8081"), a("127.0.0.1:8081"))).toBeUndefined();
    expect(bindClash(a("[0:0::1]:8081"), a("[::1]:8081"))).toBe("same");
    expect(parseConfig(`[metrics]\nlisten = "127.0.0.2:8081"\n${MINIMAL}`, "a").metrics.listen).toEqual({ host: "127.0.0.2", port: 8081 });
  });
});

describe("the JSON Schema's duration pattern", () => {
  test("agrees with parseDuration on unit order and repeats", async () => {
    const { DURATION_PATTERN } = await import("../../src/config/json-schema.ts");
    const pattern = new RegExp(DURATION_PATTERN);
    const parses = (v: string) => {
      try {
        parseDuration(v, "d");
        return true;
      } catch {
        return false;
      }
    };
    for (const v of ["0", "0.0", "5ms", "1m", "1m5ms", "1h30m", "1d1h1m1s1ms", "1.5s", ".5s", "1h1h", "30s1m", "1ms1s", "1m1d", "", "s", "10"]) {
      expect(pattern.test(v), v).toBe(parses(v));
    }
  });
});
