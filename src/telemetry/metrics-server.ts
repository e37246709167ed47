// The metrics listener on the main thread: /metrics (Prometheus text), /metrics.json, /healthz,
// /readyz, the status page at /, and the admin API under /api/.
import type { Server } from "bun";
import type { Address } from "../config/types.ts";
import { renderPrometheus } from "./prometheus.ts";
import { renderHealth } from "../health/metrics.ts";
import { renderHistograms } from "./histogram-metrics.ts";
import { handleApi } from "../admin/api.ts";
import { ChangeLog } from "../admin/changes.ts";
import { failure, json, methodNotAllowed } from "../admin/http.ts";
import { readinessResponse } from "../admin/readiness.ts";
import type { StatusSource } from "../admin/source.ts";
import { statusPage } from "../admin/status-page.ts";
import { metricsView } from "../admin/views.ts";

export type MetricsSource = StatusSource;

const PATHS = ["/", "/metrics", "/metrics.json", "/healthz", "/readyz", "/api/"];

export function startMetricsServer(listen: Address, source: MetricsSource): Server<undefined> {
  const changes = new ChangeLog();
  changes.follow(source.health);
  return Bun.serve({
    hostname: listen.host,
    port: listen.port,
    fetch(request, server) {
      const path = new URL(request.url).pathname;
      if (path === "/api" || path.startsWith("/api/")) return handleApi(source, request, path, clientOf(server, request));
      if (!PATHS.includes(path)) return failure(404, `not found: try ${PATHS.join(", ")}`);
      if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed(request.method, ["GET", "HEAD"]);
      switch (path) {
        case "/metrics": {
          const body = renderPrometheus(source.config, source.reader, [[{}, source.workersRunning()]]) + renderHealth(source.config, source.health)
            + renderHistograms(source.config, source.reader);
          return new Response(body, { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
        }
        case "/metrics.json":
          return json(metricsView(source, changes.recent()), 200, {}, false);
        case "/healthz":
          return new Response("ok\n");
        case "/readyz":
          return readinessResponse(source);
        default:
          return statusPage();
      }
    },
  });
}

/** Who asked, for the admin API's log lines: the peer address (IPv4 without its IPv6 mapping prefix). */
function clientOf(server: Server<undefined>, request: Request): string {
  const address = server.requestIP(request)?.address ?? "unknown";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
