// `aegis status` as text: the process line, then listeners and each upstream's servers as aligned
// tables, from GET /api/status (the same views /metrics.json serves).
import type { ListenerStatus, ServerStatus, UpstreamStatus } from "../../admin/views.ts";

export interface StatusAnswer {
  process: { version: string; pid: number; config: string; uptime_seconds: number; workers: { configured: number; running: number } };
  listeners: ListenerStatus[];
  upstreams: UpstreamStatus[];
}

/** Rows under headers, each column as wide as its widest cell; numbers right-aligned. */
export function table(headers: string[], rows: (string | number)[][], indent = "  "): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === "number"));
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  return cells
    .map((r) => indent + r.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd())
    .join("\n");
}

/** 3725 s -> "1h 2m"; 42 s -> "42s". */
export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

const refused = (l: ListenerStatus) => Object.values(l.rejected_total).reduce((a, b) => a + b, 0);

function lastCheck(s: ServerStatus, now: number): string {
  if (!s.health.active_checks) return "no active checks";
  const last = s.health.last_check;
  if (!last) return "not yet";
  const ago = duration(Math.max(0, (now - Date.parse(last.at)) / 1000));
  return last.ok ? `ok ${last.ms} ms, ${ago} ago` : `failed ${ago} ago: ${last.reason}`;
}

/** The state and, when the operator's wish differs from what it shows, that wish too. */
function state(s: ServerStatus): string {
  if (s.state === "down" && s.admin !== "ready") return `down (${s.admin})`;
  if (s.health.ejected) return `ejected ${Math.round(s.health.ejected_for_seconds)}s`;
  return s.state;
}

function upstreamTable(u: UpstreamStatus, now: number): string {
  const head = `Upstream ${u.name} (${u.balance}): ${u.servers_up} of ${u.servers.length} servers up, ${u.connections_active} active sessions`;
  if (u.servers.length === 0) return `${head}\n  (no servers)`;
  const rows = u.servers.map((s) => [
    s.name, s.address === s.name ? "" : s.address, state(s), s.weight, s.connections_active, s.connections_total, s.connect_errors_total, lastCheck(s, now),
  ]);
  return `${head}\n${table(["SERVER", "ADDRESS", "STATE", "WEIGHT", "ACTIVE", "TOTAL", "ERRORS", "LAST CHECK"], rows)}`;
}

export function renderStatus(a: StatusAnswer, now = Date.now()): string {
  const p = a.process;
  const active = a.listeners.reduce((n, l) => n + l.connections_active, 0);
  const lines = [
    `aegis ${p.version}, pid ${p.pid}, up ${duration(p.uptime_seconds)}, ${p.workers.running} of ${p.workers.configured} Workers, ${active} active sessions`,
    `config ${p.config}`,
    "",
    "Listeners",
    a.listeners.length === 0 ? "  (none)" : table(
      ["NAME", "BIND", "UPSTREAM", "ACTIVE", "TOTAL", "QUEUED", "REFUSED"],
      a.listeners.map((l) => [l.name, l.bind, l.upstream, l.connections_active, l.connections_total, l.connections_queued, refused(l)]),
    ),
    ...a.upstreams.flatMap((u) => ["", upstreamTable(u, now)]),
  ];
  return lines.join("\n");
}
