// bench/compare: aegis side by side with HAProxy and nginx stream, in one run.
// Run it through the bench/compare wrapper (which installs missing tools and kills
// leftovers); `bun bench/compare.ts --help` for the options. See bench/README.md.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs, UsageError, USAGE, type Options } from "./lib/args.ts";
import { describeMachine } from "./lib/machine.ts";
import { firstPong, freePort, isListening, redisCommand } from "./lib/net.ts";
import { isRunning, killAllNow, sleep, start, stop, stopAll, tail, type Proc } from "./lib/procs.ts";
import { AEGIS_POOL, COLUMN_TITLES, prepare, type ColumnId, type Launch, type Ports } from "./lib/proxies.ts";
import { renderTable, setCell, writeResults, METRICS, type MetricId, type Results } from "./lib/report.ts";
import { idleMemory, iperf, iperfArgs, redisBenchmark, redisBenchmarkArgs, type IdleMemoryResult, type RedisBenchOptions } from "./lib/workloads.ts";

const repoRoot = resolve(import.meta.dir, "..");
const t0 = performance.now();
const say = (msg: string) => console.error(`[compare ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${msg}`);
const problems: string[] = [];
/** Things that look like problems but are understood; listed so nothing is hidden. */
const ignored: string[] = [];
const problem = (msg: string) => {
  problems.push(msg);
  say(`PROBLEM: ${msg}`);
};

interface Contender {
  id: Exclude<ColumnId, "none">;
  launch: Launch;
  listen: Ports;
  metricsPort: number;
  proc: Proc;
}

// ---------------------------------------------------------------- lifecycle

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping every process this run started`);
    void stopAll().finally(() => process.exit(130));
  });
}
process.on("exit", killAllNow);

let opts: Options;
try {
  opts = parseArgs(Bun.argv.slice(2), repoRoot);
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  if (!e.message) {
    console.log(USAGE);
    process.exit(0);
  }
  console.error(`bench/compare: ${e.message} (see --help)`);
  process.exit(2);
}

/** Configs, logs and pid files of this run; created once the tools are known to be there. */
let workDir = "";
let exitCode = 0;
try {
  checkTools(opts);
  workDir = mkdtempSync(join(tmpdir(), "aegis-bench-"));
  await main(opts);
} catch (e) {
  exitCode = 1;
  console.error(`bench/compare: ${e instanceof Error ? e.message : String(e)}`);
} finally {
  await stopAll();
  if (!workDir) {
    // Nothing was started.
  } else if (opts.keep || problems.length > 0 || exitCode !== 0) say(`configs and logs kept in ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
}
process.exit(exitCode);

// ---------------------------------------------------------------- the run

async function main(o: Options): Promise<void> {
  const cores = availableParallelism();
  const machine = describeMachine(o.columns.some(isAegis) ? o.aegisPath : null, repoRoot);
  say(`columns: ${o.columns.join(", ")}; ${o.quick ? "quick" : "full"} run, ${o.rounds} round(s); work dir ${workDir}`);

  const backend = await startBackends();
  const raw = { rounds: [] as Record<string, unknown>[], idleMemory: {} as Record<string, IdleMemoryResult | null> };
  const results: Results = new Map();
  const contenders = new Map<ColumnId, Contender>();

  // Phase 1, one proxy at a time on a fresh process: startup time, then idle memory.
  // Only one proxy runs at a time here: Pss splits shared pages (aegis's executable, say)
  // between every process mapping them, so a second aegis would halve the first's.
  for (const id of o.columns) {
    checkInterrupted();
    if (id === "none") {
      for (const m of ["mem.perConn", "mem.base", "mem.held", "start.ms"] as const) setCell(results, id, m, "n/a");
      continue;
    }
    const c = await startContender(id, backend, cores, o, results);
    if (!c) continue;
    contenders.set(id, c);
    raw.idleMemory[id] = await measureIdleMemory(c, backend, o, results);
    await stop(c.proc);
  }
  // They all run side by side for phase 2 (idle ones cost nothing measurable).
  for (const c of contenders.values()) {
    checkInterrupted();
    c.proc = start(COLUMN_TITLES[c.id], c.launch.cmd, c.launch.logPath);
    const p = c.proc;
    if ((await firstPong(c.listen.redis, p.spawnedAt, 10_000, 2, () => !isRunning(p))) === null) {
      problem(`${COLUMN_TITLES[c.id]} did not start again for the throughput rounds; last log lines:\n${indent(tail(c.launch.logPath))}`);
      contenders.delete(c.id);
    }
  }

  // Phase 2: throughput workloads, columns interleaved within each round so that slow
  // drift of a noisy machine does not favour whoever runs first. Best round wins.
  const best = new Map<string, Record<string, number>>();
  for (let round = 0; round < o.rounds; round++) {
    const order = rotate(o.columns, round);
    for (const id of order) {
      const c = id === "none" ? null : contenders.get(id);
      if (id !== "none" && !c) continue;
      for (const w of workloads(o)) {
        checkInterrupted();
        if (c && !(await ensureAlive(c, `before "${w.name}"`))) break;
        const port = c ? c.listen : backend;
        say(`round ${round + 1}/${o.rounds} ${COLUMN_TITLES[id]}: ${w.name}`);
        try {
          const r = await w.run(port);
          const key = `${id}/${w.name}`;
          const prev = best.get(key);
          if (!prev || (r[w.primary] ?? 0) > (prev[w.primary] ?? 0)) best.set(key, r);
          raw.rounds.push({ round: round + 1, column: id, workload: w.name, ...r });
          say(`  ${Object.entries(r).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(" ")}`);
        } catch (e) {
          problem(`${COLUMN_TITLES[id]}, ${w.name}, round ${round + 1}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (c && !isRunning(c.proc)) problem(`${COLUMN_TITLES[id]} exited (code ${c.proc.exitCode}) during "${w.name}"; last log lines:\n${indent(tail(c.launch.logPath))}`);
      }
    }
  }
  for (const id of o.columns) {
    for (const w of workloads(o)) {
      const r = best.get(`${id}/${w.name}`);
      for (const [field, metric] of Object.entries(w.cells)) {
        if (!results.get(id)?.has(metric)) setCell(results, id, metric, r?.[field] ?? "error");
      }
    }
  }

  for (const c of contenders.values()) {
    scanLog(c, backend);
    if (isAegis(c.id)) await scrapeAegisMetrics(c);
  }
  for (const c of contenders.values()) await stop(c.proc);

  checkInterrupted();
  machine.push(["load average at end", readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")]);
  const table = renderTable(results, o.columns);
  writeRaw({ ...raw, args: Bun.argv.slice(2), machine: Object.fromEntries(machine), results: Object.fromEntries([...results].map(([k, v]) => [k, Object.fromEntries(v)])), problems });
  const body = resultsMarkdown(o, machine, table, backend);
  console.log(`\n${table}\n`);
  if (problems.length) console.log(`Problems seen:\n${problems.map((p) => `- ${p}`).join("\n")}\n`);
  if (o.out) {
    writeResults(o.out, body);
    say(`wrote ${relative(process.cwd(), o.out) || o.out}`);
  }
}

// ---------------------------------------------------------------- setup

function checkInterrupted(): void {
  if (stopping) throw new Error("interrupted; nothing written");
}

function isAegis(id: ColumnId): boolean {
  return id === "aegis" || id === "aegis+pool";
}

function checkTools(o: Options): void {
  const need = ["redis-server", "redis-benchmark", "iperf3"];
  if (o.columns.includes("haproxy")) need.push("haproxy");
  if (o.columns.includes("nginx")) need.push("nginx");
  const missing = need.filter((cmd) => !Bun.which(cmd, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }));
  if (o.columns.includes("nginx") && !existsSync("/usr/lib/nginx/modules/ngx_stream_module.so")) {
    missing.push("ngx_stream_module.so (libnginx-mod-stream)");
  }
  if (missing.length) {
    throw new Error(`missing: ${missing.join(", ")}. Run bench/compare as root to install them, or --only to skip.`);
  }
  if (o.columns.some(isAegis) && !existsSync(o.aegisPath)) {
    throw new Error(`no aegis executable at ${o.aegisPath}: \`bun run build\` first, pass --aegis PATH, or --only none,haproxy,nginx`);
  }
}

async function startBackends(): Promise<Ports> {
  const redis = freePort();
  const proc = start("redis-server", [
    "redis-server", "--bind", "127.0.0.1", "--port", String(redis), "--save", "", "--appendonly", "no",
    "--protected-mode", "no", "--maxclients", "15000", "--dir", workDir,
  ], join(workDir, "redis.log"));
  if ((await firstPong(redis, proc.spawnedAt, 5000, 5, () => !isRunning(proc))) === null) {
    throw new Error(`redis-server did not answer PING within 5 s:\n${tail(join(workDir, "redis.log"))}`);
  }
  // redis-benchmark -t get without -r reads this one key: give it a 3-byte value (its default -d).
  await redisCommand(redis, ["SET", "key:__rand_int__", "xxx"]);

  const iperfPort = freePort();
  const server = start("iperf3 -s", ["iperf3", "-s", "-B", "127.0.0.1", "-p", String(iperfPort), "--idle-timeout", "60"], join(workDir, "iperf3-server.log"));
  for (let i = 0; i < 250 && !isListening(iperfPort); i++) await sleep(20);
  if (!isListening(iperfPort) || !isRunning(server)) throw new Error(`iperf3 -s did not listen:\n${tail(server.logPath)}`);
  say(`backends: redis-server on 127.0.0.1:${redis}, iperf3 -s on 127.0.0.1:${iperfPort}`);
  return { redis, iperf: iperfPort };
}

/** Spawn the proxy startupTrials times; keep the last one running. Records start.ms. */
async function startContender(
  id: Exclude<ColumnId, "none">,
  backend: Ports,
  cores: number,
  o: Options,
  results: Results,
): Promise<Contender | null> {
  const listen = { redis: freePort(), iperf: freePort() };
  const metricsPort = freePort();
  const launch = prepare(id, join(workDir, id.replace("+", "-")), listen, backend, { aegisPath: o.aegisPath, cores, metricsPort });
  const times: number[] = [];
  let proc: Proc | null = null;
  for (let trial = 0; trial < o.startupTrials; trial++) {
    if (proc) {
      await stop(proc);
      await sleep(200);
    }
    proc = start(COLUMN_TITLES[id], launch.cmd, launch.logPath);
    const p = proc;
    const ms = await firstPong(listen.redis, p.spawnedAt, 10_000, 1, () => !isRunning(p));
    if (ms === null) {
      const why = isRunning(p) ? "did not relay a PING within 10 s of spawn" : `exited with code ${p.exitCode} before relaying anything`;
      problem(`${COLUMN_TITLES[id]} ${why}; last log lines:\n${indent(tail(launch.logPath))}`);
      await stop(p);
      for (const m of METRICS) setCell(results, id, m.id, "failed");
      return null;
    }
    times.push(ms);
  }
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? NaN;
  setCell(results, id, "start.ms", median);
  say(`${COLUMN_TITLES[id]}: first relayed PING ${times.map((t) => t.toFixed(1)).join(", ")} ms after spawn (median ${median.toFixed(1)})`);
  return proc ? { id, launch, listen, metricsPort, proc } : null;
}

/** Restart a proxy that died, so one crash doesn't blank the rest of its column. */
async function ensureAlive(c: Contender, when: string): Promise<boolean> {
  if (isRunning(c.proc)) return true;
  problem(`${COLUMN_TITLES[c.id]} was found dead (exit code ${c.proc.exitCode}) ${when}; restarting it. Last log lines:\n${indent(tail(c.launch.logPath))}`);
  await stop(c.proc);
  c.proc = start(COLUMN_TITLES[c.id], c.launch.cmd, c.launch.logPath);
  const p = c.proc;
  if ((await firstPong(c.listen.redis, p.spawnedAt, 10_000, 2, () => !isRunning(p))) !== null) return true;
  problem(`${COLUMN_TITLES[c.id]} did not come back; skipping the rest of its column`);
  return false;
}

async function measureIdleMemory(c: Contender, backend: Ports, o: Options, results: Results): Promise<IdleMemoryResult | null> {
  const name = COLUMN_TITLES[c.id];
  say(`${name}: memory with ${o.idleConnections} idle relayed connections`);
  try {
    const m = await idleMemory(c.proc.pid, c.listen.redis, backend.redis, o.idleConnections, join(workDir, c.id.replace("+", "-")));
    say(`  Pss ${(m.baselinePss / 2 ** 20).toFixed(1)} MiB at rest, +${m.pssPerConn.toFixed(0)} B/conn (VmRSS +${m.rssPerConn.toFixed(0)}); fds ${m.fdsBefore} → ${m.fdsHeld} → ${m.fdsAfter}; backend +${m.backendConns}, after +${m.backendConnsAfter}`);
    setCell(results, c.id, "mem.perConn", m.pssPerConn);
    setCell(results, c.id, "mem.base", m.baselinePss / 2 ** 20);
    setCell(results, c.id, "mem.held", m.heldPss / 2 ** 20);
    if (m.failed > 0) problem(`${name}: ${m.failed} of ${o.idleConnections} idle connections failed to relay a PING (first: ${m.firstError})`);
    if (m.dropped > 0) problem(`${name}: closed ${m.dropped} idle connections within about a second of idleness`);
    if (m.backendConns < m.held) problem(`${name}: ${m.held} client connections held but the backend only gained ${m.backendConns}`);
    if (m.fdsAfter > m.fdsBefore + 20) problem(`${name}: still had ${m.fdsAfter - m.fdsBefore} more fds than before, 5 s after ${m.held} idle clients went away`);
    if (m.backendConnsAfter > 20) problem(`${name}: backend still had ${m.backendConnsAfter} extra connections 5 s after the clients went away`);
    if (!isRunning(c.proc)) problem(`${name} exited (code ${c.proc.exitCode}) during the idle-memory test`);
    return m;
  } catch (e) {
    problem(`${name}, idle memory: ${e instanceof Error ? e.message : String(e)}`);
    setCell(results, c.id, "mem.perConn", "error");
    if (!isRunning(c.proc)) problem(`${name} exited (code ${c.proc.exitCode}) during the idle-memory test`);
    return null;
  }
}

// ---------------------------------------------------------------- workloads

interface Workload {
  name: string;
  primary: string;
  /** Result field → table row. */
  cells: Record<string, MetricId>;
  command(port: Ports): string[];
  run(port: Ports): Promise<Record<string, number>>;
}

function workloads(o: Options): Workload[] {
  const bench = (name: string, prefix: "get" | "pipe" | "conn", b: RedisBenchOptions): Workload => ({
    name,
    primary: "rps",
    cells:
      prefix === "get" ? { rps: "get.rps", p50: "get.p50", p99: "get.p99", max: "get.max" }
      : prefix === "pipe" ? { rps: "pipe.rps", p50: "pipe.p50", p99: "pipe.p99" }
      : { rps: "conn.cps", p99: "conn.p99" },
    command: (p) => redisBenchmarkArgs(p.redis, b),
    async run(p) {
      const r = await redisBenchmark(p.redis, b);
      if (r.warnings.length) problem(`${name} on port ${p.redis}: redis-benchmark said: ${[...new Set(r.warnings)].slice(0, 3).join(" | ")}`);
      return { rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, max: r.maxMs };
    },
  });
  return [
    bench("GET, 50 clients", "get", { requests: o.getRequests, clients: o.clients, pipeline: 1, keepalive: true }),
    bench("GET pipelined 16", "pipe", { requests: o.pipelineRequests, clients: o.clients, pipeline: o.pipeline, keepalive: true }),
    bench("connection per GET", "conn", { requests: o.connRequests, clients: o.clients, pipeline: 1, keepalive: false }),
    {
      name: "iperf3 bulk",
      primary: "gbps",
      cells: { gbps: "bulk.gbps" },
      command: (p) => iperfArgs(p.iperf, o.iperfSeconds),
      run: async (p) => ({ gbps: await iperf(p.iperf, o.iperfSeconds) }),
    },
  ];
}

// ---------------------------------------------------------------- logs and report

/** Every round's numbers, for whoever wants more than the table: bench/out/ is not committed. */
function writeRaw(data: unknown): void {
  const dir = join(repoRoot, "bench", "out");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "compare-last.json"), `${JSON.stringify(data, null, 2)}\n`);
}

/** Report what each proxy logged at warning level or above during the run. */
function scanLog(c: Contender, backend: Ports): void {
  const files = [c.launch.logPath, join(workDir, c.id.replace("+", "-"), "error.log")].filter(existsSync);
  const lines = files.flatMap((f) => readFileSync(f, "utf8").split("\n")).map((l) => l.trim()).filter(Boolean);
  let bad = lines.filter((l) => {
    if (isAegis(c.id)) return !/"msg":"ready"/.test(l) && /"level":"(warn|error|fatal)"|^[^{]/.test(l);
    if (c.id === "nginx") return /\[(warn|error|crit|alert|emerg)\]/.test(l);
    return !/^\s*$/.test(l); // HAProxy says nothing in -db mode unless something is wrong
  });
  if (bad.length === 0) return;

  // iperf3 ends every test by resetting its data connection (it closes with unread data
  // in flight), so resets and broken pipes on the iperf3 path are expected, not bugs.
  const iperfPath = new RegExp(`[:"]${c.listen.iperf}\\b|[:"]${backend.iperf}\\b|"listener":"iperf"|"upstream":"iperf"`);
  const teardown = /reset by peer|broken pipe|ECONNRESET|EPIPE/i;
  const expected = bad.filter((l) => iperfPath.test(l) && teardown.test(l));
  if (expected.length) {
    ignored.push(`${COLUMN_TITLES[c.id]}: ${expected.length} log line(s) about resets on the iperf3 path (iperf3 resets its data connection when a test ends)`);
  }
  bad = bad.filter((l) => !expected.includes(l));
  if (bad.length === 0) return;
  const distinct = [...new Set(bad.map((l) => l.replace(/"(time|ts)":"[^"]*",?/, "").slice(0, 300)))];
  problem(`${COLUMN_TITLES[c.id]} logged ${bad.length} warning/error line(s), e.g.:\n${indent(distinct.slice(0, 5).join("\n"))}`);
}

/** aegis counts refused clients and failed upstream connects; any at all is worth a look. */
async function scrapeAegisMetrics(c: Contender): Promise<void> {
  let text: string;
  try {
    const res = await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`, { signal: AbortSignal.timeout(3000) });
    text = await res.text();
  } catch (e) {
    problem(`${COLUMN_TITLES[c.id]}: /metrics on 127.0.0.1:${c.metricsPort} did not answer (${e instanceof Error ? e.message : String(e)})`);
    return;
  }
  writeFileSync(join(workDir, c.id.replace("+", "-"), "metrics.txt"), text);
  const nonZero = text
    .split("\n")
    .filter((l) => /^aegis_(connections_rejected_total|upstream_connect_errors_total)\b/.test(l))
    .filter((l) => Number(l.trim().split(/\s+/).pop()) > 0);
  if (nonZero.length) problem(`${COLUMN_TITLES[c.id]} /metrics at the end of the run (since its last start):\n${indent(nonZero.join("\n"))}`);
}

function resultsMarkdown(o: Options, machine: [string, string][], table: string, backend: Ports): string {
  const P = { redis: 0, iperf: 0 };
  const cmd = (w: Workload) => w.command(P).join(" ").replace(/-p 0/, "-p PORT");
  const args = Bun.argv.slice(2).join(" ");
  return `# aegis vs HAProxy vs nginx stream

Written by \`bench/compare${args ? ` ${args}` : ""}\` (${o.quick ? "quick" : "full"} run, ${o.rounds} round(s), ${((performance.now() - t0) / 1000).toFixed(0)} s).
One run on a small, noisy machine: read the ratios, not the absolute numbers, and expect them to move by ±10% between runs.

## Results

↑ rows: higher is better. ↓ rows (latency, memory, startup): **lower is better**.
Every ratio is the aegis value divided by the other one, so on a ↓ row a ratio below 1.00× means aegis wins.
"Best peer" is the better of HAProxy and nginx on that row. Targets are checked on the plain aegis column (pool = 0);
"aegis+pool ÷ aegis" shows whether the upstream pool pays (above 1 on ↑ rows, below 1 on ↓ rows).

${table}

## Problems seen during the run

${problems.length ? problems.map((p) => `- ${p.replace(/\n/g, "\n  ")}`).join("\n") : "None."}
${ignored.length ? `\nIgnored as expected:\n\n${ignored.map((p) => `- ${p}`).join("\n")}\n` : ""}
## Machine

| | |
| --- | --- |
${machine.map(([k, v]) => `| ${k} | ${v.replaceAll("|", "\\|")} |`).join("\n")}

## Parameters

- Backends, started by the run on free 127.0.0.1 ports: \`redis-server --save '' --appendonly no\` (this run: ${backend.redis}),
  with \`key:__rand_int__\` set to a 3-byte value, and \`iperf3 -s\` (this run: ${backend.iperf}).
- Every proxy relays two listeners, one to each backend. Configs are in \`bench/lib/proxies.ts\`:
  aegis \`workers = 0\` (one per core), \`max_connections = 20000\`, \`log_level = "warn"\`, no access log, \`pool = 0\`
  (aegis+pool: \`pool = ${AEGIS_POOL}\` on the Redis upstream only); HAProxy 2.6 \`mode tcp\`, \`nbthread\` = cores, no logging;
  nginx stream \`worker_processes\` = cores, \`listen … reuseport\`, \`proxy_half_close on\`, no access log.
- Throughput workloads (PORT = the proxy's listener, or the backend for "no proxy"); ${o.rounds} round(s), columns interleaved, each column keeps its best round (by requests/s or Gbit/s) with that round's latencies:
${workloads(o).map((w) => `  - ${w.name}: \`${cmd(w)}\``).join("\n")}
- Idle memory: warm up with 200 connections, then sum Pss (\`/proc/PID/smaps_rollup\`) over the proxy's process group, open ${o.idleConnections} connections from a separate Bun process (each relays one PING → +PONG, then idles), wait 1 s, sum again; (after − before) ÷ ${o.idleConnections}. "At rest" is the "before" figure, "holding" the "after" one.
- Startup: spawn the proxy, then connect and round-trip a Redis PING through it every ~1 ms until one succeeds; time from the spawn call. Median of ${o.startupTrials} spawn(s).
`;
}

function rotate<T>(xs: T[], n: number): T[] {
  const k = n % Math.max(1, xs.length);
  return [...xs.slice(k), ...xs.slice(0, k)];
}

function indent(text: string): string {
  return text.split("\n").map((l) => `    ${l}`).join("\n");
}
