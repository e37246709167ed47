// TLS through the compiled binary with the programs users run: redis-cli and redis-benchmark over
// TLS to a plaintext redis-server, psql "sslmode=require" through the PostgreSQL SSLRequest mode, a
// certificate swapped on SIGHUP under 50 streaming TLS sessions, and what /metrics and check say.
import { afterEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAegis, simpleConfig, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary, run } from "./helpers/build.ts";
import { makePki } from "./helpers/certs.ts";
import { findPostgresBin, startPostgres, type Postgres } from "./helpers/postgres.ts";
import { sClientSubject } from "./helpers/tls.ts";
import { startEchoBackend } from "./helpers/plane.ts";
import { waitFor, within } from "./helpers/wait.ts";

const pki = makePki();
const q = JSON.stringify;
const CI = Boolean(process.env.CI) && process.env.CI !== "false" && process.env.CI !== "0";
const PG = findPostgresBin();

let aegis: Aegis | null = null;
let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const binary = () => ({ command: [ensureBinary()], cwd: tempDir() });

/** A redis-server on a free port, no persistence; resolves once it answers PING. */
async function startRedis(): Promise<{ port: number; stop(): void }> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const dir = tempDir("aegis-redis-");
  const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdout: "ignore", stderr: "ignore" });
  const stop = () => proc.kill("SIGKILL");
  await waitFor(async () => (await run(["redis-cli", "-p", String(port), "PING"], { timeoutMs: 3000 })).stdout.trim() === "PONG", { what: "redis-server answers PING", timeoutMs: 15_000 });
  return { port, stop };
}

describe("terminating TLS in front of real servers", () => {
  test("redis-cli --tls --sni and redis-benchmark --tls reach a plaintext redis-server", async () => {
    const redis = await startRedis();
    cleanups.push(redis.stop);
    aegis = await startAegis(simpleConfig([`127.0.0.1:${redis.port}`], {
      logLevel: "info", global: "access_log = false",
      listener: `tls = { cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverA.keyPath)}, alpn = ["redis"] }`,
    }), binary());
    const tls = ["--tls", "--sni", "db.a.test", "--cacert", pki.ca.certPath, "-h", "127.0.0.1", "-p", String(aegis.port)];
    const set = await run(["redis-cli", ...tls, "SET", "k", "through-tls"]);
    expect(set.stdout.trim()).toBe("OK");
    const get = await run(["redis-cli", "-p", String(redis.port), "GET", "k"]); // plaintext at the server
    expect(get.stdout.trim()).toBe("through-tls");
    // A client that does not trust the CA gets no session.
    const untrusted = await run(["redis-cli", "--tls", "--sni", "a.test", "-h", "127.0.0.1", "-p", String(aegis.port), "PING"]);
    expect(untrusted.stdout).not.toContain("PONG");
    const bench = await run(["redis-benchmark", ...tls, "-n", "2000", "-c", "10", "-t", "set,get", "-q"], { timeoutMs: 60_000 });
    expect(bench.code).toBe(0);
    expect(bench.stdout).toMatch(/SET: [\d.]+ requests per second/);
    expect(bench.stdout).toMatch(/GET: [\d.]+ requests per second/);
    const m = await aegis.metrics();
    expect(m.get("aegis_tls_handshakes_total")).toBeGreaterThanOrEqual(12); // redis-cli once, the benchmark's 10 clients...
    expect(m.get("aegis_tls_handshake_failures_total")).toBeGreaterThanOrEqual(1); // ...and the untrusting client
    expect(m.get(`aegis_tls_certificate_expiry_timestamp_seconds{listener="main",subject="a.test"}`)).toBeGreaterThan(Date.now() / 1000);
    const json = (await (await fetch(`http://127.0.0.1:${aegis.metricsPort}/metrics.json`)).json()) as { listeners: { tls?: { handshakes_total: number; handshake_failures_total: number; certificates: { subject: string }[] } }[] };
    expect(json.listeners[0]!.tls).toMatchObject({ handshakes_total: m.get("aegis_tls_handshakes_total"), certificates: [{ subject: "a.test" }] });
    expect(json.listeners[0]!.tls!.handshake_failures_total).toBeGreaterThanOrEqual(1);
    // The exposition with the TLS families passes Prometheus's own linter.
    const text = await (await fetch(`http://127.0.0.1:${aegis.metricsPort}/metrics`)).text();
    const promtool = Bun.spawn(["promtool", "check", "metrics"], { stdin: Buffer.from(text), stdout: "pipe", stderr: "pipe" });
    const [lint, lintErr, lintCode] = await Promise.all([new Response(promtool.stdout).text(), new Response(promtool.stderr).text(), promtool.exited]);
    expect({ code: lintCode, out: lint + lintErr }).toEqual({ code: 0, out: "" });
  });

  const pgTest = PG || CI ? test : test.skip;
  pgTest('psql "sslmode=require" through mode = "postgres" to a plaintext PostgreSQL; a client that does not ask for TLS is told why', async () => {
    if (!PG) throw new Error("no PostgreSQL binaries found and CI is set: install postgresql");
    const pg: Postgres = await startPostgres(PG);
    cleanups.push(() => pg.destroy());
    aegis = await startAegis(simpleConfig([`127.0.0.1:${pg.port}`], {
      logLevel: "info",
      listener: `tls = { cert = ${q(pki.localhost.certPath)}, key = ${q(pki.localhost.keyPath)}, mode = "postgres" }`,
    }), binary());
    const psql = join(PG, "psql");
    const url = (mode: string) => `host=127.0.0.1 port=${aegis!.port} user=postgres dbname=postgres sslmode=${mode} sslrootcert=${pki.ca.certPath}`;
    const full = await run([psql, url("verify-full").replace("127.0.0.1", "localhost"), "-Atc", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"], { timeoutMs: 20_000 });
    // The server sees a plaintext connection from aegis: pg_stat_ssl says false; psql itself ran over TLS.
    expect(full.stderr).toBe("");
    expect(full.stdout.trim()).toBe("f");
    const require = await run([psql, url("require"), "-Atc", "select 42"], { timeoutMs: 20_000 });
    expect(require.stdout.trim()).toBe("42");
    const plain = await run([psql, url("disable"), "-Atc", "select 1"], { timeoutMs: 20_000 });
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain("requires TLS");
    const m = await aegis.metrics();
    expect(m.get(`aegis_connections_rejected_total{listener="main",reason="tls_inspect"}`)).toBe(1); // counted once, as what it was
    expect(m.get(`aegis_connections_rejected_total{listener="main",reason="tls_handshake"}`)).toBe(0);
    const log = await aegis.waitForLog((l) => l.msg === "session" && l.tls_version !== undefined && l.tls_version !== null);
    expect(log).toMatchObject({ end: "client_closed", sni: "localhost" });
    // PostgreSQL 17's direct TLS (sslnegotiation=direct: a ClientHello with ALPN "postgresql" and no
    // SSLRequest). Debian 12's psql is 15, so the client here speaks the protocol itself over TLS.
    const direct = await pgDirectTls(aegis.port, "select 40 + 2");
    expect(direct).toMatchObject({ alpn: "postgresql", rows: ["42"], error: null });
  });
});

/**
 * A PostgreSQL session started with direct TLS: StartupMessage over TLS (trust auth), one simple
 * query, Terminate. Returns the negotiated ALPN, the first column of each DataRow, and any error.
 */
async function pgDirectTls(port: number, sql: string): Promise<{ alpn: string | null; rows: string[]; error: string | null }> {
  const out = { alpn: null as string | null, rows: [] as string[], error: null as string | null };
  const params = Buffer.from("user\0postgres\0database\0postgres\0\0");
  const startup = Buffer.alloc(8 + params.length);
  startup.writeUInt32BE(startup.length, 0);
  startup.writeUInt32BE(196608, 4); // protocol 3.0
  params.copy(startup, 8);
  const message = (type: string, body: Buffer) => {
    const m = Buffer.alloc(5 + body.length);
    m.write(type, 0, "latin1");
    m.writeUInt32BE(4 + body.length, 1);
    body.copy(m, 5);
    return m;
  };
  let buffered = Buffer.alloc(0);
  let ready = 0;
  const done = new Promise<void>((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1", port,
      tls: { serverName: "localhost", ca: pki.ca.cert, ALPNProtocols: Buffer.from("\x0apostgresql", "latin1") },
      socket: {
        handshake(s, ok, e) {
          out.alpn = (s as unknown as { alpnProtocol: string | false }).alpnProtocol || null;
          if (!ok) {
            out.error = e?.message ?? "handshake failed";
            return void s.end();
          }
          s.write(startup);
        },
        data(s, d) {
          buffered = Buffer.concat([buffered, d]);
          // Bounded: each pass consumes one whole message.
          while (buffered.length >= 5 && buffered.length >= 1 + buffered.readUInt32BE(1)) {
            const size = 1 + buffered.readUInt32BE(1);
            const type = String.fromCharCode(buffered[0]!);
            const body = buffered.subarray(5, size);
            buffered = buffered.subarray(size);
            if (type === "E") out.error = body.toString("latin1");
            if (type === "D") out.rows.push(body.subarray(6, 6 + body.readInt32BE(2)).toString());
            if (type !== "Z") continue;
            if (++ready === 1) s.write(message("Q", Buffer.from(sql + "\0")));
            else {
              s.write(message("X", Buffer.alloc(0)));
              s.end();
            }
          }
        },
        close() {
          resolve();
        },
        connectError(_s, e) {
          out.error = e.message;
          resolve();
        },
      },
    }).catch((e: Error) => {
      out.error = e.message;
      resolve();
    });
  });
  await within(done, 20_000, "a direct-TLS PostgreSQL session");
  return out;
}

/**
 * `n` TLS sessions each sending `bytes` of random data through `port` and reading the echo; each
 * hash compared. Each sends its first half, then waits for `gate` before the rest, so every session
 * is mid-stream across whatever happens before the gate opens.
 */
function tlsStreams(port: number, n: number, bytes: number, gate: Promise<void>): { started: Promise<void>; done: Promise<{ intact: number; broken: string[] }> } {
  let opened = 0;
  let startedResolve!: () => void;
  const started = new Promise<void>((r) => (startedResolve = r));
  const one = (i: number) => new Promise<string | null>((resolve) => {
    const data = randomBytes(bytes);
    const want = createHash("sha256").update(data).digest("hex");
    const got = createHash("sha256");
    let received = 0;
    let sent = 0;
    let open = false;
    void gate.then(() => {
      open = true;
      if (socket) pump(socket);
    });
    let socket: { write(b: Uint8Array): number; shutdown(): void } | null = null;
    const pump = (s: { write(b: Uint8Array): number; shutdown(): void }) => {
      socket = s;
      const until = open ? bytes : bytes / 2;
      while (sent < until) {
        const w = s.write(data.subarray(sent, Math.min(until, sent + 64 * 1024)));
        if (w <= 0) return;
        sent += w;
      }
      if (sent === bytes) s.shutdown();
    };
    Bun.connect({
      hostname: "127.0.0.1", port, allowHalfOpen: true,
      tls: { serverName: "a.test", ca: pki.ca.cert },
      socket: {
        handshake(s, ok, e) {
          if (!ok) return resolve(`session ${i}: handshake ${e?.message}`);
          if (++opened === n) startedResolve();
          pump(s);
        },
        drain(s) { pump(s); },
        data(_s, d) { received += d.length; got.update(d); },
        close(_s, e) {
          if (e) return resolve(`session ${i}: ${e.message}`);
          resolve(received === bytes && got.digest("hex") === want ? null : `session ${i}: ${received} of ${bytes} bytes, hash ${received === bytes ? "differs" : "n/a"}`);
        },
        connectError(_s, e) { resolve(`session ${i}: connect ${e.message}`); },
      },
    }).catch((e: Error) => resolve(`session ${i}: ${e.message}`));
  });
  const done = Promise.all(Array.from({ length: n }, (_, i) => one(i))).then((r) => ({ intact: r.filter((x) => x === null).length, broken: r.filter((x): x is string => x !== null) }));
  return { started, done };
}

/** Copies of a certificate and key that a test may overwrite, as an operator renewing them would. */
function ownCopies(certFrom: string, keyFrom: string): { cert: string; key: string } {
  const dir = tempDir("aegis-certs-");
  const cert = join(dir, "server.pem");
  const key = join(dir, "server.key");
  copyFileSync(certFrom, cert);
  copyFileSync(keyFrom, key);
  return { cert, key };
}

describe("certificate reload", () => {
  test("a certificate swapped on SIGHUP while 50 TLS sessions stream sha256-checked data: none drops, new clients get the new one", async () => {
    using echo = startEchoBackend();
    const { cert, key } = ownCopies(pki.serverA.chainPath, pki.serverA.keyPath);
    aegis = await startAegis(simpleConfig([echo.address], { logLevel: "info", global: "access_log = false", listener: `tls = { cert = ${q(cert)}, key = ${q(key)} }` }), binary());
    expect((await sClientSubject(aegis.port, "a.test", pki.ca.certPath)).cn).toBe("a.test");
    let openGate!: () => void;
    const streams = tlsStreams(aegis.port, 50, 4 * 1024 * 1024, new Promise<void>((r) => (openGate = r)));
    await within(streams.started, 30_000, "50 TLS sessions opened");
    writeFileSync(cert, pki.serverB.chain);
    writeFileSync(key, pki.serverB.key);
    aegis.proc.kill("SIGHUP");
    const reloaded = await aegis.waitForLog((l) => l.msg === "reloaded", 20_000);
    expect(String(reloaded.changes)).toContain("listeners.main.tls: new settings or certificates");
    expect((await sClientSubject(aegis.port, "b.test", pki.ca.certPath)).cn).toBe("b.test");
    openGate(); // only now do the 50 sessions send their second halves
    const result = await within(streams.done, 120_000, "50 TLS streams finished");
    expect(result.broken).toEqual([]);
    expect(result.intact).toBe(50);
  });

  test("a bad certificate on SIGHUP keeps the old one, with a clear error", async () => {
    using echo = startEchoBackend();
    const { cert, key } = ownCopies(pki.serverA.certPath, pki.serverA.keyPath);
    aegis = await startAegis(simpleConfig([echo.address], { logLevel: "info", listener: `tls = { cert = ${q(cert)}, key = ${q(key)} }` }), binary());
    writeFileSync(key, pki.strayKey.key); // a key that is not the certificate's
    aegis.proc.kill("SIGHUP");
    const failed = await aegis.waitForLog((l) => String(l.msg).startsWith("reload failed"), 20_000);
    expect(JSON.stringify(failed)).toContain("does not match the certificate");
    expect((await sClientSubject(aegis.port, "a.test", pki.ca.certPath)).cn).toBe("a.test");
  });
});

describe("the hop between two aegis nodes", () => {
  test("upstream tls with a client certificate to a node that requires one: the backhaul is encrypted and only the other node gets in", async () => {
    using echo = startEchoBackend();
    const far = await startAegis(simpleConfig([echo.address], {
      logLevel: "info",
      listener: `tls = { cert = ${q(pki.localhost.certPath)}, key = ${q(pki.localhost.keyPath)}, client_ca = ${q(pki.ca.certPath)}, require_client_cert = true }`,
    }), binary());
    cleanups.push(() => far.stop("SIGKILL"));
    aegis = await startAegis(simpleConfig([`127.0.0.1:${far.port}`], {
      logLevel: "info",
      upstream: `retries = 0\ntls = { server_name = "localhost", ca = ${q(pki.ca.certPath)}, cert = ${q(pki.client.certPath)}, key = ${q(pki.client.keyPath)} }`,
    }), binary());
    const c = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, allowHalfOpen: true, socket: { data(s, d) { (s.data as { got: string }).got += d.toString(); } }, data: { got: "" } });
    c.write("across the hop");
    await waitFor(() => (c.data as { got: string }).got === "across the hop", { what: "the echo across both nodes" });
    c.end();
    const far_ = await far.waitForLog((l) => l.msg === "session" && l.client_cert === "client-1");
    expect(far_).toMatchObject({ tls_version: "TLSv1.3", end: "client_closed" });
    // A client without the node's client certificate is refused at the far node.
    // (TLS 1.3 finishes the client's side of the handshake before the server checks its certificate,
    // so s_client may leave before the alert arrives: the far node's log is what says it was refused.)
    await run(["openssl", "s_client", "-connect", `127.0.0.1:${far.port}`, "-servername", "localhost", "-CAfile", pki.ca.certPath], { timeoutMs: 10_000 });
    await far.waitForLog((l) => l.msg === "session" && l.reason === "tls_handshake");
    expect(echo.conns.length).toBe(1); // only the session that came through the near node
  });
});

describe("aegis check", () => {
  test("a certificate within 14 days of its end is a warning in the log at start", async () => {
    using echo = startEchoBackend();
    aegis = await startAegis(simpleConfig([echo.address], { logLevel: "info", listener: `tls = { cert = ${q(pki.expiring.certPath)}, key = ${q(pki.expiring.keyPath)} }` }));
    const warning = await aegis.waitForLog((l) => l.msg === "config warning" && String(l.warning).includes("soon.test"));
    expect(String(warning.warning)).toMatch(/listener main: certificate .* \(soon\.test\) expires \d{4}-\d\d-\d\d \(in [45] days\)/);
    expect((await aegis.metrics()).get(`aegis_tls_certificate_expiry_timestamp_seconds{listener="main",subject="soon.test"}`)).toBeLessThan(Date.now() / 1000 + 6 * 86400);
  });

  test("lists certificates with their names and expiry, warns of one near its end, refuses a mismatched key", async () => {
    const dir = tempDir("aegis-check-");
    const config = join(dir, "aegis.toml");
    writeFileSync(config, `
[[listener]]
bind = "127.0.0.1:7443"
upstream = "app"
tls = { certificates = [{ cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverA.keyPath)} }, { cert = ${q(pki.expiring.certPath)}, key = ${q(pki.expiring.keyPath)} }] }

[[upstream]]
name = "app"
servers = ["127.0.0.1:7000"]
tls = { server_name = "b.test", ca = ${q(pki.ca.certPath)} }
`);
    const ok = await run([ensureBinary(), "check", "--config", config], { cwd: dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`certificate (default) ${pki.serverA.certPath}: a.test; names a.test, *.a.test;`);
    expect(ok.stdout).toMatch(/soon\.test; names soon\.test; expires \d{4}-\d\d-\d\d \(in [45] days\)/);
    expect(ok.stdout).toMatch(/warning: listener app: certificate .* \(soon\.test\) expires/);
    expect(ok.stdout).toContain(`upstream app originates TLS to b.test: server certificates verified against ${pki.ca.certPath}`);
    writeFileSync(config, `
[[listener]]
bind = "127.0.0.1:7443"
upstream = "app"
tls = { cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverB.keyPath)} }

[[upstream]]
name = "app"
servers = ["127.0.0.1:7000"]
`);
    const bad = await run([ensureBinary(), "check", "--config", config], { cwd: dir });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr + bad.stdout).toContain(`listener[0].tls.key: the key in "${pki.serverB.keyPath}" does not match the certificate in "${pki.serverA.certPath}" (a.test)`);
  });
});
