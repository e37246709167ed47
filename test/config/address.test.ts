import { describe, expect, test } from "bun:test";
import { parseAddress, formatAddress, addressKey } from "../../src/config/address.ts";
import { configError } from "./helpers.ts";

const P = "upstream[0].servers[1]";

describe("parseAddress", () => {
  test.each([
    ["127.0.0.1:8081", "127.0.0.1", 8081],
    ["0.0.0.0:80", "0.0.0.0", 80],
    [":8081", "0.0.0.0", 8081],
    ["localhost:6379", "localhost", 6379],
    ["redis-1.internal.example.com:6379", "redis-1.internal.example.com", 6379],
    ["my_redis:6379", "my_redis", 6379],
    ["[::1]:8081", "::1", 8081],
    ["[::]:443", "::", 443],
    ["[2001:db8::1]:65535", "2001:db8::1", 65535],
    ["[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80],
    ["[fe80::1%eth0]:80", "fe80::1%eth0", 80],
    ["127.0.0.1:0", "127.0.0.1", 0],
  ])("bind %p", (input, host, port) => {
    expect(parseAddress(input, P)).toEqual({ host, port });
  });

  test.each([
    ["127.0.0.1:99999", "is not a valid port"],
    ["127.0.0.1:65536", "is not a valid port"],
    ["127.0.0.1:-1", "is not a valid port"],
    ["127.0.0.1:http", "is not a valid port"],
    ["127.0.0.1:80.5", "is not a valid port"],
    ["127.0.0.1:", "is missing a port"],
    ["127.0.0.1", `is missing a port (expected host:port, e.g. "127.0.0.1:8081")`],
    ["", `is empty (expected host:port, e.g. "127.0.0.1:8081")`],
    ["tcp://127.0.0.1:80", `must not have a scheme (expected host:port, e.g. "127.0.0.1:8081")`],
    ["::1:8081", `looks like an IPv6 address without brackets (write "[::1]:8081")`],
    ["[::1]", `is missing a port (expected e.g. "[::1]:8081")`],
    ["[::1:8081", `is missing the closing "]" of its IPv6 address`],
    ["[::1]8081", `has unexpected text after "]"`],
    ["[zz::1]:80", "is not a valid IPv6 address"],
    ["[127.0.0.1]:80", "is not a valid IPv6 address"],
    ["256.0.0.1:80", "is not a valid IPv4 address"],
    ["127.1:80", "is not a valid IPv4 address"],
    ["010.0.0.1:80", "is not a valid IPv4 address"],
    ["my host:80", "is not a valid host name"],
    ["-redis:80", "is not a valid host name"],
    ["a..b:80", "is not a valid host name"],
  ])("%p is rejected", (input, why) => {
    const expected = `${P}: ${JSON.stringify(input)} ${why}`;
    expect(configError(() => parseAddress(input, P)).problems).toEqual([expected]);
  });

  test("an address with something after its port is named so, with the form meant", () => {
    const why = (input: string, use: "bind" | "connect") => configError(() => parseAddress(input, P, use)).problems;
    // Most likely a weight written the way other proxies take it: aegis's form for that.
    expect(why("10.0.0.1:6379:1", "connect")).toEqual([
      `${P}: "10.0.0.1:6379:1" has ":1" after its port (a server is host:port; to give it a weight, write { address = "10.0.0.1:6379", weight = 1 })`,
    ]);
    expect(why("redis:6379:x", "connect")).toEqual([`${P}: "redis:6379:x" has ":x" after its port (a server is host:port: write "redis:6379")`]);
    expect(why("10.0.0.1:6379:5000", "connect")).toEqual([`${P}: "10.0.0.1:6379:5000" has ":5000" after its port (a server is host:port: write "10.0.0.1:6379")`]);
    expect(why("10.0.0.1:6379:1", "bind")).toEqual([`${P}: "10.0.0.1:6379:1" has ":1" after its port (a bind is host:port: write "10.0.0.1:6379")`]);
    expect(why("fe80::1", "bind")).toEqual([`${P}: "fe80::1" looks like an IPv6 address without brackets and port (write e.g. "[fe80::1]:8081")`]);
    expect(why("ab:cd:80", "connect")).toEqual([`${P}: "ab:cd:80" is not host:port (an IPv6 address goes in brackets, e.g. "[::1]:6379")`]);
  });

  test("port 0 binds but never connects", () => {
    expect(parseAddress("127.0.0.1:0", "listener[0].bind", "bind")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(configError(() => parseAddress("127.0.0.1:0", P, "connect")).message).toBe(
      `${P}: "127.0.0.1:0" is not a valid port for a server (0 is only for binds)`,
    );
  });

  test("a server needs a host; a bind without one means every interface", () => {
    expect(parseAddress(":6379", "listener[0].bind")).toEqual({ host: "0.0.0.0", port: 6379 });
    expect(configError(() => parseAddress(":6379", P, "connect")).message).toBe(
      `${P}: ":6379" needs a host (e.g. "127.0.0.1:6379")`,
    );
  });
});

describe("formatAddress and addressKey", () => {
  test.each([
    ["127.0.0.1:8081", "127.0.0.1:8081"],
    [":80", "0.0.0.0:80"],
    ["[::1]:8081", "[::1]:8081"],
    ["[fe80::1%eth0]:80", "[fe80::1%eth0]:80"],
  ])("%p formats as %p and parses back", (input, text) => {
    const a = parseAddress(input, "x");
    expect(formatAddress(a)).toBe(text);
    expect(parseAddress(formatAddress(a), "x")).toEqual(a);
  });

  test("spellings of one IPv6 socket share a key; different sockets do not", () => {
    const key = (s: string) => addressKey(parseAddress(s, "x"));
    expect(key("[0:0:0:0:0:0:0:1]:80")).toBe(key("[::1]:80"));
    expect(key("[2001:DB8::1]:80")).toBe(key("[2001:db8::1]:80"));
    expect(key("LocalHost:80")).toBe(key("localhost:80"));
    expect(key("[::1]:80")).not.toBe(key("[::1]:81"));
    expect(key("[fe80::1%eth0]:80")).not.toBe(key("[fe80::1%eth1]:80"));
  });
});
