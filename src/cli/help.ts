// Help texts for `aegis --help` and `aegis help <command>`.

const MAIN = `aegis: a Layer 4 (TCP) proxy and load balancer

Usage:
  aegis [--config PATH]          run the proxy (default: ./aegis.toml, then /etc/aegis/aegis.toml)
  aegis check [--config PATH]    validate a config and print a summary (exit 0 or 2)
  aegis demo                     run a self-contained demonstration on 127.0.0.1:8081
  aegis init                     write aegis.toml by answering a few questions (or from flags)
  aegis service install          run aegis as a systemd service (also: uninstall, status)
  aegis schema                   print the config's JSON Schema, for editors
  aegis help [command]           show help
  aegis --version                print the version

Signals: SIGTERM or SIGINT stop accepting and let sessions finish for shutdown_grace; a second one exits at once.
SIGHUP reloads the config file without dropping a connection (an invalid file changes nothing).
Logs are JSON lines on stdout (log_format = "text" for key=value lines).`;

const TOPICS: Record<string, string> = {
  run: `Usage: aegis [run] [--config PATH]

Loads the config, starts one Worker per core (global.workers), listens on every [[listener]] and relays
each connection to a server of its [[upstream]]. Without --config it reads ./aegis.toml, then
/etc/aegis/aegis.toml. Exit codes: 0 after a clean shutdown, 1 if it could not start, 2 for a bad config.`,
  check: `Usage: aegis check [--config PATH]

Validates the config like \`nginx -t\` or \`haproxy -c\`: every problem is listed with its file, line and
column or its key path, and the exit code is 2. A valid config prints a summary and exits 0.`,
  demo: `Usage: aegis demo

Starts three echo servers inside the process, a listener on 127.0.0.1:8081 balancing over them and
metrics on 127.0.0.1:8082. Try: nc 127.0.0.1 8081 (each line you type comes back), and
curl 127.0.0.1:8082/metrics.`,
  init: `Usage: aegis init [options]

Asks what to proxy (listen address, servers, balancing, health check, metrics, service) and writes a
commented aegis.toml that \`aegis check\` accepts. Shows the file before writing; never overwrites a
file without asking. Ctrl-C at any question quits with exit code 130 and writes nothing.

Without a terminal (or with CI set) it asks nothing: give the answers as flags and --yes.
  --listen HOST:PORT      address to accept connections on (a port alone: 0.0.0.0:PORT)
  --server HOST:PORT      an upstream server; repeat it (or separate with commas) for several
  --balance NAME          balancing algorithm (default round_robin); \`aegis schema\` lists them
  --health PRESET         none, tcp, redis, postgresql, mysql or http (default none)
  --metrics HOST:PORT     metrics endpoint, or "off" (default 127.0.0.1:8082; a port alone: 127.0.0.1:PORT)
  --tls-cert PATH         terminate TLS on the listener with this certificate PEM (servers stay plaintext)
  --tls-key PATH          its private key PEM (leave out when the cert file holds the key)
  --tls-postgres          answer PostgreSQL's SSLRequest (mode = "postgres"), so psql sslmode=require works
  --proxy-protocol V      a balancer in front sends a PROXY header first: v1, v2 or any
  --proxy-protocol-from C the balancers allowed to send it (CIDRs, comma-separated); needed with --proxy-protocol
  --send-proxy V          tell the servers the client's address with a PROXY header: v1 or v2
  --stick TTL             keep each client on its server for TTL after its last session (e.g. 30m)
  --output PATH, -o       file to write (default ./aegis.toml; /etc/aegis/aegis.toml with --service); - prints it on stdout alone
  --service               install and start the systemd service afterwards (as root, where systemd runs)
  --yes, -y               write without asking (needs --listen and --server)
  --force                 overwrite an existing file

Example: aegis init --listen 0.0.0.0:6380 --server 10.0.0.5:6379 --server 10.0.0.6:6379 --balance least_conn --yes
Exit codes: 0 written, 1 nothing written (declined, or the file exists), 2 usage error, 130 cancelled.`,
  service: `Usage: aegis service install [--config PATH] [--user NAME] [--now] [--dry-run] [--binary PATH] [--unit-dir DIR]
       aegis service uninstall [--dry-run] [--unit-dir DIR]
       aegis service status [--unit-dir DIR]

install writes /etc/systemd/system/aegis.service: Type=notify (systemctl start returns once every listener
accepts), ExecReload sends SIGHUP, Restart=on-failure, LimitNOFILE=1048576, and a sandbox: the service
runs as --user (default aegis, created as a system account if missing) with only CAP_NET_BIND_SERVICE.
  --config PATH    config for ExecStart (default /etc/aegis/aegis.toml); it must load
  --now            enable and start the service right away
  --dry-run        print the unit instead of writing it
  --binary PATH    executable for ExecStart (default: this aegis)
  --unit-dir DIR   write the unit there instead; nothing else is touched (no user created, no systemctl)
uninstall stops and disables the service and removes the unit; status runs systemctl status, or explains
why there is no state to show (exit 4).`,
  schema: `Usage: aegis schema

Prints the JSON Schema (draft 2020-12) of aegis.toml, generated from the same table of keys the
validator uses. Save it (aegis schema > aegis.schema.json) and point your editor's TOML language
server at it, e.g. with a first line "#:schema ./aegis.schema.json" (Taplo / Even Better TOML).`,
  help: "Usage: aegis help [command]",
  version: "Usage: aegis --version",
};

export function helpText(topic: string | null): string | null {
  if (topic === null) return MAIN;
  return TOPICS[topic] ?? null;
}
