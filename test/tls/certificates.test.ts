// Reading real certificates made by openssl, choosing one by SNI, and what Bun's TLS does with them.
import { describe, expect, test } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { expiresWithin, inspectCertificate, readPemChain, type CertificateInfo } from "../../src/tls/certificates.ts";
import { issueCertificate, makePki, type CertFiles } from "../helpers/certs.ts";
import { within } from "../helpers/wait.ts";

const pki = makePki();
const info = (c: CertFiles) => inspectCertificate(c.cert, c.key);
const DAY = 86_400_000;

function openssl(...args: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: pki.dir, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

describe("inspectCertificate", () => {
  test("a server certificate: CN, SANs in order, issuer, dates and fingerprint as openssl prints them", () => {
    const a = info(pki.serverA);
    expect(a).toMatchObject({ subject: "a.test", issuer: "aegis test CA", names: ["a.test", "*.a.test"] });
    expect(a).toMatchObject({ keyMatches: true, selfSigned: false, chainLength: 1 });
    expect(a.notAfter.getTime() - a.notBefore.getTime()).toBe(30 * DAY);
    expect(openssl("x509", "-in", "a.pem", "-noout", "-fingerprint", "-sha256").out.trim()).toBe(`sha256 Fingerprint=${a.fingerprint}`);
    const end = openssl("x509", "-in", "a.pem", "-noout", "-enddate").out.trim().replace("notAfter=", "");
    expect(a.notAfter.getTime()).toBe(new Date(end).getTime());
  });

  test("DNS names come before IP addresses, whatever order the certificate lists them in", () => {
    const listed = openssl("x509", "-in", "localhost.pem", "-noout", "-ext", "subjectAltName").out;
    expect(listed).toContain("IP Address:127.0.0.1, DNS:localhost");
    expect(info(pki.localhost).names).toEqual(["localhost", "127.0.0.1"]);
  });

  test("without SANs the CN is the one name; without a CN the subject is the whole name on one line", () => {
    expect(info(pki.client)).toMatchObject({ subject: "client-1", names: ["client-1"], keyMatches: true });
    expect(info(pki.unnamed)).toMatchObject({ subject: "O=Aegis\\, Inc., OU=Ops", names: [], issuer: "aegis test CA" });
  });

  test("self-signed: a CA and a self-signed server certificate are; what a CA signs is not", () => {
    expect(info(pki.ca)).toMatchObject({ subject: "aegis test CA", issuer: "aegis test CA", selfSigned: true });
    expect(info(pki.selfSigned)).toMatchObject({ subject: "self.test", issuer: "self.test", selfSigned: true });
    expect(info(pki.otherClient)).toMatchObject({ issuer: "aegis other CA", selfSigned: false });
  });

  test("a key of another certificate, or of none, does not match; no key gives null", () => {
    expect(inspectCertificate(pki.serverA.cert, pki.strayKey.key).keyMatches).toBe(false);
    expect(inspectCertificate(pki.serverA.cert, pki.serverB.key).keyMatches).toBe(false);
    expect(inspectCertificate(pki.serverA.cert, null).keyMatches).toBeNull();
  });

  test("a chain file (leaf, then CA, with text between) describes the leaf and counts both", () => {
    const text = `Bag Attributes: none\n${pki.serverA.cert}subject=CN = aegis test CA\n${pki.ca.cert}`;
    expect(readPemChain(text).map((c) => c.subject)).toEqual(["CN=a.test", "CN=aegis test CA"]);
    expect(inspectCertificate(text, pki.serverA.key)).toMatchObject({ subject: "a.test", keyMatches: true, chainLength: 2 });
    expect(inspectCertificate(pki.serverA.chain, null).fingerprint).toBe(info(pki.serverA).fingerprint);
  });
});

describe("bad input is refused in words", () => {
  const body = (pem: string) => pem.split("\n").slice(1, -2).join("\n");

  test("a certificate file without a certificate, or with a broken one", () => {
    expect(() => readPemChain("")).toThrow('no PEM certificate block ("-----BEGIN CERTIFICATE-----") found');
    expect(() => readPemChain(pki.serverA.key)).toThrow("it holds a private key: are cert and key swapped?");
    const broken = `-----BEGIN CERTIFICATE-----\n${body(pki.serverA.cert).slice(0, 40)}\n-----END CERTIFICATE-----\n`;
    expect(() => readPemChain(pki.serverA.cert + broken)).toThrow(/^certificate 2 of 2 does not parse: /);
  });

  test("a key that is not a PEM private key", () => {
    const noBlock = 'the key is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" block';
    expect(() => inspectCertificate(pki.serverA.cert, "")).toThrow(noBlock);
    expect(() => inspectCertificate(pki.serverA.cert, pki.serverA.cert)).toThrow("it holds a certificate: are cert and key swapped?");
    const broken = `-----BEGIN PRIVATE KEY-----\n${body(pki.serverA.key).slice(0, 30)}\n-----END PRIVATE KEY-----\n`;
    expect(() => inspectCertificate(pki.serverA.cert, broken)).toThrow(/^the key is not a PEM private key: it does not parse \(/);
  });

  test("encrypted keys, PKCS#8 and traditional, are named as such", () => {
    const key = createPrivateKey(pki.serverA.key);
    const secret = { cipher: "aes-256-cbc", passphrase: "x" } as const;
    const pkcs8 = key.export({ format: "pem", type: "pkcs8", ...secret }) as string;
    const sec1 = key.export({ format: "pem", type: "sec1", ...secret }) as string;
    expect(pkcs8).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----");
    expect(sec1).toContain("Proc-Type: 4,ENCRYPTED");
    for (const pem of [pkcs8, sec1]) {
      expect(() => inspectCertificate(pki.serverA.cert, pem)).toThrow("the key is encrypted, and encrypted keys are not supported");
    }
  });
});

describe("expiresWithin", () => {
  test("a certificate valid for 5 days expires within 5 days of its start, not within 4", () => {
    const soon = info(pki.expiring);
    expect(soon.notAfter.getTime() - soon.notBefore.getTime()).toBe(5 * DAY);
    expect(expiresWithin(soon.notAfter.getTime(), soon.notBefore.getTime(), 5)).toBe(true);
    expect(expiresWithin(soon.notAfter.getTime(), soon.notBefore.getTime(), 4)).toBe(false);
    expect(expiresWithin(info(pki.serverA).notAfter.getTime(), Date.now(), 14)).toBe(false);
  });

  test("an expired certificate expires within any number of days, 0 too", () => {
    const soon = info(pki.expiring);
    expect(expiresWithin(soon.notAfter.getTime(), soon.notAfter.getTime() + 1, 0)).toBe(true);
  });
});

describe("the generated PKI", () => {
  test("is made once per process", () => {
    expect(makePki()).toBe(pki);
  });

  test("openssl verifies every certificate against its own CA, for its purpose, and no other", () => {
    for (const f of ["a", "b", "localhost", "soon"]) {
      const r = openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", "ca.pem", `${f}.pem`);
      expect(r).toEqual({ code: 0, out: `${f}.pem: OK\n` });
    }
    expect(openssl("verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", "ca.pem", "client.pem").code).toBe(0);
    expect(openssl("verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", "other-ca.pem", "other-client.pem").code).toBe(0);
    expect(openssl("verify", "-purpose", "sslclient", "-CAfile", "ca.pem", "a.pem").out).toContain("unsuitable certificate purpose");
    expect(openssl("verify", "-CAfile", "ca.pem", "other-client.pem").out).toContain("unable to get local issuer certificate");
    expect(openssl("verify", "-CAfile", "ca.pem", "self.pem").out).toContain("self-signed certificate");
  });

  test("CAs carry critical CA:TRUE and keyCertSign; leaves CA:FALSE", () => {
    const ext = (f: string) => openssl("x509", "-in", f, "-noout", "-ext", "basicConstraints,keyUsage").out.replace(/\s+/g, " ").trim();
    expect(ext("ca.pem")).toBe("X509v3 Basic Constraints: critical CA:TRUE X509v3 Key Usage: critical Certificate Sign, CRL Sign");
    expect(ext("a.pem")).toBe("X509v3 Basic Constraints: CA:FALSE X509v3 Key Usage: critical Digital Signature");
    expect(readPemChain(pki.otherCa.cert)[0]!.ca).toBe(true);
  });
});

/** What each side's `handshake(socket, success, authorizationError)` saw, and what came back through the echo. */
interface RoundTrip {
  client: { success: boolean; code: string | null; message: string | null };
  server: { success: boolean; code: string | null } | null;
  echoed: string;
  /** The client's socket events in order: "open", "handshake", "data", "end", "error", "close". */
  events: string[];
}

/**
 * An echo server on 127.0.0.1 with `server`'s cert and key; a client connects with `tls`, writes "ping"
 * once its handshake succeeds and ends on the echo. Bounded: the close must come within 5 s.
 */
async function roundTrip(server: CertFiles, tls: Record<string, unknown>): Promise<RoundTrip> {
  const seen: RoundTrip = { client: { success: false, code: null, message: null }, server: null, echoed: "", events: [] };
  const closed = Promise.withResolvers<void>();
  using listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: server.cert, key: server.key },
    socket: {
      handshake(_s, success, err) {
        seen.server = { success, code: (err as { code?: string } | null)?.code ?? null };
      },
      data(s, d) {
        s.write(d);
      },
    },
  });
  await Bun.connect({
    hostname: "127.0.0.1",
    port: listener.port,
    tls,
    socket: {
      open() {
        seen.events.push("open");
      },
      handshake(s, success, err) {
        seen.events.push("handshake");
        seen.client = { success, code: (err as { code?: string } | null)?.code ?? null, message: err?.message ?? null };
        if (success) s.write("ping");
      },
      data(s, d) {
        seen.events.push("data");
        seen.echoed += d.toString();
        s.end();
      },
      end() {
        seen.events.push("end");
      },
      error() {
        seen.events.push("error");
      },
      close() {
        seen.events.push("close");
        closed.resolve();
      },
      connectError(_s, err) {
        closed.reject(err);
      },
    },
  });
  await within(closed.promise, 5_000, "the TLS client's close");
  return seen;
}

// Bun 1.4.5, observed: the client's handshake callback gets (socket, true, null) when the chain and
// name verify; on failure it gets (socket, false, an Error with .code) and Bun closes the socket
// (open, handshake, close: no error callback) when rejectUnauthorized is on, which is Bun.connect's
// default. With rejectUnauthorized: false it gets (socket, true, the same Error): success means
// "connected", not "verified". A server that asked for no client certificate still gets an
// authorizationError, UNABLE_TO_GET_ISSUER_CERT, with success true. BoringSSL's messages differ
// from OpenSSL 3's CLI: "self signed certificate" there, "self-signed certificate" here.
describe("Bun's TLS with these certificates", () => {
  const REFUSED_EVENTS = ["open", "handshake", "close"];
  const UNVERIFIED = { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE", message: "unable to verify the first certificate" };

  test("a CA-signed certificate verifies by name and by wildcard, and bytes go both ways", async () => {
    for (const serverName of ["a.test", "x.a.test"]) {
      const r = await roundTrip(pki.serverA, { ca: pki.ca.cert, serverName });
      expect(r.client).toEqual({ success: true, code: null, message: null });
      expect(r.server).toEqual({ success: true, code: "UNABLE_TO_GET_ISSUER_CERT" });
      expect(r).toMatchObject({ echoed: "ping", events: ["open", "handshake", "data", "close"] });
    }
  });

  test("the localhost certificate verifies for 127.0.0.1 by its IP SAN, with no serverName", async () => {
    const r = await roundTrip(pki.localhost, { ca: pki.ca.cert });
    expect(r.client).toEqual({ success: true, code: null, message: null });
    expect(r.echoed).toBe("ping");
  });

  test("a name the certificate does not hold is refused: ERR_TLS_CERT_ALTNAME_INVALID", async () => {
    const r = await roundTrip(pki.serverA, { ca: pki.ca.cert, serverName: "b.test" });
    expect(r.client).toEqual({
      success: false,
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
      message: "Hostname/IP does not match certificate's altnames: Host: b.test. is not in the cert's altnames: DNS:a.test, DNS:*.a.test",
    });
    expect(r).toMatchObject({ echoed: "", events: REFUSED_EVENTS });
  });

  test("a self-signed certificate is refused with rejectUnauthorized: DEPTH_ZERO_SELF_SIGNED_CERT", async () => {
    const refused = { code: "DEPTH_ZERO_SELF_SIGNED_CERT", message: "self signed certificate" };
    const r = await roundTrip(pki.selfSigned, { ca: pki.ca.cert, serverName: "self.test", rejectUnauthorized: true });
    expect(r.client).toEqual({ success: false, ...refused });
    expect(r).toMatchObject({ echoed: "", events: REFUSED_EVENTS });
    expect((await roundTrip(pki.selfSigned, { serverName: "self.test" })).client).toEqual({ success: false, ...refused });
    const lax = await roundTrip(pki.selfSigned, { serverName: "self.test", rejectUnauthorized: false });
    expect(lax.client).toEqual({ success: true, ...refused });
    expect(lax).toMatchObject({ echoed: "ping", events: ["open", "handshake", "data", "close"] });
  });

  test("a self-signed certificate given as the client's ca is trusted", async () => {
    const r = await roundTrip(pki.selfSigned, { ca: pki.selfSigned.cert, serverName: "self.test" });
    expect(r.client).toEqual({ success: true, code: null, message: null });
  });

  // BoringSSL takes a certificate for self-signed only when its keyUsage, if present, allows
  // keyCertSign; openssl verify (OpenSSL 3) says "self-signed certificate" for this one all the same.
  test("a self-signed certificate whose keyUsage lacks keyCertSign: UNABLE_TO_VERIFY_LEAF_SIGNATURE", async () => {
    const ext = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "subjectAltName=DNS:self.test"];
    const selfKu = issueCertificate(pki.dir, "self-ku", "/CN=self.test", ext, null);
    expect(inspectCertificate(selfKu.cert, selfKu.key).selfSigned).toBe(true);
    expect(openssl("verify", "-CAfile", "ca.pem", "self-ku.pem").out).toContain("self-signed certificate");
    const r = await roundTrip(selfKu, { serverName: "self.test" });
    expect(r.client).toEqual({ success: false, ...UNVERIFIED });
  });

  test("a server whose CA the client does not trust: UNABLE_TO_VERIFY_LEAF_SIGNATURE", async () => {
    const r = await roundTrip(pki.serverA, { ca: pki.otherCa.cert, serverName: "a.test" });
    expect(r.client).toEqual({ success: false, ...UNVERIFIED });
  });

  // Why certificateFor exists: in Bun 1.4.5 Bun.serve takes an array of { serverName, cert, key },
  // but Bun.listen takes one certificate, so a TCP listener cannot pick one by SNI itself.
  test("Bun.listen takes one certificate, not a list chosen by SNI", () => {
    const list = [pki.serverA, pki.serverB].map((c, i) => ({ cert: c.cert, key: c.key, serverName: i ? "b.test" : "a.test" }));
    const listen = () => Bun.listen({ hostname: "127.0.0.1", port: 0, tls: list as never, socket: { data() {} } }).stop(true);
    expect(listen).toThrow("TLSOptions must be an object");
  });
});
