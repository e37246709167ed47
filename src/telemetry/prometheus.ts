// Renders the summed per-Worker counters as Prometheus text exposition format (version 0.0.4).
import type { Config } from "../config/types.ts";
import { L, S, TLS_FAILURE_REASONS } from "../shared/layout.ts";
import { REJECT_REASONS, type CounterReader } from "./counters.ts";
import { formatLabels } from "./prometheus-text.ts";

type Sample = [labels: Record<string, string>, value: number];
/** The per-IP table's use (admission/shared-region.ts perIpUsage); null when no listener uses it. */
export type PerIpUsage = { entries: number; capacity: number } | null;

function family(out: string[], name: string, type: "counter" | "gauge", help: string, samples: Sample[]): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) {
    const text = formatLabels(labels);
    out.push(`${name}${text ? `{${text}}` : ""} ${Number.isFinite(value) ? value : 0}`);
  }
}

/** Live entries of each upstream's stick table (upstreams with `stick`). */
export type StickUsage = { upstream: string; entries: number; capacity: number }[];

export function renderPrometheus(config: Config, reader: CounterReader, extra: Sample[] = [], perIp: PerIpUsage = null, stick: StickUsage = []): string {
  const out: string[] = [];
  const perListener = (field: number): Sample[] =>
    config.listeners.map((l, i) => [{ listener: l.name }, reader.listener(i, field)]);
  const perServer = (field: number): Sample[] =>
    config.upstreams.flatMap((u, ui) => u.servers.map((s, si): Sample => [{ upstream: u.name, server: s.name }, reader.server(ui, si, field)]));

  family(out, "aegis_connections_total", "counter", "Client connections accepted and admitted.", perListener(L.connections));
  family(out, "aegis_connections_active", "gauge", "Client connections currently open.", perListener(L.active));
  family(out, "aegis_connections_rejected_total", "counter", "Client connections refused or closed without reaching a server, by reason.",
    config.listeners.flatMap((l, i) => REJECT_REASONS.map(([reason, field]): Sample => [{ listener: l.name, reason }, reader.listener(i, field)])));
  family(out, "aegis_connections_queued", "gauge", "Client connections waiting in an upstream queue (every eligible server at max_connections).", perListener(L.queued));
  const tlsListeners = config.listeners.flatMap((l, i) => (l.tls ? [[l.name, i] as const] : []));
  if (tlsListeners.length > 0) {
    family(out, "aegis_tls_handshakes_total", "counter", "TLS handshakes completed with clients.",
      tlsListeners.map(([name, i]): Sample => [{ listener: name }, reader.listener(i, L.tlsHandshakes)]));
    family(out, "aegis_tls_handshake_failures_total", "counter", "TLS handshakes with clients that failed or timed out (also in aegis_connections_rejected_total{reason=\"tls_handshake\"}).",
      tlsListeners.map(([name, i]): Sample => [{ listener: name }, reader.listener(i, L.tlsHandshakeFailures)]));
    family(out, "aegis_tls_certificate_expiry_timestamp_seconds", "gauge", "When each certificate a listener serves expires (Unix time).",
      config.listeners.flatMap((l) => (l.tls?.certificates ?? []).map((c): Sample => [{ listener: l.name, subject: c.subject }, c.notAfter / 1000])));
  }
  family(out, "aegis_bytes_received_total", "counter", "Bytes read from clients.", perListener(L.bytesReceived));
  family(out, "aegis_bytes_sent_total", "counter", "Bytes written to clients.", perListener(L.bytesSent));
  family(out, "aegis_upstream_connections_total", "counter", "Connections established to each server.", perServer(S.connections));
  family(out, "aegis_upstream_connections_active", "gauge", "Open relayed connections to each server.", perServer(S.active));
  family(out, "aegis_upstream_bytes_received_total", "counter", "Bytes read from the clients of sessions relayed to each server (what went to it).", perServer(S.bytesReceived));
  family(out, "aegis_upstream_bytes_sent_total", "counter", "Bytes written to the clients of sessions relayed to each server (what came from it).", perServer(S.bytesSent));
  family(out, "aegis_upstream_connect_errors_total", "counter", "Failed or timed-out connects to each server.", perServer(S.connectErrors));
  family(out, "aegis_upstream_tls_failures_total", "counter", "TLS handshakes with each server that failed, by reason (untrusted, name_mismatch, expired, handshake): each is also a connect error, with the error in the log.",
    config.upstreams.flatMap((u, ui) => u.servers.flatMap((s, si) => TLS_FAILURE_REASONS.map((reason, k): Sample => [{ upstream: u.name, server: s.name, reason }, reader.server(ui, si, S.tlsFailures + k)]))));
  family(out, "aegis_upstream_pool_idle", "gauge", "Pre-connected idle sockets to each server, all Workers together.", perServer(S.poolIdle));
  family(out, "aegis_upstream_pool_connections_total", "counter", "Pooled sockets connected to each server, used by a session or not (aegis_upstream_connections_total counts one when a session takes it).", perServer(S.poolConnections));
  family(out, "aegis_upstream_pool_closed_total", "counter", "Idle pooled sockets the server closed before a client used them: a restart, or a server timeout below pool_max_idle.", perServer(S.poolClosed));
  if (perIp) {
    family(out, "aegis_per_ip_entries", "gauge", "Client addresses the per-IP table holds live state for (open connections or a rate bucket not yet full), all listeners.",
      [[{}, perIp.entries]]);
    family(out, "aegis_per_ip_capacity", "gauge", "Client addresses the per-IP table can hold; well before it is full, new addresses may be refused (per_ip_table_full).", [[{}, perIp.capacity]]);
  }
  if (stick.length > 0) {
    family(out, "aegis_stick_entries", "gauge", "Clients an upstream's stick table holds (stuck to a server, within ttl or with a session open).",
      stick.map((s): Sample => [{ upstream: s.upstream }, s.entries]));
    family(out, "aegis_stick_capacity", "gauge", "Clients an upstream's stick table can hold (max_entries rounded up); past it the least recently used make room.",
      stick.map((s): Sample => [{ upstream: s.upstream }, s.capacity]));
  }
  if (extra.length) family(out, "aegis_workers", "gauge", "Worker threads running.", extra);
  return out.join("\n") + "\n";
}
