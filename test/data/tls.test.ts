// TLS in a real plane: terminating (one certificate, several by SNI, mTLS, ALPN), originating with
// verification, and routing on the ClientHello without terminating (tls_inspect for what is not TLS).
import { describe, expect, test } from "bun:test";
import { connectClient, startEchoBackend, startPlane } from "../helpers/plane.ts";
import { makePki } from "../helpers/certs.ts";
import { sClientSubject, startTlsEcho, tlsClient } from "../helpers/tls.ts";
import { waitFor } from "../helpers/wait.ts";
import { S, TLS_FAILURE_REASONS } from "../../src/shared/layout.ts";
import { bunHello, prng } from "../tls/hellos.ts";

const pki = makePki();
const q = JSON.stringify;
const tlsOf = (c: { certPath: string; keyPath: string }, extra = "") => `tls = { cert = ${q(c.certPath)}, key = ${q(c.keyPath)}${extra} }`;

describe("terminating TLS", () => {
  test("a TLS client reaches a plaintext server; the handshake is counted and logged with SNI and version", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: tlsOf(pki.serverA) });
    const r = await tlsClient(p.port, { serverName: "x.a.test", ca: pki.ca.cert, send: "hello" });
    expect(r).toMatchObject({ ok: true, error: null, reply: "hello", peer: "a.test" });
    const conn = await app.conn(1);
    expect(conn.events.slice(0, 2)).toEqual(["open", "data:hello"]); // plaintext at the server
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
    expect(p.counter("tlsHandshakes")).toBe(1);
    expect(p.sessionLogs()[0]).toMatchObject({ sni: "x.a.test", tls_version: r.version, end: "client_closed", bytes_in: 5, bytes_out: 5 });
  });

  test("two certificates: the client's SNI picks one by its names, no SNI or an unknown name gets the first", async () => {
    using app = startEchoBackend();
    const certs = `tls = { certificates = [{ cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverA.keyPath)} }, { cert = ${q(pki.serverB.certPath)}, key = ${q(pki.serverB.keyPath)} }] }`;
    using p = startPlane([app.address], { listener: certs });
    // b first, so that each name reaching a.test shows a match, not the default.
    const bFirst = `tls = { certificates = [{ cert = ${q(pki.serverB.certPath)}, key = ${q(pki.serverB.keyPath)} }, { cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverA.keyPath)} }] }`;
    using p2 = startPlane([app.address], { listener: bFirst });
    const picked = await Promise.all(["a.test", "x.a.test", "X.A.TEST", "y.x.a.test", "a.test."].map((n) => sClientSubject(p2.port, n, pki.ca.certPath)));
    // A wildcard stands for one label exactly; a trailing dot is the same name.
    expect(picked.map((s) => s.cn)).toEqual(["a.test", "a.test", "a.test", "b.test", "a.test"]);
    const seen = await Promise.all([
      sClientSubject(p.port, "a.test", pki.ca.certPath),
      sClientSubject(p.port, "b.test", pki.ca.certPath),
      sClientSubject(p.port, "B.Test", pki.ca.certPath),
      sClientSubject(p.port, "other.test", pki.ca.certPath),
      sClientSubject(p.port, null, pki.ca.certPath),
    ]);
    expect(seen.map((s) => s.cn)).toEqual(["a.test", "b.test", "b.test", "a.test", "a.test"]);
    expect(seen[1]!.verified).toBe(true);
  });

  test("a certificate chosen by SNI keeps the listener's other settings: ALPN and required client certificates", async () => {
    using app = startEchoBackend();
    const certs = `tls = { certificates = [{ cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverA.keyPath)} }, { cert = ${q(pki.serverB.certPath)}, key = ${q(pki.serverB.keyPath)} }], alpn = ["h2"], client_ca = ${q(pki.ca.certPath)}, require_client_cert = true }`;
    using p = startPlane([app.address], { listener: certs });
    const withCert = await tlsClient(p.port, { serverName: "b.test", ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, alpn: ["h2"], send: "b" });
    expect(withCert).toMatchObject({ ok: true, peer: "b.test", alpn: "h2", reply: "b" });
    const without = await tlsClient(p.port, { serverName: "b.test", ca: pki.ca.cert, alpn: ["h2"], send: "x" });
    expect(without.reply).toBe("");
    await waitFor(() => p.counter("tlsHandshakeFailures") === 1, { what: "the client without a certificate refused on the SNI-chosen certificate too" });
  });

  test("mTLS: a client certificate from client_ca is accepted and logged; none, or one from another CA, is refused as tls_handshake", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: tlsOf(pki.serverA, `, client_ca = ${q(pki.ca.certPath)}, require_client_cert = true`) });
    const good = await tlsClient(p.port, { serverName: "a.test", ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, send: "in" });
    expect(good).toMatchObject({ ok: true, reply: "in" });
    const none = await tlsClient(p.port, { serverName: "a.test", ca: pki.ca.cert, send: "x" });
    const other = await tlsClient(p.port, { serverName: "a.test", ca: pki.ca.cert, cert: pki.otherClient.cert, key: pki.otherClient.key, send: "x" });
    expect(none.reply).toBe("");
    expect(other.reply).toBe("");
    await waitFor(() => p.sessions === 0 && p.counter("tlsHandshakeFailures") === 2, { what: "two refused handshakes counted" });
    expect(app.conns.length).toBe(1); // the refused ones never reached the server
    const logs = p.sessionLogs();
    expect(logs.find((l) => l.end === "client_closed")).toMatchObject({ client_cert: "client-1" });
    expect(logs.filter((l) => l.reason === "tls_handshake").length).toBe(2);
    expect(p.admitted).toBe(0);
  });

  test("ALPN: the listener's protocols are negotiated; min_version = 1.3 refuses a TLS 1.2 client", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: tlsOf(pki.serverA, `, alpn = ["redis", "h2"], min_version = "1.3"`) });
    const r = await tlsClient(p.port, { serverName: "a.test", ca: pki.ca.cert, alpn: ["h2"], send: "a" });
    expect(r).toMatchObject({ ok: true, alpn: "h2", version: "TLSv1.3" });
    const proc = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${p.port}`, "-tls1_2", "-servername", "a.test"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    proc.stdin.end();
    const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
    await proc.exited;
    expect(out).toMatch(/alert|handshake failure|no protocols available|wrong version/i);
    await waitFor(() => p.counter("tlsHandshakeFailures") === 1, { what: "the TLS 1.2 client counted as a failed handshake" });
  });

  test("a client that never starts its handshake is closed at the inspect timeout and counted", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: `${tlsOf(pki.serverA)}\ninspect = { timeout = "200ms" }` });
    const client = await connectClient(p.port);
    await client.recorder.until((r) => r.events.includes("end") || r.closed, "aegis closed the silent client");
    await waitFor(() => p.counter("tlsHandshakeFailures") === 1, { what: "the timeout counted as a failed handshake" });
    expect(app.conns.length).toBe(0);
  });
});

describe("originating TLS", () => {
  test("verified against the upstream's ca: plaintext in, TLS to the server", async () => {
    using server = startTlsEcho(pki.serverA, "tls:");
    using p = startPlane([server.address], { upstream: `tls = { server_name = "a.test", ca = ${q(pki.ca.certPath)} }` });
    const client = await connectClient(p.port);
    client.write("ping");
    await client.recorder.until((r) => r.bytes >= 8, "the reply through the TLS hop");
    expect(client.events[1]).toBe("data:tls:ping");
    expect(server.handshakes).toBe(1);
  });

  test("a server whose certificate does not verify fails the connect: counted, the reason logged, never plaintext", async () => {
    using server = startTlsEcho(pki.selfSigned, "tls:");
    using p = startPlane([server.address], { upstream: `retries = 0\ntls = { server_name = "self.test", ca = ${q(pki.ca.certPath)} }` });
    const client = await connectClient(p.port);
    client.write("secret");
    await client.recorder.until((r) => r.events.includes("end") || r.closed, "aegis closed the client");
    expect(client.events.join()).not.toContain("secret");
    const log = await waitFor(() => p.logs.find((l) => l.msg?.toString().startsWith("TLS handshake with server failed")), { what: "the warning" });
    expect(log.reason).toBe("untrusted");
    expect(String(log.error)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(p.counter("rejectedNoServer")).toBe(1);
    expect(p.plane.cells[p.plane.serverBase(0, 0) + S.tlsFailures]).toBe(1);
  });

  test("pooled sockets are TLS too: each handshakes (and verifies) before a session may take it", async () => {
    using server = startTlsEcho(pki.serverA, "tls:");
    using p = startPlane([server.address], { upstream: `pool = 2\ntls = { server_name = "a.test", ca = ${q(pki.ca.certPath)} }` });
    await waitFor(() => p.plane.cells[p.plane.serverBase(0, 0) + S.poolIdle] === 2 && server.handshakes === 2, { what: "two pooled TLS sockets, handshaken" });
    const client = await connectClient(p.port);
    client.write("pooled");
    await client.recorder.until((r) => r.bytes >= 10, "the reply through a pooled TLS socket");
    expect(client.events[1]).toBe("data:tls:pooled");
  });

  test("a pool to a server whose certificate does not verify stays empty and says why", async () => {
    using server = startTlsEcho(pki.selfSigned);
    using p = startPlane([server.address], { upstream: `pool = 2\ntls = { server_name = "self.test", ca = ${q(pki.ca.certPath)} }` });
    await waitFor(() => p.logs.find((l) => String(l.msg).startsWith("TLS handshake with server failed")), { what: "the warning" });
    expect(p.plane.cells[p.plane.serverBase(0, 0) + S.poolIdle]).toBe(0); // no pooled socket offered
    expect(p.plane.cells[p.plane.serverBase(0, 0) + S.tlsFailures]).toBeGreaterThan(0);
  });

  test("a wrong server_name fails verification too", async () => {
    using server = startTlsEcho(pki.serverA);
    using p = startPlane([server.address], { upstream: `retries = 0\ntls = { server_name = "b.test", ca = ${q(pki.ca.certPath)} }` });
    const client = await connectClient(p.port);
    client.write("x");
    await client.recorder.until((r) => r.events.includes("end") || r.closed, "aegis closed the client");
    const log = await waitFor(() => p.logs.find((l) => String(l.msg).startsWith("TLS handshake with server failed")), { what: "the warning" });
    expect(log.reason).toBe("name_mismatch");
    expect(String(log.error)).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
    expect(p.plane.cells[p.plane.serverBase(0, 0) + S.tlsFailures + TLS_FAILURE_REASONS.indexOf("name_mismatch")]).toBe(1);
  });
});

describe("routing on SNI and ALPN without terminating", () => {
  const routed = (a: string, b: string) => ({
    upstreams: `[[upstream]]\nname = "alpha"\nservers = [${q(a)}]\n[[upstream]]\nname = "beta"\nservers = [${q(b)}]`,
    listener: `inspect = { timeout = "300ms" }\n[[listener.route]]\nsni = ["a.test"]\nupstream = "alpha"\n[[listener.route]]\nsni = ["*.b.test", "b.test"]\nupstream = "beta"\n[[listener.route]]\nalpn = ["h2"]\nupstream = "beta"`,
  });

  test("each name reaches its own server, end to end TLS, while the default sees nothing", async () => {
    using alpha = startTlsEcho(pki.serverA, "alpha:");
    using beta = startTlsEcho(pki.serverB, "beta:");
    using fallback = startEchoBackend();
    using p = startPlane([fallback.address], routed(alpha.address, beta.address));
    const a = await tlsClient(p.port, { serverName: "a.test", ca: pki.ca.cert, send: "1" });
    const b = await tlsClient(p.port, { serverName: "B.TEST", ca: pki.ca.cert, send: "2" });
    expect(a).toMatchObject({ ok: true, reply: "alpha:1", peer: "a.test" });
    expect(b).toMatchObject({ ok: true, reply: "beta:2", peer: "b.test" });
    expect(fallback.conns.length).toBe(0);
    await waitFor(() => p.sessions === 0, { what: "sessions ended" });
    expect(p.sessionLogs().map((l) => [l.upstream, l.sni])).toEqual([["alpha", "a.test"], ["beta", "b.test"]]);
  });

  test("ALPN routes; a hello that matches no route goes to the default", async () => {
    using alpha = startTlsEcho(pki.serverA, "alpha:");
    using beta = startTlsEcho(pki.serverA, "beta:");
    using fallback = startTlsEcho(pki.serverA, "default:");
    using p = startPlane([fallback.address], routed(alpha.address, beta.address));
    const h2 = await tlsClient(p.port, { serverName: "x.a.test", ca: pki.ca.cert, alpn: ["h2"], send: "1" });
    const none = await tlsClient(p.port, { serverName: "x.a.test", ca: pki.ca.cert, send: "2" });
    expect([h2.reply, none.reply]).toEqual(["beta:1", "default:2"]);
  });

  test("a ClientHello dripped a few bytes per write is routed once whole, and reaches the server byte for byte", async () => {
    const hello = await bunHello("db.b.test", []);
    using alpha = startEchoBackend();
    using beta = startEchoBackend();
    using fallback = startEchoBackend();
    using p = startPlane([fallback.address], { ...routed(alpha.address, beta.address), listener: routed("", "").listener.replace("300ms", "30s") });
    const client = await connectClient(p.port);
    // Bounded: one write per 7 bytes of a hello of about 1.5 KB, each after the plane has read the last.
    for (let at = 0; at < hello.length; at += 7) {
      client.write(Buffer.from(hello.subarray(at, at + 7)));
      await waitFor(() => p.counter("bytesReceived") >= Math.min(hello.length, at + 7), { what: `the plane read ${at + 7} bytes` });
      if (at + 7 < hello.length) expect(beta.conns.length).toBe(0); // not routed before the hello is whole
    }
    const conn = await beta.conn(1);
    await conn.recorder.untilBytes(hello.length, "the whole hello at the beta server");
    expect(Buffer.from(conn.recorder.hash.digest("hex"))).toEqual(Buffer.from(new Bun.CryptoHasher("sha256").update(hello).digest("hex")));
    expect([alpha.conns.length, fallback.conns.length]).toEqual([0, 0]);
  });

  test("not TLS, or nothing before the inspect timeout: closed and counted as tls_inspect, no server asked", async () => {
    using alpha = startTlsEcho(pki.serverA);
    using beta = startTlsEcho(pki.serverB);
    using fallback = startEchoBackend();
    using p = startPlane([fallback.address], routed(alpha.address, beta.address));
    const plain = await connectClient(p.port);
    plain.write("GET / HTTP/1.1\r\n\r\n");
    const closed = (r: { events: string[]; closed: boolean }) => r.events.includes("end") || r.closed;
    await plain.recorder.until(closed, "the plain-text client closed");
    const silent = await connectClient(p.port);
    await silent.recorder.until(closed, "the silent client closed at the inspect timeout");
    await waitFor(() => p.counter("rejectedTlsInspect") === 2, { what: "two tls_inspect refusals" });
    expect([alpha.handshakes, beta.handshakes, fallback.conns.length]).toEqual([0, 0, 0]);
    expect(p.logs.filter((l) => l.msg === "connection refused: tls_inspect").map((l) => l.level)).toEqual(["debug", "debug"]);
  });

  test("fuzzed ClientHellos against a live listener: every connection is routed or refused, none hangs, and a good hello still routes after", async () => {
    const hello = await bunHello("a.test", ["h2"]);
    using alpha = startEchoBackend();
    using beta = startEchoBackend();
    using fallback = startEchoBackend();
    using p = startPlane([fallback.address], routed(alpha.address, beta.address));
    const rng = prng(0xf00d);
    const cases: Buffer[] = [];
    // Bounded: 150 inputs, each a truncation, a random edit, a huge length, or noise.
    for (let i = 0; i < 150; i++) {
      const b = Buffer.from(hello);
      const kind = i % 4;
      if (kind === 0) cases.push(b.subarray(0, 1 + Math.floor(rng() * (b.length - 1))));
      else if (kind === 1) {
        for (let k = 0; k < 3; k++) b[Math.floor(rng() * b.length)] = Math.floor(rng() * 256);
        cases.push(b);
      } else if (kind === 2) {
        const at = 5 + Math.floor(rng() * (b.length - 7));
        b.writeUInt16BE(0xffff, at);
        cases.push(b);
      } else cases.push(Buffer.from(Array.from({ length: 1 + Math.floor(rng() * 600) }, () => Math.floor(rng() * 256))));
    }
    const clients = await Promise.all(cases.map(async (bytes) => {
      const c = await connectClient(p.port);
      c.write(bytes);
      c.socket.shutdown(); // nothing more comes: the route must decide on what it has
      return c;
    }));
    await Promise.all(clients.map((c) => c.recorder.until((r) => r.closed || r.events.includes("end"), "each fuzzed connection ended", 20_000)));
    await waitFor(() => p.sessions === 0, { what: "every fuzzed session finished", timeoutMs: 20_000 });
    expect(p.counter("rejectedTlsInspect")).toBeGreaterThan(0);
    expect(p.admitted).toBe(0);
    const good = await connectClient(p.port);
    good.write(Buffer.from(hello));
    const conn = await waitFor(() => alpha.conns.find((c) => c.recorder.bytes === hello.length), { what: "the good hello reached alpha whole" });
    expect(conn).toBeDefined();
    good.socket.end();
  });
});
