// The latency-aware balancing row: three Redis backends, one of which answers slowly, and a
// connection per GET so that every request is a balancing decision.
//
// Backends: three redis-servers, each behind its own delay relay (lib/delay-relay.ts) with
// delays 0, 0 and SLOW ms on replies, so the path is the same length to each and only the
// answer time differs (the slow one accepts connections as fast as the others).
// Contenders: one aegis process with one listener per algorithm (p2c_ewma, round_robin,
// least_conn, and round_robin over the two fast servers only as the floor), and one HAProxy
// with `balance leastconn` and `balance roundrobin`. How many connections each algorithm sent
// to the slow server is read from that redis-server's total_connections_received.

import { haproxyPreamble } from "./proxies.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { firstPong, freePort, isListening, redisCommand } from "./net.ts";
import { isRunning, sleep, start, stop, tail, type Proc } from "./procs.ts";
import { redisBenchmark, redisBenchmarkArgs, type RedisBenchOptions } from "./workloads.ts";
import { aegisCounterProblems, scanProxyLog } from "./checks.ts";
import { indent } from "./report.ts";
import type { Options } from "./args.ts";

export type BalanceColumn = "ewma" | "rr" | "lc" | "hap-lc" | "hap-rr" | "fast2";
export const BALANCE_COLUMNS: BalanceColumn[] = ["ewma", "rr", "lc", "hap-lc", "hap-rr", "fast2"];
const AEGIS_ALGORITHM: Partial<Record<BalanceColumn, string>> = { ewma: "p2c_ewma", rr: "round_robin", lc: "least_conn", fast2: "round_robin" };

export const BALANCE_TITLES: Record<BalanceColumn, string> = {
  ewma: "aegis p2c_ewma",
  rr: "aegis round_robin",
  lc: "aegis least_conn",
  "hap-lc": "HAProxy leastconn",
  "hap-rr": "HAProxy roundrobin",
  fast2: "floor: aegis round_robin, fast two only",
};

export interface BalanceContext {
  o: Options;
  workDir: string;
  cores: number;
  problem(msg: string): void;
  /** Understood and harmless, listed under "Ignored as expected". */
  ignore(msg: string): void;
  say(msg: string): void;
  checkInterrupted(): void;
}

export interface BalanceRound {
  round: number;
  column: BalanceColumn;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** Connections each backend received during the workload (slow one last). */
  perBackend: number[];
  slowShare: number;
}

export interface BalanceResult {
  columns: BalanceColumn[];
  best: Map<BalanceColumn, BalanceRound>;
  rounds: BalanceRound[];
  failed: Map<BalanceColumn, string>;
  slowMs: number;
  requests: number;
  command: string;
  relayPorts: number[];
  redisPorts: number[];
}

interface Runner {
  title: string;
  kind: "aegis" | "haproxy";
  cmd: string[];
  configPath: string;
  logPath: string;
  metricsPort: number;
  proc: Proc;
}

const SLOW = 2; // the index of the slow backend

export async function runBalance(ctx: BalanceContext, withAegis: boolean, withHaproxy: boolean): Promise<BalanceResult> {
  const { o, workDir, say, problem } = ctx;
  const dir = join(workDir, "balance");
  mkdirSync(dir, { recursive: true });
  const columns = BALANCE_COLUMNS.filter((c) => (c.startsWith("hap-") ? withHaproxy : withAegis));
  const bench: RedisBenchOptions = { requests: o.balanceRequests, clients: o.clients, pipeline: 1, keepalive: false };
  const result: BalanceResult = {
    columns, best: new Map(), rounds: [], failed: new Map(), slowMs: o.slowMs, requests: o.balanceRequests,
    command: redisBenchmarkArgs(0, bench).join(" ").replace(/-p 0\b/, "-p PORT"), relayPorts: [], redisPorts: [],
  };

  // Backends: redis-server i behind relay i; relay SLOW holds replies for slowMs.
  const relayLogs: string[] = [];
  for (let i = 0; i < 3; i++) {
    const redis = freePort();
    const proc = start(`redis-server (balance ${i})`, [
      "redis-server", "--bind", "127.0.0.1", "--port", String(redis), "--save", "", "--appendonly", "no",
      "--protected-mode", "no", "--maxclients", "15000", "--dir", dir,
    ], join(dir, `redis-${i}.log`));
    if ((await firstPong(redis, proc.spawnedAt, 5000, 5, () => !isRunning(proc))) === null) {
      throw new Error(`balancing backend redis-server ${i} did not answer PING:\n${tail(join(dir, `redis-${i}.log`))}`);
    }
    await redisCommand(redis, ["SET", "key:__rand_int__", "xxx"]);
    const relay = freePort();
    const log = join(dir, `relay-${i}.log`);
    relayLogs.push(log);
    const rp = start(`delay-relay ${i}`, [process.execPath, join(import.meta.dir, "delay-relay.ts"), String(relay), String(redis), String(i === SLOW ? o.slowMs : 0)], log);
    if ((await firstPong(relay, rp.spawnedAt, 10_000, 5, () => !isRunning(rp))) === null) {
      throw new Error(`delay relay ${i} did not relay a PING:\n${tail(log)}`);
    }
    result.redisPorts.push(redis);
    result.relayPorts.push(relay);
  }
  say(`balancing backends: redis-server on ${result.redisPorts.join(", ")} behind relays on ${result.relayPorts.join(", ")} (+0, +0, +${o.slowMs} ms)`);

  // Contenders: one listener per column.
  const listen = new Map<BalanceColumn, number>(columns.map((c) => [c, freePort()]));
  const runners = new Map<BalanceColumn, Runner>();
  if (withAegis) {
    const metricsPort = freePort();
    const configPath = join(dir, "aegis.toml");
    writeFileSync(configPath, aegisConfig(listen, result.relayPorts, metricsPort));
    const r: Runner = { title: "aegis (balancing)", kind: "aegis", cmd: [o.aegisPath, "--config", configPath], configPath, logPath: join(dir, "aegis.log"), metricsPort, proc: null as unknown as Proc };
    for (const c of columns) if (!c.startsWith("hap-")) runners.set(c, r);
  }
  if (withHaproxy) {
    const configPath = join(dir, "haproxy.cfg");
    writeFileSync(configPath, haproxyConfig(listen, result.relayPorts, ctx.cores));
    const r: Runner = { title: "HAProxy (balancing)", kind: "haproxy", cmd: ["haproxy", "-db", "-f", configPath], configPath, logPath: join(dir, "haproxy.log"), metricsPort: 0, proc: null as unknown as Proc };
    for (const c of columns) if (c.startsWith("hap-")) runners.set(c, r);
  }
  const distinct = [...new Set(runners.values())];
  for (const r of distinct) {
    r.proc = start(r.title, r.cmd, r.logPath);
    const port = listen.get(columns.find((c) => runners.get(c) === r)!)!;
    if ((await firstPong(port, r.proc.spawnedAt, 10_000, 2, () => !isRunning(r.proc))) === null) {
      problem(`${r.title} did not start; last log lines:\n${indent(tail(r.logPath))}`);
      for (const c of columns) if (runners.get(c) === r) result.failed.set(c, "did not start");
    }
  }

  // Warm-up, not measured: each listener's accept/connect/relay paths once, and p2c_ewma's first samples.
  for (const c of columns) {
    if (result.failed.has(c)) continue;
    ctx.checkInterrupted();
    try {
      await redisBenchmark(listen.get(c)!, { ...bench, requests: Math.min(2000, bench.requests) });
    } catch (e) {
      problem(`balancing, ${BALANCE_TITLES[c]}, warm-up: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  for (let round = 0; round < o.rounds; round++) {
    const k = round % columns.length;
    const order = [...columns.slice(k), ...columns.slice(0, k)];
    for (const c of order) {
      ctx.checkInterrupted();
      if (result.failed.has(c)) continue;
      const r = runners.get(c)!;
      if (!isRunning(r.proc)) {
        problem(`${r.title} was found dead (exit code ${r.proc.exitCode}) before "${BALANCE_TITLES[c]}"; restarting it. Last log lines:\n${indent(tail(r.logPath))}`);
        await stop(r.proc);
        r.proc = start(r.title, r.cmd, r.logPath);
        if ((await firstPong(listen.get(c)!, r.proc.spawnedAt, 10_000, 2, () => !isRunning(r.proc))) === null) {
          problem(`${r.title} did not come back`);
          for (const cc of columns) if (runners.get(cc) === r) result.failed.set(cc, "died");
          continue;
        }
      }
      say(`balancing round ${round + 1}/${o.rounds} ${BALANCE_TITLES[c]}`);
      try {
        const before = await connectionCounts(result.redisPorts);
        const b = await redisBenchmark(listen.get(c)!, bench);
        const after = await connectionCounts(result.redisPorts);
        // Each INFO counts its own connection: the one made for `after` is not the workload's.
        const perBackend = after.map((a, i) => a - before[i]! - 1);
        const total = perBackend.reduce((s, n) => s + n, 0);
        const row: BalanceRound = {
          round: round + 1, column: c, rps: b.rps, p50: b.p50Ms, p99: b.p99Ms, max: b.maxMs,
          perBackend, slowShare: total > 0 ? perBackend[SLOW]! / total : NaN,
        };
        if (b.warnings.length) problem(`balancing, ${BALANCE_TITLES[c]}: redis-benchmark said: ${[...new Set(b.warnings)].slice(0, 3).join(" | ")}`);
        result.rounds.push(row);
        const prev = result.best.get(c);
        if (!prev || row.rps > prev.rps) result.best.set(c, row);
        say(`  rps=${row.rps.toFixed(0)} p50=${row.p50.toFixed(3)} p99=${row.p99.toFixed(3)} max=${row.max.toFixed(3)} backends=${perBackend.join("/")} slow=${(row.slowShare * 100).toFixed(1)}%`);
      } catch (e) {
        problem(`balancing, ${BALANCE_TITLES[c]}, round ${round + 1}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!isRunning(r.proc)) problem(`${r.title} exited (code ${r.proc.exitCode}) during "${BALANCE_TITLES[c]}"; last log lines:\n${indent(tail(r.logPath))}`);
    }
  }
  for (const c of columns) if (!result.best.has(c) && !result.failed.has(c)) result.failed.set(c, "error");

  // What the proxies and the relays had to say.
  for (const r of distinct) {
    if (!r.proc) continue;
    const logs = scanProxyLog(r.title, r.kind, [r.logPath], []);
    logs.problems.forEach(problem);
    logs.ignored.forEach(ctx.ignore);
    if (r.kind === "aegis" && isRunning(r.proc)) (await aegisCounterProblems(r.title, r.metricsPort, join(dir, "metrics.txt"))).forEach(problem);
    await stop(r.proc);
  }
  for (const log of relayLogs) {
    const bad = tail(log, 100_000).split("\n").filter((l) => l && !/: listening$|summary:/.test(l));
    if (bad.length) problem(`delay relay ${log.replace(/.*relay-(\d).*/, "$1")} saw ${bad.length} socket error(s) (from the proxy side or Redis), e.g.:\n${indent([...new Set(bad)].slice(0, 5).join("\n"))}`);
  }
  return result;
}

async function connectionCounts(redisPorts: number[]): Promise<number[]> {
  return Promise.all(redisPorts.map(async (p) => {
    const info = await redisCommand(p, ["INFO", "stats"]);
    const m = /total_connections_received:(\d+)/.exec(info);
    return m?.[1] ? Number(m[1]) : NaN;
  }));
}

function aegisConfig(listen: Map<BalanceColumn, number>, relays: number[], metricsPort: number): string {
  const sections: string[] = [];
  for (const [c, port] of listen) {
    const algorithm = AEGIS_ALGORITHM[c];
    if (!algorithm) continue;
    const servers = (c === "fast2" ? relays.slice(0, 2) : relays).map((p) => `"127.0.0.1:${p}"`).join(", ");
    sections.push(`[[listener]]
name = "${c}"
bind = "127.0.0.1:${port}"
upstream = "${c}"

[[upstream]]
name = "${c}"
balance = "${algorithm}"
servers = [${servers}]
`);
  }
  return `# Written by bench/compare for the latency-aware balancing row: the last server of three is slow.
[global]
workers = 0            # one per core
max_connections = 9000  # what the 20,000 open-file limit fits, as in lib/proxies.ts
log_level = "warn"
access_log = false

[metrics]
listen = "127.0.0.1:${metricsPort}"

${sections.join("\n")}`;
}

function haproxyConfig(listen: Map<BalanceColumn, number>, relays: number[], cores: number): string {
  const servers = relays.map((p, i) => `    server s${i} 127.0.0.1:${p}`).join("\n");
  const block = (c: BalanceColumn, balance: string) => (listen.has(c) ? `listen ${c}
    bind 127.0.0.1:${listen.get(c)}
    balance ${balance}
${servers}
` : "");
  return `# Written by bench/compare for the latency-aware balancing row: the last server of three is slow.
${haproxyPreamble(cores)}
${block("hap-lc", "leastconn")}
${block("hap-rr", "roundrobin")}`;
}

// ---------------------------------------------------------------- the table

const fmt = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? "—" : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function renderBalanceTable(r: BalanceResult): string {
  const rows: { label: string; better: "higher" | "lower" | ""; digits: number; get: (x: BalanceRound) => number; target?: boolean }[] = [
    { label: "requests/s (a new connection each)", better: "higher", digits: 0, get: (x) => x.rps },
    { label: "p50 latency, ms", better: "lower", digits: 3, get: (x) => x.p50 },
    { label: "p99 latency, ms", better: "lower", digits: 3, get: (x) => x.p99, target: true },
    { label: "max latency, ms", better: "lower", digits: 3, get: (x) => x.max },
    { label: "connections to the slow server, %", better: "", digits: 1, get: (x) => x.slowShare * 100 },
  ];
  const cell = (c: BalanceColumn, get: (x: BalanceRound) => number, digits: number): string => {
    const b = r.best.get(c);
    return b ? fmt(get(b), digits) : (r.failed.get(c) ?? "—");
  };
  const value = (c: BalanceColumn, get: (x: BalanceRound) => number): number | null => {
    const b = r.best.get(c);
    const v = b ? get(b) : NaN;
    return Number.isFinite(v) ? v : null;
  };
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? "—" : `${(a / b).toFixed(2)}×`);
  const head = ["metric", "better", ...r.columns.map((c) => BALANCE_TITLES[c]), "p2c_ewma ÷ round_robin", "p2c_ewma ÷ HAProxy leastconn", "target (p2c_ewma)"];
  const lines = rows.map((row) => {
    const ewma = value("ewma", row.get);
    let target = "";
    if (row.target) {
      const rr = value("rr", row.get);
      const hap = value("hap-lc", row.get);
      target = "< round_robin and < HAProxy leastconn";
      if (ewma !== null && rr !== null && hap !== null) target += ewma < rr && ewma < hap ? " ✅" : " ❌";
    }
    return [
      row.label,
      row.better === "higher" ? "↑ higher" : row.better === "lower" ? "↓ lower" : "",
      ...r.columns.map((c) => cell(c, row.get, row.digits)),
      row.better ? ratio(ewma, value("rr", row.get)) : "",
      row.better ? ratio(ewma, value("hap-lc", row.get)) : "",
      target,
    ];
  });
  const align = head.map((_, i) => (i < 2 || i === head.length - 1 ? "---" : "---:"));
  return [head, align, ...lines].map((l) => `| ${l.join(" | ")} |`).join("\n");
}

export function balanceMarkdown(r: BalanceResult, rounds: number): string {
  return `## Latency-aware balancing: one slow server of three

Three \`redis-server\`s, each behind its own relay (\`lib/delay-relay.ts\`, a Bun process); the third relay holds
every reply ${r.slowMs} ms, so that server accepts connections as fast as the others but answers ${r.slowMs} ms later. Every request is
a new client connection and so a new balancing decision: \`${r.command}\`
(${r.requests.toLocaleString("en-US")} requests, 50 clients; with keep-alive the 50 connections would be placed once, at the start).
aegis runs one process with one listener per algorithm (\`workers = 0\`, nothing else changed); HAProxy one process with a
\`listen\` per algorithm (\`mode tcp\`, \`nbthread\` = cores). The floor column sends to the two fast servers only: the best any
algorithm could do. "Connections to the slow server" is from that redis-server's \`total_connections_received\`
(round robin: 33%). After a warm-up of 2,000 requests per column, ${rounds} round(s), columns interleaved, each keeps its best round by requests/s
with that round's latencies. Ratios divide the p2c_ewma value by the other one: below 1.00× on a ↓ row means p2c_ewma wins.

${renderBalanceTable(r)}
`;
}
