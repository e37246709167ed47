// The table of every command and option: the one source the parser, `aegis help`, `aegis man` and
// the shell completions are all made from, so they cannot disagree.
import { BALANCE_ALGORITHMS } from "../config/schema.ts";

/** What a shell completes for a value: files, TOML files (and directories), directories, command names, or a fixed list. */
export type Completion = "file" | "toml" | "dir" | "command" | "none" | readonly string[];

export interface OptionSpec {
  /** "--config". */
  long: string;
  /** "-c". */
  short?: string;
  /** The value's placeholder ("FILE"); absent for a switch. */
  value?: string;
  description: string;
  complete?: Completion;
}

export const COMMANDS = ["run", "check", "demo", "status", "reload", "drain", "enable", "upgrade", "init", "service", "schema", "completion", "man", "help", "version"] as const;
export type Command = (typeof COMMANDS)[number];

export interface CommandSpec {
  name: Command;
  /** One line for the command list (main help, man page, completions). */
  summary: string;
  /** The usage lines, each after "aegis ". */
  usage: string[];
  /** Paragraphs separated by blank lines; a paragraph whose lines all start with two spaces is kept as written. */
  description: string;
  options: OptionSpec[];
  /** The positional argument: its placeholder, what completes it, how many may be given and how many must. */
  positional?: { name: string; complete: Completion; min: number; max: number };
  /** Parses its own options (init, service): the table documents them, the command's parser reads them. */
  ownParser?: boolean;
  /** Why an option is refused here although other commands take it ("--config" for demo). */
  refuses?: Record<string, string>;
}

export const CONFIG_OPTION: OptionSpec = {
  long: "--config", short: "-c", value: "FILE", complete: "toml",
  description: "the config file (default: ./aegis.toml, then /etc/aegis/aegis.toml)",
};

export const HELP_OPTION: OptionSpec = { long: "--help", short: "-h", description: "show this command's help" };
export const VERSION_OPTION: OptionSpec = { long: "--version", short: "-V", description: "print the version, commit, build date and Bun version" };

/** The options before any command (`aegis -c FILE` runs it). */
export const TOP_OPTIONS: readonly OptionSpec[] = [CONFIG_OPTION, { ...HELP_OPTION, description: "show help (after a command: that command's)" }, VERSION_OPTION];

const FINDS = `It finds the running aegis through the config file (-c, or the default one): its [metrics] listen
address (0.0.0.0 and :: are reached on loopback) and its [admin] token or token_file, so it works
as-is on the machine where the service runs. Exit codes: 0 done, 1 the running aegis refused or
failed, 2 usage error or unusable config, 3 nothing answers at that address.`;

const CONTROL = [CONFIG_OPTION];

export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: "run", summary: "run the proxy (the default command)",
    usage: ["[run] [-c FILE]"],
    description: `Loads the config, starts one Worker per core (global.workers), listens on every [[listener]] and relays
each connection to a server of its [[upstream]]. Without -c it reads ./aegis.toml, then
/etc/aegis/aegis.toml. Exit codes: 0 after a clean shutdown, 1 if it could not start, 2 for a bad config.`,
    options: [CONFIG_OPTION],
  },
  {
    name: "check", summary: "validate a config and print a summary (exit 0 or 2)",
    usage: ["check [FILE] [-c FILE]"],
    description: `Validates the config like \`nginx -t\` or \`haproxy -c\`: every problem is listed with its file, line and
column or its key path, and the exit code is 2. A valid config prints a summary and exits 0. The file is
given as an argument or with -c; without either, the default config is checked.`,
    options: [CONFIG_OPTION],
    positional: { name: "FILE", complete: "toml", min: 0, max: 1 },
  },
  {
    name: "demo", summary: "run a self-contained demonstration on 127.0.0.1:8081",
    usage: ["demo [--listen HOST:PORT] [--metrics HOST:PORT] [--port-base N]"],
    description: `Starts three echo servers inside the process (echo-1, echo-2, echo-3), a listener balancing over them
(127.0.0.1:8081) and the metrics endpoint with the status page (127.0.0.1:8082). Try: nc 127.0.0.1 8081
(each line you type comes back), and open http://127.0.0.1:8082/ in a browser. It reads no config file.`,
    options: [
      { long: "--listen", value: "HOST:PORT", description: "where the demo listener accepts connections (default 127.0.0.1:8081)" },
      { long: "--metrics", value: "HOST:PORT", description: "where the metrics endpoint and status page listen (default 127.0.0.1:8082)" },
      { long: "--port-base", value: "N", description: "listener on 127.0.0.1:N, metrics on 127.0.0.1:N+1 (instead of --listen and --metrics)" },
    ],
    refuses: {
      "--config": "demo reads no config file (it makes its own, with three echo servers inside the process): leave out -c. To run your file: aegis -c FILE; to check it: aegis check FILE",
    },
  },
  {
    name: "status", summary: "show the running aegis: listeners, upstreams, servers and their state, sessions",
    usage: ["status [-c FILE] [--json]"],
    description: `Asks the running aegis (GET /api/status) and prints its listeners, its upstreams and every server with
its state (up, down, ejected, draining, disabled), the operator's setting, weight, open sessions and
last health check.\n\n${FINDS}`,
    options: [...CONTROL, { long: "--json", description: "print the admin API's JSON answer as it is, for scripts" }],
  },
  {
    name: "reload", summary: "reload the running aegis's config file (as SIGHUP does)",
    usage: ["reload [-c FILE]"],
    description: `Asks the running aegis to re-read its config file (POST /api/reload) and prints what changed, or why the
file was refused: an invalid file changes nothing, every Worker keeps the running config.\n\n${FINDS}`,
    options: CONTROL,
  },
  {
    name: "drain", summary: "stop sending new sessions to a server; open ones go on",
    usage: ["drain SERVER [-c FILE]"],
    description: `Sets a server to draining (POST /api/upstreams/U/servers/S/state): no new sessions, those open go on.
SERVER is upstream/server, or a server name or address that only one upstream has. It answers once
every Worker has the change. \`aegis enable SERVER\` puts it back.\n\n${FINDS}`,
    options: CONTROL,
    positional: { name: "SERVER", complete: "none", min: 1, max: 1 },
  },
  {
    name: "enable", summary: "put a drained or disabled server back in rotation",
    usage: ["enable SERVER [-c FILE]"],
    description: `Sets a server back to ready: it takes new sessions again once its health checks agree. SERVER is
upstream/server, or a server name or address that only one upstream has.\n\n${FINDS}`,
    options: CONTROL,
    positional: { name: "SERVER", complete: "none", min: 1, max: 1 },
  },
  {
    name: "upgrade", summary: "upgrade the running aegis in place to the binary now on disk, without dropping a session",
    usage: ["upgrade [-c FILE]"],
    description: `Asks the running aegis (POST /api/upgrade) to start the binary now on disk (install the new version
over the old file first) on the same listeners; once the new process serves, the old one stops
accepting and drains its sessions within shutdown_grace. Prints both process ids.\n\n${FINDS}`,
    options: CONTROL,
  },
  {
    name: "init", summary: "write aegis.toml by answering a few questions (or from flags)",
    usage: ["init [options]"],
    description: `Asks what to proxy (listen address, servers, balancing, health check, metrics, service) and writes a
commented aegis.toml that \`aegis check\` accepts. Shows the file before writing; never overwrites a
file without asking. Ctrl-C at any question quits with exit code 130 and writes nothing.
Without a terminal (or with CI set) it asks nothing: give the answers as flags and --yes.

Example: aegis init --listen 0.0.0.0:6380 --server 10.0.0.5:6379 --server 10.0.0.6:6379 --balance least_conn --yes
Exit codes: 0 written, 1 nothing written (declined, or the file exists), 2 usage error, 130 cancelled.`,
    ownParser: true,
    options: [
      { long: "--listen", short: "-l", value: "HOST:PORT", description: "address to accept connections on (a port alone: 0.0.0.0:PORT)" },
      { long: "--server", short: "-s", value: "HOST:PORT", description: "an upstream server; repeat it (or separate with commas) for several" },
      { long: "--balance", short: "-b", value: "NAME", complete: BALANCE_ALGORITHMS, description: "balancing algorithm (default round_robin)" },
      { long: "--health", value: "PRESET", complete: ["none", "tcp", "redis", "postgresql", "mysql", "http"], description: "health check: none, tcp, redis, postgresql, mysql or http (default none)" },
      { long: "--metrics", value: "HOST:PORT", description: "metrics endpoint, or \"off\" (default 127.0.0.1:8082; a port alone: 127.0.0.1:PORT)" },
      { long: "--tls-cert", value: "PATH", complete: "file", description: "terminate TLS on the listener with this certificate PEM (servers stay plaintext)" },
      { long: "--tls-key", value: "PATH", complete: "file", description: "its private key PEM (leave out when the cert file holds the key)" },
      { long: "--tls-postgres", description: "answer PostgreSQL's SSLRequest (mode = \"postgres\"), so psql sslmode=require works" },
      { long: "--proxy-protocol", value: "V", complete: ["v1", "v2", "any"], description: "a balancer in front sends a PROXY header first: v1, v2 or any" },
      { long: "--proxy-protocol-from", value: "CIDRS", description: "the balancers allowed to send it (comma-separated); needed with --proxy-protocol" },
      { long: "--send-proxy", value: "V", complete: ["v1", "v2"], description: "tell the servers the client's address with a PROXY header: v1 or v2" },
      { long: "--stick", value: "TTL", description: "keep each client on its server for TTL after its last session (e.g. 30m)" },
      { long: "--output", short: "-o", value: "PATH", complete: "toml", description: "file to write (default ./aegis.toml; /etc/aegis/aegis.toml with --service); - prints it on stdout alone" },
      { long: "--service", description: "install and start the systemd service afterwards (as root)" },
      { long: "--yes", short: "-y", description: "write without asking (needs --listen and --server)" },
      { long: "--force", description: "overwrite an existing file" },
    ],
  },
  {
    name: "service", summary: "run aegis as a systemd service (install, uninstall, status)",
    usage: ["service install [-c FILE] [--user NAME] [--now] [--dry-run] [--binary PATH] [--unit-dir DIR]", "service uninstall [--dry-run] [--unit-dir DIR]", "service status [--unit-dir DIR]"],
    description: `install writes /etc/systemd/system/aegis.service: Type=notify (systemctl start returns once every listener
accepts), ExecReload sends SIGHUP, Restart=on-failure, LimitNOFILE=1048576, and a sandbox: the service
runs as --user (default aegis, created as a system account if missing) with only CAP_NET_BIND_SERVICE.
uninstall stops and disables the service and removes the unit; status runs systemctl status, or explains
why there is no state to show (exit 4).`,
    ownParser: true,
    positional: { name: "ACTION", complete: ["install", "uninstall", "status"], min: 1, max: 1 },
    options: [
      { ...CONFIG_OPTION, description: "config for ExecStart (default /etc/aegis/aegis.toml); it must load" },
      { long: "--user", value: "NAME", description: "the account the service runs as (default aegis)" },
      { long: "--now", description: "enable and start the service right away" },
      { long: "--dry-run", description: "print the unit instead of writing it" },
      { long: "--binary", value: "PATH", complete: "file", description: "executable for ExecStart (default: this aegis)" },
      { long: "--unit-dir", value: "DIR", complete: "dir", description: "write the unit there instead (systemctl is then left alone)" },
    ],
  },
  {
    name: "schema", summary: "print the config's JSON Schema, for editors",
    usage: ["schema"],
    description: `Prints the JSON Schema (draft 2020-12) of aegis.toml, generated from the same table of keys the
validator uses. Save it (aegis schema > aegis.schema.json) and point your editor's TOML language
server at it, e.g. with a first line "#:schema ./aegis.schema.json" (Taplo / Even Better TOML).`,
    options: [],
  },
  {
    name: "completion", summary: "print a shell completion script (bash, zsh or fish)",
    usage: ["completion bash|zsh|fish"],
    description: `Prints a script that completes aegis's commands, options and config files in that shell. Load it
for the current shell with: source <(aegis completion bash), or install it:
  aegis completion bash > /usr/share/bash-completion/completions/aegis
  aegis completion zsh > /usr/local/share/zsh/site-functions/_aegis
  aegis completion fish > /usr/share/fish/vendor_completions.d/aegis.fish`,
    options: [],
    positional: { name: "SHELL", complete: ["bash", "zsh", "fish"], min: 1, max: 1 },
  },
  {
    name: "man", summary: "print the manual page (roff)",
    usage: ["man"],
    description: `Prints aegis(1) in roff, made from the same text as \`aegis help\`. Read it with: aegis man | man -l -
Install it with: aegis man | gzip > /usr/local/share/man/man1/aegis.1.gz`,
    options: [],
  },
  {
    name: "help", summary: "show help for aegis or one command",
    usage: ["help [COMMAND]"],
    description: "Shows the list of commands, or one command's usage, description and options (as COMMAND --help does).",
    options: [],
    positional: { name: "COMMAND", complete: "command", min: 0, max: 1 },
  },
  {
    name: "version", summary: "print the version",
    usage: ["--version", "version"],
    description: "Prints the version, the commit, the build date and target, and the Bun version inside.",
    options: [],
  },
];

export const COMMAND_NAMES: readonly string[] = COMMAND_SPECS.map((c) => c.name);
// Every command has its entry: checked at load, so a missing one fails the first test run.
if (COMMAND_NAMES.length !== COMMANDS.length || COMMANDS.some((c) => !COMMAND_NAMES.includes(c))) throw new Error("commands.ts: COMMANDS and COMMAND_SPECS disagree");

export function commandSpec(name: string): CommandSpec | undefined {
  return COMMAND_SPECS.find((c) => c.name === name);
}

/** The options a command takes, with -h/--help, which every command does. */
export function optionsOf(spec: CommandSpec): OptionSpec[] {
  return [...spec.options, HELP_OPTION];
}

export const INTRO = "aegis: a Layer 4 (TCP) proxy and load balancer";

/** Told after the command list, in the main help and the man page. */
export const SIGNALS = `SIGTERM or SIGINT stop accepting and let sessions finish for shutdown_grace; a second one exits at once.
SIGHUP reloads the config file without dropping a connection (an invalid file changes nothing).
SIGUSR2 upgrades in place: the binary now on disk starts on the same ports, then this process drains.
Logs are JSON lines on stdout (log_format = "text" for key=value lines).`;
