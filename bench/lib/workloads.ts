// The measurements themselves. Each one takes the port to hit (a proxy's listener, or the
// backend itself for the no-proxy column) and returns plain numbers; failures throw with
// the tool's own words so they can be reported as they are.

import { join } from "node:path";
import { groupMemory, run, sleep, startPiped, stop } from "./procs.ts";
import { redisClients } from "./net.ts";
import type { Options } from "./args.ts";
import type { Ports } from "./proxies.ts";
import type { MetricId } from "./report.ts";

export interface RedisBenchOptions {
  requests: number;
  clients: number;
  pipeline: number;
  keepalive: boolean;
}

export interface RedisBenchResult {
  rps: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Anything redis-benchmark said besides its CSV, e.g. connection errors. */
  warnings: string[];
}

export function redisBenchmarkArgs(port: number, o: RedisBenchOptions): string[] {
  return [
    "redis-benchmark", "-h", "127.0.0.1", "-p", String(port),
    "-t", "get", "-c", String(o.clients), "-n", String(o.requests),
    "-P", String(o.pipeline), "-k", o.keepalive ? "1" : "0", "--csv",
  ];
}

const HARMLESS = [/^WARNING: Keepalive disabled/];

export async function redisBenchmark(port: number, o: RedisBenchOptions): Promise<RedisBenchResult> {
  // Bounded: no workload here should run anywhere near 2 minutes.
  const r = await run("redis-benchmark", redisBenchmarkArgs(port, o), 120_000);
  const lines = `${r.stdout}\n${r.stderr}`.split(/\r?\n|\r/).map((l) => l.trim()).filter(Boolean);
  const row = lines.find((l) => l.startsWith('"GET"'));
  const warnings = lines.filter(
    (l) => !l.startsWith('"test"') && !l.startsWith('"GET"') && !HARMLESS.some((h) => h.test(l)),
  );
  if (r.timedOut) throw new Error(`redis-benchmark still running after 120 s; it said: ${summarize(warnings)}`);
  if (!row || r.code !== 0) {
    throw new Error(`redis-benchmark exited ${r.code} without a result: ${summarize(warnings)}`);
  }
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const f = row.split(",").map((c) => Number(c.replaceAll('"', "")));
  return { rps: f[1] ?? NaN, avgMs: f[2] ?? NaN, p50Ms: f[4] ?? NaN, p99Ms: f[6] ?? NaN, maxMs: f[7] ?? NaN, warnings };
}

function summarize(lines: string[]): string {
  if (lines.length === 0) return "(nothing)";
  const distinct = [...new Set(lines)];
  const shown = distinct.slice(0, 3).join(" | ");
  return lines.length > 3 ? `${shown} (${lines.length} lines)` : shown;
}

export function iperfArgs(port: number, seconds: number): string[] {
  return [
    "iperf3", "-c", "127.0.0.1", "-p", String(port), "-t", String(seconds),
    "-O", "1", "--connect-timeout", "3000", "--json",
  ];
}

/** Bulk throughput in Gbit/s as received by the iperf3 server (first second omitted). */
export async function iperf(port: number, seconds: number): Promise<number> {
  const r = await run("iperf3", iperfArgs(port, seconds), (seconds + 20) * 1000);
  let json: { error?: string; end?: { sum_received?: { bits_per_second?: number } } } = {};
  try {
    json = JSON.parse(r.stdout);
  } catch {
    // Fall through with the raw output.
  }
  const bps = json.end?.sum_received?.bits_per_second;
  if (r.timedOut) throw new Error(`iperf3 still running after ${seconds + 20} s`);
  if (json.error || !bps) {
    throw new Error(`iperf3 failed: ${json.error ?? (r.stderr.trim() || r.stdout.slice(0, 200))}`);
  }
  return bps / 1e9;
}

export interface IdleMemoryResult {
  /** Growth of the proxy's summed Pss per held connection, bytes. */
  pssPerConn: number;
  /** Same with VmRSS, for comparison. */
  rssPerConn: number;
  baselinePss: number;
  /** Pss while the connections are held. */
  heldPss: number;
  held: number;
  failed: number;
  firstError: string;
  /** Extra connections the backend saw while the clients were held. */
  backendConns: number;
  /** Held connections the proxy closed during the idle period. */
  dropped: number;
  fdsBefore: number;
  fdsHeld: number;
  /** The proxy's fds a few seconds after all clients left: should be back to fdsBefore. */
  fdsAfter: number;
  backendConnsAfter: number;
}

const HELPER = join(import.meta.dir, "idle-clients.ts");

async function holdClients(port: number, count: number, logPath: string) {
  const helper = startPiped("idle-clients", [process.execPath, HELPER, String(port), String(count)], logPath);
  const line = await helper.readLine(90_000);
  if (line === null) {
    await stop(helper.proc);
    throw new Error(`idle-clients helper printed nothing within 90 s (see ${logPath})`);
  }
  const opened = JSON.parse(line) as { ok: number; failed: number; ms: number; firstError: string };
  const release = async (): Promise<number> => {
    helper.writeLine("close");
    const bye = await helper.readLine(10_000);
    await Promise.race([helper.proc.exited, sleep(3000)]);
    await stop(helper.proc);
    return bye ? (JSON.parse(bye) as { dropped: number }).dropped : NaN;
  };
  return { opened, release };
}

/** How long a proxy runs, after it first relayed, before its memory at rest is read. */
export const SETTLE_AFTER_START_MS = 5_000;

/**
 * Memory per idle relayed connection: the proxy group's Pss before and after `count`
 * connections (each having relayed one PING) are held open by a separate process.
 */
export async function idleMemory(
  pgid: number,
  port: number,
  backendRedisPort: number,
  count: number,
  logDir: string,
): Promise<IdleMemoryResult> {
  const logPath = join(logDir, "idle-clients.log");
  // Every proxy gets the same settling time after its start: aegis gives the executable's start-up
  // pages back 3 s after ready (src/os/page-out.ts), and that must not land inside the measurement.
  await sleep(SETTLE_AFTER_START_MS);
  // Warm-up: run the accept/connect/relay paths once so code and allocator warm-up is
  // not billed to the connections measured.
  const warm = await holdClients(port, 200, logPath);
  await warm.release();
  await sleep(1000);

  const before = groupMemory(pgid);
  const backendBefore = await redisClients(backendRedisPort);
  const hold = await holdClients(port, count, logPath);
  await sleep(1000); // let the proxy settle (GC, buffer release) before reading
  const during = groupMemory(pgid);
  const backendDuring = await redisClients(backendRedisPort);
  const dropped = await hold.release();

  // Wait (bounded) for the proxy to let go of both sides.
  let after = groupMemory(pgid);
  let backendAfter = await redisClients(backendRedisPort);
  for (let i = 0; i < 50 && (after.fds > before.fds + 20 || backendAfter > backendBefore + 20); i++) {
    await sleep(100);
    after = groupMemory(pgid);
    backendAfter = await redisClients(backendRedisPort);
  }
  const held = Math.max(1, hold.opened.ok);
  return {
    pssPerConn: (during.pss - before.pss) / held,
    rssPerConn: (during.rss - before.rss) / held,
    baselinePss: before.pss,
    heldPss: during.pss,
    held: hold.opened.ok,
    failed: hold.opened.failed,
    firstError: hold.opened.firstError,
    backendConns: backendDuring - backendBefore,
    dropped,
    fdsBefore: before.fds,
    fdsHeld: during.fds,
    fdsAfter: after.fds,
    backendConnsAfter: backendAfter - backendBefore,
  };
}

export interface HeldLoadResult {
  held: number;
  failed: number;
  firstError: string;
  /** The proxy group's Pss while holding them, bytes. */
  heldPss: number;
  rps: number;
  p99Ms: number;
}

/**
 * The held-connections row: `count` proxied connections held open (each relayed one PING), and
 * while they are, redis-benchmark's GET with 50 more clients: what a busy proxy costs and serves.
 */
export async function heldLoad(pgid: number, port: number, count: number, requests: number, logDir: string): Promise<HeldLoadResult> {
  const hold = await holdClients(port, count, join(logDir, "held-clients.log"));
  try {
    await sleep(1000); // let the proxy settle before reading its memory
    const heldPss = groupMemory(pgid).pss;
    const r = await redisBenchmark(port, { requests, clients: 50, pipeline: 1, keepalive: true });
    return { held: hold.opened.ok, failed: hold.opened.failed, firstError: hold.opened.firstError, heldPss, rps: r.rps, p99Ms: r.p99Ms };
  } finally {
    await hold.release();
  }
}

/** wrk's arguments: 100 keep-alive connections over 2 threads for `seconds`, with the latency percentiles. */
export function wrkArgs(port: number, path: string, seconds: number): string[] {
  return ["wrk", "-t", "2", "-c", "100", "-d", `${seconds}s`, "--latency", `http://127.0.0.1:${port}/${path}`];
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Requests/s and p99 (ms) from wrk's report; throws with its words when there are errors. */
export async function wrk(port: number, path: string, seconds: number): Promise<{ rps: number; p99: number }> {
  const r = await run("wrk", wrkArgs(port, path, seconds), (seconds + 30) * 1000);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(r.stdout);
  const errors = /Socket errors:.*|Non-2xx or 3xx responses: \d+/.exec(r.stdout);
  if (r.timedOut) throw new Error(`wrk still running after ${seconds + 30} s`);
  if (!rps || !p99 || r.code !== 0) throw new Error(`wrk exited ${r.code} without a result: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  if (errors) throw new Error(`wrk saw errors: ${errors[0]}`);
  return { rps: Number(rps[1]), p99: Number(p99[1]) * UNIT_MS[p99[2]!]! };
}

// ---------------------------------------------------------------- the throughput set

export interface Workload {
  name: string;
  /** The result field that decides which round is a column's best (higher wins). */
  primary: string;
  /** Result field → table row. */
  cells: Record<string, MetricId>;
  command(port: Ports): string[];
  run(port: Ports): Promise<Record<string, number>>;
}

/** The throughput workloads, sized by the options; warn gets what the tools complain about. */
export function workloads(o: Options, warn: (msg: string) => void): Workload[] {
  const bench = (name: string, cells: Record<string, MetricId>, b: RedisBenchOptions): Workload => ({
    name,
    primary: "rps",
    cells,
    command: (p) => redisBenchmarkArgs(p.redis, b),
    async run(p) {
      const r = await redisBenchmark(p.redis, b);
      if (r.warnings.length) warn(`${name} on port ${p.redis}: redis-benchmark said: ${[...new Set(r.warnings)].slice(0, 3).join(" | ")}`);
      return { rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, max: r.maxMs };
    },
  });
  const { clients } = o;
  return [
    bench("GET, 50 clients", { rps: "get.rps", p50: "get.p50", p99: "get.p99", max: "get.max" },
      { requests: o.getRequests, clients, pipeline: 1, keepalive: true }),
    bench("GET pipelined 16", { rps: "pipe.rps", p50: "pipe.p50", p99: "pipe.p99" },
      { requests: o.pipelineRequests, clients, pipeline: o.pipeline, keepalive: true }),
    bench("connection per GET", { rps: "conn.cps", p99: "conn.p99" },
      { requests: o.connRequests, clients, pipeline: 1, keepalive: false }),
    ...(["12b", "5k", "64k"] as const).map((file): Workload => ({
      name: `HTTP ${file}, wrk -c 100`,
      primary: "rps",
      cells: { rps: `http${file}.rps`, p99: `http${file}.p99` } as Record<string, MetricId>,
      command: (p) => wrkArgs(p.http ?? 0, file, o.wrkSeconds),
      run: async (p) => {
        if (!p.http) throw new Error("no HTTP route on this column");
        return wrk(p.http, file, o.wrkSeconds);
      },
    })),
    {
      name: "iperf3 bulk",
      primary: "gbps",
      cells: { gbps: "bulk.gbps" },
      command: (p) => iperfArgs(p.iperf, o.iperfSeconds),
      run: async (p) => ({ gbps: await iperf(p.iperf, o.iperfSeconds) }),
    },
  ];
}
