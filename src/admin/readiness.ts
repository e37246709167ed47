// /readyz: ready when every Worker is up and every upstream has at least one server taking connections.
import type { StatusSource } from "./source.ts";
import { json } from "./http.ts";
import { takesNewConnections } from "../health/server-state.ts";

export interface Readiness {
  ready: boolean;
  /** Why not, one sentence each; empty when ready. */
  reasons: string[];
  workers: { running: number; configured: number };
  upstreams: { name: string; servers_up: number; servers: number }[];
}

export function readiness(source: StatusSource): Readiness {
  const { config, health } = source;
  const reasons: string[] = [];
  const running = source.workersRunning();
  const configured = config.global.workers;
  if (source.stopping) reasons.push("shutting down: draining the sessions open, accepting no new ones");
  if (running !== configured) reasons.push(`${running} of ${configured} Workers running`);
  const upstreams = config.upstreams.map((u, ui) => {
    const up = health.snapshot(ui).filter(takesNewConnections).length;
    if (up === 0) reasons.push(`upstream ${u.name}: no server up (${u.servers.length} configured)`);
    return { name: u.name, servers_up: up, servers: u.servers.length };
  });
  return { ready: reasons.length === 0, reasons, workers: { running, configured }, upstreams };
}

/** 200 when ready, 503 with the reasons otherwise: what a load balancer or an orchestrator polls. */
export function readinessResponse(source: StatusSource): Response {
  const r = readiness(source);
  return json(r, r.ready ? 200 : 503);
}
