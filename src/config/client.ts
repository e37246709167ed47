// The keys about who the client is: PROXY protocol both ways, source and country routes, regions, stickiness.
//
// Like tls.ts, the schema part is plain data; the one file these keys name (the GeoIP database)
// is opened and checked in a second step (`openGeo`), so `aegis check`, a start and a reload all
// refuse a database that is missing or corrupt, with its path.
import { fromConfig } from "./read-file.ts";
import { cidrs, duration, integer, name, oneOf, optional, strings, table, type Field } from "./fields.ts";
import type { GeoConfig, ProxyProtocolVersion, RegionPreference, StickConfig } from "./types.ts";
import { ConfigError, problem } from "./errors.ts";
import { describe, isTable } from "./section.ts";
import { NAME_PATTERN } from "./fields.ts";
import { quote } from "./quote.ts";
import { openGeoIp, GeoIpError } from "../geo/geoip.ts";

export const PROXY_ACCEPT = ["off", "v1", "v2", "any"] as const;
export const PROXY_SEND = ["off", "v1", "v2"] as const;

/** ISO 3166-1 alpha-2: the codes MaxMind databases use. */
const COUNTRY = /^[A-Z]{2}$/;
const checkCountry = (v: string) => (COUNTRY.test(v.toUpperCase()) ? undefined : "is not an ISO 3166-1 country code (two letters, e.g. \"US\")");
const checkRegionName = (v: string) => (NAME_PATTERN.test(v) ? undefined : "is not a valid region name (1-64 letters, digits, \"_\", \"-\" or \".\")");

/** The listener keys; proxy_protocol_from is required when proxy_protocol is on (checked in `proxyProtocolOf`). */
export const LISTENER_CLIENT = {
  proxy_protocol: oneOf(PROXY_ACCEPT, {
    default: "off",
    description: `Expect a PROXY protocol header (HAProxy's accept-proxy, nginx's proxy_protocol) before the client's bytes: "v1" (text), "v2" (binary) or "any"; its address becomes the client's everywhere (ACLs, per-IP limits, hashing, routes, stickiness, the access log).`,
  }),
  proxy_protocol_from: optional(cidrs({
    defaultText: "required when proxy_protocol is on",
    description: `Peers allowed to send the header (the balancers in front), e.g. ["10.0.0.0/8"]; a connection from any other address is refused (proxy_protocol).`,
  })),
  proxy_protocol_timeout: duration({ min: 1, default: "5s", description: "How long to wait for the whole PROXY header; a late one is refused (proxy_protocol), as nginx's proxy_protocol_timeout." }),
  prefer_region: optional(regionPreference()),
} as const;

export const ROUTE_CLIENT = {
  source: optional(cidrs({ defaultText: "any", description: `Client addresses or CIDRs, e.g. ["192.168.0.0/16", "2001:db8::/32"] (after any PROXY header).` })),
  country: optional(strings({
    example: `["US", "CA"]`, minItems: 1, check: checkCountry, defaultText: "any",
    description: "Client countries (ISO 3166-1 codes), looked up in [global] geoip; a client of unknown country (private, loopback) matches none.",
  })),
  prefer_region: optional(regionPreference()),
} as const;

export const GLOBAL_CLIENT = {
  geoip: optional(files({
    defaultText: "none: country routes and prefer_region = true cannot be used",
    description: `A MaxMind DB (GeoLite2-Country.mmdb or the like), or a list of them (IPv4 and IPv6 files), relative to the config file; read again at every reload.`,
  })),
  regions: optional(groups({
    defaultText: "none",
    description: `Countries of each region, written [global.regions] with one line per region: eu-west = ["IE", "GB", "FR"]. A client's region is the one that lists its country; prefer_region = true reads it.`,
  })),
} as const;

export const UPSTREAM_CLIENT = {
  send_proxy: oneOf(PROXY_SEND, {
    default: "off",
    description: `Send a PROXY protocol header to the servers first, saying who the client is (HAProxy's send-proxy, send-proxy-v2): "v1" or "v2". Pooled sockets get theirs when a session takes them.`,
  }),
  stick: optional(table({
    on: oneOf(["source"] as const, { default: "source", description: "What binds a client to a server: its address (an IPv6 client by its /64)." }),
    ttl: duration({ min: 1000, default: "30m", description: "How long a client keeps its server after its last session ends." }),
    max_entries: integer({ min: 16, max: 10_000_000, default: 100_000, description: "Clients remembered, all Workers together (rounded up to whole buckets of 8); the least recently used makes room." }),
  }, {
    defaultText: "none: each session is balanced on its own",
    description: `Sticky clients, e.g. { on = "source", ttl = "30m", max_entries = 100000 }: a client goes back to the server it was last sent to while that server is up.`,
    build: (v): StickConfig => ({ ttlMs: v.ttl, maxEntries: v.max_entries }),
  })),
} as const;

export const SERVER_CLIENT = {
  region: optional(name({ defaultText: "none", description: "The region the server is in, e.g. \"eu-west\": prefer_region picks among the servers of the client's region." })),
} as const;

/** `true` (the client's own region) or a region name. */
function regionPreference(): Field<RegionPreference> {
  return {
    type: "region",
    description: `Pick among the servers of a region while one of them is up, else among all (edgeProxy's geo preference): true means the client's region (its country through [global.regions]), or a region name.`,
    defaultText: "none: all servers alike",
    convert(value, path) {
      if (value === true) return true;
      if (typeof value === "string" && NAME_PATTERN.test(value)) return value;
      if (value === false) throw problem(`${path}: false is the default; leave the key out`);
      throw problem(`${path}: expected true or a region name, got ${describe(value)}`);
    },
  };
}

/** A file name or a list of them. */
function files(o: { description: string; defaultText: string }): Field<string[]> {
  return {
    type: "files", ...o,
    convert(value, path) {
      const list = typeof value === "string" ? [value] : value;
      if (!Array.isArray(list) || list.length === 0 || list.some((f) => typeof f !== "string" || f === "")) {
        throw problem(`${path}: expected a file name or a non-empty list of them, got ${describe(value)}`);
      }
      return list as string[];
    },
  };
}

/** A table of named lists of country codes: the regions. */
function groups(o: { description: string; defaultText: string }): Field<Record<string, string[]>> {
  return {
    type: "groups", ...o,
    convert(value, path) {
      if (!isTable(value)) throw problem(`${path}: expected a table of regions, e.g. [global.regions] with eu-west = ["IE", "GB"], got ${describe(value)}`);
      const problems: string[] = [];
      const out: Record<string, string[]> = {};
      const owner = new Map<string, string>();
      for (const [region, list] of Object.entries(value)) {
        const at = `${path}.${region}`;
        if (!NAME_PATTERN.test(region)) problems.push(`${at}: ${quote(region)} ${checkRegionName(region)}`);
        if (!Array.isArray(list) || list.length === 0) {
          problems.push(`${at}: expected a list of country codes such as ["IE", "GB"], got ${describe(list)}`);
          continue;
        }
        out[region] = [];
        list.forEach((c: unknown, i) => {
          if (typeof c !== "string" || checkCountry(c)) return void problems.push(`${at}[${i}]: ${typeof c === "string" ? quote(c) : describe(c)} is not an ISO 3166-1 country code (two letters, e.g. "IE")`);
          const code = c.toUpperCase();
          const first = owner.get(code);
          if (first !== undefined) return void problems.push(`${at}[${i}]: ${code} is already in region ${quote(first)}: a country belongs to one region`);
          owner.set(code, region);
          out[region]!.push(code);
        });
      }
      if (problems.length > 0) throw new ConfigError(problems);
      return out;
    },
  };
}

export interface ProxyProtocolValues {
  proxy_protocol: (typeof PROXY_ACCEPT)[number];
  proxy_protocol_from?: string[];
  proxy_protocol_timeout: number;
}

/** The listener's accept side of the PROXY protocol, or undefined when off. */
export function proxyProtocolOf(v: ProxyProtocolValues, path: string, problems: string[]): { accept: "v1" | "v2" | "any"; from: string[]; timeoutMs: number } | undefined {
  if (v.proxy_protocol === "off") {
    if (v.proxy_protocol_from !== undefined) problems.push(`${path}.proxy_protocol_from: set, but proxy_protocol is "off" (set proxy_protocol = "v1", "v2" or "any")`);
    return undefined;
  }
  if (v.proxy_protocol_from === undefined || v.proxy_protocol_from.length === 0) {
    problems.push(`${path}.proxy_protocol_from: required with proxy_protocol = ${quote(v.proxy_protocol)}: the addresses of the balancers allowed to say who the client is (anyone else could forge it)`);
    return undefined;
  }
  return { accept: v.proxy_protocol, from: v.proxy_protocol_from, timeoutMs: v.proxy_protocol_timeout };
}

export const sendProxyOf = (v: (typeof PROXY_SEND)[number]): ProxyProtocolVersion | undefined => (v === "off" ? undefined : v === "v1" ? 1 : 2);

/**
 * Open every GeoIP database now (relative to the config file), so a missing or corrupt one is a
 * config error naming its path; the fingerprint changes when a file does, so a reload picks it up.
 */
export function openGeo(paths: readonly string[], source: string, problems: string[]): GeoConfig | undefined {
  const full = paths.map((p) => fromConfig(source, p));
  try {
    const geo = openGeoIp(full);
    return { files: full, fingerprint: geo.fingerprint, describe: geo.describe };
  } catch (e) {
    if (!(e instanceof GeoIpError)) throw e;
    problems.push(`global.geoip: ${e.message}`);
    return undefined;
  }
}
