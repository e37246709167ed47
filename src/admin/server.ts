// The HTTP server on the main thread (the `[metrics] listen` address): /metrics (Prometheus text),
// /metrics.json, /healthz, /readyz, the status page at /, and the admin API under /api/.
import type { SourceView } from "../control/discovery.ts";
import { formatLabels } from "../telemetry/prometheus-text.ts";
import { stickUsage } from "./clients.ts";
import type { Server } from "bun";
import { perIpUsage } from "../admission/shared-region.ts";
import { formatAddress } from "../config/address.ts";
import type { Address } from "../config/types.ts";
import { faultsEnabled } from "../control/faults.ts";
import type { WorkerFault } from "../control/messages.ts";
import { renderHealth } from "../health/metrics.ts";
import { renderHistograms } from "../telemetry/histogram-metrics.ts";
import { renderPrometheus } from "../telemetry/prometheus.ts";
import { renderBuildInfo, renderProcess, renderReloads } from "../telemetry/process-metrics.ts";
import { buildInfo } from "../version.ts";
import { handleApi } from "./api.ts";
import { refuseOutsider } from "./allow.ts";
import type { AppliedWait, ChangeLog } from "./changes.ts";
import { StatusHistory } from "./history.ts";
import { failure, json, methodNotAllowed } from "./http.ts";
import { readinessResponse } from "./readiness.ts";
import type { StatusSource } from "./source.ts";
import { statusPage } from "./status-page.ts";
import { metricsView } from "./views.ts";

export interface HttpSource extends StatusSource, AppliedWait {
  /** The last server snapshot sent to the Workers, and the last each Worker applied (null: not running). */
  snapshotSeqs?(): { sent: number; applied: (number | null)[] };
  /** Tests only (AEGIS_TEST_FAULTS=1): crash or stall Worker `index`; false when it is not running. */
  injectFault?(index: number, fault: WorkerFault): boolean;
}

const PATHS = ["/", "/metrics", "/metrics.json", "/healthz", "/readyz", "/api/"];

/**
 * Listen on `listen`; the error names the address when it cannot. `changes` is the log the
 * composition root keeps (it follows the health monitor), which /metrics.json lists. The socket has
 * SO_REUSEPORT so that an upgrade's new process binds beside this one; `inherited` (the port is an
 * upgraded-from process's) skips the check that otherwise refuses a port anyone else holds.
 */
export function startHttpServer(listen: Address, source: HttpSource, changes: ChangeLog, inherited = false): Server<undefined> {
  const history = new StatusHistory();
  try {
    // Without reusePort this bind fails if anyone holds the port, with or without SO_REUSEPORT.
    if (!inherited && listen.port !== 0) Bun.listen({ hostname: listen.host, port: listen.port, socket: { data() {} } }).stop(true);
    const server = serve(listen, source, changes, history);
    // Sampled once a second from start, so the page opened later draws the minutes before it; a
    // library host that stops the server must not keep a timer reading a finished proxy's counters.
    history.start(source);
    const stop = server.stop.bind(server);
    server.stop = (closeActive?: boolean) => {
      history.stop();
      return stop(closeActive);
    };
    return server;
  } catch (err) {
    throw new Error(listenFailure(listen, source.config.source, err as Error & { code?: string }));
  }
}

/** `[metrics] listen = "127.0.0.1:8082" in FILE: port in use (another aegis running?)`, not Bun's bare text. */
export function listenFailure(listen: Address, file: string, err: Error & { code?: string }): string {
  // The demo has no file: its address is its own default.
  const where = file.startsWith("<") ? `${file.slice(1, -1)} metrics address ${formatAddress(listen)}` : `[metrics] listen = "${formatAddress(listen)}" in ${file}`;
  if (err.code === "EADDRINUSE" || /in use/i.test(err.message)) return `${where}: port in use (another aegis running?)`;
  if (err.code === "EACCES" || /permission|access/i.test(err.message)) return `${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
  if (err.code === "EADDRNOTAVAIL") return `${where}: no such address on this machine`;
  return `${where}: ${err.message}`;
}

function serve(listen: Address, source: HttpSource, changes: ChangeLog, history: StatusHistory): Server<undefined> {
  return Bun.serve({
    hostname: listen.host,
    port: listen.port,
    reusePort: true,
    fetch(request, server) {
      const refused = refuseOutsider(source.config, server.requestIP(request)?.address);
      if (refused) return refused;
      const url = new URL(request.url);
      const path = url.pathname;
      if (path === "/api" || path.startsWith("/api/")) return handleApi(source, request, path, clientOf(server, request));
      if (path.startsWith("/faults/") && faultsEnabled()) return fault(source, request, path);
      if (!PATHS.includes(path)) return failure(404, `not found: try ${PATHS.join(", ")}`);
      if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed(request.method, ["GET", "HEAD"]);
      switch (path) {
        case "/metrics":
          return new Response(prometheusText(source), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
        case "/metrics.json":
          // ?history: the last minutes of the page's charts too (the page asks once, when it opens).
          return json({ ...metricsJson(source, changes), ...(url.searchParams.has("history") ? { history: history.view() } : {}) }, 200, {}, false);
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

/** What /metrics answers: every family, in the Prometheus text format. */
export function prometheusText(source: HttpSource): string {
  const perIp = perIpUsage(source.config, source.reader.sab, source.reader.layout);
  return renderPrometheus(source.config, source.reader, [[{}, source.workersRunning()]], perIp, stickUsage(source)) + renderHealth(source.config, source.health)
    + renderHistograms(source.config, source.reader) + renderSnapshotSeqs(source) + renderDiscovery(source)
    + renderBuildInfo(buildInfo()) + (source.reloads ? renderReloads(source.reloads) : "") + renderProcess();
}

/** What /metrics.json answers (before serialisation). */
export function metricsJson(source: HttpSource, changes: ChangeLog): MetricsJson {
  return { ...metricsView(source, changes.recent()), discovery: source.discovery?.views() ?? [] };
}

export type MetricsJson = ReturnType<typeof metricsView> & { discovery: SourceView[] };

/** Each discovery source: the servers it gives, the changes it made and the lookups that failed. */
function renderDiscovery(source: HttpSource): string {
  const views = source.discovery?.views() ?? [];
  if (views.length === 0) return "";
  const families: [string, string, string, (v: SourceView) => number][] = [
    ["aegis_discovery_servers", "gauge", "Servers a discovery source gives now (its last good set while lookups fail, within hold).", (v) => v.servers],
    ["aegis_discovery_changes_total", "counter", "Changes of a discovery source's set of servers, each swapped in without touching sessions on the other servers.", (v) => v.changes],
    ["aegis_discovery_errors_total", "counter", "Lookups or reads of a discovery source that failed (its last good set is kept for hold).", (v) => v.errors],
  ];
  return families.map(([name, type, help, value]) => [
    `# HELP ${name} ${help}`, `# TYPE ${name} ${type}`,
    ...views.map((v) => `${name}{${formatLabels({ upstream: v.upstream, source: v.source })}} ${value(v)}`),
  ].join("\n")).join("\n") + "\n";
}

/**
 * aegis_snapshot_seq (the last server snapshot sent: health, admin state, weight, reload) and
 * aegis_worker_snapshot_seq per Worker (the last it applied): a change is in effect everywhere once
 * every Worker's value has reached the sent value read after the change.
 */
function renderSnapshotSeqs(source: HttpSource): string {
  if (!source.snapshotSeqs) return "";
  const { sent, applied } = source.snapshotSeqs();
  const lines = [
    "# HELP aegis_snapshot_seq Sequence number of the last server snapshot (health, admin state, weight, reload) sent to the Workers.",
    "# TYPE aegis_snapshot_seq gauge",
    `aegis_snapshot_seq ${sent}`,
    "# HELP aegis_worker_snapshot_seq Sequence number of the last server snapshot this Worker applied.",
    "# TYPE aegis_worker_snapshot_seq gauge",
    ...applied.flatMap((seq, w) => (seq === null ? [] : [`aegis_worker_snapshot_seq{worker="${w}"} ${seq}`])),
  ];
  return lines.join("\n") + "\n";
}

/**
 * POST /faults/crash-worker/{n}, POST /faults/stall-worker/{n}?ms=...: only with AEGIS_TEST_FAULTS=1
 * (tests); 404 otherwise, like any unknown path.
 */
function fault(source: HttpSource, request: Request, path: string): Response {
  const match = /^\/faults\/(crash|stall)-worker\/(\d+)$/.exec(path);
  if (!match || !source.injectFault) return failure(404, `no such fault: ${path}`);
  if (request.method !== "POST") return methodNotAllowed(request.method, ["POST"]);
  const worker = Number(match[2]);
  const ms = Number(new URL(request.url).searchParams.get("ms") ?? 1000);
  const injected: WorkerFault = match[1] === "crash" ? { kind: "crash" } : { kind: "stall", ms };
  if (!source.injectFault(worker, injected)) return failure(409, `Worker ${worker} is not running`);
  source.logger.warn("test fault injected", { worker, fault: injected });
  return json({ worker, fault: injected }, 202);
}

/** Who asked, for the admin API's log lines: the peer address (IPv4 without its IPv6 mapping prefix). */
function clientOf(server: Server<undefined>, request: Request): string {
  const address = server.requestIP(request)?.address ?? "unknown";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
