// `aegis demo`: three in-process echo servers (echo-1..3) behind one listener, with the metrics
// endpoint and status page; by default on 127.0.0.1:8081 and :8082, moved with --listen,
// --metrics or --port-base.
import { formatAddress, parseAddress } from "../config/address.ts";
import { ConfigError } from "../config/errors.ts";
import type { Address, Config } from "../config/types.ts";
import { UsageError } from "./args.ts";
import { startEchoBackend } from "./echo-backend.ts";

export const DEMO_LISTEN: Address = { host: "127.0.0.1", port: 8081 };
export const DEMO_METRICS: Address = { host: "127.0.0.1", port: 8082 };
export const DEMO_SERVERS = ["echo-1", "echo-2", "echo-3"];

export interface DemoAddresses {
  listen: Address;
  metrics: Address;
}

function address(value: string, option: string): Address {
  try {
    return parseAddress(value, option, "bind");
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new UsageError(err.problems.join("; "));
  }
}

/** The demo's addresses from --listen, --metrics and --port-base (which excludes the other two). */
export function demoAddresses(options: ReadonlyMap<string, string | true>): DemoAddresses {
  const base = options.get("--port-base");
  const listen = options.get("--listen");
  const metrics = options.get("--metrics");
  if (typeof base === "string") {
    if (listen !== undefined || metrics !== undefined) throw new UsageError("--port-base sets both ports: give it, or --listen and --metrics, not both");
    const port = /^\d{1,5}$/.test(base) ? Number(base) : NaN;
    if (!(port >= 1 && port <= 65534)) throw new UsageError(`--port-base ${JSON.stringify(base)} must be a port from 1 to 65534 (the listener takes N, the metrics N+1)`);
    return { listen: { host: "127.0.0.1", port }, metrics: { host: "127.0.0.1", port: port + 1 } };
  }
  const result = {
    listen: typeof listen === "string" ? address(listen, "--listen") : DEMO_LISTEN,
    metrics: typeof metrics === "string" ? address(metrics, "--metrics") : DEMO_METRICS,
  };
  if (result.listen.port !== 0 && result.listen.port === result.metrics.port) {
    throw new UsageError(`--listen and --metrics both use port ${result.listen.port}: give them different ports`);
  }
  return result;
}

export interface Demo {
  config: Config;
  stop(): void;
}

export function startDemo(workers: number, at: DemoAddresses = { listen: DEMO_LISTEN, metrics: DEMO_METRICS }): Demo {
  const backends = DEMO_SERVERS.map((name) => ({ name, listener: startEchoBackend(name) }));
  const config: Config = {
    source: "<demo>",
    global: { workers, maxConnections: 10_000, shutdownGraceMs: 5_000, bufferBudget: 256 * 1024 * 1024, logLevel: "info", accessLog: true, watch: false, logFormat: "json", geoip: null, regions: {}, resolvers: [], stateFile: null },
    metrics: { listen: at.metrics },
    listeners: [{ name: "demo", bind: at.listen, upstream: "echo", idleTimeoutMs: 600_000, bufferLimit: 256 * 1024 }],
    upstreams: [{
      name: "echo",
      balance: "round_robin",
      connectTimeoutMs: 3_000,
      retries: 2,
      pool: 0,
      poolMaxIdleMs: 60_000,
      health: { intervalMs: 2_000, timeoutMs: 1_000, rise: 2, fall: 3, sendHex: null, expect: { kind: "bytes", hex: Buffer.from("hello from").toString("hex") } },
      failThreshold: 5,
      ejectForMs: 10_000,
      // Named, so the status page, /metrics and the logs say echo-1 rather than a random port.
      servers: backends.map((b) => ({ name: b.name, address: { host: "127.0.0.1", port: b.listener.port }, weight: 1, backup: false })),
    }],
  };
  return { config, stop: () => backends.forEach((b) => b.listener.stop(true)) };
}

/** "0.0.0.0:8081" -> "127.0.0.1:8081": where a user on this machine connects. */
function local(bound: string): { host: string; port: number } {
  const a = parseAddress(bound, "bound", "bind");
  const host = a.host === "0.0.0.0" ? "127.0.0.1" : a.host === "::" ? "::1" : a.host;
  return { host, port: a.port };
}

/** What the demo prints once it accepts: the real bound ports, so port 0 shows what was picked. */
export function demoBanner(listener: string, metrics: string | null): string {
  const l = local(listener);
  const m = metrics ? formatAddress(local(metrics)) : null;
  return `
aegis demo is running: three echo servers (${DEMO_SERVERS.join(", ")}) behind ${listener}.
  Try:      nc ${l.host} ${l.port}        (each line comes back; reconnect to meet another server)${m ? `
  Status:   http://${m}/                  (the status page, in a browser)
  Metrics:  curl http://${m}/metrics` : ""}
  Stop:     Ctrl-C
`;
}
