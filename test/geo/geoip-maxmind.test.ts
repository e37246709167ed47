// MaxMind's own schema (country.iso_code, registered_country.iso_code), in databases written by MaxMind's own writer (MaxMind::DB::Writer).
import { afterAll, describe, expect, test } from "bun:test";
import { Reader } from "mmdb-lib";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { GeoIpError, openGeoIp } from "../../src/geo/geoip.ts";
import { tempDir } from "../helpers/aegis.ts";

const dir = tempDir("aegis-geo-maxmind-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const REAL_IPV6 = join(dirname(Bun.resolveSync("@ip-location-db/geolite2-country-mmdb/package.json", import.meta.dir)), "geolite2-country-ipv6.mmdb");

type Value = string | number | { readonly [key: string]: Value };

interface Spec {
  readonly ipVersion: 4 | 6;
  readonly databaseType: string;
  readonly networks: readonly (readonly [string, { readonly [key: string]: Value }])[];
  readonly recordSize?: 24 | 28 | 32;
}

// MaxMind::DB::Writer::Tree (Debian's libmaxmind-db-writer-perl), the writer MaxMind published for
// its own databases. The spec arrives as JSON on stdin; every map key is given its type.
const WRITER = String.raw`
use strict; use warnings; use JSON::PP; use MaxMind::DB::Writer::Tree;
my $spec = decode_json(do { local $/; <STDIN> });
my %types = %{ $spec->{types} };
my $tree = MaxMind::DB::Writer::Tree->new(
  ip_version => $spec->{ip_version}, record_size => $spec->{record_size},
  database_type => $spec->{database_type}, languages => ['en'], description => { en => 'aegis test' },
  map_key_type_callback => sub { $types{ $_[0] } // die "no type for key $_[0]\n" },
  remove_reserved_networks => 0, alias_ipv6_to_ipv4 => ($spec->{ip_version} == 6 ? 1 : 0),
);
$tree->insert_network($_->[0], $_->[1]) for @{ $spec->{networks} };
open my $fh, '>:raw', $ARGV[0] or die "$ARGV[0]: $!\n"; $tree->write_tree($fh); close $fh or die "$!\n";
`;

let written = 0;
/** Writes `spec` as a MaxMind DB with MaxMind's writer and returns its path. */
function write(spec: Spec): string {
  const path = join(dir, `db-${++written}.mmdb`);
  const types: Record<string, string> = {};
  const collect = (record: { readonly [key: string]: Value }) => {
    for (const [key, value] of Object.entries(record)) {
      types[key] = typeof value === "string" ? "utf8_string" : typeof value === "number" ? "uint32" : "map";
      if (typeof value === "object") collect(value);
    }
  };
  for (const [, record] of spec.networks) collect(record);
  const input = JSON.stringify({
    ip_version: spec.ipVersion, record_size: spec.recordSize ?? 28, database_type: spec.databaseType, networks: spec.networks, types,
  });
  const run = Bun.spawnSync(["perl", "-e", WRITER, path], { stdin: Buffer.from(input), stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) {
    throw new Error(`MaxMind::DB::Writer (Debian's libmaxmind-db-writer-perl: scripts/setup.sh --test) exit ${run.exitCode}: ${run.stderr}`);
  }
  return path;
}

const names = (en: string) => ({ en, de: en, fr: en });
const GB = { iso_code: "GB", geoname_id: 2635167, names: names("United Kingdom") };
const SE = { iso_code: "SE", geoname_id: 2661886, names: names("Sweden") };
const NL = { iso_code: "NL", geoname_id: 2750405, names: names("Netherlands") };

// The shapes GeoIP2 Country records come in: country and registered country the same, or apart
// (the network is used abroad), or the registered country alone (satellite, anycast), or none.
const country = write({
  ipVersion: 6,
  databaseType: "GeoIP2-Country",
  networks: [
    ["81.2.69.0/24", { continent: { code: "EU" }, country: GB, registered_country: GB }],
    ["89.160.20.112/28", { continent: { code: "EU" }, country: SE, registered_country: NL }],
    ["2001:218::/32", { registered_country: { iso_code: "jp", geoname_id: 1861060 } }],
    ["2a02:d300::/32", { continent: { code: "EU" } }],
    ["217.65.48.0/29", { country: { iso_code: "GI", geoname_id: 2411586 }, city: { names: names("Gibraltar") }, location: { time_zone: "Europe/Gibraltar" } }],
  ],
});

describe("MaxMind's schema", () => {
  test("country.iso_code, else registered_country.iso_code, upper case; a record with neither has no country", () => {
    const geo = openGeoIp([country]);
    expect(geo.country("81.2.69.142")).toBe("GB");
    expect(geo.country("89.160.20.113")).toBe("SE"); // where it is used, not where it is registered (NL)
    expect(geo.country("2001:218::1")).toBe("JP"); // "jp" in the record
    expect(geo.country("2a02:d300::1")).toBeNull();
    expect(geo.country("217.65.48.1")).toBe("GI"); // a City-shaped record
    expect(geo.country("81.2.70.1")).toBeNull();
    expect(geo.country("::ffff:81.2.69.142")).toBe("GB");
    expect(geo.country("2002:5102:458e::1")).toBe("GB"); // 6to4 of 81.2.69.142, aliased by the writer
    expect(geo.describe[0]).toMatch(new RegExp(`^${country}: GeoIP2-Country, IPv4 and IPv6, built \\d{4}-\\d\\d-\\d\\d, \\d+ nodes, 0\\.0 MiB, country from country\\.iso_code$`));
    expect(geo.answers).toEqual({ ipv4: true, ipv6: true });
  });

  test("every record size the format has (24, 28, 32 bits) reads the same", () => {
    for (const recordSize of [24, 28, 32] as const) {
      const path = write({ ipVersion: 6, databaseType: "GeoIP2-Country", recordSize, networks: [["81.2.69.0/24", { country: GB }], ["2001:218::/32", { country: SE }]] });
      expect(new Reader(readFileSync(path)).metadata.recordSize).toBe(recordSize);
      const geo = openGeoIp([path]);
      expect([geo.country("81.2.69.1"), geo.country("2001:218::1"), geo.country("81.2.68.1")]).toEqual(["GB", "SE", null]);
    }
  });

  test("an IPv4-only tree is never asked about an IPv6 address, which mmdb-lib would answer from its first 32 bits", () => {
    // 2001:db8::1 read as IPv4 is 32.1.13.184.
    const v4 = write({ ipVersion: 4, databaseType: "GeoIP2-Country", networks: [["32.1.13.0/24", { country: { iso_code: "NO" } }]] });
    expect(new Reader(readFileSync(v4)).get("2001:db8::1") as unknown).toEqual({ country: { iso_code: "NO" } });
    const geo = openGeoIp([v4]);
    expect(geo.country("32.1.13.184")).toBe("NO");
    expect(geo.country("2001:db8::1")).toBeNull();
    expect(geo.answers).toEqual({ ipv4: true, ipv6: false });
    expect(geo.describe[0]).toContain(": GeoIP2-Country, IPv4 only, ");
  });

  test("databases are asked in the order listed: the first that knows the address answers", () => {
    const overlay = write({ ipVersion: 6, databaseType: "aegis-overlay", networks: [["2003::/19", { country_code: "ZZ" }]] });
    const withOverlay = openGeoIp([overlay, REAL_IPV6]);
    expect([withOverlay.country("2003::1"), withOverlay.country("2a01:cb00::1")]).toEqual(["ZZ", "FR"]);
    const overlayLast = openGeoIp([REAL_IPV6, overlay]);
    expect([overlayLast.country("2003::1"), overlayLast.country("2a01:cb00::1")]).toEqual(["DE", "FR"]);
  });

  test("a database with no country data is refused at open: an ASN database, and one with no records", () => {
    const asn = write({
      ipVersion: 6,
      databaseType: "GeoLite2-ASN",
      networks: [["1.0.0.0/24", { autonomous_system_number: 13335, autonomous_system_organization: "CLOUDFLARENET" }], ["2001:200::/32", { autonomous_system_number: 2500 }]],
    });
    // Four lookups: 1.0.0.0/24, 2001:200::/32, and 1.0.0.0/24 again through the Teredo and 6to4 aliases.
    expect(() => openGeoIp([asn])).toThrow(
      new GeoIpError(asn, "has no country data: 4 lookups found records, none with country.iso_code, registered_country.iso_code or country_code (an ASN or other database?)"),
    );
    const empty = write({ ipVersion: 6, databaseType: "GeoIP2-Country", networks: [] });
    expect(() => openGeoIp([empty])).toThrow(new GeoIpError(empty, "holds no records"));
    const continents = write({ ipVersion: 4, databaseType: "GeoIP2-Country", networks: [["81.2.69.0/24", { continent: { code: "EU" } }], ["81.2.70.0/24", { country: { iso_code: "1X" } }]] });
    expect(() => openGeoIp([continents])).toThrow(/: has no country data: 2 lookups found records, none with /);
  });
});
