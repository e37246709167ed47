// The config schema: one table of keys per section. The loader, the README reference and the JSON Schema read it.
import type { BalanceAlgorithm, LogLevel, ServerConfig } from "./types.ts";
import { integer, boolean, name, duration, address, oneOf, list, optional, type Fields } from "./fields.ts";

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const satisfies readonly LogLevel[];

/** Add a new algorithm here and to BalanceAlgorithm in types.ts; the check below keeps the two equal. */
export const BALANCE_ALGORITHMS = ["round_robin"] as const satisfies readonly BalanceAlgorithm[];
const _everyAlgorithmListed: Exclude<BalanceAlgorithm, (typeof BALANCE_ALGORITHMS)[number]> extends never ? true : never = true;
void _everyAlgorithmListed;

export const GLOBAL = {
  workers: integer({ min: 0, max: 1024, default: 0, description: "Worker threads; 0 means one per core." }),
  max_connections: integer({ min: 1, max: 10_000_000, default: 10_000, description: "Process-wide cap on concurrent client connections." }),
  shutdown_grace: duration({ min: 0, default: "30s", description: "How long open sessions may run on after SIGTERM before they are closed." }),
  log_level: oneOf(LOG_LEVELS, { default: "info", description: "Least severe log level written." }),
  access_log: boolean({ default: true, description: "Write one JSON line per finished session on stdout." }),
} satisfies Fields;

export const METRICS = {
  enabled: boolean({ default: true, description: "Serve metrics; false turns the endpoint off." }),
  listen: address({ use: "bind", default: "127.0.0.1:8082", description: "Address of the metrics endpoint." }),
} satisfies Fields;

export const LISTENER = {
  name: optional(name({
    description: "Unique name used in logs and metrics.",
    defaultText: `the upstream's name when no other listener uses that upstream, else "listener-<index>"`,
  })),
  bind: address({ use: "bind", required: true, description: "Address to accept client connections on; port 0 lets the kernel pick." }),
  upstream: name({ required: true, description: "Name of the [[upstream]] that receives the connections." }),
  idle_timeout: duration({ min: 0, default: "10m", description: "Close a session after this long without traffic either way; \"0s\" disables it." }),
} satisfies Fields;

export const SERVER = {
  address: address({ use: "connect", required: true, description: "host:port of the server." }),
  weight: integer({ min: 1, max: 1000, default: 1, description: "Relative share of new connections." }),
} satisfies Fields;

export const UPSTREAM = {
  name: name({ required: true, description: "Unique name that listeners refer to." }),
  balance: oneOf(BALANCE_ALGORITHMS, { default: "round_robin", description: "How a server is picked for each new connection." }),
  connect_timeout: duration({ min: 1, default: "3s", description: "Give up on a server connect after this long." }),
  retries: integer({ min: 0, max: 100, default: 2, description: "Other servers tried when a connect fails." }),
  pool: integer({ min: 0, max: 1000, default: 0, description: "Pre-connected sockets kept per Worker per server; 0 turns pooling off." }),
  pool_max_idle: duration({ min: 1, default: "60s", description: "A pooled socket idle longer than this is closed and replaced." }),
  servers: list(SERVER, {
    required: true,
    shorthand: "address",
    minItems: 1,
    noun: "server",
    description: `Servers, each "host:port" or { address = "host:port", weight = 2 }.`,
    // The label is the address as written, so logs and metrics match the file.
    build: (v, table): ServerConfig => ({ name: table.address as string, address: v.address, weight: v.weight }),
  }),
} satisfies Fields;

export interface SectionSchema {
  /** Top-level key in the file. */
  readonly key: string;
  /** "table" is written [key]; "array" is written [[key]], once per item. */
  readonly kind: "table" | "array";
  readonly description: string;
  readonly fields: Fields;
}

/** Every section of the file, in the order the README documents them. */
export const SCHEMA: readonly SectionSchema[] = [
  { key: "global", kind: "table", description: "Process-wide settings.", fields: GLOBAL },
  { key: "metrics", kind: "table", description: "The metrics endpoint.", fields: METRICS },
  { key: "listener", kind: "array", description: "An address aegis accepts connections on, and where they go.", fields: LISTENER },
  { key: "upstream", kind: "array", description: "A group of servers that connections are balanced across.", fields: UPSTREAM },
];

/** How a section is written in a file: [global], [[listener]]. */
export function sectionHeader(s: SectionSchema): string {
  return s.kind === "table" ? `[${s.key}]` : `[[${s.key}]]`;
}
