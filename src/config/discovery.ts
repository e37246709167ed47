// The keys of servers that change: [global] resolvers and state_file, an upstream's discovery and on_down.
import type { Address, DiscoveryConfig } from "./types.ts";
import { address, duration, integer, list, oneOf, optional, text, name } from "./fields.ts";
import type { Field, Values } from "./fields.ts";
import { fromConfig } from "./read-file.ts";
import { isIP } from "node:net";

const DNS_INTERVAL_MS = 10_000;
const SQLITE_INTERVAL_MS = 1_000;

/** A DNS server: "host:port", or a bare IP for port 53 (as resolv.conf writes them). */
function resolverAddress(): Field<Address> {
  const field = address({ use: "connect", required: true, description: "A DNS server." });
  return { ...field, convert: (value, path) => field.convert(typeof value === "string" && isIP(value) ? (isIP(value) === 6 ? `[${value}]:53` : `${value}:53`) : value, path) };
}

const resolverList = (): Field<Address[] | undefined> => optional(list({ address: resolverAddress() }, {
  shorthand: "address", minItems: 1, noun: "resolver",
  defaultText: "the nameservers of /etc/resolv.conf",
  description: `DNS servers that dns and srv discovery ask, in order, e.g. ["127.0.0.1:8600"] (Consul's DNS port); port 53 when left out.`,
  build: (v) => v.address,
}));

export const GLOBAL_DISCOVERY = {
  resolvers: resolverList(),
  state_file: optional(text({
    defaultText: "none: runtime changes last until the next restart",
    description: "A JSON file, relative to the config file, where admin states, runtime weights, servers added through the API, the last health states and discovery's last good sets are kept across restarts and reloads. Written atomically.",
  })),
} as const;

const DISCOVERY_KINDS = ["dns", "srv", "sqlite"] as const;

const DISCOVERY = {
  dns: optional(text({ defaultText: "—", description: "A name whose A and AAAA records are the servers (with port)." })),
  srv: optional(text({ defaultText: "—", description: "A name whose SRV records are the servers: target, port, weight; the lowest priority are primaries, the others backups." })),
  sqlite: optional(text({ defaultText: "—", description: "A SQLite file in edgeProxy's schema (with table and app), relative to the config file, read again whenever it changes." })),
  port: optional(integer({ min: 1, max: 65535, defaultText: "required with dns", description: "The servers' port, with dns." })),
  table: name({ default: "backends", description: "With sqlite: the table of servers." }),
  app: optional(text({ defaultText: "required with sqlite", description: "With sqlite: the rows whose app column equals this." })),
  interval: optional(duration({ min: 100, defaultText: `"10s" for dns and srv, "1s" for sqlite`, description: "dns and srv: asked again when the records' TTL runs out, but no sooner than this after the last lookup. sqlite: how often the file's data version is polled (a cheap read)." })),
  hold: duration({ min: 0, default: "5m", description: "How long a source's last good set is kept while lookups fail or come back empty." }),
} as const;

type DiscoveryValues = Values<typeof DISCOVERY>;

export const UPSTREAM_DISCOVERY = {
  discovery: optional(list(DISCOVERY, {
    shorthand: "srv", minItems: 1, noun: "discovery source",
    defaultText: "none: the servers in the file only",
    description: `Sources that add servers to the file's: { dns = "redis.service.consul", port = 6379 }, { srv = "_redis._tcp.service.consul" }, { sqlite = "routing.db", app = "redis" }. A bare string is an SRV name.`,
    build: (v): DiscoveryValues => v,
  })),
  on_down: oneOf(["keep", "close_sessions"] as const, {
    default: "keep",
    description: `What happens to sessions on a server that goes down, is disabled or is removed: "keep" lets them run; "close_sessions" resets them, so clients reconnect to a server that is up (HAProxy's on-marked-down shutdown-sessions).`,
  }),
} as const;

/** The sources as the Workers and the main thread use them; problems (named by `path`) pushed, those items left out. */
export function readDiscovery(items: readonly DiscoveryValues[], path: string, source: string, problems: string[]): DiscoveryConfig[] {
  return items.flatMap((v, i): DiscoveryConfig[] => {
    const at = `${path}.discovery[${i}]`;
    const given = DISCOVERY_KINDS.filter((k) => v[k] !== undefined);
    if (given.length !== 1) {
      problems.push(`${at}: give exactly one of dns, srv and sqlite${given.length ? ` (got ${given.join(" and ")})` : ""}`);
      return [];
    }
    const strays = (allowed: readonly string[]) => (["port", "app"] as const).filter((k) => v[k] !== undefined && !allowed.includes(k));
    const stray = strays(v.dns !== undefined ? ["port"] : v.sqlite !== undefined ? ["app"] : []);
    if (stray.length) {
      problems.push(`${at}.${stray[0]}: only with ${stray[0] === "port" ? "dns (SRV records and SQLite rows carry their own port)" : "sqlite"}`);
      return [];
    }
    if (v.dns !== undefined || v.srv !== undefined) {
      const host = (v.dns ?? v.srv)!.replace(/\.$/, "").toLowerCase();
      if (!/^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(host) || host.length > 253) {
        problems.push(`${at}.${v.dns !== undefined ? "dns" : "srv"}: ${JSON.stringify(v.dns ?? v.srv)} is not a DNS name`);
        return [];
      }
      const common = { name: host, intervalMs: v.interval ?? DNS_INTERVAL_MS, holdMs: v.hold };
      if (v.srv !== undefined) return [{ kind: "srv", ...common }];
      if (v.port === undefined) {
        problems.push(`${at}: dns = ${JSON.stringify(v.dns)} needs a port (the servers' port)`);
        return [];
      }
      return [{ kind: "dns", ...common, port: v.port }];
    }
    if (v.app === undefined) {
      problems.push(`${at}: sqlite = ${JSON.stringify(v.sqlite)} needs app (whose rows of the table are this upstream's servers)`);
      return [];
    }
    return [{ kind: "sqlite", path: fromConfig(source, v.sqlite!), table: v.table, app: v.app, intervalMs: v.interval ?? SQLITE_INTERVAL_MS, holdMs: v.hold }];
  });
}

/** The state file's full path, relative to the config file; null: none. */
export function stateFileOf(path: string | undefined, source: string): string | null {
  return path === undefined ? null : fromConfig(source, path);
}

/** A source's key in its upstream, in logs, metrics and the state file: "dns:NAME:PORT", "srv:NAME", "sqlite:PATH#APP". */
export function discoveryLabel(d: DiscoveryConfig): string {
  return d.kind === "dns" ? `dns:${d.name}:${d.port}` : d.kind === "srv" ? `srv:${d.name}` : `sqlite:${d.path}#${d.app}`;
}
