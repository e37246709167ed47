// The metrics endpoint on the main thread: /metrics (Prometheus text) and /healthz.
import type { Server } from "bun";
import type { Address, Config } from "../config/types.ts";
import type { CounterReader } from "./counters.ts";
import { renderPrometheus } from "./prometheus.ts";
import type { HealthMonitor } from "../health/monitor.ts";
import { renderHealth } from "../health/metrics.ts";
import { renderHistograms } from "./histogram-metrics.ts";

export interface MetricsSource {
  readonly config: Config;
  readonly reader: CounterReader;
  readonly health: HealthMonitor;
  workersRunning(): number;
}

export function startMetricsServer(listen: Address, source: MetricsSource): Server<undefined> {
  return Bun.serve({
    hostname: listen.host,
    port: listen.port,
    fetch(request) {
      const path = new URL(request.url).pathname;
      if (path === "/metrics") {
        const body = renderPrometheus(source.config, source.reader, [[{}, source.workersRunning()]]) + renderHealth(source.config, source.health)
          + renderHistograms(source.config, source.reader);
        return new Response(body, { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
      }
      if (path === "/healthz") return new Response("ok\n");
      return new Response("not found: try /metrics or /healthz\n", { status: 404 });
    },
  });
}
