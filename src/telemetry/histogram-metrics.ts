// Prometheus families for the per-Worker histograms: connect latency and session length per server,
// session length per listener.
import type { Config } from "../config/types.ts";
import { CONNECT_BUCKETS, SESSION_BUCKETS } from "../shared/layout.ts";
import type { CounterReader } from "./counters.ts";
import { formatLabels, renderHistogram } from "./prometheus-text.ts";

export function renderHistograms(config: Config, reader: CounterReader): string {
  const layout = reader.layout;
  const connect = config.upstreams.flatMap((u, ui) => u.servers.flatMap((s, si) => {
    const base = layout.connectHistBase(ui, si);
    return renderHistogram("aegis_upstream_connect_duration_seconds", formatLabels({ upstream: u.name, server: s.name }), CONNECT_BUCKETS, (o) => reader.sum(base + o));
  }));
  const serverSession = config.upstreams.flatMap((u, ui) => u.servers.flatMap((s, si) => {
    const base = layout.serverSessionHistBase(ui, si);
    return renderHistogram("aegis_upstream_session_duration_seconds", formatLabels({ upstream: u.name, server: s.name }), SESSION_BUCKETS, (o) => reader.sum(base + o));
  }));
  const session = config.listeners.flatMap((l, li) => {
    const base = layout.sessionHistBase(li);
    return renderHistogram("aegis_session_duration_seconds", formatLabels({ listener: l.name }), SESSION_BUCKETS, (o) => reader.sum(base + o));
  });
  return [
    "# HELP aegis_upstream_connect_duration_seconds Time to establish a connection to the server (pooled sockets excluded).",
    "# TYPE aegis_upstream_connect_duration_seconds histogram", ...connect,
    "# HELP aegis_session_duration_seconds Length of finished client sessions, accept to close.",
    "# TYPE aegis_session_duration_seconds histogram", ...session,
    "# HELP aegis_upstream_session_duration_seconds Length of finished sessions relayed to the server, accept to close.",
    "# TYPE aegis_upstream_session_duration_seconds histogram", ...serverSession,
    "",
  ].join("\n");
}
