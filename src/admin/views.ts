// The JSON views of the running proxy: listeners, upstreams and servers with the numbers /metrics
// exposes, read from the same counters, so the two never disagree.
import { clientsView, stickUsage } from "./clients.ts";
import { formatAddress } from "../config/address.ts";
import type { ServerChange } from "../health/monitor.ts";
import { perIpUsage, upstreamQueued } from "../admission/shared-region.ts";
import { CONNECT_BUCKETS, L, S, SESSION_BUCKETS, TLS_FAILURE_REASONS } from "../shared/layout.ts";
import { REJECT_REASONS, type CounterReader } from "../telemetry/counters.ts";
import { histogramView, type HistogramView } from "../telemetry/histogram-cells.ts";
import { quantile } from "../telemetry/quantile.ts";
import { VERSION } from "../version.ts";
import type { StatusSource } from "./source.ts";

export interface ServerStatus {
  index: number;
  name: string;
  address: string;
  /** Where it came from: file, dns, srv, sqlite or api. */
  source: string;
  backup: boolean;
  /** Its region (prefer_region), from the file or a SQLite row; null when none. */
  region: string | null;
  /** What new connections are balanced by: the operator's weight if set, else the configured one. */
  weight: number;
  configured_weight: number;
  /** up, down, ejected, draining or disabled. */
  state: string;
  /** The operator's wish: ready, draining or disabled. */
  admin: string;
  /** When `state` last changed (ISO 8601; the start when it never has), and the seconds since. */
  state_since: string;
  state_seconds: number;
  /** The server's `max_connections` and `soft_limit`; null where none is set. */
  max_connections: number | null;
  soft_limit: number | null;
  connections_active: number;
  connections_total: number;
  /** Bytes of the sessions relayed through it: from their clients (sent to the server) and to them. */
  bytes_received_total: number;
  bytes_sent_total: number;
  connect_errors_total: number;
  /** Failed TLS handshakes with it by reason (untrusted, name_mismatch, expired, handshake); each is also a connect error. */
  tls_failures_total: Record<string, number>;
  pool_idle: number;
  pool_connections_total: number;
  pool_closed_total: number;
  /** aegis_upstream_connect_duration_seconds and aegis_upstream_session_duration_seconds. */
  connect_duration_seconds: HistogramView;
  /** Connect latency estimated from that histogram (seconds, as histogram_quantile); null before the first connect. */
  connect_seconds: { p50: number | null; p90: number | null; p99: number | null };
  session_duration_seconds: HistogramView;
  health: {
    /** Whether the upstream has active checks; without them only passive checks judge it. */
    active_checks: boolean;
    healthy: boolean;
    /** Check results in a row that disagree with `healthy`. */
    streak: number;
    ejected: boolean;
    ejected_for_seconds: number;
    state_changes_total: number;
    /** aegis_health_check_duration_seconds; null without active checks. */
    check_duration_seconds: HistogramView | null;
    /** The last active check (what was sent and came back, why it failed); null before the first. */
    last_check: { at: string; ok: boolean; ms: number; reason: string; sent: string; reply: string } | null;
  };
}

export interface UpstreamStatus {
  name: string;
  balance: string;
  servers_up: number;
  connections_active: number;
  connections_total: number;
  /** Sessions waiting for a place (every eligible server at max_connections), against the queue's size; null without a queue. */
  queue: { waiting: number; size: number; timeout_ms: number } | null;
  servers: ServerStatus[];
}

export interface ListenerStatus {
  name: string;
  bind: string;
  upstream: string;
  connections_active: number;
  connections_total: number;
  rejected_total: Record<string, number>;
  connections_queued: number;
  bytes_received_total: number;
  bytes_sent_total: number;
  /** aegis_session_duration_seconds. */
  session_duration_seconds: HistogramView;
  /** Present on a listener that terminates TLS. */
  tls?: ListenerTlsStatus;
}

export interface ListenerTlsStatus {
  mode: "tls" | "postgres";
  handshakes_total: number;
  handshake_failures_total: number;
  /** The certificates served, first the default, with their expiry (ISO 8601). */
  certificates: { subject: string; names: string[]; not_after: string }[];
}

/** A histogram kept in the Workers' cells from `base` on, summed over Workers. */
const cellsHistogram = (reader: CounterReader, base: number, buckets: readonly number[]): HistogramView =>
  histogramView(buckets, (o) => reader.sum(base + o));

export function listenerViews(source: StatusSource): ListenerStatus[] {
  const { config, reader } = source;
  return config.listeners.map((l, i) => ({
    name: l.name,
    bind: formatAddress(l.bind),
    upstream: l.upstream,
    connections_active: reader.listener(i, L.active),
    connections_total: reader.listener(i, L.connections),
    rejected_total: Object.fromEntries(REJECT_REASONS.map(([reason, field]) => [reason, reader.listener(i, field)])),
    connections_queued: reader.listener(i, L.queued),
    bytes_received_total: reader.listener(i, L.bytesReceived),
    bytes_sent_total: reader.listener(i, L.bytesSent),
    session_duration_seconds: cellsHistogram(reader, reader.layout.sessionHistBase(i), SESSION_BUCKETS),
    ...(l.tls ? {
      tls: {
        mode: l.tls.mode,
        handshakes_total: reader.listener(i, L.tlsHandshakes),
        handshake_failures_total: reader.listener(i, L.tlsHandshakeFailures),
        certificates: l.tls.certificates.map((c) => ({ subject: c.subject, names: c.names, not_after: new Date(c.notAfter).toISOString() })),
      },
    } : {}),
  }));
}

export function upstreamView(source: StatusSource, ui: number): UpstreamStatus {
  const { config, reader, health } = source;
  const u = config.upstreams[ui]!;
  const states = health.states()[ui] ?? [];
  const weights = health.weights(ui);
  const now = performance.now();
  const wall = Date.now();
  const servers = u.servers.map((s, si): ServerStatus => {
    const h = states[si];
    const ejectedFor = h && h.ejection.ejectedUntil !== 0 ? Math.max(0, h.ejection.ejectedUntil - now) / 1000 : 0;
    const connect = cellsHistogram(reader, reader.layout.connectHistBase(ui, si), CONNECT_BUCKETS);
    const since = h?.since ?? wall;
    return {
      index: si,
      name: s.name,
      address: formatAddress(s.address),
      source: s.source ?? "file",
      backup: s.backup,
      region: s.region ?? null,
      weight: weights[si] ?? s.weight,
      configured_weight: s.weight,
      state: h?.state ?? "up",
      admin: h?.admin ?? "ready",
      state_since: new Date(since).toISOString(),
      state_seconds: Math.max(0, Math.round((wall - since) / 100) / 10),
      max_connections: s.maxConnections ?? null,
      soft_limit: s.softLimit ?? null,
      connections_active: reader.server(ui, si, S.active),
      connections_total: reader.server(ui, si, S.connections),
      bytes_received_total: reader.server(ui, si, S.bytesReceived),
      bytes_sent_total: reader.server(ui, si, S.bytesSent),
      connect_errors_total: reader.server(ui, si, S.connectErrors),
      tls_failures_total: Object.fromEntries(TLS_FAILURE_REASONS.map((reason, k) => [reason, reader.server(ui, si, S.tlsFailures + k)])),
      pool_idle: reader.server(ui, si, S.poolIdle),
      pool_connections_total: reader.server(ui, si, S.poolConnections),
      pool_closed_total: reader.server(ui, si, S.poolClosed),
      connect_duration_seconds: connect,
      connect_seconds: { p50: quantile(connect, 0.5), p90: quantile(connect, 0.9), p99: quantile(connect, 0.99) },
      session_duration_seconds: cellsHistogram(reader, reader.layout.serverSessionHistBase(ui, si), SESSION_BUCKETS),
      health: {
        active_checks: u.health !== null,
        healthy: h?.active.healthy ?? true,
        streak: h?.active.streak ?? 0,
        ejected: ejectedFor > 0,
        ejected_for_seconds: Math.round(ejectedFor * 10) / 10,
        state_changes_total: h?.changes ?? 0,
        check_duration_seconds: u.health && h ? h.checkSeconds.view() : null,
        last_check: h?.last ? { ...h.last, at: new Date(h.last.at).toISOString() } : null,
      },
    };
  });
  return {
    name: u.name,
    balance: u.balance,
    servers_up: servers.filter((s) => s.state === "up").length,
    connections_active: servers.reduce((n, s) => n + s.connections_active, 0),
    connections_total: servers.reduce((n, s) => n + s.connections_total, 0),
    queue: u.queue ? { waiting: Math.max(0, upstreamQueued(reader.sab, reader.layout, u.name)), size: u.queue.size, timeout_ms: u.queue.timeoutMs } : null,
    servers,
  };
}

export function upstreamViews(source: StatusSource): UpstreamStatus[] {
  return source.config.upstreams.map((_, ui) => upstreamView(source, ui));
}

export function processView(source: StatusSource) {
  const uptime = process.uptime();
  return {
    version: VERSION,
    bun: Bun.version,
    pid: process.pid,
    config: source.config.source,
    started_at: new Date(Date.now() - uptime * 1000).toISOString(),
    uptime_seconds: Math.round(uptime * 10) / 10,
    workers: { configured: source.config.global.workers, running: source.workersRunning() },
  };
}

export function changeView(c: ServerChange) {
  return { time: new Date(c.time).toISOString(), upstream: c.upstream, server: c.server, what: c.what, from: c.from, to: c.to, reason: c.reason };
}

/**
 * The operator's reloads: counts by result, the last one taken, and the last one refused when no
 * reload has been taken since (null otherwise): the status page shows it as a banner until then.
 */
export function reloadsView(source: StatusSource) {
  const r = source.reloads;
  if (!r) return null;
  return {
    ok: r.ok,
    failed: r.failed,
    last_success_at: new Date(r.lastSuccessAt).toISOString(),
    last_failure: r.lastFailure ? { at: new Date(r.lastFailure.at).toISOString(), error: r.lastFailure.error } : null,
  };
}

/** Everything /metrics.json serves: what the status page draws from, once a second. */
export function metricsView(source: StatusSource, changes: readonly ServerChange[]) {
  return {
    time: new Date().toISOString(),
    process: processView(source),
    reloads: reloadsView(source),
    listeners: listenerViews(source),
    upstreams: upstreamViews(source),
    per_ip: perIpUsage(source.config, source.reader.sab, source.reader.layout),
    clients: clientsView(source),
    stick: stickUsage(source),
    changes: changes.map(changeView),
  };
}
