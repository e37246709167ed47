// Two ways to terminate TLS with several certificates chosen by SNI, side by side in one run:
//
//   native   Bun.listen({ tls: firstCert }) + node:tls's addContext on the Bun listener handle
//            (what aegis does: src/data/tls-listen.ts, called as is)
//   node:tls createServer({ SNICallback }), node-style streams
//
// Both are echo servers (bench/lib/tls-echo.ts) in their own process, TLS 1.3 only, ECDSA P-256
// certificates for a.test (the default) and b.test. Clients run in processes of their own: openssl
// s_time for handshakes, bench/lib/tls-load.ts (Bun) for the rest. Prints a table of native ÷ node:tls
// per row and writes every slice's figures to bench/out/tls-sni-choice-last.json. See bench/README.md.
//
//   bun bench/tls-sni-choice.ts [--seconds 3] [--idle 2000] [--keep]
//
// --seconds: length of one slice; each row runs native, node, node, native (ABBA), so every
// measurement takes 2 slices per server. --idle: connections of the memory row. --keep: keep the
// temporary directory (certificates, server logs).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./lib/net.ts";
import { groupMemory, killAllNow, run, sleep, startPiped, stop, stopAll, tail, type Piped } from "./lib/procs.ts";

const here = import.meta.dir;
const KINDS = ["native", "node"] as const;
type Kind = (typeof KINDS)[number];
const LABEL: Record<Kind, string> = { native: "native (Bun.listen + addContext)", node: "node:tls SNICallback" };

// ---------------------------------------------------------------- options

function parseArgs(argv: string[]): { seconds: number; idle: number; keep: boolean } {
  const o = { seconds: 3, idle: 2000, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0) || !Number.isInteger(v)) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === "--seconds") o.seconds = num();
    else if (a === "--idle") o.idle = num();
    else if (a === "--keep") o.keep = true;
    else if (a === "--help" || a === "-h") {
      console.log("usage: bun bench/tls-sni-choice.ts [--seconds 3] [--idle 2000] [--keep]");
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const problems: string[] = [];
const say = (line: string) => console.error(`tls-sni-choice: ${line}`);

// ---------------------------------------------------------------- certificates

/** A CA and two P-256 leaves it signs: a.test (SANs a.test, *.a.test) and b.test. */
function makeCerts(dir: string): void {
  writeFileSync(join(dir, "openssl.cnf"), "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n");
  const req = (name: string, subject: string, ext: string[], signed: boolean) => {
    const args = ["req", "-x509", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    args.push("-keyout", `${name}-key.pem`, "-out", `${name}.pem`, "-days", "2", "-subj", subject);
    if (signed) args.push("-CA", "ca.pem", "-CAkey", "ca-key.pem");
    for (const e of ext) args.push("-addext", e);
    const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl req for ${name} failed: ${r.stderr.toString()}`);
  };
  const leaf = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth"];
  req("ca", "/CN=tls-sni-choice CA", ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"], false);
  req("a", "/CN=a.test", [...leaf, "subjectAltName=DNS:a.test,DNS:*.a.test"], true);
  req("b", "/CN=b.test", [...leaf, "subjectAltName=DNS:b.test"], true);
}

// ---------------------------------------------------------------- servers

interface Server {
  kind: Kind;
  port: number;
  piped: Piped;
}

async function startServer(kind: Kind, dir: string, tag: string): Promise<Server> {
  const port = freePort();
  const log = join(dir, `${kind}-${tag}.log`);
  const piped = startPiped(`${kind} server`, ["bun", join(here, "lib/tls-echo.ts"), kind, String(port), dir], log);
  const line = await piped.readLine(10_000);
  if (line !== "ready") throw new Error(`${kind} server did not start (${line}): ${tail(log)}`);
  return { kind, port, piped };
}

/** Ask the server something on its stdin ("gc" or "count"); the number of connections it has open. */
async function ask(server: Server, command: "gc" | "count"): Promise<number> {
  server.piped.writeLine(command);
  const line = await server.piped.readLine(5000);
  const m = /^ok (-?\d+)$/.exec(line ?? "");
  if (!m) throw new Error(`${server.kind} server answered ${JSON.stringify(line)} to ${command}`);
  return Number(m[1]);
}

const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** User + system CPU seconds the server process has used. */
function cpuSeconds(server: Server): number {
  const stat = readFileSync(`/proc/${server.piped.proc.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

// ---------------------------------------------------------------- correctness

/** openssl s_client against each server: which certificate each name gets, and that TLS 1.2 is refused. */
async function checkCertificates(server: Server, caPath: string): Promise<string[]> {
  const lines: string[] = [];
  const cases: { sni: string | null; want: string; verify: boolean }[] = [
    { sni: "a.test", want: "a.test", verify: true },
    { sni: "b.test", want: "b.test", verify: true },
    { sni: "x.a.test", want: "a.test", verify: true },
    { sni: "unknown.test", want: "a.test", verify: false },
    { sni: null, want: "a.test", verify: false },
  ];
  for (const c of cases) {
    const cmd = ["openssl", "s_client", "-connect", `127.0.0.1:${server.port}`, "-brief", "-CAfile", caPath];
    cmd.push(...(c.sni ? ["-servername", c.sni] : ["-noservername"]));
    if (c.verify) cmd.push("-verify_hostname", c.sni!, "-verify_return_error");
    const r = await run("s_client", cmd, 10_000);
    const out = `${r.stdout}\n${r.stderr}`;
    const cn = /Peer certificate: .*CN = ([^,\s]+)/.exec(out)?.[1] ?? "(none)";
    const version = /Protocol version: (\S+)/.exec(out)?.[1] ?? "(none)";
    const verified = /Verification: OK/.test(out);
    const ok = cn === c.want && version === "TLSv1.3" && (!c.verify || verified);
    const name = c.sni ?? "(no SNI)";
    lines.push(`${ok ? "ok  " : "FAIL"} ${server.kind}: ${name} → CN ${cn}, ${version}${c.verify ? (verified ? ", verified" : ", NOT verified") : ""}`);
    if (!ok) problems.push(`${server.kind}: SNI ${name} got CN ${cn} on ${version}${c.verify && !verified ? ", verification failed" : ""} (wanted ${c.want})`);
  }
  const old = await run("s_client", ["openssl", "s_client", "-connect", `127.0.0.1:${server.port}`, "-brief", "-tls1_2", "-servername", "b.test"], 10_000);
  const refused = !/Protocol version: TLSv1.2/.test(`${old.stdout}\n${old.stderr}`);
  lines.push(`${refused ? "ok  " : "FAIL"} ${server.kind}: TLS 1.2 ${refused ? "refused" : "accepted"}`);
  if (!refused) problems.push(`${server.kind}: accepted TLS 1.2`);
  return lines;
}

// ---------------------------------------------------------------- workloads

interface Slice {
  kind: Kind;
  ops: number;
  bytes: number;
  ms: number;
  cpu: number;
}

interface Workload {
  id: string;
  /** One slice against `server`: what it did in how long. */
  slice(server: Server, seconds: number): Promise<{ ops: number; bytes: number; ms: number }>;
}

function loadClient(args: string[], seconds: number): (server: Server) => Promise<{ ops: number; bytes: number; ms: number }> {
  return async (server) => {
    const r = await run("tls-load", ["bun", join(here, "lib/tls-load.ts"), args[0]!, String(server.port), String(seconds), ...args.slice(1)], seconds * 1000 + 30_000);
    const line = r.stdout.trim().split("\n").pop() ?? "";
    let got: { ops: number; bytes: number; ms: number; errors: number; problems: string[] };
    try {
      got = JSON.parse(line);
    } catch {
      throw new Error(`tls-load ${args[0]} against ${server.kind} printed ${JSON.stringify(line)}: ${r.stderr.trim()}`);
    }
    if (got.errors > 0) problems.push(`${args[0]} against ${server.kind}: ${got.errors} failed connections or streams`);
    for (const p of got.problems) problems.push(`${args[0]} against ${server.kind}: ${p}`);
    return got;
  };
}

const workloads = (seconds: number): Workload[] => [
  {
    id: "s_time",
    async slice(server) {
      const t0 = performance.now();
      const r = await run("s_time", ["openssl", "s_time", "-connect", `127.0.0.1:${server.port}`, "-new", "-tls1_3", "-time", String(seconds)], seconds * 1000 + 15_000);
      const ms = performance.now() - t0;
      const m = /(\d+) connections in [\d.]+s/.exec(r.stdout);
      if (!m || r.code !== 0) throw new Error(`s_time against ${server.kind} failed (${r.code}): ${r.stdout.slice(-300)} ${r.stderr.slice(-300)}`);
      if (/ERROR/.test(r.stdout)) problems.push(`s_time against ${server.kind} reported an ERROR`);
      return { ops: Number(m[1]), bytes: 0, ms };
    },
  },
  { id: "connect", slice: (s) => loadClient(["connect", "10"], seconds)(s) },
  { id: "echo", slice: (s) => loadClient(["echo", "50"], seconds)(s) },
  { id: "bulk", slice: (s) => loadClient(["bulk", "256"], seconds)(s) },
];

/** native, node, node, native: each server's two slices straddle the same stretch of time. */
async function measure(w: Workload, servers: Record<Kind, Server>, seconds: number): Promise<Slice[]> {
  const slices: Slice[] = [];
  for (const kind of ["native", "node", "node", "native"] as const) {
    const server = servers[kind];
    const cpu0 = cpuSeconds(server);
    const got = await w.slice(server, seconds);
    slices.push({ kind, ...got, cpu: cpuSeconds(server) - cpu0 });
  }
  return slices;
}

// ---------------------------------------------------------------- memory

interface Memory {
  kind: Kind;
  rssBefore: number;
  rssAfter: number;
  pssBefore: number;
  pssAfter: number;
  held: number;
  perConnection: number;
}

/** A fresh server, warmed with 100 connections; RSS (after a GC) before and while it holds `count` idle ones. */
async function idleMemory(kind: Kind, dir: string, count: number, tag: string): Promise<Memory> {
  const server = await startServer(kind, dir, tag);
  try {
    const hold = async (n: number) => {
      const client = startPiped("idle clients", ["bun", join(here, "lib/tls-load.ts"), "idle", String(server.port), String(n)], join(dir, `idle-${kind}-${tag}.log`));
      const line = await client.readLine(60_000);
      let got: { ok: number; failed: number; problems: string[] };
      try {
        got = JSON.parse(line ?? "");
      } catch {
        throw new Error(`idle clients against ${kind} printed ${JSON.stringify(line)}: ${tail(client.proc.logPath)}`);
      }
      if (got.failed > 0) problems.push(`idle against ${kind}: ${got.failed} of ${n} connections failed`);
      for (const p of got.problems) problems.push(`idle against ${kind}: ${p}`);
      return { client, ok: got.ok };
    };
    const release = async (client: Piped) => {
      client.writeLine("done");
      const dropped = JSON.parse((await client.readLine(10_000)) ?? "{}").dropped;
      if (dropped) problems.push(`idle against ${kind}: the server closed ${dropped} idle connections`);
      await stop(client.proc, 5000);
    };
    // Warm-up: what the first connections initialise (contexts, JIT) is not per connection.
    const warm = await hold(100);
    await release(warm.client);
    await sleep(300);
    if ((await ask(server, "gc")) !== 0) problems.push(`${kind}: connections still open after the warm-up`);
    await sleep(200);
    const before = groupMemory(server.piped.proc.pid);
    const { client } = await hold(count);
    await sleep(1000);
    const held = await ask(server, "gc");
    await sleep(200);
    const after = groupMemory(server.piped.proc.pid);
    if (held !== count) problems.push(`${kind}: holds ${held} connections of the ${count} idle clients`);
    await release(client);
    return {
      kind,
      rssBefore: before.rss,
      rssAfter: after.rss,
      pssBefore: before.pss,
      pssAfter: after.pss,
      held,
      perConnection: (after.rss - before.rss) / count,
    };
  } finally {
    await stop(server.piped.proc, 3000);
  }
}

// ---------------------------------------------------------------- report

interface Row {
  label: string;
  better: "↑" | "↓";
  native: number;
  node: number;
  digits: number;
}

function fmt(v: number, digits: number): string {
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(rows: Row[]): string {
  const out = [
    `| row | ${LABEL.native} | ${LABEL.node} | native ÷ node:tls | better |`,
    "| --- | ---: | ---: | ---: | :---: |",
  ];
  for (const r of rows) {
    const ratio = r.node > 0 ? `${(r.native / r.node).toFixed(2)}×` : "–";
    out.push(`| ${r.label} | ${fmt(r.native, r.digits)} | ${fmt(r.node, r.digits)} | ${ratio} | ${r.better} |`);
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- run

async function main(dir: string, opts: { seconds: number; idle: number }): Promise<void> {
  const started = performance.now();
  makeCerts(dir);
  const caPath = join(dir, "ca.pem");

  // Memory first, each on a fresh process: native, node, node, native.
  say(`memory: ${opts.idle} idle TLS connections per fresh server (ABBA)`);
  const memory: Memory[] = [];
  for (const [i, kind] of (["native", "node", "node", "native"] as const).entries()) memory.push(await idleMemory(kind, dir, opts.idle, `mem${i}`));

  const servers = {
    native: await startServer("native", dir, "main"),
    node: await startServer("node", dir, "main"),
  };
  say("certificates by SNI (openssl s_client):");
  for (const kind of KINDS) for (const line of await checkCertificates(servers[kind], caPath)) say(`  ${line}`);

  // Warm-up, unmeasured: JIT and allocator growth happen here, not in the first slice.
  for (const kind of KINDS) await loadClient(["echo", "50"], 1)(servers[kind]);
  for (const kind of KINDS) await loadClient(["connect", "10"], 1)(servers[kind]);

  const results: Record<string, Slice[]> = {};
  for (const w of workloads(opts.seconds)) {
    say(`${w.id}: 4 slices of ${opts.seconds} s (native, node, node, native)`);
    results[w.id] = await measure(w, servers, opts.seconds);
  }
  for (const kind of KINDS) {
    const open = await ask(servers[kind], "count");
    if (open !== 0) problems.push(`${kind}: ${open} connections still open after the workloads`);
  }

  // Per server: the best slice's rate (noise only ever slows a run down) and CPU over both slices.
  const best = (id: string, kind: Kind, per: (s: Slice) => number) => Math.max(...results[id]!.filter((s) => s.kind === kind).map(per));
  const cpuPer = (id: string, kind: Kind, unit: (s: Slice) => number) => {
    const mine = results[id]!.filter((s) => s.kind === kind);
    return mine.reduce((t, s) => t + s.cpu, 0) / mine.reduce((t, s) => t + unit(s), 0);
  };
  const rate = (s: Slice) => s.ops / (s.ms / 1000);
  const mbps = (s: Slice) => s.bytes / 1e6 / (s.ms / 1000);
  const both = (f: (kind: Kind) => number) => ({ native: f("native"), node: f("node") });
  const mean = (kind: Kind, f: (m: Memory) => number) => {
    const mine = memory.filter((m) => m.kind === kind);
    return mine.reduce((t, m) => t + f(m), 0) / mine.length;
  };
  const rows: Row[] = [
    { label: "handshakes/s: `openssl s_time -new`, no SNI (default certificate)", better: "↑", digits: 0, ...both((k) => best("s_time", k, rate)) },
    { label: "connections/s: new connection per 64-byte echo, SNI a/b, 10 at a time", better: "↑", digits: 0, ...both((k) => best("connect", k, rate)) },
    { label: "round trips/s: 64-byte echo, 50 kept-alive connections", better: "↑", digits: 0, ...both((k) => best("echo", k, rate)) },
    { label: "bulk: 256 MiB streams echoed, MB/s each way", better: "↑", digits: 0, ...both((k) => best("bulk", k, mbps)) },
    { label: `memory per idle TLS connection: RSS growth ÷ ${opts.idle.toLocaleString("en-US")}, KiB`, better: "↓", digits: 1, ...both((k) => mean(k, (m) => m.perConnection) / 1024) },
    { label: "server CPU per s_time handshake, µs", better: "↓", digits: 0, ...both((k) => cpuPer("s_time", k, (s) => s.ops) * 1e6) },
    { label: "server CPU per connection (handshake + echo), µs", better: "↓", digits: 0, ...both((k) => cpuPer("connect", k, (s) => s.ops) * 1e6) },
    { label: "server CPU per 64-byte round trip, µs", better: "↓", digits: 1, ...both((k) => cpuPer("echo", k, (s) => s.ops) * 1e6) },
    { label: "server CPU per MB of bulk (received and sent back), ms", better: "↓", digits: 2, ...both((k) => cpuPer("bulk", k, (s) => s.bytes / 1e6) * 1e3) },
    { label: "server RSS at rest (warmed, fresh process), MiB", better: "↓", digits: 1, ...both((k) => mean(k, (m) => m.rssBefore) / 2 ** 20) },
    { label: `server RSS holding ${opts.idle.toLocaleString("en-US")} idle connections, MiB`, better: "↓", digits: 1, ...both((k) => mean(k, (m) => m.rssAfter) / 2 ** 20) },
  ];

  const machine = `Bun ${Bun.version}, ${Bun.spawnSync(["openssl", "version"]).stdout.toString().trim()}, ${availableParallelism()} cores, load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} at the end`;
  console.log(`\n${table(rows)}\n`);
  console.log(`Rates: best of each server's 2 slices of ${opts.seconds} s (order native, node, node, native); CPU: both slices. Memory: mean of 2 fresh processes per server.`);
  console.log(`${machine}; run took ${((performance.now() - started) / 1000).toFixed(0)} s.`);
  console.log(problems.length === 0 ? "Problems seen: none." : `Problems seen:\n${problems.map((p) => `- ${p}`).join("\n")}`);

  mkdirSync(join(here, "out"), { recursive: true });
  writeFileSync(
    join(here, "out/tls-sni-choice-last.json"),
    `${JSON.stringify({ date: new Date().toISOString(), machine, options: opts, rows, slices: results, memory, problems }, null, 2)}\n`,
  );
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    say(`${signal}: stopping every process this run started`);
    void stopAll().finally(() => process.exit(130));
  });
}
process.on("exit", killAllNow);

let exitCode = 0;
let dir = "";
let opts: ReturnType<typeof parseArgs> | null = null;
try {
  opts = parseArgs(Bun.argv.slice(2));
  dir = mkdtempSync(join(tmpdir(), "aegis-tls-sni-"));
  await main(dir, opts);
  if (problems.length > 0) exitCode = 1;
} catch (e) {
  exitCode = 1;
  console.error(`tls-sni-choice: ${e instanceof Error ? e.message : String(e)}`);
} finally {
  await stopAll();
  if (dir && (opts?.keep || exitCode !== 0)) say(`certificates and logs kept in ${dir}`);
  else if (dir) rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
