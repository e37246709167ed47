// The config schema: one table of keys per section. The loader, the README reference and the JSON Schema read it.
import type { BalanceAlgorithm, HealthCheckConfig, LogFormat, LogLevel, ProtocolCheck, ServerConfig } from "./types.ts";
import { integer, size, boolean, name, duration, address, oneOf, list, optional, table, text, rate, cidrs, type Fields } from "./fields.ts";
import { ConfigError } from "./errors.ts";
import { formatDuration } from "./duration.ts";
import { inspectField, listenerTlsField, routesField, upstreamTlsField } from "./tls.ts";
import { GLOBAL_CLIENT, LISTENER_CLIENT, SERVER_CLIENT, UPSTREAM_CLIENT } from "./client.ts";
import { GLOBAL_DISCOVERY, UPSTREAM_DISCOVERY } from "./discovery.ts";

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const satisfies readonly LogLevel[];
export const LOG_FORMATS = ["json", "text"] as const satisfies readonly LogFormat[];

/** Add a new algorithm here and to BalanceAlgorithm in types.ts; the check below keeps the two equal. */
export const BALANCE_ALGORITHMS = [
  "round_robin", "least_conn", "random", "p2c", "p2c_ewma", "source", "consistent", "first",
] as const satisfies readonly BalanceAlgorithm[];
const _everyAlgorithmListed: Exclude<BalanceAlgorithm, (typeof BALANCE_ALGORITHMS)[number]> extends never ? true : never = true;
void _everyAlgorithmListed;

export const GLOBAL = {
  workers: integer({ min: 0, max: 1024, default: 0, description: "Worker threads; 0 means one per core." }),
  max_connections: integer({ min: 1, max: 10_000_000, default: 10_000, description: "Process-wide cap on concurrent client connections." }),
  shutdown_grace: duration({ min: 0, default: "30s", description: "How long open sessions may run on after SIGTERM before they are closed." }),
  log_level: oneOf(LOG_LEVELS, { default: "info", description: "Least severe log level written." }),
  access_log: boolean({ default: true, description: "Write one line per finished session on stdout (in log_format)." }),
  log_format: oneOf(LOG_FORMATS, { default: "json", description: "Log lines as JSON objects, or as `time level msg key=value` text." }),
  buffer_budget: size({
    min: 1024 * 1024, max: 64 * 1024 ** 3, default: "256MiB",
    description: "The most unsent bytes one Worker holds for all its sessions together; past it a session that must hold more stops reading until memory frees (no data is dropped).",
  }),
  watch: boolean({ default: false, description: "Reload by itself when the config file changes (as on SIGHUP)." }),
  ...GLOBAL_CLIENT,
  ...GLOBAL_DISCOVERY,
} satisfies Fields;

export const METRICS = {
  enabled: boolean({ default: true, description: "Serve metrics; false turns the endpoint off." }),
  listen: address({ use: "bind", default: "127.0.0.1:8082", description: "Address of the metrics endpoint." }),
  allow: optional(cidrs({
    defaultText: "[] (every client)",
    description: `Client addresses or CIDRs that may use the metrics listener (/metrics, /metrics.json, the status page, /api/), e.g. ["10.0.0.0/8", "::1"]; others get 403. aegis warns when it listens beyond loopback without it (the [admin] token guards only /api/).`,
  })),
} satisfies Fields;

/** The admin API shares the metrics listener; a token is what turns it on. */
export const ADMIN = {
  token: optional(text({
    defaultText: "none: the admin API is off",
    description: "Bearer token for the admin API under /api/ on the metrics listener: at least 16 printable characters, no spaces.",
  })),
  token_file: optional(text({
    defaultText: "none",
    description: "A file holding the token (surrounding whitespace ignored), relative to the config file; instead of token.",
  })),
} satisfies Fields;

export const LISTENER = {
  name: optional(name({
    description: "Unique name used in logs and metrics.",
    defaultText: `the upstream's name when no other listener uses that upstream, else "listener-<index>"`,
  })),
  bind: address({ use: "bind", required: true, description: "Address to accept client connections on; port 0 lets the kernel pick." }),
  upstream: name({ required: true, description: "Name of the [[upstream]] that receives the connections." }),
  idle_timeout: duration({ min: 0, default: "10m", description: "Close a session after this long without traffic either way; \"0s\" disables it." }),
  buffer_limit: size({
    min: 16 * 1024, max: 64 * 1024 * 1024, default: "256KiB",
    description: "Unsent bytes a session holds per direction before it stops reading that side (the kernel then pushes back on the sender). Bun reads up to 512 KiB at once, so the read that reaches it can pass it by that much.",
  }),
  allow: optional(cidrs({
    defaultText: "[] (every address not denied)",
    description: `Client addresses or CIDRs admitted, IPv4 or IPv6, e.g. ["10.0.0.0/8", "::1"]; others are refused at accept. IPv4-mapped IPv6 clients match IPv4 entries.`,
  })),
  deny: optional(cidrs({
    defaultText: "[]",
    description: "Client addresses or CIDRs refused at accept; deny wins over allow.",
  })),
  max_connections_per_ip: integer({
    min: 0, max: 10_000_000, default: 0,
    description: "Open connections one client address may have, all Workers together (an IPv6 client counts by its /64); 0 means no cap.",
  }),
  connection_rate_per_ip: optional(rate({
    defaultText: "no rate limit",
    description: `New connections one client address may open: "50/10s" is a bucket of 50 that refills over 10 s (a burst of 50, then one per 200 ms).`,
  })),
  tls: listenerTlsField(),
  route: routesField(),
  inspect: inspectField(),
  ...LISTENER_CLIENT,
} satisfies Fields;

/** A server's weight; the admin API's weight change checks against the same bounds. */
export const WEIGHT_BOUNDS = { min: 1, max: 1000 } as const;

/**
 * An upstream's queue when the file says nothing. 100 absorbs a burst (a place frees within
 * milliseconds when sessions are short) while bounding the clients held, and what they sent, when
 * servers stay full; like HAProxy's maxqueue, not unlimited. Also what a hand-built config (the
 * demo, tests) that leaves the queue out gets.
 */
export const QUEUE_DEFAULTS = { size: 100, timeoutMs: 5_000 } as const;

/** A server name goes into API paths and metric labels: printable, no slash, no spaces. */
export const notServerName = (v: string) => (/^[A-Za-z0-9._:\[\]@-]{1,128}$/.test(v) ? undefined : "is not a server name (1 to 128 of A-Z a-z 0-9 . _ : - @ [ ], no spaces or slashes)");

export const SERVER = {
  address: address({ use: "connect", required: true, description: "host:port of the server." }),
  name: optional(text({ check: notServerName, defaultText: "the address as written", description: "The server's label in metrics, the status page, the API paths, the access log and aegis check; unique in its upstream." })),
  weight: integer({ ...WEIGHT_BOUNDS, default: 1, description: "Relative share of new connections." }),
  backup: boolean({ default: false, description: "Take connections only while no primary (non-backup) server is up; primaries at max_connections queue new sessions instead." }),
  max_connections: integer({
    min: 0, max: 10_000_000, default: 0,
    description: "Hard cap on sessions to this server, all Workers together; when every server is full, new sessions wait in the upstream's queue. 0 means no cap.",
  }),
  soft_limit: integer({
    min: 0, max: 10_000_000, default: 0,
    description: "From this many sessions on, the balancer prefers other servers (below max_connections); 0 means none.",
  }),
  ...SERVER_CLIENT,
} satisfies Fields;

/** Text that goes into a protocol message as is: no control characters (a NUL would end a PostgreSQL field). */
const printable = (v: string) => (v !== "" && !/[\x00-\x1f\x7f]/.test(v) ? undefined : "must be non-empty text without control characters");

const CHECKS = ["tcp", "redis", "postgres", "mysql", "http"] as const;
/** The keys that belong to one check only, and which. */
const CHECK_KEYS: Record<string, (typeof CHECKS)[number]> = {
  send: "tcp", send_hex: "tcp", expect: "tcp", expect_hex: "tcp", expect_regex: "tcp",
  password_file: "redis", username: "redis", user: "postgres", database: "postgres", path: "http", status: "http", host: "http",
};

const HEX = /^([0-9a-fA-F]{2})+$/;
const notHex = (v: string) => (HEX.test(v.replace(/\s+/g, "")) ? undefined : "is not hex bytes (pairs of 0-9a-f, e.g. \"0d0a\")");
const notRegex = (v: string) => {
  try {
    new RegExp(v);
    return undefined;
  } catch (e) {
    return `is not a valid regular expression: ${(e as Error).message}`;
  }
};

/** Text to hex: what a `send`/`expect` string means on the wire (UTF-8, TOML escapes already applied). */
const toHex = (v: string) => Buffer.from(v, "utf8").toString("hex");

export const HEALTH = {
  interval: duration({ min: 100, default: "2s", description: "Time between two checks of a server." }),
  timeout: duration({ min: 1, default: "1s", description: "A check that has not succeeded by then fails." }),
  rise: integer({ min: 1, max: 100, default: 2, description: "Consecutive successes that bring a down server back up." }),
  fall: integer({ min: 1, max: 100, default: 3, description: "Consecutive failures that take an up server down." }),
  send: optional(text({ defaultText: "nothing: the connect alone is checked", description: `Sent after connecting, e.g. "PING\\r\\n" (TOML escapes apply).` })),
  send_hex: optional(text({ check: notHex, defaultText: "nothing", description: "Sent after connecting, as hex bytes; instead of send." })),
  expect: optional(text({ defaultText: "nothing: connecting (and sending) is enough", description: `The reply must contain this text, e.g. "+PONG".` })),
  expect_hex: optional(text({ check: notHex, defaultText: "nothing", description: "The reply must contain these hex bytes; instead of expect." })),
  expect_regex: optional(text({ check: notRegex, defaultText: "nothing", description: "The reply (as text) must match this regular expression; instead of expect." })),
  check: oneOf(CHECKS, { default: "tcp", description: `What a check speaks: "tcp" (connect, then send/expect if given), "redis" (AUTH, PING, and role), "postgres" (a StartupMessage: R or E proves a live server), "mysql" (the greeting), "http" (GET path, expect status).` }),
  password_file: optional(text({ defaultText: "none: no AUTH", description: "redis: a file holding the password for AUTH (surrounding whitespace ignored), relative to the config file." })),
  username: optional(text({ defaultText: "none (the default user)", description: "redis: the ACL user AUTH names, with password_file." })),
  role: oneOf(["any", "primary", "replica"] as const, { default: "any", description: `redis: the role INFO replication must show (role:master is "primary", role:slave "replica"); a server in the other role is down.` }),
  user: optional(text({ check: printable, defaultText: `"aegis"`, description: "postgres: the user the StartupMessage names (no password is sent: an authentication request is the answer that proves a live server)." })),
  database: optional(text({ check: printable, defaultText: "the user's", description: "postgres: the database the StartupMessage names." })),
  path: optional(text({ check: (v) => (v.startsWith("/") && !/[\s]/.test(v) ? undefined : "must start with / and have no spaces"), defaultText: `"/"`, description: `http: the path to GET, e.g. "/primary" for Patroni.` })),
  status: optional(text({ check: (v) => (/^([1-5]xx|[1-5]\d\d)(\s*,\s*([1-5]xx|[1-5]\d\d))*$/.test(v) ? undefined : `is not a status list such as "200", "2xx" or "200,204"`), defaultText: `"2xx"`, description: `http: the statuses that pass, e.g. "200", "2xx", "200,204".` })),
  host: optional(text({ check: (v) => (/^[A-Za-z0-9.:\[\]_-]{1,255}$/.test(v) ? undefined : "is not a host name (letters, digits, . : - _ [ ] only: no spaces or line breaks)"), defaultText: "the server's address", description: "http: the Host header." })),
  port: optional(integer({ min: 1, max: 65535, defaultText: "the server's own port", description: `The port checks connect to on each server's host, in place of the server's port (HAProxy's check port): e.g. 8008 for Patroni's REST API in front of PostgreSQL on 5432.` })),
} satisfies Fields;

type HealthValues = { interval: number; timeout: number; rise: number; fall: number; send?: string; send_hex?: string; expect?: string; expect_hex?: string; expect_regex?: string;
  check: (typeof CHECKS)[number]; password_file?: string; username?: string; role: "any" | "primary" | "replica"; user?: string; database?: string; path?: string; status?: string; host?: string; port?: number };

/**
 * Keys of a health table that do not go together. `v` may lack keys that did not convert (a bad
 * check, a bad interval): each rule looks only at what it has, so its problem joins theirs.
 */
function healthProblems(v: Partial<HealthValues>, path: string): string[] {
  const problems: string[] = [];
  if (v.check !== undefined) {
    for (const [key, belongs] of Object.entries(CHECK_KEYS)) {
      if ((v as Record<string, unknown>)[key] !== undefined && belongs !== v.check) problems.push(`${path}.${key}: only with check = "${belongs}" (this check is "${v.check}")`);
    }
    if (v.role !== undefined && v.role !== "any" && v.check !== "redis") problems.push(`${path}.role: only with check = "redis"; for PostgreSQL behind Patroni use check = "http" with path = "/primary"`);
  }
  if (v.username !== undefined && v.password_file === undefined) problems.push(`${path}.username: needs password_file`);
  if (v.send !== undefined && v.send_hex !== undefined) problems.push(`${path}: give send or send_hex, not both`);
  const expects = [v.expect, v.expect_hex, v.expect_regex].filter((e) => e !== undefined).length;
  if (expects > 1) problems.push(`${path}: give only one of expect, expect_hex and expect_regex`);
  if (v.timeout !== undefined && v.interval !== undefined && v.timeout > v.interval) problems.push(`${path}.timeout: must not be longer than interval, or checks would overlap`);
  return problems;
}

function buildHealth(v: HealthValues): HealthCheckConfig {
  const sendHex = v.send !== undefined ? toHex(v.send) : v.send_hex !== undefined ? v.send_hex.replace(/\s+/g, "").toLowerCase() : null;
  const expect: HealthCheckConfig["expect"] =
    v.expect !== undefined ? { kind: "bytes", hex: toHex(v.expect) }
    : v.expect_hex !== undefined ? { kind: "bytes", hex: v.expect_hex.replace(/\s+/g, "").toLowerCase() }
    : v.expect_regex !== undefined ? { kind: "regex", source: v.expect_regex }
    : null;
  const check: ProtocolCheck | undefined =
    v.check === "redis" ? { kind: "redis", password: null, username: v.username ?? null, role: v.role === "any" ? null : v.role }
    : v.check === "postgres" ? { kind: "postgres", user: v.user ?? "aegis", database: v.database ?? null }
    : v.check === "mysql" ? { kind: "mysql" }
    : v.check === "http" ? { kind: "http", path: v.path ?? "/", status: (v.status ?? "2xx").replace(/\s+/g, ""), host: v.host ?? null }
    : undefined;
  return {
    intervalMs: v.interval, timeoutMs: v.timeout, rise: v.rise, fall: v.fall, sendHex: sendHex || null, expect,
    ...(check ? { check } : {}),
    ...(v.port !== undefined ? { port: v.port } : {}),
    // Read by upstreams.ts, which knows the config file's directory, then dropped.
    ...(v.password_file !== undefined ? { passwordFile: v.password_file } : {}),
  };
}

/** A server's limits, present only when set, so a config without them reads as before. */
function serverLimits(v: { max_connections: number; soft_limit: number }): Pick<ServerConfig, "maxConnections" | "softLimit"> {
  return { ...(v.max_connections > 0 ? { maxConnections: v.max_connections } : {}), ...(v.soft_limit > 0 ? { softLimit: v.soft_limit } : {}) };
}

export const UPSTREAM = {
  name: name({ required: true, description: "Unique name that listeners refer to." }),
  balance: oneOf(BALANCE_ALGORITHMS, { default: "round_robin", description: "How a server is picked for each new connection." }),
  connect_timeout: duration({ min: 1, default: "3s", description: "Give up on a server connect after this long." }),
  retries: integer({ min: 0, max: 100, default: 2, description: "Other servers tried when a connect fails." }),
  pool: integer({ min: 0, max: 1000, default: 0, description: "Pre-connected sockets kept per Worker per server while it is up (none to a draining, disabled, down or ejected one); 0 turns pooling off." }),
  // Below the handshake timeouts of common servers (MySQL and MariaDB connect_timeout 10 s, PostgreSQL
  // authentication_timeout 60 s): a pooled socket never speaks, so past theirs the server aborts it.
  pool_max_idle: duration({ min: 1, default: "5s", description: "A pooled socket idle longer than this is closed and replaced; keep it below the server's handshake timeout (MySQL and MariaDB connect_timeout: 10s)." }),
  health: optional(table(HEALTH, {
    defaultText: "no active checks: servers count as up until passive checks eject them",
    description: `Active checks, e.g. { interval = "2s", timeout = "1s", rise = 2, fall = 3, send = "PING\\r\\n", expect = "+PONG" }; without it servers are assumed up.`,
    check: healthProblems,
    build: buildHealth,
  })),
  fail_threshold: integer({ min: 0, max: 1000, default: 5, description: "Passive checks: consecutive connect failures or resets that eject a server; 0 turns them off." }),
  eject_for: duration({ min: 1, default: "10s", description: "How long an ejected server is skipped; doubles for each ejection in a row, up to 5 minutes." }),
  queue: integer({
    min: 0, max: 1_000_000, default: QUEUE_DEFAULTS.size,
    description: "Sessions that may wait, all Workers together, when every eligible server is at its max_connections; past it they are refused (queue_full). 0 refuses at once. Unused without max_connections.",
  }),
  queue_timeout: duration({ min: 1, default: formatDuration(QUEUE_DEFAULTS.timeoutMs), description: "A session waiting in the queue longer than this is refused (queue_timeout)." }),
  servers: optional(list(SERVER, {
    shorthand: "address",
    minItems: 0,
    defaultText: "none: then discovery must give them",
    noun: "server",
    description: `Servers, each "host:port" or { address = "host:port", weight = 2, backup = true, region = "eu-west" }.`,
    // The label is the address as written, so logs and metrics match the file.
    build: (v, table): ServerConfig => ({ name: v.name ?? (table.address as string), address: v.address, weight: v.weight, backup: v.backup, ...serverLimits(v), ...(v.region ? { region: v.region } : {}) }),
  })),
  tls: upstreamTlsField(),
  ...UPSTREAM_CLIENT,
  ...UPSTREAM_DISCOVERY,
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
  { key: "admin", kind: "table", description: "The admin API, served under /api/ on the metrics listener; off without a token.", fields: ADMIN },
  { key: "listener", kind: "array", description: "An address aegis accepts connections on, and where they go.", fields: LISTENER },
  { key: "upstream", kind: "array", description: "A group of servers that connections are balanced across.", fields: UPSTREAM },
];

/** How a section is written in a file: [global], [[listener]]. */
export function sectionHeader(s: SectionSchema): string {
  return s.kind === "table" ? `[${s.key}]` : `[[${s.key}]]`;
}
