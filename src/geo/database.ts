// One MaxMind DB opened with mmdb-lib over its bytes: its metadata checked, its records read as a country code in either schema.
import { Reader, type Response } from "mmdb-lib";
import { GeoIpError, mebibytes, metadataStart, type DatabaseFile } from "./database-file.ts";

/** One database, checked: answers the country of a lookup address (see address.ts). */
export interface Database {
  readonly path: string;
  /** 6 when the tree holds IPv6 addresses (and IPv4 ones below ::/96); 4 for an IPv4-only tree. */
  readonly ipVersion: 4 | 6;
  /** Whether it holds country data for IPv4 / global IPv6 (2000::/3) addresses at all. */
  readonly answersIpv4: boolean;
  readonly answersIpv6: boolean;
  readonly describe: string;
  /** The country of a normalised address, or null; never throws (a corrupt record is null). */
  country(address: string): string | null;
}

// The MaxMind DB format puts 16 zero bytes between the search tree and the data section.
const DATA_SECTION_SEPARATOR = 16;
// Records decoded, by offset in the file. A country database has a few hundred distinct records
// (one a country, and the parts they share), so nearly every lookup is a hit; the bound only
// matters for a City database, whose records are many and large.
const CACHE_ENTRIES = 8192;
// The search for country data at open: at most this many lookups in each address family.
const PROBE_STEPS = 4096;

/** Builds the reader over `file.bytes` and checks it holds country data. Throws GeoIpError. */
export function openDatabase(file: DatabaseFile): Database {
  const { path, bytes } = file;
  const metadataAt = metadataStart(path, bytes);
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(bytes, { cache: new BoundedCache() });
  } catch (e) {
    throw new GeoIpError(path, `is not a readable MaxMind DB: its metadata does not decode (${(e as Error).message})`);
  }
  const meta = reader.metadata;
  if (meta.binaryFormatMajorVersion !== 2) {
    throw new GeoIpError(path, `is MaxMind DB format version ${meta.binaryFormatMajorVersion}; aegis reads version 2`);
  }
  if ((meta.ipVersion !== 4 && meta.ipVersion !== 6) || !Number.isSafeInteger(meta.nodeCount) || meta.nodeCount <= 0) {
    throw new GeoIpError(path, `is corrupt: its metadata gives ip_version ${meta.ipVersion} and node_count ${meta.nodeCount}`);
  }
  const dataStart = meta.searchTreeSize + DATA_SECTION_SEPARATOR;
  if (dataStart > metadataAt) {
    throw new GeoIpError(path, `is cut short or corrupt: its search tree of ${meta.nodeCount} nodes needs ${dataStart} bytes, and its metadata starts at byte ${metadataAt}`);
  }
  if (bytes.subarray(meta.searchTreeSize, dataStart).some((b) => b !== 0)) {
    throw new GeoIpError(path, "is corrupt: no data section separator after its search tree");
  }
  const ipVersion = meta.ipVersion;
  const lookup = (address: string): string | null => {
    try {
      return countryOf(reader.get(address));
    } catch {
      return null;
    }
  };
  const v4 = probe(path, reader, IPV4_SPACE);
  const v6 = ipVersion === 6 ? probe(path, reader, GLOBAL_IPV6_SPACE) : { field: null, records: 0 };
  const field = v4.field ?? v6.field;
  if (field === null) {
    const records = v4.records + v6.records;
    const why = records === 0 ? "holds no records" : `has no country data: ${records} lookups found records, none with country.iso_code, registered_country.iso_code or country_code (an ASN or other database?)`;
    throw new GeoIpError(path, why);
  }
  const answers = v4.field && v6.field ? "IPv4 and IPv6" : v4.field ? "IPv4 only" : "IPv6 only";
  const built = Number.isNaN(meta.buildEpoch.getTime()) ? "on an unknown date" : meta.buildEpoch.toISOString().slice(0, 10);
  return {
    path,
    ipVersion,
    answersIpv4: v4.field !== null,
    answersIpv6: v6.field !== null,
    describe: `${path}: ${meta.databaseType}, ${answers}, built ${built}, ${meta.nodeCount} nodes, ${mebibytes(bytes.length)} MiB, country from ${field}`,
    country: lookup,
  };
}

/** What a record of either schema says: MaxMind's country, else registered country; ip-location-db's country_code. */
export function countryOf(record: unknown): string | null {
  if (record === null || typeof record !== "object") return null;
  const r = record as GeoRecord;
  return isoCode(r.country?.iso_code) ?? isoCode(r.registered_country?.iso_code) ?? isoCode(r.country_code);
}

// The fields of a record aegis reads (GeoIP2/GeoLite2 Country and City, ip-location-db); a record
// comes from a file, so each is checked before use.
interface GeoRecord {
  readonly country?: { readonly iso_code?: unknown } | null;
  readonly registered_country?: { readonly iso_code?: unknown } | null;
  readonly country_code?: unknown;
}

// Two ASCII letters, upper-cased: anything else cannot match a route's country list.
function isoCode(value: unknown): string | null {
  if (typeof value !== "string" || value.length !== 2) return null;
  const a = value.charCodeAt(0) | 0x20;
  const b = value.charCodeAt(1) | 0x20;
  if (a < 0x61 || a > 0x7a || b < 0x61 || b > 0x7a) return null;
  return value.charCodeAt(0) < 0x61 && value.charCodeAt(1) < 0x61 ? value : value.toUpperCase();
}

interface AddressSpace {
  readonly bits: number;
  readonly first: bigint;
  readonly end: bigint;
  readonly format: (address: bigint) => string;
}

const IPV4_SPACE: AddressSpace = {
  bits: 32,
  first: 0n,
  end: 1n << 32n,
  format: (a) => `${Number(a >> 24n)}.${Number((a >> 16n) & 255n)}.${Number((a >> 8n) & 255n)}.${Number(a & 255n)}`,
};

// Native IPv6 data lives in 2000::/3; below it a MaxMind tree holds IPv4 (::/96) and its aliases.
const GLOBAL_IPV6_SPACE: AddressSpace = {
  bits: 128,
  first: 0x2000n << 112n,
  end: 0x4000n << 112n,
  format: (a) => Array.from({ length: 8 }, (_, i) => Number((a >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(":"),
};

/**
 * Walks `space` block by block from its first address with the reader's own lookups, until a record
 * names a country: each lookup says the prefix that holds the address, so the walk goes on at the
 * start of the next block and an empty /8 costs one step. Returns the field that named the country,
 * and how many lookups found a record (one record may be found twice: MaxMind trees alias 6to4 and
 * Teredo space to IPv4).
 */
function probe(path: string, reader: Reader<Response>, space: AddressSpace): { field: string | null; records: number } {
  let address = space.first;
  let records = 0;
  for (let step = 0; step < PROBE_STEPS && address < space.end; step++) {
    let found: [Response | null, number];
    try {
      found = reader.getWithPrefixLength(space.format(address));
    } catch (e) {
      throw new GeoIpError(path, `is corrupt: looking up ${space.format(address)} fails (${(e as Error).message})`);
    }
    const [record, prefix] = found;
    if (record !== null) {
      records++;
      const field = countryField(record);
      if (field !== null) return { field, records };
    }
    const shift = BigInt(space.bits - Math.min(Math.max(prefix, 0), space.bits));
    address = ((address >> shift) + 1n) << shift;
  }
  return { field: null, records };
}

function countryField(found: Response): string | null {
  const record = found as GeoRecord;
  if (isoCode(record.country?.iso_code) !== null) return "country.iso_code";
  if (isoCode(record.registered_country?.iso_code) !== null) return "registered_country.iso_code";
  if (isoCode(record.country_code) !== null) return "country_code";
  return null;
}

// mmdb-lib's decoder cache (get/set by offset). Cleared when full: simpler than an LRU, and a
// country database never fills it.
class BoundedCache {
  readonly #entries = new Map<string | number, unknown>();
  get(key: string | number): unknown {
    return this.#entries.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.#entries.size >= CACHE_ENTRIES) this.#entries.clear();
    this.#entries.set(key, value);
  }
}
