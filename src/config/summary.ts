// The human summary `aegis check` prints after a config validates, like `nginx -t`.
import type { Config, DiscoveryConfig, HealthCheckConfig, ListenerConfig, RouteConfig, ServerConfig, UpstreamConfig } from "./types.ts";
import { formatAddress } from "./address.ts";
import { formatDuration } from "./duration.ts";
import { formatRate } from "./rate.ts";

/** A multi-line, aligned description of what the config will do; no trailing newline. */
export function summarizeConfig(c: Config): string {
  const g = c.global;
  const lines = [
    `config ${c.source}`,
    ...table([
      ["  workers", String(g.workers)],
      ["  max_connections", String(g.maxConnections)],
      ["  shutdown_grace", formatDuration(g.shutdownGraceMs)],
      ["  log_level", g.logLevel],
      ["  access_log", g.accessLog ? "on" : "off"],
      ["  metrics", c.metrics.listen ? formatAddress(c.metrics.listen) : "off"],
      ...(g.resolvers.length ? [["  resolvers", g.resolvers.map(formatAddress).join(" ")]] : []),
      ...(g.stateFile ? [["  state_file", g.stateFile]] : []),
      ...(g.geoip ? g.geoip.describe.map((d, i) => [i === 0 ? "  geoip" : "", d]) : []),
      ...Object.entries(g.regions).map(([region, countries]) => [`  region ${region}`, countries.join(" ")]),
    ]),
    `listeners (${c.listeners.length})`,
    ...table(c.listeners.map((l) => [
      `  ${l.name}`,
      formatAddress(l.bind),
      `-> ${l.upstream}`,
      l.idleTimeoutMs === 0 ? "no idle timeout" : `idle timeout ${formatDuration(l.idleTimeoutMs)}`,
      ...admission(l),
      ...client(l),
    ])),
    ...c.listeners.flatMap((l) => (l.routes ?? []).map((r, i) => `  ${l.name} route ${i + 1}: ${routeText(r)}`)),
    `upstreams (${c.upstreams.length})`,
    ...c.upstreams.flatMap(upstream),
  ];
  return lines.join("\n");
}

function upstream(u: UpstreamConfig): string[] {
  const pool = u.pool === 0 ? "pool off" : `pool ${u.pool} (max idle ${formatDuration(u.poolMaxIdleMs)})`;
  const queue = u.queue ? `, queue ${u.queue.size} (timeout ${formatDuration(u.queue.timeoutMs)})` : "";
  return [
    `  ${u.name}: ${u.balance}, connect timeout ${formatDuration(u.connectTimeoutMs)}, retries ${u.retries}, ${pool}${queue}${sticky(u)}`,
    ...table(u.servers.map((s) => [`    ${s.name}`, `weight ${s.weight}`, ...limits(s), ...(s.region ? [`region ${s.region}`] : []), ...(s.backup ? ["backup"] : [])])),
    ...(u.servers.length === 0 ? ["    (no servers in the file: discovery finds them)"] : []),
    ...(u.health ? [`    health ${healthText(u.health)}${u.health.port !== undefined ? ` on port ${u.health.port}` : ""}, every ${formatDuration(u.health.intervalMs)} (timeout ${formatDuration(u.health.timeoutMs)}), rise ${u.health.rise}, fall ${u.health.fall}`] : []),
    ...(u.discovery ?? []).map((d) => `    discovery ${discoveryText(d)}, hold ${formatDuration(d.holdMs)}`),
    ...(u.onDown ? ["    on_down close_sessions: sessions on a server that goes down, is disabled or removed are reset"] : []),
  ];
}

/** "redis (AUTH, role primary)", "http GET /primary expecting 200", "tcp connect". */
function healthText(h: HealthCheckConfig): string {
  const c = h.check;
  if (!c) return h.sendHex || h.expect ? "tcp send/expect" : "tcp connect";
  if (c.kind === "redis") return `redis PING${c.password !== null ? " after AUTH" : ""}${c.role ? `, role ${c.role}` : ""}`;
  if (c.kind === "postgres") return `postgres StartupMessage (user ${c.user})`;
  if (c.kind === "http") return `http GET ${c.path} expecting ${c.status}`;
  return "mysql greeting";
}

/** "dns redis.service.consul (A/AAAA) port 6379, again when the TTL runs out, no sooner than every 10s". */
function discoveryText(d: DiscoveryConfig): string {
  if (d.kind === "sqlite") return `sqlite ${d.path} table ${d.table} app ${d.app}, polled every ${formatDuration(d.intervalMs)}`;
  const what = d.kind === "dns" ? `dns ${d.name} (A/AAAA) port ${d.port}` : `srv ${d.name} (lowest priority primary, others backup)`;
  return `${what}, again when the TTL runs out, no sooner than every ${formatDuration(d.intervalMs)}`;
}

/** "allow 2, deny 1, 20 per IP, 50/10s per IP": a listener's admission settings, when it has any. */
function admission(l: ListenerConfig): string[] {
  const a = l.admission;
  if (!a) return [];
  const parts = [
    a.allow.length > 0 ? `allow ${a.allow.length}` : "",
    a.deny.length > 0 ? `deny ${a.deny.length}` : "",
    a.maxConnectionsPerIp > 0 ? `${a.maxConnectionsPerIp} per IP` : "",
    a.connectionRatePerIp ? `${formatRate(a.connectionRatePerIp)} per IP` : "",
  ];
  return [parts.filter(Boolean).join(", ")];
}

/** PROXY protocol and routes on who the client is: "PROXY v2 from 10.0.0.0/8, 2 routes". */
function client(l: ListenerConfig): string[] {
  const p = l.proxyProtocol;
  const parts = [
    p ? `PROXY ${p.accept} from ${p.from.join(" ")}` : "",
    l.routes?.length ? `${l.routes.length} route${l.routes.length === 1 ? "" : "s"}` : "",
    l.preferRegion !== undefined ? `prefer region ${l.preferRegion === true ? "of the client" : l.preferRegion}` : "",
  ].filter(Boolean);
  return parts.length > 0 ? [parts.join(", ")] : [];
}

/** "source 10.0.0.0/8 and country US, CA -> pg-us (prefers region eu-west)". */
function routeText(r: RouteConfig): string {
  const on = [
    r.source.length ? `source ${r.source.join(", ")}` : "",
    r.country.length ? `country ${r.country.join(", ")}` : "",
    r.sni.length ? `sni ${r.sni.join(", ")}` : "",
    r.alpn.length ? `alpn ${r.alpn.join(", ")}` : "",
  ].filter(Boolean).join(" and ");
  const prefer = r.preferRegion === null ? "" : ` (prefers ${r.preferRegion === true ? "the client's region" : `region ${r.preferRegion}`})`;
  return `${on} -> ${r.upstream}${prefer}`;
}

function sticky(u: UpstreamConfig): string {
  const send = u.sendProxy ? `, send PROXY v${u.sendProxy}` : "";
  const stick = u.stick ? `, stick on source (ttl ${formatDuration(u.stick.ttlMs)}, ${u.stick.maxEntries} entries)` : "";
  return send + stick;
}

function limits(s: ServerConfig): string[] {
  const parts = [s.maxConnections ? `max ${s.maxConnections}` : "", s.softLimit ? `soft ${s.softLimit}` : ""].filter(Boolean);
  return parts.length > 0 ? [parts.join(", ")] : [];
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
}
