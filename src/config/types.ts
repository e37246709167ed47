// The validated, fully defaulted configuration that the rest of aegis consumes.
// Everything here is plain data (structured-clone safe) so it can be posted to Workers.

export type LogLevel = "error" | "warn" | "info" | "debug";
export type LogFormat = "json" | "text";

/** A parsed host:port. `host` is an IP literal or a name, without brackets for IPv6. */
export interface Address {
  host: string;
  port: number;
}

export interface GlobalConfig {
  /** Worker threads; 0 in the file means one per core and is resolved here. */
  workers: number;
  /** Process-wide cap on concurrent client connections. */
  maxConnections: number;
  shutdownGraceMs: number;
  /** buffer_budget: bytes of unsent data one Worker may hold for all its sessions. */
  bufferBudget: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  accessLog: boolean;
  /** Reload when the config file changes. */
  watch: boolean;
  /** The GeoIP databases country routes read; null: none configured. */
  geoip: GeoConfig | null;
  /** Region name to the countries (ISO codes, upper case) in it; empty when none are given. */
  regions: Record<string, string[]>;
  /** DNS servers discovery asks, in order; empty: the nameservers of /etc/resolv.conf. */
  resolvers: Address[];
  /** Where admin states, runtime weights, API servers, health and discovery's last good sets are kept; null: nowhere. */
  stateFile: string | null;
}

/** GeoIP databases as checked at load: the Workers open them again at start and at every reload. */
export interface GeoConfig {
  /** Absolute paths. */
  files: string[];
  /** Changes when a file does, so a reload with a new database is a config change. */
  fingerprint: string;
  /** What each file holds, for `aegis check`. */
  describe: string[];
}

/** true: the client's own region (its country through [global.regions]); a string: that region. */
export type RegionPreference = true | string;

export type ProxyProtocolVersion = 1 | 2;

/** A listener that expects a PROXY protocol header before the client's bytes. */
export interface ProxyProtocolConfig {
  accept: "v1" | "v2" | "any";
  /** Canonical CIDR text of the peers allowed to send one; others are refused. */
  from: string[];
  timeoutMs: number;
}

/** Sticky clients: a client goes back to its last server for ttl after its last session. */
export interface StickConfig {
  ttlMs: number;
  maxEntries: number;
}

export interface MetricsConfig {
  /** null when `[metrics]` sets `enabled = false`. */
  listen: Address | null;
  /** Canonical CIDRs of the clients the metrics listener answers (others get 403); absent: everyone. */
  allow?: string[];
}

export interface AdminConfig {
  /** Bearer token for /api/ on the metrics listener (read from token_file when given so). */
  token: string;
}

export interface ListenerConfig {
  name: string;
  bind: Address;
  /** Name of an entry in `upstreams`; validated to exist. */
  upstream: string;
  idleTimeoutMs: number;
  /** buffer_limit: unsent bytes held per direction of one session. */
  bufferLimit: number;
  /** Who may connect and how much one client address may take; absent when the listener sets none of it. */
  admission?: ListenerAdmissionConfig;
  /** TLS terminated here; absent: the bytes pass through as they come. */
  tls?: ListenerTlsConfig;
  /** Routes tried in order before `upstream` (the default route); absent when there are none. */
  routes?: RouteConfig[];
  /** How long and how much to wait for what the routes read (a ClientHello); absent: the defaults. */
  inspect?: InspectConfig;
  /** A PROXY protocol header comes first (from the balancers in `from`); absent: off. */
  proxyProtocol?: ProxyProtocolConfig;
  /** The default route's region preference; absent: none. */
  preferRegion?: RegionPreference;
}

/** A file the config names, with what it held when the config was loaded. */
export interface PemFile {
  /** Absolute path. */
  file: string;
  pem: string;
}

/** A certificate (with its chain) and its private key, as loaded and checked. */
export interface CertificateConfig {
  cert: PemFile;
  /** The key's file: the certificate's own file when it holds both, as HAProxy's crt does. */
  key: PemFile;
  /** The leaf's common name (else its whole subject), for logs and the expiry gauge. */
  subject: string;
  /** DNS and IP names of the leaf (its SANs; the CN when it has none): a client's SNI picks by these. */
  names: string[];
  /** When the leaf expires, ms since the epoch. */
  notAfter: number;
  /** SHA-256 of the leaf: a reload that changes only a file's content still changes the config. */
  fingerprint: string;
}

export type TlsVersion = "1.2" | "1.3";
/** `tls`: the client starts TLS at once. `postgres`: PostgreSQL's SSLRequest is answered first, then TLS. */
export type TlsMode = "tls" | "postgres";

export interface ListenerTlsConfig {
  mode: TlsMode;
  /** The first is served when the client's SNI matches no other (or it sends none). */
  certificates: CertificateConfig[];
  /** CA certificates client certificates must chain to; null: none are asked for. */
  clientCa: PemFile | null;
  /** Refuse a client without a valid certificate (mTLS). */
  requireClientCert: boolean;
  minVersion: TlsVersion;
  /** ALPN protocols offered, in order of preference; empty: ALPN is not negotiated. */
  alpn: string[];
}

/** One [[listener.route]]: taken when every given matcher matches. */
export interface RouteConfig {
  /** Server names (exact, or `*.` one-label wildcards), lower case; empty: any. */
  sni: string[];
  /** ALPN protocols, any of which the client offers; empty: any. */
  alpn: string[];
  /** Client CIDR blocks (canonical text); empty: any. */
  source: string[];
  /** Client countries (ISO codes, upper case); empty: any. */
  country: string[];
  preferRegion: RegionPreference | null;
  upstream: string;
}

export interface InspectConfig {
  timeoutMs: number;
  maxBytes: number;
}

/** TLS from aegis to an upstream's servers. */
export interface UpstreamTlsConfig {
  /** SNI sent and the name verified; null: the server's host when it is a name, else none (the IP is verified). */
  serverName: string | null;
  /** Verify the server's certificate (against `ca`, else the system roots). */
  verify: boolean;
  ca: PemFile | null;
  /** Client certificate for servers that want one (mTLS); null: none. */
  certificate: CertificateConfig | null;
  alpn: string[];
}

export interface ListenerAdmissionConfig {
  /** CIDR blocks in canonical text ("10.0.0.0/8", "::1/128"); an empty allow list admits everyone not denied. */
  allow: string[];
  /** Denied blocks; deny wins over allow. */
  deny: string[];
  /** Open connections one client address may have (an IPv6 client is its /64); 0 = no cap. */
  maxConnectionsPerIp: number;
  /** New connections one client address may open: a token bucket; null = no rate limit. */
  connectionRatePerIp: RateLimit | null;
}

/** "50/10s": a bucket of `count` tokens that refills completely in `periodMs`. */
export interface RateLimit {
  readonly count: number;
  readonly periodMs: number;
}

/** Where a server came from: the file, a discovery source, or the admin API. */
export type ServerSource = "file" | "dns" | "srv" | "sqlite" | "api";

export interface ServerConfig {
  /** Label used in metrics, the API, the status page and logs: `name` in the file, else "host:port" as written. Unique in its upstream. */
  name: string;
  /** Absent: the file. */
  source?: ServerSource;
  address: Address;
  weight: number;
  /** Takes connections only when no primary (non-backup) server of its upstream is eligible. */
  backup: boolean;
  /** Hard cap on sessions to this server, all Workers together; absent = none. */
  maxConnections?: number;
  /** From this many sessions on, balancers treat the server as busy; absent = none. */
  softLimit?: number;
  /** Where the server is, for prefer_region; absent = none. */
  region?: string;
}

/**
 * A discovery source of an upstream: it adds servers to the file's. Each keeps its last good set for
 * `holdMs` when a lookup fails or comes back empty.
 */
export type DiscoveryConfig =
  /** A/AAAA records of `name`, each address a server on `port`; asked again when the TTL runs out, at most every `intervalMs`. */
  | { kind: "dns"; name: string; port: number; intervalMs: number; holdMs: number }
  /** SRV records: target and port; weight becomes the server's weight; the lowest priority are primaries, the rest backups. */
  | { kind: "srv"; name: string; intervalMs: number; holdMs: number }
  /** Rows of edgeProxy's `backends` table with this `app`: wg_ip and port, weight, region, soft and hard limits; re-read when the file changes. */
  | { kind: "sqlite"; path: string; table: string; app: string; intervalMs: number; holdMs: number };

export type BalanceAlgorithm =
  | "round_robin" | "least_conn" | "random" | "p2c" | "p2c_ewma" | "source" | "consistent" | "first";

/** Active health check of every server of an upstream, run once by the main thread. */
export interface HealthCheckConfig {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that bring a down server up, and failures that take an up one down. */
  rise: number;
  fall: number;
  /** Bytes sent after connecting, hex-encoded; null checks the connect alone. */
  sendHex: string | null;
  /** What the reply must contain; null means connecting (and sending) is enough. */
  expect: { kind: "bytes"; hex: string } | { kind: "regex"; source: string } | null;
  /** A check that speaks the server's protocol, in place of send/expect; absent: "tcp" (send/expect). */
  check?: ProtocolCheck;
  /** The port checks connect to on each server's host (Patroni's REST API beside PostgreSQL); absent: the server's port. */
  port?: number;
  /** While loading only: redis's password_file as written, read and dropped by upstreams.ts. */
  passwordFile?: string;
}

export type ProtocolCheck =
  /** PING (after AUTH with the password, when given); with role, INFO replication's role too. */
  | { kind: "redis"; password: string | null; username: string | null; role: "primary" | "replica" | null }
  /** A StartupMessage: an authentication request (R) or an error (E) proves a live PostgreSQL. */
  | { kind: "postgres"; user: string; database: string | null }
  /** The server's greeting (protocol 10) parses; an error packet fails with its message. */
  | { kind: "mysql" }
  /** GET path; the status must be one of `status` ("200", "2xx", "200,204"). */
  | { kind: "http"; path: string; status: string; host: string | null };

export interface UpstreamConfig {
  name: string;
  balance: BalanceAlgorithm;
  connectTimeoutMs: number;
  /** How many other servers are tried after a failed connect. */
  retries: number;
  /** Pre-connected sockets per Worker per server; 0 = off. */
  pool: number;
  /** A pooled socket idle longer than this is closed and replaced. */
  poolMaxIdleMs: number;
  /** Active checks; null when the upstream has no `health` table. */
  health: HealthCheckConfig | null;
  /** Passive checks: consecutive connect failures or resets that eject a server; 0 turns them off. */
  failThreshold: number;
  /** First ejection length; it doubles for each ejection in a row. */
  ejectForMs: number;
  servers: ServerConfig[];
  /** Sessions waiting when every eligible server is at max_connections; absent when no server has a hard cap. */
  queue?: { size: number; timeoutMs: number };
  /** TLS to the servers; absent: plain TCP. */
  tls?: UpstreamTlsConfig;
  /** A PROXY protocol header sent to the servers first; absent: none. */
  sendProxy?: ProxyProtocolVersion;
  /** Sticky clients; absent: none. */
  stick?: StickConfig;
  /** Sources that add servers; absent: the file's servers only. */
  discovery?: DiscoveryConfig[];
  /** "close_sessions": sessions on a server that goes down, is disabled or is removed are reset (HAProxy's on-marked-down shutdown-sessions). Absent: keep them. */
  onDown?: "close_sessions";
}

export interface Config {
  /** Path of the file it came from, or "<demo>" / "<inline>". */
  source: string;
  global: GlobalConfig;
  metrics: MetricsConfig;
  /** Absent when no token is configured: the admin API is off. */
  admin?: AdminConfig;
  listeners: ListenerConfig[];
  upstreams: UpstreamConfig[];
}
