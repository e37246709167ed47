// Where aegis's tail latency comes from: redis-benchmark GET (50 keep-alive clients) through
// dist/aegis and HAProxy in turn, interleaved, with workers = 1 and 2; then one aegis run under
// `perf record -g` and one with JSC's GC log, so the p99 can be set beside what the CPU did.
//
//   bun bench/profile-tail.ts [ROUNDS=3] [REQUESTS=200000]
//
// Prints a table of requests/s and p50/p99/max per column (best round by requests/s, as
// bench/compare does), perf's top symbols by DSO and by symbol, and the GC pauses seen during a run.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, redisPing } from "./lib/net.ts";
import { redisBenchmark } from "./lib/workloads.ts";
import { run, sleep, start, stop, stopAll, type Proc } from "./lib/procs.ts";

const ROUNDS = Number(process.argv[2] ?? 3);
const REQUESTS = Number(process.argv[3] ?? 200_000);
const root = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "aegis-tail-"));

const redisPort = freePort();
const redis = start("redis", ["redis-server", "--port", String(redisPort), "--save", "", "--appendonly", "no"], join(dir, "redis.log"));

interface Column { name: string; port: number; cmd: string[]; env?: Record<string, string>; proc?: Proc }

function aegisColumn(workers: number): Column {
  const port = freePort();
  const config = join(dir, `aegis-w${workers}.toml`);
  writeFileSync(config, `[global]\nworkers = ${workers}\nlog_level = "warn"\naccess_log = false\n[metrics]\nlisten = "127.0.0.1:0"\n[[listener]]\nname = "redis"\nbind = "127.0.0.1:${port}"\nupstream = "redis"\n[[upstream]]\nname = "redis"\nservers = ["127.0.0.1:${redisPort}"]\n`);
  return { name: `aegis workers=${workers}`, port, cmd: [join(root, "dist/aegis"), "--config", config] };
}

function haproxyColumn(): Column {
  const port = freePort();
  const config = join(dir, "haproxy.cfg");
  writeFileSync(config, `global\n  nbthread 2\n  maxconn 9000\ndefaults\n  mode tcp\n  timeout client 10m\n  timeout server 10m\n  timeout connect 5s\nlisten redis\n  bind 127.0.0.1:${port}\n  server r 127.0.0.1:${redisPort}\n`);
  return { name: "HAProxy", port, cmd: ["haproxy", "-f", config] };
}

async function up(c: Column): Promise<void> {
  c.proc = start(c.name, c.cmd, join(dir, `${c.name.replace(/\W+/g, "-")}.log`));
  for (let i = 0; i < 200; i++) {
    if (await redisPing(c.port)) return;
    await sleep(25);
  }
  throw new Error(`${c.name} did not answer a PING within 5 s (see ${c.proc.logPath})`);
}

const columns = [aegisColumn(2), aegisColumn(1), haproxyColumn()];
const best = new Map<string, { rps: number; p50: number; p99: number; max: number }>();
try {
  for (let i = 0; i < 200 && !(await redisPing(redisPort)); i++) await sleep(25);
  for (const c of columns) await up(c);
  for (let round = 0; round < ROUNDS; round++) {
    const order = [...columns.slice(round % columns.length), ...columns.slice(0, round % columns.length)];
    for (const c of order) {
      const r = await redisBenchmark(c.port, { requests: REQUESTS, clients: 50, pipeline: 1, keepalive: true });
      const got = { rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, max: r.maxMs };
      console.log(`round ${round + 1} ${c.name}: ${JSON.stringify(got)}`);
      if (!best.has(c.name) || got.rps > best.get(c.name)!.rps) best.set(c.name, got);
    }
  }
  console.log("\n| column | requests/s | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- |");
  for (const [name, b] of best) console.log(`| ${name} | ${Math.round(b.rps)} | ${b.p50.toFixed(3)} | ${b.p99.toFixed(3)} | ${b.max.toFixed(3)} |`);

  // perf on aegis (two Workers) during one more run: where its CPU time goes.
  const aegis = columns[0]!;
  const perfData = join(dir, "perf.data");
  const perf = start("perf", ["perf", "record", "-F", "1999", "-g", "-p", String(aegis.proc!.pid), "-o", perfData], join(dir, "perf.log"));
  await sleep(500);
  const profiled = await redisBenchmark(aegis.port, { requests: REQUESTS, clients: 50, pipeline: 1, keepalive: true });
  console.log(`\nunder perf: ${Math.round(profiled.rps)} req/s, p99 ${profiled.p99Ms} ms`);
  process.kill(perf.pid, "SIGINT");
  await perf.exited;
  for (const sort of ["dso", "sym"]) {
    const report = await run("perf report", ["perf", "report", "-i", perfData, "--stdio", "--no-children", "--sort", sort, "--percent-limit", "1"], 120_000);
    console.log(`\nperf report --sort ${sort}:\n${report.stdout.split("\n").filter((l) => /^\s+\d/.test(l)).slice(0, 30).join("\n")}`);
  }

  // JSC's GC log on a fresh aegis: how often and how long the collector stops a Worker.
  await stop(aegis.proc!);
  const gcLog = join(dir, "aegis-gc.log");
  aegis.proc = start("aegis-gc", ["env", "BUN_JSC_logGC=1", ...aegis.cmd], gcLog);
  for (let i = 0; i < 200 && !(await redisPing(aegis.port)); i++) await sleep(25);
  const logged = await redisBenchmark(aegis.port, { requests: REQUESTS, clients: 50, pipeline: 1, keepalive: true });
  await sleep(200);
  const text = readFileSync(gcLog, "utf8");
  // JSC's lines: "p=0.99ms (max 1.44)" is a stop-the-world pause, "cycle 5.9ms" a whole collection
  // (mostly concurrent); the log covers start-up too, where most collections happen.
  const stat = (re: RegExp) => {
    const v = [...text.matchAll(re)].map((m) => Number(m[1])).sort((x, y) => x - y);
    return v.length ? `${v.length}, median ${v[v.length >> 1]!.toFixed(2)} ms, max ${v[v.length - 1]!.toFixed(2)} ms, total ${v.reduce((x, y) => x + y, 0).toFixed(1)} ms` : "none";
  };
  console.log(`\nwith the GC log: ${Math.round(logged.rps)} req/s, p99 ${logged.p99Ms} ms; pauses: ${stat(/ p=([\d.]+)ms/g)}; cycles: ${stat(/cycle ([\d.]+)ms/g)}`);
  console.log(`work dir (configs, logs, perf.data): ${dir}`);
} finally {
  await stopAll();
  void redis;
}
