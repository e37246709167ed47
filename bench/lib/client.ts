// The client-identity rows: what an upstream's send_proxy = "v2" and a listener's 50 source routes cost a new connection per request, against the plain listener of the same program in the same run.
//
// Path: redis-benchmark -k 0 → the program → the HAProxy front (lib/client-configs.ts) → redis-server.
// Every column crosses the front, so a program's plain and header columns differ only by the header
// (written by the program, read by the front). Why a HAProxy and not a backend of the bench's own:
// redis-server cannot read the header; HAProxy's accept-proxy is the protocol's reference reader, so
// it also proves aegis's header valid (it closes a connection whose header is not); and a Bun backend
// would spend more per connection than what is measured here, burying it in noise on 2 cores.
//
// Rounds: within each program its columns run back to back with the plain one in the middle, the
// order reversed every round, so each variant sits next to its plain run once before and once after.
// Each round gives one variant ÷ plain ratio per row; the table shows their median and spread.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { firstPong, freePort, redisPing } from "./net.ts";
import { groupCpuSeconds, isRunning, start, stop, tail, type Proc } from "./procs.ts";
import { redisBenchmark, redisBenchmarkArgs, type RedisBenchOptions } from "./workloads.ts";
import { aegisCounterProblems, scanProxyLog } from "./checks.ts";
import { indent } from "./report.ts";
import { aegisConfig, frontConfig, haproxyConfig, nginxConfig, nginxErrorLog, type FrontPorts, type ProgramPorts } from "./client-configs.ts";
import type { Options } from "./args.ts";
import type { ColumnId } from "./proxies.ts";

export type ClientColumn = "aegis" | "aegis-v2" | "aegis-routes" | "haproxy" | "haproxy-v2" | "haproxy-routes" | "nginx" | "nginx-v1";
export type Program = "aegis" | "haproxy" | "nginx";

export const CLIENT_TITLES: Record<ClientColumn, string> = {
  aegis: "aegis",
  "aegis-v2": `aegis send_proxy = "v2"`,
  "aegis-routes": "aegis, 50 source routes that miss",
  haproxy: "HAProxy",
  "haproxy-v2": "HAProxy send-proxy-v2",
  "haproxy-routes": "HAProxy, 50 use_backend src rules that miss",
  nginx: "nginx",
  "nginx-v1": "nginx proxy_protocol on (v1: nginx sends no v2)",
};

/** Each program's plain column and what is compared with it. */
export const GROUPS: { program: Program; plain: ClientColumn; variants: ClientColumn[] }[] = [
  { program: "aegis", plain: "aegis", variants: ["aegis-v2", "aegis-routes"] },
  { program: "haproxy", plain: "haproxy", variants: ["haproxy-v2", "haproxy-routes"] },
  { program: "nginx", plain: "nginx", variants: ["nginx-v1"] },
];

export interface ClientContext {
  o: Options;
  workDir: string;
  cores: number;
  /** The main backends' redis-server. */
  redis: number;
  problem(msg: string): void;
  ignore(msg: string): void;
  say(msg: string): void;
  checkInterrupted(): void;
}

export interface ClientRun {
  round: number;
  column: ClientColumn;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** User + system time of the program's processes per connection, µs. */
  cpuUs: number;
  /** The same for the HAProxy front (which reads the header in the header columns). */
  frontCpuUs: number;
}

export interface ClientResult {
  programs: Program[];
  runs: ClientRun[];
  failed: Map<ClientColumn, string>;
  rounds: number;
  requests: number;
  command: string;
}

interface Runner {
  program: Program;
  title: string;
  cmd: string[];
  logs: string[];
  metricsPort: number;
  ports: Map<ClientColumn, number>;
  proc: Proc;
}

/** The programs among those asked for with --only. */
export function clientPrograms(columns: ColumnId[]): Program[] {
  return GROUPS.map((g) => g.program).filter((p) => columns.includes(p));
}

export async function runClient(ctx: ClientContext, programs: Program[]): Promise<ClientResult> {
  const { o, say, problem } = ctx;
  const dir = join(ctx.workDir, "client");
  mkdirSync(dir, { recursive: true });
  const bench: RedisBenchOptions = { requests: o.connRequests, clients: o.clients, pipeline: 1, keepalive: false };
  const result: ClientResult = {
    programs, runs: [], failed: new Map(), rounds: o.clientRounds, requests: o.connRequests,
    command: redisBenchmarkArgs(0, bench).join(" ").replace(/-p 0\b/, "-p PORT"),
  };

  const front: FrontPorts = { plain: freePort(), proxied: freePort() };
  const frontLog = join(dir, "front.log");
  writeFileSync(join(dir, "front.cfg"), frontConfig(front, ctx.redis, ctx.cores));
  const frontProc = start("HAProxy front", ["haproxy", "-db", "-f", join(dir, "front.cfg")], frontLog);
  if ((await firstPong(front.plain, frontProc.spawnedAt, 10_000, 2, () => !isRunning(frontProc))) === null) {
    throw new Error(`the HAProxy front of the client rows did not relay a PING:\n${tail(frontLog)}`);
  }
  // The header columns prove their header only if the front really refuses a connection without one.
  if (await redisPing(front.proxied, 1000)) throw new Error(`the front's accept-proxy bind (port ${front.proxied}) answered a PING sent without a PROXY header`);

  const runners = startRunners(ctx, dir, programs, front);
  for (const r of runners) {
    r.proc = start(r.title, r.cmd, r.logs[0]!);
    for (const [c, port] of r.ports) {
      if ((await firstPong(port, r.proc.spawnedAt, 10_000, 2, () => !isRunning(r.proc))) !== null) continue;
      problem(`client rows: ${CLIENT_TITLES[c]} did not relay a PING; last log lines:\n${indent(tail(r.logs[0]!))}`);
      result.failed.set(c, "no relay");
    }
  }
  const byColumn = new Map<ClientColumn, Runner>(runners.flatMap((r) => [...r.ports.keys()].map((c) => [c, r] as [ClientColumn, Runner])));
  const live = (c: ClientColumn) => byColumn.has(c) && !result.failed.has(c);

  // Warm-up, not measured: each listener's accept and connect paths once.
  for (const c of byColumn.keys()) {
    if (!live(c)) continue;
    ctx.checkInterrupted();
    await redisBenchmark(byColumn.get(c)!.ports.get(c)!, { ...bench, requests: Math.min(2000, bench.requests) }).catch((e: Error) => problem(`client rows, ${CLIENT_TITLES[c]}, warm-up: ${e.message}`));
  }

  const groups = GROUPS.filter((g) => programs.includes(g.program));
  for (let round = 0; round < o.clientRounds; round++) {
    const k = round % groups.length;
    for (const g of [...groups.slice(k), ...groups.slice(0, k)]) {
      const order = [g.variants[0]!, g.plain, ...g.variants.slice(1)];
      for (const c of round % 2 === 0 ? order : order.reverse()) {
        ctx.checkInterrupted();
        if (!live(c)) continue;
        const r = byColumn.get(c)!;
        if (!(await ensureAlive(ctx, r, c))) {
          for (const cc of r.ports.keys()) result.failed.set(cc, "died");
          continue;
        }
        say(`client round ${round + 1}/${o.clientRounds} ${CLIENT_TITLES[c]}`);
        try {
          const cpu0 = groupCpuSeconds(r.proc.pid);
          const front0 = groupCpuSeconds(frontProc.pid);
          const b = await redisBenchmark(r.ports.get(c)!, bench);
          const per = 1e6 / bench.requests;
          const run: ClientRun = {
            round: round + 1, column: c, rps: b.rps, p50: b.p50Ms, p99: b.p99Ms, max: b.maxMs,
            cpuUs: (groupCpuSeconds(r.proc.pid) - cpu0) * per, frontCpuUs: (groupCpuSeconds(frontProc.pid) - front0) * per,
          };
          if (b.warnings.length) problem(`client rows, ${CLIENT_TITLES[c]}: redis-benchmark said: ${[...new Set(b.warnings)].slice(0, 3).join(" | ")}`);
          result.runs.push(run);
          say(`  rps=${run.rps.toFixed(0)} p99=${run.p99.toFixed(3)} cpu/conn=${run.cpuUs.toFixed(1)} µs front=${run.frontCpuUs.toFixed(1)} µs`);
        } catch (e) {
          problem(`client rows, ${CLIENT_TITLES[c]}, round ${round + 1}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (!isRunning(r.proc)) problem(`${r.title} exited (code ${r.proc.exitCode}) during "${CLIENT_TITLES[c]}"; last log lines:\n${indent(tail(r.logs[0]!))}`);
      }
    }
  }

  for (const r of runners) {
    const logs = scanProxyLog(r.title, r.program, r.logs, []);
    logs.problems.forEach(problem);
    logs.ignored.forEach(ctx.ignore);
    if (r.program === "aegis" && isRunning(r.proc)) {
      const saved = join(dir, "aegis-metrics.txt");
      (await aegisCounterProblems(r.title, r.metricsPort, saved)).forEach(problem);
      routeProblems(r.title, saved).forEach(problem);
    }
    await stop(r.proc);
  }
  scanProxyLog("HAProxy front (client rows)", "haproxy", [frontLog], []).problems.forEach(problem);
  await stop(frontProc);
  return result;
}

function startRunners(ctx: ClientContext, dir: string, programs: Program[], front: FrontPorts): Runner[] {
  const { o, cores } = ctx;
  const runners: Runner[] = [];
  for (const program of programs) {
    const d = join(dir, program);
    mkdirSync(d, { recursive: true });
    const p: ProgramPorts = { plain: freePort(), header: freePort(), routes: program === "nginx" ? null : freePort() };
    const g = GROUPS.find((x) => x.program === program)!;
    const ports = new Map<ClientColumn, number>([[g.plain, p.plain], [g.variants[0]!, p.header]]);
    if (p.routes !== null) ports.set(g.variants[1]!, p.routes);
    const metricsPort = freePort();
    const log = join(d, "output.log");
    let cmd: string[];
    if (program === "aegis") {
      writeFileSync(join(d, "aegis.toml"), aegisConfig(p, front, metricsPort));
      cmd = [o.aegisPath, "--config", join(d, "aegis.toml")];
    } else if (program === "haproxy") {
      writeFileSync(join(d, "haproxy.cfg"), haproxyConfig(p, front, cores));
      cmd = ["haproxy", "-db", "-f", join(d, "haproxy.cfg")];
    } else {
      writeFileSync(join(d, "nginx.conf"), nginxConfig(d, p, front, cores));
      cmd = ["nginx", "-p", `${d}/`, "-c", join(d, "nginx.conf"), "-e", nginxErrorLog(d)];
    }
    const logs = program === "nginx" ? [log, nginxErrorLog(d)] : [log];
    runners.push({ program, title: `${CLIENT_TITLES[g.plain]} (client rows)`, cmd, logs, metricsPort, ports, proc: null as unknown as Proc });
  }
  return runners;
}

async function ensureAlive(ctx: ClientContext, r: Runner, before: ClientColumn): Promise<boolean> {
  if (isRunning(r.proc)) return true;
  ctx.problem(`${r.title} was found dead (exit code ${r.proc.exitCode}) before "${CLIENT_TITLES[before]}"; restarting it. Last log lines:\n${indent(tail(r.logs[0]!))}`);
  await stop(r.proc);
  r.proc = start(r.title, r.cmd, r.logs[0]!);
  const p = r.proc;
  if ((await firstPong(r.ports.get(before)!, p.spawnedAt, 10_000, 2, () => !isRunning(p))) !== null) return true;
  ctx.problem(`${r.title} did not come back`);
  return false;
}

/** The routes column's connections all went to its default: the routes really missed, and really ran. */
function routeProblems(title: string, metricsFile: string): string[] {
  const text = readFileSync(metricsFile, "utf8");
  const count = (upstream: string) => text.split("\n")
    .filter((l) => l.startsWith("aegis_upstream_connections_total{") && l.includes(`upstream="${upstream}"`))
    .reduce((n, l) => n + Number(l.trim().split(/\s+/).pop()), 0);
  const missed = count("missed");
  const routed = count("routes");
  const out: string[] = [];
  if (missed > 0) out.push(`${title}: ${missed} connection(s) of the routes column matched a route that should miss (upstream "missed")`);
  if (!(routed > 0)) out.push(`${title}: no connection reached the routes column's default upstream (aegis_upstream_connections_total{upstream="routes"} = ${routed})`);
  return out;
}
