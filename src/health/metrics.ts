// Prometheus families for server health: state, changes and active-check durations.
import type { Config } from "../config/types.ts";
import { formatLabels } from "../telemetry/prometheus-text.ts";
import type { HealthMonitor } from "./monitor.ts";
import { SERVER_STATES, takesNewConnections } from "./server-state.ts";

export function renderHealth(config: Config, monitor: HealthMonitor): string {
  const up: string[] = [];
  const state: string[] = [];
  const changes: string[] = [];
  const durations: string[] = [];
  monitor.states().forEach((servers, ui) => servers.forEach((s, si) => {
    const u = config.upstreams[ui]!;
    const l = formatLabels({ upstream: u.name, server: u.servers[si]!.name });
    up.push(`aegis_server_up{${l}} ${takesNewConnections(s.state) ? 1 : 0}`);
    for (const candidate of SERVER_STATES) state.push(`aegis_server_state{${l},state="${candidate}"} ${s.state === candidate ? 1 : 0}`);
    changes.push(`aegis_server_state_changes_total{${l}} ${s.changes}`);
    if (u.health) durations.push(...s.checkSeconds.render("aegis_health_check_duration_seconds", l));
  }));
  return [
    "# HELP aegis_server_up 1 when the server takes new connections (state up), else 0.",
    "# TYPE aegis_server_up gauge", ...up,
    "# HELP aegis_server_state The server's state: up, down (active checks), ejected (passive checks), draining, disabled.",
    "# TYPE aegis_server_state gauge", ...state,
    "# HELP aegis_server_state_changes_total State changes of the server since start.",
    "# TYPE aegis_server_state_changes_total counter", ...changes,
    "# HELP aegis_health_check_duration_seconds Time an active check took, successful or not.",
    "# TYPE aegis_health_check_duration_seconds histogram", ...durations,
    "",
  ].join("\n");
}
