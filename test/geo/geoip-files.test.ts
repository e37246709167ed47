// Files that are not a usable GeoIP database, each refused at open with its path and the reason; and the fingerprint a reload compares.
import { afterAll, describe, expect, test } from "bun:test";
import { Reader } from "mmdb-lib";
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fingerprint, GeoIpError, openGeoIp } from "../../src/geo/geoip.ts";
import { tempDir } from "../helpers/aegis.ts";
import { seeded } from "../helpers/random.ts";

const PACKAGE = dirname(Bun.resolveSync("@ip-location-db/geolite2-country-mmdb/package.json", import.meta.dir));
const COMBINED = join(PACKAGE, "geolite2-country.mmdb");
const IPV4 = join(PACKAGE, "geolite2-country-ipv4.mmdb");
const REAL = readFileSync(COMBINED);
// Debian's geoip-database: the legacy GeoIP.dat a user may find on the machine and point at.
const LEGACY = "/usr/share/GeoIP/GeoIP.dat";

const dir = tempDir("aegis-geo-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** The GeoIpError `openGeoIp(paths)` throws; fails the test when it opens. */
function refusal(paths: string[]): GeoIpError {
  try {
    openGeoIp(paths);
  } catch (e) {
    if (e instanceof GeoIpError) return e;
    throw e;
  }
  throw new Error(`${paths.join(", ")} opened`);
}

describe("a file that cannot be a database is refused at open, naming it and why", () => {
  const cases: [string, () => string, RegExp][] = [
    ["a missing path", () => join(dir, "nope", "GeoLite2-Country.mmdb"), /: does not exist$/],
    ["a directory", () => (mkdirSync(join(dir, "a-directory"), { recursive: true }), join(dir, "a-directory")), /: is a directory, not a database file$/],
    ["a character device", () => "/dev/null", /: is not a regular file$/],
    ["an empty file", () => file("empty.mmdb", ""), /: is empty$/],
    ["random bytes", () => file("random.mmdb", randomBytes(64 * 1024)), /: is not a MaxMind DB file: no metadata at its end \(cut short, or another kind of file\)$/],
    ["a text file", () => file("notes.mmdb", "# GeoIP\n1.2.3.0/24 US\n"), /: is not a MaxMind DB file: no metadata at its end/],
    ["the real file cut in half", () => file("half.mmdb", REAL.subarray(0, REAL.length >> 1)), /: is not a MaxMind DB file: no metadata at its end/],
    ["the real file without its last byte", () => file("short.mmdb", REAL.subarray(0, REAL.length - 1)), /: is not a readable MaxMind DB: its metadata does not decode \(.+\)$/],
    ["the real file without its last 40 bytes", () => file("short40.mmdb", REAL.subarray(0, REAL.length - 40)), /: is not a readable MaxMind DB: its metadata does not decode \(.+\)$/],
    [
      "the real file with its middle cut out (the metadata kept)",
      () => file("middle.mmdb", Buffer.concat([REAL.subarray(0, 1 << 20), REAL.subarray(REAL.length - 200_000)])),
      /: is cut short or corrupt: its search tree of 1507914 nodes needs 9047500 bytes, and its metadata starts at byte 1248402$/,
    ],
    ["the real file with a byte of its data separator set", () => file("separator.mmdb", separatorBroken()), /: is corrupt: no data section separator after its search tree$/],
    ["the real file gzip-compressed", () => file("GeoLite2-Country.mmdb.gz", Bun.gzipSync(REAL.subarray(0, 1 << 20))), /: is gzip-compressed \(a \.gz or \.tar\.gz download\): unpack the \.mmdb file from it$/],
    ["a legacy GeoIP.dat", () => LEGACY, /: is a legacy GeoIP \(\.dat\) database: aegis reads MaxMind DB \(\.mmdb\) files/],
    ["a sparse file past 1 GiB", () => sparse("huge.mmdb", 1024 * 1024 * 1024 + 1), /: is 1024\.0 MiB, more than the 1024\.0 MiB a database may be$/],
    ["a symbolic link to itself", () => (symlinkSync("loop.mmdb", join(dir, "loop.mmdb")), join(dir, "loop.mmdb")), /: cannot be opened \(ELOOP: .+\)$/],
    ["the IPv4 file with its data section overwritten", () => file("garbled.mmdb", dataGarbled()), /: is corrupt: looking up 1\.0\.1\.0 fails \(.+\)$/],
    ["metadata of format version 3", () => file("v3.mmdb", metadataPatched("binary_format_major_version", 1, 3)), /: is MaxMind DB format version 3; aegis reads version 2$/],
    ["metadata with ip_version 5", () => file("ip5.mmdb", metadataPatched("ip_version", 1, 5)), /: is corrupt: its metadata gives ip_version 5 and node_count 1507914$/],
    ["metadata without node_count", () => file("nodes.mmdb", metadataPatched("node_count", -1, "X".charCodeAt(0))), /: is corrupt: its metadata gives ip_version 6 and node_count undefined$/],
  ];
  for (const [name, make, why] of cases) {
    test(name, () => {
      const path = make();
      const error = refusal([path]);
      expect(error.path).toBe(path);
      expect(error.message.startsWith(`GeoIP database ${path}: `)).toBe(true);
      expect(error.message).toMatch(why);
    });
  }

  test("metadata without a build date is no reason to refuse a database: its date is unknown", () => {
    const path = file("undated.mmdb", metadataPatched("build_epoch", -1, "X".charCodeAt(0)));
    const geo = openGeoIp([path]);
    expect(geo.describe).toEqual([`${path}: country ipvAll, IPv4 and IPv6, built on an unknown date, 1507914 nodes, 8.6 MiB, country from country_code`]);
    expect(geo.country("80.128.0.1")).toBe("DE");
  });

  test("a record that does not decode is null at lookup, never an exception", () => {
    // The IPv4 file with all but the first 50 bytes of its data section garbled: the check at
    // open finds a country there, and most lookups then decode garbage.
    const path = file("part-garbled.mmdb", dataGarbled(50));
    expect(() => new Reader(readFileSync(path)).get("8.8.8.8")).toThrow(/Unknown type NaN/);
    expect(() => new Reader(readFileSync(path)).get("90.0.0.1")).toThrow(/Invalid size/);
    const geo = openGeoIp([path]);
    expect(["8.8.8.8", "::ffff:8.8.8.8", "90.0.0.1", "133.1.1.1"].map((ip) => geo.country(ip))).toEqual([null, null, null, "JP"]);
  });

  test("one bad file of a list refuses the list, naming that file", () => {
    const bad = file("list-empty.mmdb", "");
    expect(refusal([IPV4, bad]).path).toBe(bad);
    expect(refusal([COMBINED, COMBINED]).message).toBe(`GeoIP database ${COMBINED}: is listed twice`);
    expect(() => openGeoIp([])).toThrow(new TypeError("openGeoIp needs at least one database path"));
  });
});

describe("fingerprint", () => {
  test("equals what openGeoIp read until the file changes on disk", () => {
    const path = join(dir, "Country.mmdb");
    copyFileSync(IPV4, path);
    const opened = openGeoIp([path]);
    expect(fingerprint([path])).toBe(opened.fingerprint);
    expect(fingerprint([path])).toBe(fingerprint([path]));

    // geoipupdate's way: a new file renamed over the old one.
    copyFileSync(COMBINED, join(dir, "Country.mmdb.new"));
    renameSync(join(dir, "Country.mmdb.new"), path);
    const renamed = fingerprint([path]);
    expect(renamed).not.toBe(opened.fingerprint);
    expect(openGeoIp([path]).fingerprint).toBe(renamed);

    // A touch: the same bytes, another modification time.
    utimesSync(path, new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T00:00:00Z"));
    const touched = fingerprint([path]);
    expect(touched).not.toBe(renamed);

    // `cp -p` of another build over it: same size, inode and modification time; the metadata
    // (here its build date) differs, and so the hash of the file's end.
    const rebuilt = Buffer.from(REAL);
    const epoch = rebuilt.lastIndexOf(Buffer.from("build_epoch")) + "build_epoch".length + 2;
    rebuilt[epoch] = rebuilt[epoch]! ^ 1;
    writeFileSync(path, rebuilt);
    utimesSync(path, new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T00:00:00Z"));
    const copied = fingerprint([path]);
    expect(copied.replace(/ end-sha256=\w+$/, "")).toBe(touched.replace(/ end-sha256=\w+$/, ""));
    expect(copied).not.toBe(touched);
    expect(openGeoIp([path]).fingerprint).toBe(copied);
  });

  test("names each file of a list, in order, and refuses a missing one like openGeoIp", () => {
    const both = fingerprint([IPV4, COMBINED]).split("\n");
    expect(both.length).toBe(2);
    expect(both[0]!.startsWith(`${IPV4} size=3580773 `)).toBe(true);
    expect(both[1]!.startsWith(`${COMBINED} size=9049199 `)).toBe(true);
    expect(openGeoIp([IPV4, COMBINED]).fingerprint).toBe(both.join("\n"));
    expect(() => fingerprint([join(dir, "missing.mmdb")])).toThrow(`GeoIP database ${join(dir, "missing.mmdb")}: does not exist`);
  });
});

/**
 * The real file with one byte of its metadata changed: the byte `offset` past the end of key `key`
 * (1 is the first byte of a small value, after its control byte; -1 the key's last letter).
 */
function metadataPatched(key: string, offset: number, byte: number): Buffer {
  const copy = Buffer.from(REAL);
  const at = copy.lastIndexOf(Buffer.from(key)) + key.length + offset;
  expect(at).toBeGreaterThan(REAL.length - 200);
  copy[at] = byte;
  return copy;
}

// The IPv4 file's search tree is 596510 nodes of 6 bytes; its data section starts 16 bytes after.
const IPV4_DATA = 596510 * 6 + 16;

function metadataMarker(bytes: Buffer): number {
  return bytes.lastIndexOf(Buffer.from("abcdef4d61784d696e642e636f6d", "hex"));
}

function dataGarbled(kept = 0): Buffer {
  const copy = readFileSync(IPV4);
  copy.fill(0xff, IPV4_DATA + kept, metadataMarker(copy));
  return copy;
}

function sparse(name: string, size: number): string {
  const path = join(dir, name);
  closeSync(openSync(path, "w"));
  truncateSync(path, size);
  return path;
}

function randomBytes(n: number): Uint8Array {
  const random = seeded(4242);
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

// The combined file's search tree is 1507914 nodes of 6 bytes; the 16 zero bytes follow it.
function separatorBroken(): Buffer {
  const copy = Buffer.from(REAL);
  copy[1507914 * 6 + 5] = 1;
  return copy;
}
