// The client's country from one or more MaxMind DB files (GeoLite2/GeoIP2 Country or City, ip-location-db), read whole at open.
import { lookupAddress, isV6 } from "./address.ts";
import { openDatabase, type Database } from "./database.ts";
import { fingerprintOf, GeoIpError, readDatabaseFile } from "./database-file.ts";

export { GeoIpError } from "./database-file.ts";

/** The databases a config names, opened and checked: what a route's `country` matches against. */
export interface GeoIp {
  /**
   * ISO 3166-1 alpha-2, upper case, or null (private, loopback, unknown). `ip`: IPv4 dotted, IPv6,
   * or IPv4-mapped IPv6 ("::ffff:1.2.3.4" looks up 1.2.3.4). Never throws (a malformed address is
   * null). The databases are asked in the order given; the first that knows the address answers.
   */
  country(ip: string): string | null;
  /** What was loaded, one line a file, for `aegis check` and logs: path, database type, what it answers, build date, nodes, size. */
  readonly describe: string[];
  /** Whether any database holds country data for IPv4 / IPv6 addresses: false means such clients always get null. */
  readonly answers: { readonly ipv4: boolean; readonly ipv6: boolean };
  /** The files as they were read; `fingerprint(paths)` equals it until one of them changes on disk. */
  readonly fingerprint: string;
}

/**
 * Opens and checks each database now (throws GeoIpError naming the file: missing, unreadable, not
 * a MaxMind DB, cut short or corrupt, no country data). Reads each file whole into memory and keeps
 * nothing open and watches nothing: a reload opens them again. IPv4 and IPv6 may come from separate
 * files (ip-location-db ships them so): list both.
 */
export function openGeoIp(paths: readonly string[]): GeoIp {
  if (paths.length === 0) throw new TypeError("openGeoIp needs at least one database path");
  const seen = new Set<string>();
  const databases: Database[] = [];
  const prints: string[] = [];
  for (const path of paths) {
    if (seen.has(path)) throw new GeoIpError(path, "is listed twice");
    seen.add(path);
    const file = readDatabaseFile(path);
    databases.push(openDatabase(file));
    prints.push(file.fingerprint);
  }
  // An IPv4-only tree reads an IPv6 address's first 32 bits as an IPv4 address and answers wrongly
  // (2a00:1450:4001::1 comes out CN, not DE): IPv6 addresses go to IPv6 trees alone. An IPv4
  // address may go to any (an IPv6 tree without IPv4 data answers null at its first node).
  const forIpv6 = databases.filter((d) => d.ipVersion === 6);
  return {
    country(ip: string): string | null {
      if (typeof ip !== "string") return null;
      const address = lookupAddress(ip);
      if (address === null) return null;
      const candidates = isV6(address) ? forIpv6 : databases;
      for (const database of candidates) {
        const code = database.country(address);
        if (code !== null) return code;
      }
      return null;
    },
    describe: databases.map((d) => d.describe),
    answers: { ipv4: databases.some((d) => d.answersIpv4), ipv6: forIpv6.some((d) => d.answersIpv6) },
    fingerprint: prints.join("\n"),
  };
}

/** The fingerprint of `paths` on disk now (size, mtime, inode, a hash of each metadata region): cheap, no file read whole. Throws GeoIpError. */
export function fingerprint(paths: readonly string[]): string {
  return paths.map(fingerprintOf).join("\n");
}
