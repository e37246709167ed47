// File descriptors: how many sessions the open-file limit fits, and whether this process is out of them now.
import { closeSync, openSync, readFileSync } from "node:fs";

/**
 * The part of a config that decides descriptor use. Written out here rather than imported, so os/
 * sits below config/; a Config is one.
 */
export interface DescriptorUse {
  readonly global: { readonly workers: number; readonly maxConnections: number };
  readonly listeners: readonly unknown[];
  readonly upstreams: readonly { readonly pool: number; readonly servers: readonly unknown[] }[];
}

/** What a session costs: its client socket and its server socket. */
const FDS_PER_SESSION = 2;

/** The soft RLIMIT_NOFILE of this process, or null where /proc does not say (not Linux). */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return null;
    }
  }
  const row = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!row) return null;
  if (row[1] === "unlimited") return Number.POSITIVE_INFINITY;
  const soft = Number(row[1]);
  return Number.isFinite(soft) ? soft : null;
}

/**
 * Descriptors kept aside from sessions: the runtime's own (epoll, eventfds, stdio: about 15 for
 * two Workers, measured), listeners, pooled sockets, health checks in flight, and metrics/admin
 * clients.
 */
export function reservedDescriptors(config: DescriptorUse): number {
  const workers = config.global.workers;
  const servers = config.upstreams.reduce((n, u) => n + u.servers.length, 0);
  const pooled = config.upstreams.reduce((n, u) => n + u.pool * u.servers.length, 0) * workers;
  return 32 + 8 * workers + config.listeners.length * workers + pooled + servers + 16;
}

/** How many sessions fit under `limit` (Infinity when there is no limit to speak of). */
export function sessionsThatFit(config: DescriptorUse, limit: number | null = openFileLimit()): number {
  if (limit === null || !Number.isFinite(limit)) return Number.POSITIVE_INFINITY;
  return Math.max(0, Math.floor((limit - reservedDescriptors(config)) / FDS_PER_SESSION));
}

/**
 * The start-up warning when `max_connections` cannot fit the open-file limit (null when it fits):
 * HAProxy derives its maxconn from the limit the same way, and says so.
 */
export function descriptorWarning(config: DescriptorUse, limit: number | null = openFileLimit()): Record<string, unknown> | null {
  const fit = sessionsThatFit(config, limit);
  if (config.global.maxConnections <= fit) return null;
  const wanted = config.global.maxConnections * FDS_PER_SESSION + reservedDescriptors(config);
  return {
    max_connections: config.global.maxConnections,
    open_file_limit: limit,
    sessions_that_fit: fit,
    fix: `raise the open-file limit to at least ${wanted}: LimitNOFILE=${wanted} in the systemd unit, or \`ulimit -n ${wanted}\` before starting aegis; past ${fit} sessions new connections are refused (reason fd_limit)`,
  };
}

/**
 * True when this process cannot open a descriptor right now (EMFILE, or ENFILE for the whole
 * system). Bun reports a connect whose socket() failed this way as ECONNREFUSED, so a failed
 * connect asks here before it blames the server. Costs an open and a close; only failures ask.
 */
export function outOfDescriptors(): boolean {
  try {
    closeSync(openSync("/dev/null", "r"));
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "EMFILE" || code === "ENFILE";
  }
}
