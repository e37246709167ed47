// The TLS rows: aegis, the bare Bun relay, HAProxy and nginx stream each terminating the same
// certificate in front of the same plaintext redis-server, and each as an originate+terminate
// pair in front of the same iperf3 server.
//
// The certificate is made at run time (lib/tls.ts makeCertificates): an EC P-256 CA and a
// server certificate for "localhost" (SAN DNS:localhost, IP:127.0.0.1) signed by it. Clients
// verify against that CA and the name "localhost"; so does every proxy's originating side.
//
// Each contender is one process with four listeners:
//   tls       TLS in  → redis-server                      (rows 1 and 2: redis-benchmark --tls)
//   hop       plain   → TLS out to its own `tls` listener  (readiness and the integrity check)
//   pairIn    TLS in  → iperf3 -s
//   pairOut   plain   → TLS out to its own `pairIn`        (row 3: iperf3 -c through the pair)
// so that `hop` and `pairOut` exercise origination and termination of the same program.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { firstPong, freePort, respCommand } from "./net.ts";
import { groupCpuSeconds, isRunning, run, start, stop, tail, type Proc } from "./procs.ts";
import { iperf, iperfArgs } from "./workloads.ts";
import { aegisCounterProblems, scanProxyLog } from "./checks.ts";
import { indent } from "./report.ts";
import type { Options } from "./args.ts";
import { haproxyPreamble, nginxPreamble, type ColumnId, type Ports } from "./proxies.ts";

export type TlsColumn = "aegis" | "bun" | "haproxy" | "nginx";
export const TLS_COLUMNS: TlsColumn[] = ["aegis", "bun", "haproxy", "nginx"];
const PEERS: TlsColumn[] = ["haproxy", "nginx"];

export const TLS_TITLES: Record<TlsColumn, string> = {
  aegis: "aegis",
  bun: "bare Bun relay",
  haproxy: "HAProxy",
  nginx: "nginx",
};

/** The name in the certificate, and the one every client and originating proxy checks. */
const SERVER_NAME = "localhost";

export interface Certificates {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** Certificate then key in one file, as HAProxy's `crt` wants it. */
  combined: string;
}

export interface TlsPorts {
  tls: number;
  hop: number;
  pairIn: number;
  pairOut: number;
}

export interface TlsContext {
  o: Options;
  workDir: string;
  cores: number;
  backend: Ports;
  problem(msg: string): void;
  /** Understood and harmless, listed under "Ignored as expected". */
  ignore(msg: string): void;
  say(msg: string): void;
  checkInterrupted(): void;
}

/** One workload's figures on one column in one round. */
export type TlsFigures = Record<string, number>;

export interface TlsRound {
  round: number;
  column: TlsColumn;
  workload: TlsWorkloadName;
  figures: TlsFigures;
}

export type TlsWorkloadName = "stime" | "handshake" | "keepalive" | "bulk";

export interface TlsResult {
  columns: TlsColumn[];
  /** `${column}/${workload}` → the best round's figures. */
  best: Map<string, TlsFigures>;
  rounds: TlsRound[];
  failed: Map<TlsColumn, string>;
  /** What an OpenSSL client negotiated with each column's `tls` listener. */
  negotiated: Map<TlsColumn, string>;
  commands: [string, string][];
  libraries: [string, string][];
  integrityBytes: number;
}

// ---------------------------------------------------------------- certificates

/** An EC P-256 CA and a "localhost" server certificate signed by it, made with openssl. */
export async function makeCertificates(dir: string): Promise<Certificates> {
  mkdirSync(dir, { recursive: true });
  const p = (name: string) => join(dir, name);
  const ext = p("server.ext");
  writeFileSync(ext, [
    `subjectAltName = DNS:${SERVER_NAME}, IP:127.0.0.1`,
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature",
    "extendedKeyUsage = serverAuth",
    "",
  ].join("\n"));
  const steps: string[][] = [
    ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ca.key")],
    ["openssl", "req", "-x509", "-new", "-key", p("ca.key"), "-sha256", "-days", "30", "-subj", "/CN=aegis bench CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", p("ca.pem")],
    ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("server.key")],
    ["openssl", "req", "-new", "-key", p("server.key"), "-subj", `/CN=${SERVER_NAME}`, "-out", p("server.csr")],
    ["openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial",
      "-days", "30", "-sha256", "-extfile", ext, "-out", p("server.pem")],
    ["openssl", "verify", "-CAfile", p("ca.pem"), "-verify_hostname", SERVER_NAME, p("server.pem")],
  ];
  for (const cmd of steps) {
    const r = await run("openssl", cmd, 20_000);
    if (r.code !== 0) throw new Error(`making the TLS certificate: \`${cmd.join(" ")}\` failed: ${(r.stderr || r.stdout).trim()}`);
  }
  const combined = p("haproxy.pem");
  writeFileSync(combined, readFileSync(p("server.pem"), "utf8") + readFileSync(p("server.key"), "utf8"));
  return { dir, ca: p("ca.pem"), cert: p("server.pem"), key: p("server.key"), combined };
}

// ---------------------------------------------------------------- configurations

interface Launch {
  cmd: string[];
  configPath: string;
  logPath: string;
  /** nginx writes its errors elsewhere. */
  extraLogs: string[];
}

function prepareTls(id: TlsColumn, dir: string, ports: TlsPorts, backend: Ports, certs: Certificates, o: Options, cores: number, metricsPort: number): Launch {
  mkdirSync(dir, { recursive: true });
  const logPath = join(dir, "output.log");
  switch (id) {
    case "aegis": {
      const configPath = join(dir, "aegis.toml");
      writeFileSync(configPath, aegisTlsConfig(ports, backend, certs, metricsPort));
      return { cmd: [o.aegisPath, "--config", configPath], configPath, logPath, extraLogs: [] };
    }
    case "bun": {
      const script = join(import.meta.dir, "bun-relay.ts");
      const cmd = [process.execPath, script, String(cores), "--tls-dir", certs.dir,
        `${ports.tls}:${backend.redis}:in`, `${ports.hop}:${ports.tls}:out`,
        `${ports.pairIn}:${backend.iperf}:in`, `${ports.pairOut}:${ports.pairIn}:out`];
      writeFileSync(join(dir, "command.txt"), `${cmd.join(" ")}\n`);
      return { cmd, configPath: script, logPath, extraLogs: [] };
    }
    case "haproxy": {
      const configPath = join(dir, "haproxy.cfg");
      writeFileSync(configPath, haproxyTlsConfig(ports, backend, certs, cores));
      return { cmd: ["haproxy", "-db", "-f", configPath], configPath, logPath, extraLogs: [] };
    }
    case "nginx": {
      const configPath = join(dir, "nginx.conf");
      writeFileSync(configPath, nginxTlsConfig(dir, ports, backend, certs, cores));
      const errorLog = join(dir, "error.log");
      return { cmd: ["nginx", "-p", `${dir}/`, "-c", configPath, "-e", errorLog], configPath, logPath, extraLogs: [errorLog] };
    }
  }
}

function aegisTlsConfig(ports: TlsPorts, backend: Ports, certs: Certificates, metricsPort: number): string {
  const terminate = `tls = { cert = "${certs.cert}", key = "${certs.key}" }`;
  const originate = `tls = { server_name = "${SERVER_NAME}", ca = "${certs.ca}", verify = true }`;
  return `# Written by bench/compare for the TLS rows. The same global settings as the main table's aegis.
[global]
workers = 0            # one per core
max_connections = 9000
log_level = "warn"
access_log = false

[metrics]
listen = "127.0.0.1:${metricsPort}"

# Terminates TLS in front of the plaintext Redis (handshake and keep-alive rows).
[[listener]]
name = "tls"
bind = "127.0.0.1:${ports.tls}"
upstream = "redis"
${terminate}

# Plaintext in, TLS out to the listener above (readiness and the integrity check).
[[listener]]
name = "hop"
bind = "127.0.0.1:${ports.hop}"
upstream = "tls-self"

# The bulk pair: pair-out originates TLS to pair-in, which terminates it in front of iperf3 -s.
[[listener]]
name = "pair-out"
bind = "127.0.0.1:${ports.pairOut}"
upstream = "pair"

[[listener]]
name = "pair-in"
bind = "127.0.0.1:${ports.pairIn}"
upstream = "iperf"
${terminate}

[[upstream]]
name = "redis"
servers = ["127.0.0.1:${backend.redis}"]
pool = 0

[[upstream]]
name = "tls-self"
servers = ["127.0.0.1:${ports.tls}"]
pool = 0
${originate}

[[upstream]]
name = "pair"
servers = ["127.0.0.1:${ports.pairIn}"]
pool = 0
${originate}

[[upstream]]
name = "iperf"
servers = ["127.0.0.1:${backend.iperf}"]
pool = 0
`;
}

function haproxyTlsConfig(ports: TlsPorts, backend: Ports, certs: Certificates, cores: number): string {
  const originate = `ssl verify required ca-file ${certs.ca} sni str(${SERVER_NAME}) verifyhost ${SERVER_NAME}`;
  return `# Written by bench/compare for the TLS rows. No log lines anywhere; as the main table's HAProxy otherwise.
${haproxyPreamble(cores)}
listen tls
    bind 127.0.0.1:${ports.tls} ssl crt ${certs.combined}
    server redis 127.0.0.1:${backend.redis}

listen hop
    bind 127.0.0.1:${ports.hop}
    server self 127.0.0.1:${ports.tls} ${originate}

listen pair-out
    bind 127.0.0.1:${ports.pairOut}
    server pair-in 127.0.0.1:${ports.pairIn} ${originate}

listen pair-in
    bind 127.0.0.1:${ports.pairIn} ssl crt ${certs.combined}
    server iperf 127.0.0.1:${backend.iperf}
`;
}

function nginxTlsConfig(dir: string, ports: TlsPorts, backend: Ports, certs: Certificates, cores: number): string {
  const originate = `        proxy_ssl on;
        proxy_ssl_protocols TLSv1.2 TLSv1.3;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate ${certs.ca};
        proxy_ssl_name ${SERVER_NAME};
        proxy_ssl_server_name on;`;
  return `# Written by bench/compare for the TLS rows. Stream module only, no access log; as the main table's nginx otherwise.
${nginxPreamble(dir, cores)}
stream {
    ssl_certificate ${certs.cert};
    ssl_certificate_key ${certs.key};
    # nginx 1.22 leaves TLS 1.3 off unless asked (it is on by default from 1.23.4); the others offer it.
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_half_close on;

    server {    # tls
        listen 127.0.0.1:${ports.tls} ssl reuseport;
        proxy_pass 127.0.0.1:${backend.redis};
    }
    server {    # hop
        listen 127.0.0.1:${ports.hop} reuseport;
        proxy_pass 127.0.0.1:${ports.tls};
${originate}
    }
    server {    # pair-out
        listen 127.0.0.1:${ports.pairOut} reuseport;
        proxy_pass 127.0.0.1:${ports.pairIn};
${originate}
    }
    server {    # pair-in
        listen 127.0.0.1:${ports.pairIn} ssl reuseport;
        proxy_pass 127.0.0.1:${backend.iperf};
    }
}
`;
}

// ---------------------------------------------------------------- measurements

interface CsvRow {
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

const HARMLESS = [/^WARNING: Keepalive disabled/];

/** redis-benchmark over TLS; one CSV row per test, keyed by its upper-case name. */
export function redisTlsArgs(port: number, certs: Certificates | null, tests: string, requests: number, clients: number, keepalive: boolean): string[] {
  return [
    "redis-benchmark", "--tls", "--cacert", certs?.ca ?? "CA.pem", "--sni", SERVER_NAME, "-h", "127.0.0.1", "-p", String(port),
    "-t", tests, "-c", String(clients), "-n", String(requests), "-k", keepalive ? "1" : "0", "--csv",
  ];
}

/** Full handshakes (-new: no resumption), one connection at a time, for `seconds`. */
export function sTimeArgs(port: number, certs: Certificates | null, seconds: number): string[] {
  return ["openssl", "s_time", "-connect", `127.0.0.1:${port}`, "-new", "-time", String(seconds), "-CAfile", certs?.ca ?? "CA.pem"];
}

async function redisTls(args: string[], want: string[]): Promise<{ rows: Map<string, CsvRow>; warnings: string[] }> {
  const r = await run("redis-benchmark", args, 120_000);
  const lines = `${r.stdout}\n${r.stderr}`.split(/\r?\n|\r/).map((l) => l.trim()).filter(Boolean);
  const rows = new Map<string, CsvRow>();
  const warnings: string[] = [];
  for (const l of lines) {
    const name = /^"([A-Z_]+)",/.exec(l)?.[1];
    if (name && want.includes(name)) {
      // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
      const f = l.split(",").map((c) => Number(c.replaceAll('"', "")));
      rows.set(name, { rps: f[1] ?? NaN, p50: f[4] ?? NaN, p99: f[6] ?? NaN, max: f[7] ?? NaN });
    } else if (!l.startsWith('"test"') && !HARMLESS.some((h) => h.test(l))) warnings.push(l);
  }
  const said = [...new Set(warnings)].slice(0, 3).join(" | ") || "(nothing)";
  if (r.timedOut) throw new Error(`redis-benchmark still running after 120 s; it said: ${said}`);
  if (r.code !== 0 || want.some((w) => !rows.has(w))) throw new Error(`redis-benchmark exited ${r.code} without every result (${want.join(", ")}): ${said}`);
  return { rows, warnings };
}

interface TlsWorkload {
  name: TlsWorkloadName;
  title: string;
  /** Higher wins when picking a column's best round. */
  primary(f: TlsFigures): number;
  command(ports: TlsPorts, certs: Certificates | null): string[];
  run(ports: TlsPorts, certs: Certificates): Promise<{ figures: TlsFigures; warnings: string[] }>;
  /** What the proxy's CPU time is divided by: handshakes, requests, bytes. */
  per(f: TlsFigures): number;
}

function tlsWorkloads(o: Options): TlsWorkload[] {
  const c = o.clients;
  return [
    {
      // Handshakes alone, one at a time, no application data: what the handshake costs, free of
      // what happens to the first request after it (see the handshake workload).
      name: "stime",
      title: "TLS handshakes alone",
      primary: (f) => f.rps ?? 0,
      command: (p, certs) => sTimeArgs(p.tls, certs, o.tlsSTimeSeconds),
      async run(p, certs) {
        const r = await run("openssl s_time", this.command(p, certs), (o.tlsSTimeSeconds + 20) * 1000);
        const out = `${r.stdout}\n${r.stderr}`;
        const count = Number(/(\d+) connections in [\d.]+s;/.exec(out)?.[1] ?? NaN);
        if (r.timedOut) throw new Error(`openssl s_time still running after ${o.tlsSTimeSeconds + 20} s`);
        if (r.code !== 0 || !Number.isFinite(count) || count === 0) throw new Error(`openssl s_time exited ${r.code}: ${out.replace(/\*+/g, "").trim().split("\n").slice(0, 3).join(" | ")}`);
        // s_time rounds its own elapsed time to whole seconds: divide by the measured wall time.
        return { figures: { rps: count / (r.ms / 1000), handshakes: count }, warnings: [] };
      },
      per: (f) => f.handshakes ?? NaN,
    },
    {
      name: "handshake",
      title: "TLS handshake per PING",
      primary: (f) => f.rps ?? 0,
      command: (p, certs) => redisTlsArgs(p.tls, certs, "ping_mbulk", o.tlsHandshakes, c, false),
      async run(p, certs) {
        const { rows, warnings } = await redisTls(this.command(p, certs), ["PING_MBULK"]);
        const r = rows.get("PING_MBULK")!;
        return { figures: { rps: r.rps, p50: r.p50, p99: r.p99, max: r.max }, warnings };
      },
      per: () => o.tlsHandshakes,
    },
    {
      name: "keepalive",
      title: "keep-alive GET and SET through TLS",
      primary: (f) => (f.getRps ?? 0) + (f.setRps ?? 0),
      command: (p, certs) => redisTlsArgs(p.tls, certs, "get,set", o.tlsRequests, c, true),
      async run(p, certs) {
        const { rows, warnings } = await redisTls(this.command(p, certs), ["GET", "SET"]);
        const g = rows.get("GET")!;
        const s = rows.get("SET")!;
        return { figures: { getRps: g.rps, getP50: g.p50, getP99: g.p99, setRps: s.rps, setP50: s.p50, setP99: s.p99 }, warnings };
      },
      per: () => 2 * o.tlsRequests,
    },
    {
      name: "bulk",
      title: "iperf3 bulk through an originate+terminate pair",
      primary: (f) => f.gbps ?? 0,
      command: (p) => iperfArgs(p.pairOut, o.iperfSeconds),
      run: async (p) => ({ figures: { gbps: await iperf(p.pairOut, o.iperfSeconds) }, warnings: [] }),
      // The CPU time covers the omitted first second too (-O 1): bytes ≈ rate × (seconds + 1).
      per: (f) => ((f.gbps ?? 0) * (o.iperfSeconds + 1)) / 8,
    },
  ];
}

/** What an OpenSSL client negotiates with the listener, verifying the certificate and the name. */
async function negotiate(port: number, certs: Certificates): Promise<string> {
  const r = await run("openssl s_client", [
    "openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", SERVER_NAME, "-verify_hostname", SERVER_NAME,
    "-CAfile", certs.ca, "-verify_return_error", "-brief",
  ], 10_000);
  const out = `${r.stdout}\n${r.stderr}`;
  const version = /Protocol version: (\S+)/.exec(out)?.[1];
  const suite = /Ciphersuite: (\S+)/.exec(out)?.[1];
  const group = /(?:Negotiated TLS1\.3 group|Server Temp Key): ([^,\n]+)/.exec(out)?.[1]?.trim();
  if (r.code !== 0 || !version || !/Verification: OK/.test(out)) {
    throw new Error(`openssl s_client to 127.0.0.1:${port} (CA ${certs.ca}, name ${SERVER_NAME}) failed (exit ${r.code}):\n${indent(out.trim().split("\n").slice(0, 8).join("\n"))}`);
  }
  return [version, suite, group].filter(Boolean).join(", ");
}

/**
 * One Redis command over a fresh connection, written with backpressure (net.ts's redisCommand
 * writes once, and Bun keeps nothing of a short write: fine for INFO, not for megabytes).
 */
function redisLarge(port: number, args: string[], complete: (reply: Buffer) => boolean, timeoutMs: number): Promise<Buffer> {
  const payload = Buffer.from(respCommand(args));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let sent = 0;
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, received));
    };
    const timer = setTimeout(() => finish(new Error(`redis ${args[0]} through 127.0.0.1:${port}: no complete reply within ${timeoutMs / 1000} s (${sent} of ${payload.length} bytes sent, ${received} received)`)), timeoutMs);
    const pump = (s: { write(b: Uint8Array): number }) => {
      while (sent < payload.length) {
        const n = s.write(payload.subarray(sent));
        if (n <= 0) return;
        sent += n;
      }
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: pump,
        drain: pump,
        data(s, chunk) {
          chunks.push(Buffer.from(chunk));
          received += chunk.length;
          if (complete(Buffer.concat(chunks, received))) {
            finish(null); // first: end() runs the close callback at once
            s.end();
          }
        },
        close() { finish(new Error(`redis ${args[0]} through 127.0.0.1:${port}: closed after ${sent} of ${payload.length} bytes sent, ${received} received`)); },
        error(_s, e) { finish(e); },
        connectError(_s, e) { finish(e); },
      },
    }).catch((e: Error) => finish(e));
  });
}

/** SET a random value through `hop` (plaintext → TLS out → TLS in → Redis), GET it back, compare digests. */
async function integrity(hopPort: number, bytes: number): Promise<void> {
  const value = randomBytes(bytes / 2).toString("hex");
  const digest = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");
  const key = `tls-integrity:${hopPort}`;
  const set = await redisLarge(hopPort, ["SET", key, value], (r) => r.includes("\r\n"), 30_000);
  if (!set.toString().startsWith("+OK")) throw new Error(`SET of ${bytes} bytes through the TLS hop answered ${JSON.stringify(set.toString().slice(0, 80))}`);
  const header = `$${value.length}\r\n`;
  const got = await redisLarge(hopPort, ["GET", key], (r) => r.length >= header.length + value.length + 2 || (r.length > 0 && r[0] !== 0x24), 30_000);
  const body = got.subarray(header.length, header.length + value.length);
  if (!got.toString("latin1", 0, header.length).startsWith(header) || digest(body) !== digest(value)) {
    throw new Error(`GET through the TLS hop returned ${got.length} bytes whose sha256 does not match the ${bytes} bytes SET (starts ${JSON.stringify(got.toString("latin1", 0, 40))})`);
  }
}

function libraries(): [string, string][] {
  const line = (cmd: string[], re: RegExp): string => {
    try {
      const r = Bun.spawnSync({ cmd, stdout: "pipe", stderr: "pipe", timeout: 5000 });
      return re.exec(`${r.stdout}\n${r.stderr}`)?.[1]?.trim() ?? "(unknown)";
    } catch {
      return "(not installed)";
    }
  };
  return [
    ["aegis, bare Bun relay", `Bun ${Bun.version}'s BoringSSL (${(process.versions as Record<string, string>).boringssl?.slice(0, 12) ?? "?"})`],
    ["HAProxy", `running on ${line(["haproxy", "-vv"], /Running on OpenSSL version : (.+)/)}`],
    ["nginx", line(["nginx", "-V"], /(built with OpenSSL[^\n]+)/)],
    ["redis-benchmark, openssl s_client", line(["openssl", "version"], /^(OpenSSL [^\s]+)/)],
  ];
}

// ---------------------------------------------------------------- the run

interface Runner {
  id: TlsColumn;
  ports: TlsPorts;
  metricsPort: number;
  launch: Launch;
  proc: Proc;
}

export async function runTls(ctx: TlsContext, columns: TlsColumn[]): Promise<TlsResult> {
  const { o, workDir, say, problem, backend } = ctx;
  const dir = join(workDir, "tls");
  const certs = await makeCertificates(join(dir, "certs"));
  const workloads = tlsWorkloads(o);
  const result: TlsResult = {
    columns, best: new Map(), rounds: [], failed: new Map(), negotiated: new Map(),
    commands: workloads.map((w) => [w.title, w.command({ tls: 0, hop: 0, pairIn: 0, pairOut: 0 }, null).join(" ").replace(/-p 0\b/, "-p PORT").replace("127.0.0.1:0", "127.0.0.1:PORT")]),
    libraries: libraries(), integrityBytes: o.tlsIntegrityBytes,
  };
  say(`TLS rows: certificate for ${SERVER_NAME} made in ${certs.dir}`);

  // All side by side, as in the main table's phase 2.
  const runners: Runner[] = [];
  for (const id of columns) {
    ctx.checkInterrupted();
    const ports: TlsPorts = { tls: freePort(), hop: freePort(), pairIn: freePort(), pairOut: freePort() };
    const metricsPort = freePort();
    const launch = prepareTls(id, join(dir, id), ports, backend, certs, o, ctx.cores, metricsPort);
    const proc = start(`${TLS_TITLES[id]} (TLS)`, launch.cmd, launch.logPath);
    // A PING through `hop` crosses the program's TLS origination and its termination.
    if ((await firstPong(ports.hop, proc.spawnedAt, 10_000, 5, () => !isRunning(proc))) === null) {
      const why = isRunning(proc) ? "did not relay a PING through its TLS hop within 10 s" : `exited with code ${proc.exitCode}`;
      problem(`TLS rows: ${TLS_TITLES[id]} ${why} (config ${launch.configPath}); last log lines:\n${indent(tail(launch.logPath) || "(empty)")}`);
      result.failed.set(id, isRunning(proc) ? "no relay" : "did not start");
      await stop(proc);
      continue;
    }
    try {
      result.negotiated.set(id, await negotiate(ports.tls, certs));
      await integrity(ports.hop, o.tlsIntegrityBytes);
    } catch (e) {
      problem(`TLS rows, ${TLS_TITLES[id]}: ${e instanceof Error ? e.message : String(e)}`);
      result.failed.set(id, "check failed");
      await stop(proc);
      continue;
    }
    say(`TLS rows: ${TLS_TITLES[id]} up (${result.negotiated.get(id)}); ${o.tlsIntegrityBytes / 2 ** 20} MiB SET and GET through its TLS hop matched`);
    runners.push({ id, ports, metricsPort, launch, proc });
  }

  /** `${column}/${workload}` of each run that failed. */
  const errors: string[] = [];
  for (let round = 0; round < o.rounds; round++) {
    const k = round % Math.max(1, runners.length);
    for (const r of [...runners.slice(k), ...runners.slice(0, k)]) {
      for (const w of workloads) {
        ctx.checkInterrupted();
        if (result.failed.has(r.id)) break;
        if (!isRunning(r.proc)) {
          problem(`TLS rows: ${TLS_TITLES[r.id]} was found dead (exit code ${r.proc.exitCode}) before "${w.title}"; restarting it. Last log lines:\n${indent(tail(r.launch.logPath))}`);
          await stop(r.proc);
          r.proc = start(`${TLS_TITLES[r.id]} (TLS)`, r.launch.cmd, r.launch.logPath);
          const p = r.proc;
          if ((await firstPong(r.ports.hop, p.spawnedAt, 10_000, 5, () => !isRunning(p))) === null) {
            problem(`TLS rows: ${TLS_TITLES[r.id]} did not come back; skipping the rest of its column`);
            result.failed.set(r.id, "died");
            break;
          }
        }
        say(`TLS round ${round + 1}/${o.rounds} ${TLS_TITLES[r.id]}: ${w.title}`);
        try {
          const cpu0 = groupCpuSeconds(r.proc.pid);
          const { figures, warnings } = await w.run(r.ports, certs);
          const cpu = groupCpuSeconds(r.proc.pid) - cpu0;
          figures.cpuSeconds = cpu;
          figures.cpuPer = cpu / w.per(figures);
          if (warnings.length) problem(`TLS rows, ${TLS_TITLES[r.id]}, ${w.title}: redis-benchmark said: ${[...new Set(warnings)].slice(0, 3).join(" | ")}`);
          result.rounds.push({ round: round + 1, column: r.id, workload: w.name, figures });
          const key = `${r.id}/${w.name}`;
          const prev = result.best.get(key);
          if (!prev || w.primary(figures) > w.primary(prev)) result.best.set(key, figures);
          say(`  ${Object.entries(figures).map(([f, v]) => `${f}=${v.toFixed(f === "cpuPer" ? 6 : 3)}`).join(" ")}`);
        } catch (e) {
          errors.push(`${r.id}/${w.name}`);
          problem(`TLS rows, ${TLS_TITLES[r.id]}, ${w.title}, round ${round + 1}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (!isRunning(r.proc)) problem(`TLS rows: ${TLS_TITLES[r.id]} exited (code ${r.proc.exitCode}) during "${w.title}"; last log lines:\n${indent(tail(r.launch.logPath))}`);
      }
    }
  }

  const handshakeErrors = (id: TlsColumn) => errors.filter((e) => e === `${id}/handshake`).length;
  for (const r of runners) {
    const logs = scanProxyLog(`${TLS_TITLES[r.id]} (TLS)`, r.id, [r.launch.logPath, ...r.launch.extraLogs], [r.ports.pairOut, r.ports.pairIn, backend.iperf]);
    logs.problems.forEach(problem);
    logs.ignored.forEach(ctx.ignore);
    if (r.id === "aegis" && isRunning(r.proc)) {
      // redis-benchmark -k 0 exits with its other clients' connections mid-handshake and resets
      // them: up to clients - 1 failed client handshakes per handshake run are its own doing.
      const runs = result.rounds.filter((x) => x.column === r.id && x.workload === "handshake").length + handshakeErrors(r.id);
      // (openssl s_time ends every connection cleanly: none of its handshakes fail.)
      const allowed = runs * o.clients;
      const expected = {
        test: (line: string, value: number) => /reason="tls_handshake"/.test(line) && line.includes('listener="tls"') && value <= allowed,
        note: (lines: string[]) => ctx.ignore(`aegis (TLS): ${lines.map((l) => l.trim()).join("; ")}: clients that redis-benchmark -k 0 reset mid-handshake as it exits, at most ${o.clients} per handshake run (${runs} run(s)); aegis's debug log gives each as "ECONNRESET"`),
      };
      (await aegisCounterProblems("aegis (TLS)", r.metricsPort, join(dir, "aegis", "metrics.txt"), expected)).forEach(problem);
    }
    await stop(r.proc);
  }
  return result;
}

/** The TLS section's columns among those asked for with --only. */
export function tlsColumns(columns: ColumnId[]): TlsColumn[] {
  return TLS_COLUMNS.filter((c) => columns.includes(c));
}

// ---------------------------------------------------------------- the table

const fmt = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? "—" : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

interface Row {
  label: string;
  better: "higher" | "lower";
  digits: number;
  workload: TlsWorkloadName;
  field: string;
  scale?: number;
}

const ROWS: Row[] = [
  { label: "TLS handshakes alone (openssl s_time -new, one at a time): handshakes/s", better: "higher", digits: 0, workload: "stime", field: "rps" },
  { label: "TLS handshakes alone: proxy CPU per handshake, ms", better: "lower", digits: 3, workload: "stime", field: "cpuPer", scale: 1000 },
  { label: "new TLS connection per PING (redis-benchmark -k 0): connections/s", better: "higher", digits: 0, workload: "handshake", field: "rps" },
  { label: "new TLS connection per PING: p99 latency, ms", better: "lower", digits: 3, workload: "handshake", field: "p99" },
  { label: "new TLS connection per PING: proxy CPU per connection, ms", better: "lower", digits: 3, workload: "handshake", field: "cpuPer", scale: 1000 },
  { label: "keep-alive GET through TLS: requests/s", better: "higher", digits: 0, workload: "keepalive", field: "getRps" },
  { label: "keep-alive GET through TLS: p99 latency, ms", better: "lower", digits: 3, workload: "keepalive", field: "getP99" },
  { label: "keep-alive SET through TLS: requests/s", better: "higher", digits: 0, workload: "keepalive", field: "setRps" },
  { label: "keep-alive SET through TLS: p99 latency, ms", better: "lower", digits: 3, workload: "keepalive", field: "setP99" },
  { label: "keep-alive through TLS: proxy CPU per request, µs", better: "lower", digits: 1, workload: "keepalive", field: "cpuPer", scale: 1e6 },
  { label: "bulk through a TLS originate+terminate pair: Gbit/s", better: "higher", digits: 2, workload: "bulk", field: "gbps" },
  { label: "bulk through the pair: proxy CPU per GB (both ends), s", better: "lower", digits: 2, workload: "bulk", field: "cpuPer" },
];

export function renderTlsTable(r: TlsResult): string {
  const value = (c: TlsColumn, row: Row): number | null => {
    const v = r.best.get(`${c}/${row.workload}`)?.[row.field];
    return v !== undefined && Number.isFinite(v) ? v * (row.scale ?? 1) : null;
  };
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? "—" : `${(a / b).toFixed(2)}×`);
  const head = ["metric", "better", ...r.columns.map((c) => TLS_TITLES[c]), "aegis ÷ best peer", "aegis ÷ bare Bun"];
  const lines = ROWS.map((row) => {
    const aegis = value("aegis", row);
    let best: number | null = null;
    let who = "";
    for (const p of PEERS) {
      const v = value(p, row);
      if (v !== null && (best === null || (row.better === "higher" ? v > best : v < best))) [best, who] = [v, TLS_TITLES[p]];
    }
    return [
      row.label,
      row.better === "higher" ? "↑ higher" : "↓ lower",
      ...r.columns.map((c) => (value(c, row) !== null ? fmt(value(c, row)!, row.digits) : (r.failed.get(c) ?? "—"))),
      best === null ? "—" : `${ratio(aegis, best)} (${who})`,
      ratio(aegis, value("bun", row)),
    ];
  });
  lines.push(["negotiated with an OpenSSL client", "", ...r.columns.map((c) => r.negotiated.get(c) ?? r.failed.get(c) ?? "—"), "", ""]);
  const align = head.map((_, i) => (i < 2 ? "---" : "---:"));
  return [head, align, ...lines].map((l) => `| ${l.join(" | ")} |`).join("\n");
}

export function tlsMarkdown(r: TlsResult, rounds: number): string {
  return `## TLS: terminating, and originating+terminating

Each program terminates the same certificate (EC P-256, "${SERVER_NAME}", signed by a CA made for the run with openssl) in front
of the same plaintext redis-server, and runs an originate+terminate pair of itself (plaintext in → TLS out, verifying the CA and
the name → TLS in → plaintext) in front of the same \`iperf3 -s\`. One process per program with all its listeners, the main
table's settings otherwise; all running side by side, ${rounds} round(s), interleaved, each column keeping its best round per
workload. Before the rounds, each listener's certificate is checked with \`openssl s_client -verify_hostname ${SERVER_NAME}\`, and
${(r.integrityBytes / 2 ** 20).toFixed(0)} MiB SET and read back through the program's own TLS hop (out then in) must match by sha256.
"Proxy CPU" is user + system time of the proxy's processes during the workload, divided by the handshakes, requests or
gigabytes: on a 2-core machine shared with the client (whose side of a handshake costs OpenSSL 3.0 as much as the proxy's),
the rates depend on how much CPU each proxy leaves to the client, so the CPU rows are the steadier comparison.
In the connection-per-PING rows redis-benchmark's connections have Nagle on: its PING waits for the ACK of its TLS Finished.
OpenSSL servers (HAProxy, nginx) answer the Finished at once with two session tickets, which carry that ACK; Bun's TLS
sends no ticket, so aegis acks the Finished itself (TCP_QUICKACK at the handshake); the bare relay does not, and its PING waits
for the kernel's delayed ACK (about 40 ms). Those rows show what such a client gets; the s_time rows show the handshake alone. No targets are set for these rows yet. Workloads:

${r.commands.map(([name, cmd]) => `- ${name}: \`${cmd}\``).join("\n")}

${renderTlsTable(r)}

TLS libraries: ${r.libraries.map(([who, lib]) => `${who}: ${lib}`).join("; ")}.
`;
}
