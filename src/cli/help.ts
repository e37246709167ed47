// Help texts for `aegis --help` and `aegis help <command>`.

const MAIN = `aegis: a Layer 4 (TCP) proxy and load balancer

Usage:
  aegis [--config PATH]          run the proxy (default: ./aegis.toml, then /etc/aegis/aegis.toml)
  aegis check [--config PATH]    validate a config and print a summary (exit 0 or 2)
  aegis demo                     run a self-contained demonstration on 127.0.0.1:8081
  aegis help [command]           show help
  aegis --version                print the version

Signals: SIGTERM or SIGINT stop accepting and let sessions finish for shutdown_grace; a second one exits at once.
Logs are JSON lines on stdout.`;

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
  help: "Usage: aegis help [command]",
  version: "Usage: aegis --version",
};

export function helpText(topic: string | null): string | null {
  if (topic === null) return MAIN;
  return TOPICS[topic] ?? null;
}
