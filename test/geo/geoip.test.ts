// Country lookups on the real GeoLite2 databases of @ip-location-db, checked against MaxMind's own C reader (mmdblookup).
import { describe, expect, test } from "bun:test";
import { Reader } from "mmdb-lib";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { openGeoIp, type GeoIp } from "../../src/geo/geoip.ts";
import { seeded } from "../helpers/random.ts";

const PACKAGE = dirname(Bun.resolveSync("@ip-location-db/geolite2-country-mmdb/package.json", import.meta.dir));
const COMBINED = join(PACKAGE, "geolite2-country.mmdb");
const IPV4 = join(PACKAGE, "geolite2-country-ipv4.mmdb");
const IPV6 = join(PACKAGE, "geolite2-country-ipv6.mmdb");

const combined = openGeoIp([COMBINED]);
const pair = openGeoIp([IPV4, IPV6]);

// Ranges of large national operators, held by them for decades; each checked with mmdblookup.
const WELL_KNOWN: readonly [string, string][] = [
  ["8.8.8.8", "US"], // Google Public DNS
  ["80.128.0.1", "DE"], // Deutsche Telekom, 80.128.0.0/11
  ["90.0.0.1", "FR"], // Orange
  ["86.128.0.1", "GB"], // BT
  ["133.1.1.1", "JP"], // Japanese academic /8
  ["218.0.0.1", "CN"], // China Telecom
  ["99.224.0.1", "CA"], // Rogers
  ["1.120.0.1", "AU"], // Telstra
  ["2001:4860:4860::8888", "US"], // Google Public DNS
  ["2003::1", "DE"], // Deutsche Telekom, 2003::/19
  ["2a01:cb00::1", "FR"], // Orange
  ["2601::1", "US"], // Comcast
  ["240e::1", "CN"], // China Telecom
  ["2001:240::1", "JP"], // KDDI
];

describe("the databases ip-location-db ships", () => {
  test("one combined file, or an IPv4 and an IPv6 file listed together, each checked and described", () => {
    expect(combined.describe).toEqual([
      `${COMBINED}: country ipvAll, IPv4 and IPv6, built 2026-06-17, 1507914 nodes, 8.6 MiB, country from country_code`,
    ]);
    expect(pair.describe).toEqual([
      `${IPV4}: country ipv4, IPv4 only, built 2026-06-17, 596510 nodes, 3.4 MiB, country from country_code`,
      `${IPV6}: country ipv6, IPv6 only, built 2026-06-17, 911311 nodes, 5.2 MiB, country from country_code`,
    ]);
    expect(combined.answers).toEqual({ ipv4: true, ipv6: true });
    expect(pair.answers).toEqual({ ipv4: true, ipv6: true });
    expect(openGeoIp([IPV4]).answers).toEqual({ ipv4: true, ipv6: false });
    expect(openGeoIp([IPV6]).answers).toEqual({ ipv4: false, ipv6: true });
  });

  test("well-known public addresses map to their countries, in both layouts", () => {
    for (const geo of [combined, pair]) {
      expect(WELL_KNOWN.map(([ip]) => [ip, geo.country(ip)])).toEqual([...WELL_KNOWN]);
    }
  });

  test("an IPv4-mapped IPv6 address, however spelled, is looked up as its IPv4 address", () => {
    for (const geo of [combined, pair]) {
      expect(geo.country("::ffff:80.128.0.1")).toBe("DE");
      expect(geo.country("::FFFF:8.8.8.8")).toBe("US");
      expect(geo.country("0:0:0:0:0:ffff:5a00:1")).toBe("FR"); // 90.0.0.1 in hex
      expect(geo.country("0000:0000:0000:0000:0000:FFFF:133.1.1.1")).toBe("JP");
    }
    // The combined file does not alias ::ffff:0:0/96 to its IPv4 tree: the unmapping is aegis's.
    expect(rawRecord(COMBINED, "::ffff:80.128.0.1")).toBeNull();
  });

  test("an IPv6 address is never put to the IPv4-only file, which would answer from its first 32 bits", () => {
    // 2a00:1450:4001::1 (Google, Germany) read as IPv4 is 42.0.20.80, which is in China.
    expect(rawRecord(IPV4, "2a00:1450:4001::1")).toEqual({ country_code: "CN" });
    expect(pair.country("2a00:1450:4001::1")).toBe("DE");
    expect(openGeoIp([IPV4]).country("2a00:1450:4001::1")).toBeNull();
    expect(openGeoIp([IPV6]).country("8.8.8.8")).toBeNull();
  });

  test("private, loopback, link-local, documentation and unrouted addresses have no country", () => {
    const none = ["10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.1.1", "100.64.0.1", "0.0.0.0", "192.0.2.1", "255.255.255.255"];
    const none6 = ["::1", "::", "fe80::1", "fe80::1%eth0", "fd00::1", "2001:db8::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1"];
    for (const geo of [combined, pair]) {
      expect([...none, ...none6].map((ip) => geo.country(ip)).filter((c) => c !== null)).toEqual([]);
    }
  });

  test("a malformed address is null, never an exception, even where mmdb-lib would answer", () => {
    // What mmdb-lib alone makes of two of them: some address, and so a country.
    expect(rawRecord(COMBINED, "1.2.3.4.5")).not.toBeNull();
    expect(rawRecord(COMBINED, "300.1.1.1")).not.toBeNull();
    const malformed = ["", "garbage", "1.2.3", "1.2.3.4.5", "300.1.1.1", "01.2.3.4", " 8.8.8.8", "8.8.8.8\n", "8.8.8.8:443",
      "[2003::1]", "2003::1::1", "2003:::1", "gggg::1", "::ffff:300.1.1.1", "1:2:3:4:5:6:7:8:9", "%eth0"];
    for (const geo of [combined, pair]) {
      expect(malformed.map((ip) => geo.country(ip))).toEqual(malformed.map(() => null));
      expect(geo.country(undefined as unknown as string)).toBeNull();
    }
  });

  test("the same answers as libmaxminddb's mmdblookup on a seeded sample, both layouts", () => {
    const random = seeded(20260617);
    const byte = () => Math.floor(random() * 256);
    const group = () => Math.floor(random() * 65536).toString(16);
    const v4 = Array.from({ length: 120 }, () => `${1 + Math.floor(random() * 223)}.${byte()}.${byte()}.${byte()}`);
    // Allocated IPv6 space, where most of the data is: 2001::/16, 2400::/12, 2600::/12, 2a00::/12.
    const v6prefixes = ["2001", "240", "260", "2a0"];
    const v6 = Array.from({ length: 80 }, () => {
      const p = v6prefixes[Math.floor(random() * v6prefixes.length)]!;
      return p.length === 4 ? `${p}:${group()}:${group()}::1` : `${p}${Math.floor(random() * 16).toString(16)}:${group()}::1`;
    });
    const expected = [...v4, ...v6].map((ip) => [ip, mmdblookup(COMBINED, ip)]);
    expect(expected.filter(([, c]) => c !== null).length).toBeGreaterThan(100);
    expect([...v4, ...v6].map((ip) => [ip, combined.country(ip)])).toEqual(expected);
    expect([...v4, ...v6].map((ip) => [ip, pair.country(ip)])).toEqual(expected);
    expect(v4.map((ip) => [ip, combined.country(`::ffff:${ip}`)])).toEqual(expected.slice(0, v4.length));
  });

  test("a country code is two upper-case letters", () => {
    const seen = new Set<string>();
    const random = seeded(7);
    const sample = (geo: GeoIp) => {
      for (let i = 0; i < 2000; i++) {
        const c = geo.country(`${1 + Math.floor(random() * 223)}.${Math.floor(random() * 256)}.0.1`);
        if (c !== null) seen.add(c);
      }
    };
    sample(combined);
    expect(seen.size).toBeGreaterThan(50);
    expect([...seen].filter((c) => !/^[A-Z]{2}$/.test(c))).toEqual([]);
  });
});

/** What mmdb-lib alone returns for `ip`, without aegis's checks of the address. */
function rawRecord(file: string, ip: string): unknown {
  return new Reader(readFileSync(file)).get(ip);
}

/** The country_code libmaxminddb reads for `ip` in `file`, or null when it has no entry. */
function mmdblookup(file: string, ip: string): string | null {
  const run = Bun.spawnSync(["mmdblookup", "-f", file, "-i", ip, "country_code"], { stdout: "pipe", stderr: "pipe" });
  const out = run.stdout.toString();
  const err = run.stderr.toString();
  if (run.exitCode === 0) {
    const m = /"([A-Za-z]{2})" <utf8_string>/.exec(out);
    if (m) return m[1]!;
  }
  if (err.includes("Could not find an entry")) return null;
  throw new Error(`mmdblookup (Debian's mmdb-bin: scripts/setup.sh --test) ${ip}: exit ${run.exitCode}: ${out}${err}`);
}
