// Turning measurements into the markdown table and bench/RESULTS.md.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { COLUMN_TITLES, PEERS, type ColumnId } from "./proxies.ts";

export type MetricId =
  | "get.rps" | "get.p50" | "get.p99" | "get.max"
  | "pipe.rps" | "pipe.p50" | "pipe.p99"
  | "conn.cps" | "conn.p99"
  | "http12b.rps" | "http12b.p99" | "http5k.rps" | "http5k.p99" | "http64k.rps" | "http64k.p99"
  | "bulk.gbps"
  | "mem.perConn" | "mem.base" | "mem.held"
  | "start.ms"
  | "sys.perGet"
  | "held.mem" | "held.rps" | "held.p99";

type Target =
  | { kind: "peer"; atLeast: number } // aegis ≥ atLeast × best peer (higher is better)
  | { kind: "peer"; atMost: number } // aegis ≤ atMost × best peer (lower is better)
  | { kind: "haproxy"; atMost: number }
  | { kind: "absolute"; atMost: number; unit: string };

export interface Metric {
  id: MetricId;
  label: string;
  better: "higher" | "lower";
  digits: number;
  target?: Target;
}

export const METRICS: Metric[] = [
  { id: "get.rps", label: "GET, 50 clients: requests/s", better: "higher", digits: 0, target: { kind: "peer", atLeast: 1.1 } },
  { id: "get.p50", label: "GET, 50 clients: p50 latency, ms", better: "lower", digits: 3 },
  { id: "get.p99", label: "GET, 50 clients: p99 latency, ms", better: "lower", digits: 3, target: { kind: "peer", atMost: 1 } },
  { id: "get.max", label: "GET, 50 clients: max latency, ms", better: "lower", digits: 3 },
  { id: "pipe.rps", label: "GET pipelined 16 deep: requests/s", better: "higher", digits: 0, target: { kind: "peer", atLeast: 1.1 } },
  { id: "pipe.p50", label: "GET pipelined 16 deep: p50 latency, ms", better: "lower", digits: 3 },
  { id: "pipe.p99", label: "GET pipelined 16 deep: p99 latency, ms", better: "lower", digits: 3, target: { kind: "peer", atMost: 1 } },
  { id: "conn.cps", label: "connection per GET (-k 0): connections/s", better: "higher", digits: 0, target: { kind: "peer", atLeast: 1.1 } },
  { id: "conn.p99", label: "connection per GET (-k 0): p99 latency, ms", better: "lower", digits: 3, target: { kind: "peer", atMost: 1 } },
  { id: "http12b.rps", label: "HTTP 12 B via wrk -c 100 (nginx backend): requests/s", better: "higher", digits: 0, target: { kind: "peer", atLeast: 1 } },
  { id: "http12b.p99", label: "HTTP 12 B via wrk -c 100: p99 latency, ms", better: "lower", digits: 3, target: { kind: "peer", atMost: 1 } },
  { id: "http5k.rps", label: "HTTP 5.4 KB via wrk -c 100: requests/s", better: "higher", digits: 0, target: { kind: "peer", atLeast: 1 } },
  { id: "http5k.p99", label: "HTTP 5.4 KB via wrk -c 100: p99 latency, ms", better: "lower", digits: 3, target: { kind: "peer", atMost: 1 } },
  { id: "http64k.rps", label: "HTTP 64 KB via wrk -c 100: requests/s", better: "higher", digits: 0, target: { kind: "peer", atLeast: 1 } },
  { id: "http64k.p99", label: "HTTP 64 KB via wrk -c 100: p99 latency, ms", better: "lower", digits: 3, target: { kind: "peer", atMost: 1 } },
  { id: "bulk.gbps", label: "iperf3 bulk: Gbit/s", better: "higher", digits: 2, target: { kind: "peer", atLeast: 1.1 } },
  { id: "mem.perConn", label: "memory per idle relayed connection: bytes (Pss)", better: "lower", digits: 0, target: { kind: "haproxy", atMost: 1 } },
  { id: "mem.base", label: "proxy memory at rest: MiB (Pss)", better: "lower", digits: 1 },
  { id: "mem.held", label: "proxy memory holding the idle connections: MiB (Pss)", better: "lower", digits: 1 },
  { id: "held.mem", label: "holding 9,900 connections (--quick: 3,000): MiB (Pss)", better: "lower", digits: 1 },
  { id: "held.rps", label: "holding 9,900 connections, GET 50 more clients: requests/s", better: "higher", digits: 0, target: { kind: "peer", atLeast: 1 } },
  { id: "held.p99", label: "holding 9,900 connections, GET 50 more clients: p99, ms", better: "lower", digits: 3, target: { kind: "peer", atMost: 1 } },
  { id: "sys.perGet", label: "syscalls per proxied GET (strace -c -f)", better: "lower", digits: 2 },
  { id: "start.ms", label: "spawn → first relayed PING: ms", better: "lower", digits: 1, target: { kind: "absolute", atMost: 50, unit: "ms" } },
];

/** A number, or a short reason there is none ("error", "n/a"). */
export type Cell = number | string;
export type Results = Map<ColumnId, Map<MetricId, Cell>>;

export function setCell(results: Results, column: ColumnId, metric: MetricId, value: Cell): void {
  let row = results.get(column);
  if (!row) results.set(column, (row = new Map()));
  row.set(metric, value);
}

const num = (c: Cell | undefined): number | null => (typeof c === "number" && Number.isFinite(c) ? c : null);

function fmt(c: Cell | undefined, digits: number): string {
  if (c === undefined) return "—";
  if (typeof c === "string") return c;
  if (!Number.isFinite(c)) return "—";
  return c.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const ratio = (a: number | null, b: number | null): string =>
  a === null || b === null || b === 0 ? "—" : `${(a / b).toFixed(2)}×`;

function bestPeer(results: Results, m: Metric): { value: number | null; who: string } {
  let best: number | null = null;
  let who = "";
  for (const peer of PEERS) {
    const v = num(results.get(peer)?.get(m.id));
    if (v === null) continue;
    if (best === null || (m.better === "higher" ? v > best : v < best)) {
      best = v;
      who = COLUMN_TITLES[peer];
    }
  }
  return { value: best, who };
}

function targetCell(results: Results, m: Metric): string {
  const t = m.target;
  if (!t) return "";
  const aegis = num(results.get("aegis")?.get(m.id));
  let text: string;
  let met: boolean | null = null;
  switch (t.kind) {
    case "peer": {
      const peer = bestPeer(results, m).value;
      if ("atLeast" in t) {
        text = `≥ ${t.atLeast.toFixed(2)}× best peer`;
        if (aegis !== null && peer !== null) met = aegis >= t.atLeast * peer;
      } else {
        text = t.atMost === 1 ? "≤ best peer" : `≤ ${t.atMost.toFixed(2)}× best peer`;
        if (aegis !== null && peer !== null) met = aegis <= t.atMost * peer;
      }
      break;
    }
    case "haproxy": {
      const h = num(results.get("haproxy")?.get(m.id));
      text = "≤ HAProxy";
      if (aegis !== null && h !== null) met = aegis <= t.atMost * h;
      break;
    }
    case "absolute":
      text = `≤ ${t.atMost} ${t.unit}`;
      if (aegis !== null) met = aegis <= t.atMost;
      break;
  }
  return met === null ? text : `${text} ${met ? "✅" : "❌"}`;
}

/** The results table: one row per metric, one column per proxy, then the ratios. */
export function renderTable(results: Results, columns: ColumnId[]): string {
  const head = [
    "metric",
    "better",
    ...columns.map((c) => COLUMN_TITLES[c]),
    "aegis ÷ best peer",
    "aegis ÷ no proxy",
    "aegis ÷ bare Bun",
    "aegis ÷ C relay",
    "aegis+pool ÷ aegis",
    "target (aegis)",
  ];
  const rows = METRICS.map((m) => {
    const aegis = num(results.get("aegis")?.get(m.id));
    const peer = bestPeer(results, m);
    return [
      m.label,
      m.better === "higher" ? "↑ higher" : "↓ lower",
      ...columns.map((c) => fmt(results.get(c)?.get(m.id), m.digits)),
      peer.value === null ? "—" : `${ratio(aegis, peer.value)} (${peer.who})`,
      ratio(aegis, num(results.get("none")?.get(m.id))),
      ratio(aegis, num(results.get("bun")?.get(m.id))),
      ratio(aegis, num(results.get("c")?.get(m.id))),
      ratio(num(results.get("aegis+pool")?.get(m.id)), aegis),
      targetCell(results, m),
    ];
  });
  const align = head.map((_, i) => (i < 2 ? "---" : i === head.length - 1 ? "---" : "---:"));
  return [head, align, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

export const NOTES_MARKER = "<!-- notes -->";
const NOTES_PLACEHOLDER =
  "\n_To be written by a human after reading the run: what the numbers mean, what looks off, what to try next. " +
  "bench/compare keeps everything below the marker above when it rewrites this file._\n";

/** Write body to path followed by the notes section, keeping the notes of the previous file. */
export function writeResults(path: string, body: string): void {
  let notes = NOTES_PLACEHOLDER;
  if (existsSync(path)) {
    const old = readFileSync(path, "utf8");
    const at = old.indexOf(NOTES_MARKER);
    if (at >= 0) notes = old.slice(at + NOTES_MARKER.length);
  }
  writeFileSync(path, `${body.trimEnd()}\n\n## Notes\n\n${NOTES_MARKER}${notes}`);
}

export function indent(text: string): string {
  return text.split("\n").map((l) => `    ${l}`).join("\n");
}

export interface RunDescription {
  args: string[];
  quick: boolean;
  rounds: number;
  seconds: number;
  /** The main table; empty when that section did not run. */
  table: string;
  /** Further sections (balancing, scrape cost), each a markdown section with its own heading. */
  extras: string[];
  problems: string[];
  ignored: string[];
  machine: [string, string][];
  backend: { redis: number; iperf: number };
  aegisPool: number;
  /** [workload name, command line with PORT for the port]. */
  commands: [string, string][];
  idleConnections: number;
  startupTrials: number;
}

/** Everything in RESULTS.md above the notes. */
export function resultsMarkdown(d: RunDescription): string {
  const list = (items: string[]) => items.map((p) => `- ${p.replace(/\n/g, "\n  ")}`).join("\n");
  return `# aegis vs HAProxy vs nginx stream

Written by \`bench/compare${d.args.length ? ` ${d.args.join(" ")}` : ""}\` (${d.quick ? "quick" : "full"} run, ${d.rounds} round(s), ${d.seconds.toFixed(0)} s).
One run on a small, noisy machine: read the ratios, not the absolute numbers, and expect them to move by ±10% between runs.

## Results

↑ rows: higher is better. ↓ rows (latency, memory, startup): **lower is better**.
Every ratio is the aegis value divided by the other one, so on a ↓ row a ratio below 1.00× means aegis wins.
"Best peer" is the better of HAProxy and nginx on that row. Targets are checked on the plain aegis column (pool = 0);
"aegis+pool ÷ aegis" shows whether the upstream pool pays (above 1 on ↑ rows, below 1 on ↓ rows).
"Bare Bun relay" (\`bench/lib/bun-relay.ts\`) is the floor for a proxy on Bun: a correct relay with nothing else, one Worker per
core like aegis. "aegis ÷ bare Bun" near 1.00× means aegis's own code costs next to nothing and what separates it from
HAProxy and nginx is Bun's socket layer.

${d.table || "_Not run this time (`--sections`)._"}

${d.extras.join("\n")}
## Problems seen during the run

${d.problems.length ? list(d.problems) : "None."}
${d.ignored.length ? `\nIgnored as expected:\n\n${list(d.ignored)}\n` : ""}
## Machine

| | |
| --- | --- |
${d.machine.map(([k, v]) => `| ${k} | ${v.replaceAll("|", "\\|")} |`).join("\n")}

## Parameters

- Backends, started by the run on free 127.0.0.1 ports: \`redis-server --save '' --appendonly no\` (this run: ${d.backend.redis}),
  with \`key:__rand_int__\` set to a 3-byte value, and \`iperf3 -s\` (this run: ${d.backend.iperf}).
- Every proxy relays two listeners, one to each backend. Configs are in \`bench/lib/proxies.ts\`:
  aegis \`workers = 0\` (one per core), \`max_connections = 9000\`, \`log_level = "warn"\`, no access log, \`pool = 0\`
  (aegis+pool: \`pool = ${d.aegisPool}\` on the Redis upstream only); HAProxy 2.6 \`mode tcp\`, \`nbthread\` = cores, no logging;
  nginx stream \`worker_processes\` = cores, \`listen … reuseport\`, \`proxy_half_close on\`, no access log;
  bare Bun relay: \`bench/lib/bun-relay.ts\` compiled by the run with aegis's flags (\`bun build --compile --minify --bytecode\`) and run as \`bun-relay CORES LISTEN:BACKEND ...\`, one Worker per core with \`reusePort\`, backpressure and half-close, nothing else.
- Throughput workloads (PORT = the proxy's listener, or the backend for "no proxy"); ${d.rounds} round(s), columns interleaved, each column keeps its best round (by requests/s or Gbit/s) with that round's latencies:
${d.commands.map(([name, cmd]) => `  - ${name}: \`${cmd}\``).join("\n")}
- Idle memory, one proxy running at a time: 5 s after its first relayed PING (aegis gives back its start-up pages 3 s after ready), warm up with 200 connections, then sum Pss (\`/proc/PID/smaps_rollup\`) over the proxy's process group, open ${d.idleConnections} connections from a separate Bun process (each relays one PING → +PONG, then idles), wait 1 s, sum again; (after − before) ÷ ${d.idleConnections}. "At rest" is the "before" figure, "holding" the "after" one.
- Startup: spawn the proxy, then connect and round-trip a Redis PING through it every ~1 ms until one succeeds; time from the spawn call. Median of ${d.startupTrials} spawn(s).
`;
}
