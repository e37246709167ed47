// Generated from src/config/schema.ts by `bun scripts/readme-reference.ts`; do not edit.
// A config object for startProxy: the keys of aegis.toml, written as TypeScript. [[listener]] and
// [[upstream]] are arrays; durations are strings such as "30s" (or 0); the values are checked as a
// file's are, so the type says what fits and the loader says what is wrong with the rest.

/** A duration such as "30s", "1m30s", "250ms" or "2h" (units d, h, m, s, ms); zero may be written 0. */
export type Duration = string | 0;

/** A whole aegis config: the object form of aegis.toml. */
export interface ConfigInput {
  /** [global]: Process-wide settings. */
  global?: GlobalInput;
  /** [metrics]: The metrics endpoint. */
  metrics?: MetricsInput;
  /** [admin]: The admin API, served under /api/ on the metrics listener; off without a token. */
  admin?: AdminInput;
  /** [[listener]]: An address aegis accepts connections on, and where they go. */
  listener: readonly ListenerInput[];
  /** [[upstream]]: A group of servers that connections are balanced across. */
  upstream: readonly UpstreamInput[];
}

/** Process-wide settings. */
export interface GlobalInput {
  /** Worker threads; 0 means one per core. An integer, 0 to 1024. Default: 0. */
  workers?: number;
  /** Process-wide cap on concurrent client connections. An integer, 1 to 10000000. Default: 10000. */
  max_connections?: number;
  /** How long open sessions may run on after SIGTERM before they are closed. Default: "30s". */
  shutdown_grace?: Duration;
  /** Least severe log level written. Default: "info". */
  log_level?: "error" | "warn" | "info" | "debug";
  /** Write one line per finished session on stdout (in log_format). Default: true. */
  access_log?: boolean;
  /** Log lines as JSON objects, or as `time level msg key=value` text. Default: "json". */
  log_format?: "json" | "text";
  /**
   * The most unsent bytes one Worker holds for all its sessions together; past it a session that must hold
   * more stops reading until memory frees (no data is dropped). Default: "256MiB".
   */
  buffer_budget?: unknown;
  /** Reload by itself when the config file changes (as on SIGHUP). Default: false. */
  watch?: boolean;
  /**
   * A MaxMind DB (GeoLite2-Country.mmdb or the like), or a list of them (IPv4 and IPv6 files), relative to
   * the config file; read again at every reload. Default: none: country routes and prefer_region = true
   * cannot be used.
   */
  geoip?: string | readonly string[];
  /**
   * Countries of each region, written [global.regions] with one line per region: eu-west = ["IE", "GB",
   * "FR"]. A client's region is the one that lists its country; prefer_region = true reads it. Default: none.
   */
  regions?: Readonly<Record<string, readonly string[]>>;
  /**
   * DNS servers that dns and srv discovery ask, in order, e.g. ["127.0.0.1:8600"] (Consul's DNS port); port
   * 53 when left out. Default: the nameservers of /etc/resolv.conf.
   */
  resolvers?: readonly (string | {
    /** A DNS server. */
    address: string;
  })[];
  /**
   * A JSON file, relative to the config file, where admin states, runtime weights, servers added through the
   * API, the last health states and discovery's last good sets are kept across restarts and reloads. Written
   * atomically. Default: none: runtime changes last until the next restart.
   */
  state_file?: string;
}

/** The metrics endpoint. */
export interface MetricsInput {
  /** Serve metrics; false turns the endpoint off. Default: true. */
  enabled?: boolean;
  /** Address of the metrics endpoint. Default: "127.0.0.1:8082". */
  listen?: string;
  /**
   * Client addresses or CIDRs that may use the metrics listener (/metrics, /metrics.json, the status page,
   * /api/), e.g. ["10.0.0.0/8", "::1"]; others get 403. aegis warns when it listens beyond loopback without
   * it (the [admin] token guards only /api/). Default: [] (every client).
   */
  allow?: readonly string[];
}

/** The admin API, served under /api/ on the metrics listener; off without a token. */
export interface AdminInput {
  /**
   * Bearer token for the admin API under /api/ on the metrics listener: at least 16 printable characters, no
   * spaces. Default: none: the admin API is off.
   */
  token?: string;
  /**
   * A file holding the token (surrounding whitespace ignored), relative to the config file; instead of token.
   * Default: none.
   */
  token_file?: string;
}

/** An address aegis accepts connections on, and where they go. */
export interface ListenerInput {
  /**
   * Unique name used in logs and metrics. Default: the upstream's name when no other listener uses that
   * upstream, else "listener-<index>".
   */
  name?: string;
  /** Address to accept client connections on; port 0 lets the kernel pick. */
  bind: string;
  /** Name of the [[upstream]] that receives the connections. */
  upstream: string;
  /** Close a session after this long without traffic either way; "0s" disables it. Default: "10m". */
  idle_timeout?: Duration;
  /**
   * Unsent bytes a session holds per direction before it stops reading that side (the kernel then pushes back
   * on the sender). Bun reads up to 512 KiB at once, so the read that reaches it can pass it by that much.
   * Default: "256KiB".
   */
  buffer_limit?: unknown;
  /**
   * Client addresses or CIDRs admitted, IPv4 or IPv6, e.g. ["10.0.0.0/8", "::1"]; others are refused at
   * accept. IPv4-mapped IPv6 clients match IPv4 entries. Default: [] (every address not denied).
   */
  allow?: readonly string[];
  /** Client addresses or CIDRs refused at accept; deny wins over allow. Default: []. */
  deny?: readonly string[];
  /**
   * Open connections one client address may have, all Workers together (an IPv6 client counts by its /64); 0
   * means no cap. An integer, 0 to 10000000. Default: 0.
   */
  max_connections_per_ip?: number;
  /**
   * New connections one client address may open: "50/10s" is a bucket of 50 that refills over 10 s (a burst
   * of 50, then one per 200 ms). Default: no rate limit.
   */
  connection_rate_per_ip?: string;
  /**
   * Terminate TLS, e.g. { cert = "server.pem", key = "server.key" }; see the keys below. Default: none: bytes
   * pass through untouched.
   */
  tls?: {
    /**
     * PEM file of the certificate (and chain) served; relative to the config file. Default: none (give cert
     * or certificates).
     */
    cert?: string;
    /** PEM file of its private key. Default: the cert file. */
    key?: string;
    /**
     * Several certificates, chosen by the client's SNI against each one's names (SANs); the first is served
     * when none matches or no SNI is sent. Instead of cert and key. Default: none.
     */
    certificates?: readonly (string | {
      /** PEM file of the certificate, then its intermediates; relative to the config file. */
      cert: string;
      /**
       * PEM file of its private key (unencrypted). Default: the cert file (which then holds the key too, as
       * HAProxy's crt).
       */
      key?: string;
    })[];
    /**
     * PEM file of the CAs client certificates must chain to (mTLS). Default: none: no client certificate is
     * asked for.
     */
    client_ca?: string;
    /** Refuse clients without a valid certificate from client_ca (mTLS). Default: false. */
    require_client_cert?: boolean;
    /** Oldest TLS version accepted. Default: "1.2". */
    min_version?: "1.2" | "1.3";
    /** ALPN protocols offered, most preferred first, e.g. ["redis"]. Default: none. */
    alpn?: readonly string[];
    /**
     * "postgres": answer PostgreSQL's SSLRequest, then terminate TLS, so `psql "sslmode=require"` reaches a
     * plaintext server (caddy-l4's postgres_tls). Default: "tls".
     */
    mode?: "tls" | "postgres";
  };
  /**
   * Written [[listener.route]], tried in order before upstream: the first whose matchers all match takes the
   * connection. Matchers: sni, alpn, source, country. Without tls on the listener nothing is terminated: the
   * ClientHello is read and passed on untouched. Default: none: every connection goes to upstream.
   */
  route?: readonly (string | {
    /**
     * Server names the client asks for (its SNI): exact names or one-label wildcards, case-insensitive.
     * Default: any.
     */
    sni?: readonly string[];
    /** ALPN protocols: the route matches when the client offers any of them. Default: none. */
    alpn?: readonly string[];
    /**
     * Client addresses or CIDRs, e.g. ["192.168.0.0/16", "2001:db8::/32"] (after any PROXY header). Default:
     * any.
     */
    source?: readonly string[];
    /**
     * Client countries (ISO 3166-1 codes), looked up in [global] geoip; a client of unknown country (private,
     * loopback) matches none. Default: any.
     */
    country?: readonly string[];
    /**
     * Pick among the servers of a region while one of them is up, else among all (edgeProxy's geo
     * preference): true means the client's region (its country through [global.regions]), or a region name.
     * Default: none: all servers alike.
     */
    prefer_region?: true | string;
    /** Name of the [[upstream]] that takes the connections this route matches. */
    upstream: string;
  })[];
  /**
   * How long and how much to wait for a ClientHello when routes match on sni or alpn (nginx's preread_timeout
   * and preread_buffer_size). Default: { timeout = "5s", max_bytes = 16384 }.
   */
  inspect?: {
    /**
     * How long to wait for the client's first bytes (a ClientHello) that the routes read; past it the client
     * is closed (tls_inspect). At least 1ms. Default: "5s".
     */
    timeout?: Duration;
    /**
     * Most bytes read while waiting; a ClientHello larger than this is refused (tls_inspect). An integer, 64
     * to 1048576. Default: 16384.
     */
    max_bytes?: number;
  };
  /**
   * Expect a PROXY protocol header (HAProxy's accept-proxy, nginx's proxy_protocol) before the client's
   * bytes: "v1" (text), "v2" (binary) or "any"; its address becomes the client's everywhere (ACLs, per-IP
   * limits, hashing, routes, stickiness, the access log). Default: "off".
   */
  proxy_protocol?: "off" | "v1" | "v2" | "any";
  /**
   * Peers allowed to send the header (the balancers in front), e.g. ["10.0.0.0/8"]; a connection from any
   * other address is refused (proxy_protocol). Default: required when proxy_protocol is on.
   */
  proxy_protocol_from?: readonly string[];
  /**
   * How long to wait for the whole PROXY header; a late one is refused (proxy_protocol), as nginx's
   * proxy_protocol_timeout. At least 1ms. Default: "5s".
   */
  proxy_protocol_timeout?: Duration;
  /**
   * Pick among the servers of a region while one of them is up, else among all (edgeProxy's geo preference):
   * true means the client's region (its country through [global.regions]), or a region name. Default: none:
   * all servers alike.
   */
  prefer_region?: true | string;
}

/** A group of servers that connections are balanced across. */
export interface UpstreamInput {
  /** Unique name that listeners refer to. */
  name: string;
  /** How a server is picked for each new connection. Default: "round_robin". */
  balance?: "round_robin" | "least_conn" | "random" | "p2c" | "p2c_ewma" | "source" | "consistent" | "first";
  /** Give up on a server connect after this long. At least 1ms. Default: "3s". */
  connect_timeout?: Duration;
  /** Other servers tried when a connect fails. An integer, 0 to 100. Default: 2. */
  retries?: number;
  /**
   * Pre-connected sockets kept per Worker per server while it is up (none to a draining, disabled, down or
   * ejected one); 0 turns pooling off. An integer, 0 to 1000. Default: 0.
   */
  pool?: number;
  /**
   * A pooled socket idle longer than this is closed and replaced; keep it below the server's handshake
   * timeout (MySQL and MariaDB connect_timeout: 10s). At least 1ms. Default: "5s".
   */
  pool_max_idle?: Duration;
  /**
   * Active checks, e.g. { interval = "2s", timeout = "1s", rise = 2, fall = 3, send = "PING\r\n", expect =
   * "+PONG" }; without it servers are assumed up. Default: no active checks: servers count as up until
   * passive checks eject them.
   */
  health?: {
    /** Time between two checks of a server. At least 100ms. Default: "2s". */
    interval?: Duration;
    /** A check that has not succeeded by then fails. At least 1ms. Default: "1s". */
    timeout?: Duration;
    /** Consecutive successes that bring a down server back up. An integer, 1 to 100. Default: 2. */
    rise?: number;
    /** Consecutive failures that take an up server down. An integer, 1 to 100. Default: 3. */
    fall?: number;
    /**
     * Sent after connecting, e.g. "PING\r\n" (TOML escapes apply). Default: nothing: the connect alone is
     * checked.
     */
    send?: string;
    /** Sent after connecting, as hex bytes; instead of send. Default: nothing. */
    send_hex?: string;
    /** The reply must contain this text, e.g. "+PONG". Default: nothing: connecting (and sending) is enough. */
    expect?: string;
    /** The reply must contain these hex bytes; instead of expect. Default: nothing. */
    expect_hex?: string;
    /** The reply (as text) must match this regular expression; instead of expect. Default: nothing. */
    expect_regex?: string;
    /**
     * What a check speaks: "tcp" (connect, then send/expect if given), "redis" (AUTH, PING, and role),
     * "postgres" (a StartupMessage: R or E proves a live server), "mysql" (the greeting), "http" (GET path,
     * expect status). Default: "tcp".
     */
    check?: "tcp" | "redis" | "postgres" | "mysql" | "http";
    /**
     * redis: a file holding the password for AUTH (surrounding whitespace ignored), relative to the config
     * file. Default: none: no AUTH.
     */
    password_file?: string;
    /** redis: the ACL user AUTH names, with password_file. Default: none (the default user). */
    username?: string;
    /**
     * redis: the role INFO replication must show (role:master is "primary", role:slave "replica"); a server
     * in the other role is down. Default: "any".
     */
    role?: "any" | "primary" | "replica";
    /**
     * postgres: the user the StartupMessage names (no password is sent: an authentication request is the
     * answer that proves a live server). Default: "aegis".
     */
    user?: string;
    /** postgres: the database the StartupMessage names. Default: the user's. */
    database?: string;
    /** http: the path to GET, e.g. "/primary" for Patroni. Default: "/". */
    path?: string;
    /** http: the statuses that pass, e.g. "200", "2xx", "200,204". Default: "2xx". */
    status?: string;
    /** http: the Host header. Default: the server's address. */
    host?: string;
    /**
     * The port checks connect to on each server's host, in place of the server's port (HAProxy's check port):
     * e.g. 8008 for Patroni's REST API in front of PostgreSQL on 5432. An integer, 1 to 65535. Default: the
     * server's own port.
     */
    port?: number;
  };
  /**
   * Passive checks: consecutive connect failures or resets that eject a server; 0 turns them off. An integer,
   * 0 to 1000. Default: 5.
   */
  fail_threshold?: number;
  /**
   * How long an ejected server is skipped; doubles for each ejection in a row, up to 5 minutes. At least 1ms.
   * Default: "10s".
   */
  eject_for?: Duration;
  /**
   * Sessions that may wait, all Workers together, when every eligible server is at its max_connections; past
   * it they are refused (queue_full). 0 refuses at once. Unused without max_connections. An integer, 0 to
   * 1000000. Default: 100.
   */
  queue?: number;
  /** A session waiting in the queue longer than this is refused (queue_timeout). At least 1ms. Default: "5s". */
  queue_timeout?: Duration;
  /**
   * Servers, each "host:port" or { address = "host:port", weight = 2, backup = true, region = "eu-west" }.
   * Default: none: then discovery must give them.
   */
  servers?: readonly (string | {
    /** host:port of the server. */
    address: string;
    /**
     * The server's label in metrics, the status page, the API paths, the access log and aegis check; unique
     * in its upstream. Default: the address as written.
     */
    name?: string;
    /** Relative share of new connections. An integer, 1 to 1000. Default: 1. */
    weight?: number;
    /**
     * Take connections only while no primary (non-backup) server is up; primaries at max_connections queue
     * new sessions instead. Default: false.
     */
    backup?: boolean;
    /**
     * Hard cap on sessions to this server, all Workers together; when every server is full, new sessions wait
     * in the upstream's queue. 0 means no cap. An integer, 0 to 10000000. Default: 0.
     */
    max_connections?: number;
    /**
     * From this many sessions on, the balancer prefers other servers (below max_connections); 0 means none.
     * An integer, 0 to 10000000. Default: 0.
     */
    soft_limit?: number;
    /**
     * The region the server is in, e.g. "eu-west": prefer_region picks among the servers of the client's
     * region. Default: none.
     */
    region?: string;
  })[];
  /**
   * Originate TLS to the servers, e.g. { server_name = "redis.internal", ca = "ca.pem" }; a certificate that
   * does not verify fails the connect. Default: none: plain TCP.
   */
  tls?: {
    /**
     * Name sent as SNI and verified against the server's certificate. Default: the server's host when it is a
     * name.
     */
    server_name?: string;
    /**
     * Verify the server's certificate (against ca, else the system's roots); false accepts any certificate,
     * for tests only. Default: true.
     */
    verify?: boolean;
    /** PEM file of the CAs the servers' certificates must chain to. Default: the system's roots. */
    ca?: string;
    /** PEM file of a client certificate for servers that ask for one (mTLS). Default: none. */
    cert?: string;
    /** PEM file of the client certificate's key. Default: the cert file. */
    key?: string;
    /** ALPN protocols offered to the servers. Default: none. */
    alpn?: readonly string[];
  };
  /**
   * Send a PROXY protocol header to the servers first, saying who the client is (HAProxy's send-proxy,
   * send-proxy-v2): "v1" or "v2". Pooled sockets get theirs when a session takes them. Default: "off".
   */
  send_proxy?: "off" | "v1" | "v2";
  /**
   * Sticky clients, e.g. { on = "source", ttl = "30m", max_entries = 100000 }: a client goes back to the
   * server it was last sent to while that server is up. Default: none: each session is balanced on its own.
   */
  stick?: {
    /** What binds a client to a server: its address (an IPv6 client by its /64). Default: "source". */
    on?: "source";
    /** How long a client keeps its server after its last session ends. At least 1s. Default: "30m". */
    ttl?: Duration;
    /**
     * Clients remembered, all Workers together (rounded up to whole buckets of 8); the least recently used
     * makes room. An integer, 16 to 10000000. Default: 100000.
     */
    max_entries?: number;
  };
  /**
   * Sources that add servers to the file's: { dns = "redis.service.consul", port = 6379 }, { srv =
   * "_redis._tcp.service.consul" }, { sqlite = "routing.db", app = "redis" }. A bare string is an SRV name.
   * Default: none: the servers in the file only.
   */
  discovery?: readonly (string | {
    /** A name whose A and AAAA records are the servers (with port). Default: —. */
    dns?: string;
    /**
     * A name whose SRV records are the servers: target, port, weight; the lowest priority are primaries, the
     * others backups. Default: —.
     */
    srv?: string;
    /**
     * A SQLite file in edgeProxy's schema (with table and app), relative to the config file, read again
     * whenever it changes. Default: —.
     */
    sqlite?: string;
    /** The servers' port, with dns. An integer, 1 to 65535. Default: required with dns. */
    port?: number;
    /** With sqlite: the table of servers. Default: "backends". */
    table?: string;
    /** With sqlite: the rows whose app column equals this. Default: required with sqlite. */
    app?: string;
    /**
     * dns and srv: asked again when the records' TTL runs out, but no sooner than this after the last lookup.
     * sqlite: how often the file's data version is polled (a cheap read). At least 100ms. Default: "10s" for
     * dns and srv, "1s" for sqlite.
     */
    interval?: Duration;
    /** How long a source's last good set is kept while lookups fail or come back empty. Default: "5m". */
    hold?: Duration;
  })[];
  /**
   * What happens to sessions on a server that goes down, is disabled or is removed: "keep" lets them run;
   * "close_sessions" resets them, so clients reconnect to a server that is up (HAProxy's on-marked-down
   * shutdown-sessions). Default: "keep".
   */
  on_down?: "keep" | "close_sessions";
}
