// The client-identity tables: each variant ÷ its program's plain column, round by round, and the figures they come from.

import { ROUTE_COUNT } from "./client-configs.ts";
import { CLIENT_TITLES, GROUPS, type ClientColumn, type ClientResult, type ClientRun } from "./client.ts";

/** The bound: a variant may cost at most 3% of the plain listener's requests/s. */
export const CLIENT_BOUND = 0.97;

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

function spread(xs: number[]): Spread | null {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

/** variant ÷ plain of one field, one ratio per round in which both ran. */
export function roundRatios(r: ClientResult, variant: ClientColumn, plain: ClientColumn, field: (x: ClientRun) => number): number[] {
  const out: number[] = [];
  for (let round = 1; round <= r.rounds; round++) {
    const a = r.runs.find((x) => x.round === round && x.column === variant);
    const b = r.runs.find((x) => x.round === round && x.column === plain);
    if (a && b && field(b) > 0) out.push(field(a) / field(b));
  }
  return out;
}

const fmt = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? "—" : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const x = (s: Spread | null) => (s ? `${s.median.toFixed(3)}× (${s.min.toFixed(3)}–${s.max.toFixed(3)})` : "—");

export function renderClientRatios(r: ClientResult): string {
  const head = ["variant ÷ plain, same program, same round", "requests/s: median (min–max)", "requests/s, rounds below 0.97×", "p99 latency: median (min–max)", "program CPU per connection: median (min–max)", "front CPU per connection: median (min–max)", "target: requests/s ≥ 0.97× plain"];
  const lines: string[][] = [];
  for (const g of GROUPS) {
    if (!r.programs.includes(g.program)) continue;
    for (const v of g.variants) {
      const rps = roundRatios(r, v, g.plain, (run) => run.rps);
      const rs = spread(rps);
      const target = g.program === "aegis" && rs ? `${rs.median >= CLIENT_BOUND ? "✅" : "❌"} (median)` : "";
      lines.push([
        `${CLIENT_TITLES[v]} ÷ ${CLIENT_TITLES[g.plain]}`,
        r.failed.has(v) ? (r.failed.get(v) ?? "—") : x(rs),
        rs ? `${rps.filter((q) => q < CLIENT_BOUND).length} of ${rs.n}` : "—",
        x(spread(roundRatios(r, v, g.plain, (run) => run.p99))),
        x(spread(roundRatios(r, v, g.plain, (run) => run.cpuUs))),
        x(spread(roundRatios(r, v, g.plain, (run) => run.frontCpuUs))),
        target,
      ]);
    }
  }
  return table(head, lines);
}

export function renderClientFigures(r: ClientResult): string {
  const head = ["column", "requests/s: median (min–max)", "p99 latency, ms: median", "program CPU per connection, µs: median", "front CPU per connection, µs: median"];
  const lines: string[][] = [];
  for (const g of GROUPS) {
    if (!r.programs.includes(g.program)) continue;
    for (const c of [g.plain, ...g.variants]) {
      const runs = r.runs.filter((run) => run.column === c);
      const rps = spread(runs.map((run) => run.rps));
      lines.push([
        CLIENT_TITLES[c],
        rps ? `${fmt(rps.median, 0)} (${fmt(rps.min, 0)}–${fmt(rps.max, 0)})` : (r.failed.get(c) ?? "—"),
        fmt(spread(runs.map((run) => run.p99))?.median, 3),
        fmt(spread(runs.map((run) => run.cpuUs))?.median, 1),
        fmt(spread(runs.map((run) => run.frontCpuUs))?.median, 1),
      ]);
    }
  }
  return table(head, lines);
}

function table(head: string[], lines: string[][]): string {
  const align = head.map((_, i) => (i === 0 || i === head.length - 1 ? "---" : "---:"));
  return [head, align, ...lines].map((l) => `| ${l.join(" | ")} |`).join("\n");
}

export function clientMarkdown(r: ClientResult): string {
  return `## Who is the client: send_proxy and ${ROUTE_COUNT} source routes, a new connection per request

What a PROXY protocol header to the servers costs, and what a listener with ${ROUTE_COUNT} \`[[listener.route]]\` entries costs
when none matches (\`source = ["10.N.0.0/16"]\`, N = 0..${ROUTE_COUNT - 1}; the client is 127.0.0.1, so every connection tests all ${ROUTE_COUNT}
and takes the default), each against the plain listener of the same program in the same round. Load: \`${r.command}\`
(the main table's connection-per-GET row: every request a new client connection and a new upstream one).
Path: the program → a HAProxy "front" → the main redis-server, in every column. redis-server cannot read a PROXY header,
so the front has a plain bind and an \`accept-proxy\` one (which closes a connection without a valid header: a header
column that works has proved its header). Both binds connect to redis-server only once the first bytes are in
(\`tcp-request content accept if { req.len gt 0 }\` on the plain one), since accept-proxy must wait for the header
and a plain bind that connected at accept would be a step ahead: then a header column paid for the front's wait, not
for its header. So plain and header columns differ only by the header, written by the program and read by the front.
The routes columns use the plain bind. HAProxy's peers: \`send-proxy-v2\`, and ${ROUTE_COUNT}
\`use_backend missed if { src 10.N.0.0/16 }\` rules; nginx's stream module sends only v1 (\`proxy_protocol on\`).
${r.rounds} round(s) after a warm-up of 2,000 requests per column; within a program its columns run back to back with the plain
one in the middle, the order reversed every round, so each ratio below is of two adjacent runs. "CPU per connection" is
user + system time of the program's processes (the front's, for the front) during the run ÷ requests: steadier than the
rate on a 2-core machine shared with the client, the front and redis-server. The rate ratio is diluted by the front's
share of the machine; the CPU ratio is not.

${renderClientRatios(r)}

${renderClientFigures(r)}
`;
}
