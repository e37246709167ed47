// Who the clients are, for the admin API and the status page: each upstream's stick table, each listener's top talkers.
import { newIpWords, parseIp } from "../net/ip.ts";
import type { StatusSource } from "./source.ts";
import type { StickUsage } from "../telemetry/prometheus.ts";
import { stickId } from "../upstream/sticky.ts";

/** Rows the status page and /metrics.json show per listener. */
export const TOP_SHOWN = 10;
/** The most rows /api/clients gives per listener (the summaries hold 128 clients each). */
export const TOP_MAX = 128;

/** One upstream's stick table as the admin API shows it; null when the upstream has no `stick`. */
export function stickView(source: StatusSource, ui: number, limit = 1000) {
  const u = source.config.upstreams[ui]!;
  const table = u.stick ? source.sticks.table(u.name) : null;
  if (!u.stick || !table) return null;
  const ttl = u.stick.ttlMs;
  const byId = new Map(u.servers.map((s) => [stickId(s), s.name] as const));
  const now = Date.now();
  const entries = table.entries(now, ttl, limit).map((e) => ({
    client: e.client,
    server: byId.get(e.server) ?? null,
    sessions: e.sessions,
    idle_ms: e.idleMs,
    // While a session is open the entry cannot expire; after, it lasts ttl from the last one.
    expires_in_ms: e.sessions > 0 ? null : Math.max(0, ttl - e.idleMs),
  }));
  return { upstream: u.name, ttl_ms: ttl, max_entries: u.stick.maxEntries, capacity: table.capacity, entries: table.live(now, ttl), shown: entries.length, clients: entries };
}

/** Drop one client's entry (an address, or an IPv6 /64 written as its prefix), or all. */
export function unstick(source: StatusSource, ui: number, client: string | null): { removed: number } | { error: string } {
  const u = source.config.upstreams[ui]!;
  const table = u.stick ? source.sticks.table(u.name) : null;
  if (!table) return { error: `upstream ${JSON.stringify(u.name)} has no stick table (set stick = { on = "source" } on it)` };
  if (client === null) return { removed: table.clear() };
  const words = newIpWords();
  const address = client.replace(/\/64$/, "").replace(/\/32$/, "");
  if (!parseIp(address, words)) return { error: `${JSON.stringify(client)} is not a client address (IPv4, IPv6, or an IPv6 /64 such as "2001:db8:1:2::/64")` };
  return { removed: table.delete(words) ? 1 : 0 };
}

/** The stick tables' use, for /metrics. */
export function stickUsage(source: StatusSource): StickUsage {
  const now = Date.now();
  return source.config.upstreams.flatMap((u) => {
    const table = u.stick ? source.sticks.table(u.name) : null;
    return table && u.stick ? [{ upstream: u.name, entries: table.live(now, u.stick.ttlMs), capacity: table.capacity }] : [];
  });
}

/** Each listener's heaviest clients. */
export function clientsView(source: StatusSource, n = TOP_SHOWN, by: "bytes" | "sessions" = "bytes", only?: string) {
  return source.config.listeners
    .filter((l) => only === undefined || l.name === only)
    .map((l) => ({ listener: l.name, by, clients: source.talkers.top(l.name, n, by).map(clientRow) }));
}

function clientRow(r: ReturnType<StatusSource["talkers"]["top"]>[number]) {
  return { client: r.client, bytes: Math.round(r.bytes), bytes_error: Math.round(r.bytesError), sessions: Math.round(r.sessions), sessions_error: Math.round(r.sessionsError), current: r.current };
}
