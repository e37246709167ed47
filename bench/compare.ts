// bench/compare: aegis side by side with HAProxy and nginx stream, in one run.
// Run it through the bench/compare wrapper (which installs missing tools and kills
// leftovers); `bun bench/compare.ts --help` for the options. See bench/README.md.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { ALL_SECTIONS, parseArgs, UsageError, USAGE, type Options } from "./lib/args.ts";
import { describeMachine } from "./lib/machine.ts";
import { firstPong, freePort, isListening, redisCommand } from "./lib/net.ts";
import { isRunning, killAllNow, sleep, start, stop, stopAll, tail, type Proc } from "./lib/procs.ts";
import { AEGIS_POOL, COLUMN_TITLES, httpBackendConfig, prepare, writeHttpFiles, type ColumnId, type Launch, type Ports } from "./lib/proxies.ts";
import { aegisCounterProblems, scanProxyLog } from "./lib/checks.ts";
import { indent, renderTable, resultsMarkdown, setCell, writeResults, METRICS, type Results } from "./lib/report.ts";
import { heldLoad, idleMemory, workloads, type IdleMemoryResult } from "./lib/workloads.ts";
import { syscallsPerGet } from "./lib/syscalls.ts";
import { balanceMarkdown, runBalance, type BalanceResult } from "./lib/balance.ts";
import { runScrapeCost, scrapeMarkdown, type ScrapeResult } from "./lib/scrape.ts";
import { runTls, tlsColumns, tlsMarkdown, type TlsResult } from "./lib/tls.ts";
import { clientPrograms, runClient, type ClientResult } from "./lib/client.ts";
import { clientMarkdown } from "./lib/client-report.ts";

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
  say(`columns: ${o.columns.join(", ")}; sections: ${o.sections.join(", ")}; ${o.quick ? "quick" : "full"} run, ${o.rounds} round(s); work dir ${workDir}`);

  const backend = await startBackends();
  const raw = {
    rounds: [] as Record<string, unknown>[],
    idleMemory: {} as Record<string, IdleMemoryResult | null>,
    balance: null as unknown,
    scrape: null as ScrapeResult | null,
    tls: null as unknown,
    client: null as unknown,
  };
  const results: Results = new Map();
  const contenders = new Map<ColumnId, Contender>();
  const throughput = workloads(o, problem);
  if (o.sections.includes("main")) await mainTable(o, backend, cores, results, contenders, raw, throughput);

  // The scrape-cost row, on the plain aegis of the main table (or one started for it).
  let scrape: ScrapeResult | null = null;
  if (o.sections.includes("scrape")) {
    if (!o.columns.includes("aegis")) say("scrape-cost row skipped: it needs the aegis column (--only)");
    else {
      let c = contenders.get("aegis") ?? null;
      if (!c) {
        c = await startContender("aegis", backend, cores, o, results, 1);
        if (c) contenders.set("aegis", c);
      }
      if (c && (await ensureAlive(c, "before the scrape-cost workload"))) {
        const cc = c;
        scrape = await runScrapeCost(
          { o, logDir: join(workDir, "aegis"), problem, say, checkInterrupted, alive: () => isRunning(cc.proc) },
          c.listen.redis,
          c.metricsPort,
        );
        raw.scrape = scrape;
      }
    }
  }

  for (const c of contenders.values()) await checkLogsAndCounters(c, backend);
  for (const c of contenders.values()) await stop(c.proc);

  // The latency-aware balancing row: its own backends and proxies, after the others have stopped.
  let balance: BalanceResult | null = null;
  if (o.sections.includes("balance")) {
    const withAegis = o.columns.includes("aegis");
    const withHaproxy = o.columns.includes("haproxy");
    if (!withAegis && !withHaproxy) say("balancing row skipped: it needs the aegis or the haproxy column (--only)");
    else {
      balance = await runBalance({ o, workDir, cores, problem, ignore: (m) => ignored.push(m), say, checkInterrupted }, withAegis, withHaproxy);
      raw.balance = { ...balance, best: Object.fromEntries(balance.best), failed: Object.fromEntries(balance.failed) };
    }
  }

  // The TLS rows: each program with its TLS listeners, in front of the same backends.
  let tls: TlsResult | null = null;
  if (o.sections.includes("tls")) {
    const columns = tlsColumns(o.columns);
    if (columns.length === 0) say("TLS rows skipped: they need one of the aegis, bun, haproxy or nginx columns (--only)");
    else {
      tls = await runTls({ o, workDir, cores, backend, problem, ignore: (m) => ignored.push(m), say, checkInterrupted }, columns);
      raw.tls = { ...tls, best: Object.fromEntries(tls.best), failed: Object.fromEntries(tls.failed), negotiated: Object.fromEntries(tls.negotiated) };
    }
  }

  // The client-identity rows: send_proxy and 50 routes against the plain listener, each program's own.
  let client: ClientResult | null = null;
  if (o.sections.includes("client")) {
    const programs = clientPrograms(o.columns);
    if (programs.length === 0) say("client rows skipped: they need one of the aegis, haproxy or nginx columns (--only)");
    else {
      client = await runClient({ o, workDir, cores, redis: backend.redis, problem, ignore: (m) => ignored.push(m), say, checkInterrupted }, programs);
      raw.client = { ...client, failed: Object.fromEntries(client.failed) };
    }
  }

  checkInterrupted();
  machine.push(["load average at end (this run's own load included)", readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")]);
  const table = o.sections.includes("main") ? renderTable(results, o.columns) : "";
  const extras = [
    balance ? balanceMarkdown(balance, o.rounds) : "",
    scrape ? scrapeMarkdown(scrape) : "",
    tls ? tlsMarkdown(tls, o.rounds) : "",
    client ? clientMarkdown(client) : "",
  ].filter(Boolean);
  writeRaw({ ...raw, args: Bun.argv.slice(2), machine: Object.fromEntries(machine), results: Object.fromEntries([...results].map(([k, v]) => [k, Object.fromEntries(v)])), problems });
  const body = resultsMarkdown({
    args: Bun.argv.slice(2),
    quick: o.quick,
    rounds: o.rounds,
    seconds: (performance.now() - t0) / 1000,
    table,
    extras,
    problems,
    ignored,
    machine,
    backend,
    aegisPool: AEGIS_POOL,
    commands: throughput.map((w) => [w.name, w.command({ redis: 0, iperf: 0 }).join(" ").replace(/-p 0\b/, "-p PORT")]),
    idleConnections: o.idleConnections,
    startupTrials: o.startupTrials,
  });
  if (table) console.log(`\n${table}\n`);
  for (const e of extras) console.log(`\n${e}`);
  if (problems.length) console.log(`Problems seen:\n${problems.map((p) => `- ${p}`).join("\n")}\n`);
  if (o.out) {
    writeResults(o.out, body);
    say(`wrote ${relative(process.cwd(), o.out) || o.out}`);
  } else if (o.sections.length < ALL_SECTIONS.length) say("not written: a run without every section writes only with --out FILE");
}

/** Phases 1 and 2: the main table. */
async function mainTable(
  o: Options,
  backend: Ports,
  cores: number,
  results: Results,
  contenders: Map<ColumnId, Contender>,
  raw: { rounds: Record<string, unknown>[]; idleMemory: Record<string, IdleMemoryResult | null> },
  throughput: ReturnType<typeof workloads>,
): Promise<void> {
  // Phase 1, one proxy at a time on a fresh process: startup time, then idle memory.
  // Only one proxy runs at a time here: Pss splits shared pages (aegis's executable, say)
  // between every process mapping them, so a second aegis would halve the first's.
  for (const id of o.columns) {
    checkInterrupted();
    if (id === "none") {
      for (const m of ["mem.perConn", "mem.base", "mem.held", "start.ms", "sys.perGet", "held.mem", "held.rps", "held.p99"] as const) setCell(results, id, m, "n/a");
      continue;
    }
    const c = await startContender(id, backend, cores, o, results);
    if (!c) continue;
    contenders.set(id, c);
    raw.idleMemory[id] = await measureIdleMemory(c, backend, o, results);
    await measureSyscalls(c, o, results);
    await measureHeld(c, o, results);
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
      for (const w of throughput) {
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
    for (const w of throughput) {
      const r = best.get(`${id}/${w.name}`);
      for (const [field, metric] of Object.entries(w.cells)) {
        if (!results.get(id)?.has(metric)) setCell(results, id, metric, r?.[field] ?? "error");
      }
    }
  }
}

// ---------------------------------------------------------------- setup

function checkInterrupted(): void {
  if (stopping) throw new Error("interrupted; nothing written");
}

function isAegis(id: ColumnId): boolean {
  return id === "aegis" || id === "aegis+pool" || id === "aegis-w1";
}

function checkTools(o: Options): void {
  const need = ["redis-server", "redis-benchmark", "iperf3"];
  if (o.sections.includes("tls")) need.push("openssl");
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
  // The wrk rows' HTTP backend: nginx's http module with three files (see proxies.ts).
  let http: number | undefined;
  if (Bun.which("wrk") && Bun.which("nginx", { PATH: `${process.env.PATH}:/usr/sbin` })) {
    http = freePort();
    const dir = join(workDir, "http-backend");
    mkdirSync(dir, { recursive: true });
    chmodSync(workDir, 0o755); // nginx's workers run as nobody when the run is root's: they must reach www/
    writeHttpFiles(dir);
    writeFileSync(join(dir, "nginx.conf"), httpBackendConfig(dir, http));
    const web = start("nginx (HTTP backend)", ["nginx", "-p", `${dir}/`, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], join(dir, "output.log"));
    for (let i = 0; i < 250 && !isListening(http); i++) await sleep(20);
    if (!isListening(http) || !isRunning(web)) throw new Error(`the nginx HTTP backend did not listen:\n${tail(join(dir, "error.log"))}`);
  } else say("wrk rows skipped: wrk or nginx is missing");
  say(`backends: redis-server on 127.0.0.1:${redis}, iperf3 -s on 127.0.0.1:${iperfPort}${http ? `, nginx http on 127.0.0.1:${http}` : ""}`);
  return { redis, iperf: iperfPort, ...(http ? { http } : {}) };
}

/** Spawn the proxy startupTrials times; keep the last one running. Records start.ms. */
async function startContender(
  id: Exclude<ColumnId, "none">,
  backend: Ports,
  cores: number,
  o: Options,
  results: Results,
  trials = o.startupTrials,
): Promise<Contender | null> {
  const listen: Ports = { redis: freePort(), iperf: freePort(), ...(backend.http ? { http: freePort() } : {}) };
  const metricsPort = freePort();
  const launch = prepare(id, join(workDir, id.replace("+", "-")), listen, backend, { aegisPath: o.aegisPath, cores, metricsPort });
  const times: number[] = [];
  let proc: Proc | null = null;
  for (let trial = 0; trial < trials; trial++) {
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

async function measureHeld(c: Contender, o: Options, results: Results): Promise<void> {
  const name = COLUMN_TITLES[c.id];
  if (o.heldConnections <= 0) return;
  // Its pooled sockets (16 per Worker per server) take descriptors the 9,900 sessions need: under
  // the 20,000 open-file limit the 50 clients beyond them are refused as fd_limit, as they should be.
  if (c.id === "aegis+pool") {
    for (const m of ["held.mem", "held.rps", "held.p99"] as const) setCell(results, c.id, m, "n/a: pool fds");
    return;
  }
  say(`${name}: holding ${o.heldConnections} connections, GET with 50 more clients`);
  try {
    const h = await heldLoad(c.proc.pid, c.listen.redis, o.heldConnections, Math.round(o.getRequests / 3), join(workDir, c.id.replace("+", "-")));
    setCell(results, c.id, "held.mem", h.heldPss / 2 ** 20);
    setCell(results, c.id, "held.rps", h.rps);
    setCell(results, c.id, "held.p99", h.p99Ms);
    say(`  held ${h.held} (failed ${h.failed}), Pss ${(h.heldPss / 2 ** 20).toFixed(1)} MiB, ${h.rps.toFixed(0)} GET/s, p99 ${h.p99Ms.toFixed(3)} ms`);
    if (h.failed > 0) problem(`${name}: ${h.failed} of ${o.heldConnections} held connections failed (first: ${h.firstError})`);
  } catch (e) {
    problem(`${name}, held connections: ${e instanceof Error ? e.message : String(e)}`);
    for (const m of ["held.mem", "held.rps", "held.p99"] as const) setCell(results, c.id, m, "error");
  }
}

async function measureSyscalls(c: Contender, o: Options, results: Results): Promise<void> {
  const name = COLUMN_TITLES[c.id];
  if (!Bun.which("strace")) return void setCell(results, c.id, "sys.perGet", "no strace");
  try {
    const s = await syscallsPerGet(c.proc.pid, c.listen.redis, o.syscallRequests, join(workDir, c.id.replace("+", "-")));
    setCell(results, c.id, "sys.perGet", s.perGet);
    say(`${name}: ${s.perGet.toFixed(2)} syscalls per proxied GET (${Object.entries(s.top).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")})`);
  } catch (e) {
    problem(`${name}, syscalls per GET: ${e instanceof Error ? e.message : String(e)}`);
    setCell(results, c.id, "sys.perGet", "error");
  }
}

// ---------------------------------------------------------------- logs and report

/** Every round's numbers, for whoever wants more than the table: bench/out/ is not committed. */
function writeRaw(data: unknown): void {
  const dir = join(repoRoot, "bench", "out");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "compare-last.json"), `${JSON.stringify(data, null, 2)}\n`);
}

/** Whatever the proxy logged at warning level or above, and aegis's failure counters. */
async function checkLogsAndCounters(c: Contender, backend: Ports): Promise<void> {
  const dir = join(workDir, c.id.replace("+", "-"));
  const logs = scanProxyLog(COLUMN_TITLES[c.id], isAegis(c.id) ? "aegis" : (c.id as "bun" | "c" | "haproxy" | "nginx"), [c.launch.logPath, join(dir, "error.log")], [c.listen.iperf, backend.iperf]);
  logs.problems.forEach(problem);
  ignored.push(...logs.ignored);
  if (isAegis(c.id)) (await aegisCounterProblems(COLUMN_TITLES[c.id], c.metricsPort, join(dir, "metrics.txt"))).forEach(problem);
}

function rotate<T>(xs: T[], n: number): T[] {
  const k = n % Math.max(1, xs.length);
  return [...xs.slice(k), ...xs.slice(0, k)];
}

