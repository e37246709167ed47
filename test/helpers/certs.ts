// A throwaway test PKI made with Debian's openssl CLI: a CA, server and client certificates, and the odd ones out.
import { afterAll } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One certificate and its key, as files (for programs such as openssl, redis-cli, psql) and as PEM text. */
export interface CertFiles {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: string;
  readonly key: string;
  /** The certificate followed by the certificate of its issuer (itself only, when self-signed). */
  readonly chainPath: string;
  readonly chain: string;
}

export interface Pki {
  readonly dir: string;
  /** "aegis test CA": signs every certificate below but `otherCa`, its client and the self-signed one. */
  readonly ca: CertFiles;
  /** CN a.test, SANs DNS:a.test and DNS:*.a.test. */
  readonly serverA: CertFiles;
  /** CN b.test, SAN DNS:b.test. */
  readonly serverB: CertFiles;
  /** CN localhost, SANs IP:127.0.0.1 and DNS:localhost (in that order). */
  readonly localhost: CertFiles;
  /** CN client-1, extendedKeyUsage clientAuth. */
  readonly client: CertFiles;
  /** "aegis other CA": unrelated to `ca`, so what it signs must be refused where `ca` is trusted. */
  readonly otherCa: CertFiles;
  /** CN client-other, clientAuth, signed by `otherCa`. */
  readonly otherClient: CertFiles;
  /** CN self.test, SAN DNS:self.test, serverAuth, signed by its own key (not a CA, no keyUsage). */
  readonly selfSigned: CertFiles;
  /** CN soon.test, SAN DNS:soon.test, signed by `ca`, valid for 5 days from its making. */
  readonly expiring: CertFiles;
  /** Subject "O=Aegis, Inc./OU=Ops": no CN and no SANs, signed by `ca`. */
  readonly unnamed: CertFiles;
  /** A P-256 key that belongs to none of the certificates. */
  readonly strayKey: { readonly keyPath: string; readonly key: string };
}

// A config of our own, so the system's openssl.cnf (whose req section adds v3_ca extensions to
// every -x509 certificate) cannot slip CA:TRUE into a leaf: each certificate has exactly the
// extensions given with -addext. -subj supplies the name, so the dn section stays empty.
const CONFIG = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n";

const CA_EXT = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash"];
const SERVER_EXT = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth"];
const CLIENT_EXT = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"];
// No keyUsage, as most self-signed certificates in the wild: BoringSSL (Bun) counts a certificate as
// self-signed only when its keyUsage, if any, allows keyCertSign, and otherwise reports
// UNABLE_TO_VERIFY_LEAF_SIGNATURE instead of DEPTH_ZERO_SELF_SIGNED_CERT.
const SELF_EXT = ["basicConstraints=CA:FALSE", "extendedKeyUsage=serverAuth"];

// Long enough that no test run meets the end of it, short enough to look like a test certificate.
const DAYS = 30;

function openssl(dir: string, args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.exitCode}): ${r.stderr.toString()}`);
}

/**
 * One key and certificate under `dir/name.pem` and `dir/name-key.pem`, in one openssl run: `req -x509`
 * with a fresh EC P-256 key (milliseconds, where RSA takes far longer), signed by `issuer` (OpenSSL 3's
 * `-CA`, which adds the key identifiers) or by itself, with exactly the extensions `ext` ("key=value",
 * as -addext takes them). For a test that needs one certificate of a shape the PKI lacks.
 */
export function issueCertificate(
  dir: string,
  name: string,
  subject: string,
  ext: readonly string[],
  issuer: CertFiles | null,
  days = DAYS,
): CertFiles {
  if (!existsSync(join(dir, "openssl.cnf"))) writeFileSync(join(dir, "openssl.cnf"), CONFIG);
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  const args = ["req", "-x509", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  args.push("-keyout", keyPath, "-out", certPath, "-days", String(days), "-subj", subject);
  if (issuer) args.push("-CA", issuer.certPath, "-CAkey", issuer.keyPath);
  for (const e of ext) args.push("-addext", e);
  openssl(dir, args);
  const cert = readFileSync(certPath, "utf8");
  const chain = issuer ? cert + issuer.cert : cert;
  const chainPath = join(dir, `${name}-chain.pem`);
  writeFileSync(chainPath, chain);
  return { certPath, keyPath, cert, key: readFileSync(keyPath, "utf8"), chainPath, chain };
}

/** The process's PKI, and every file of its dir (name to text), to put back when a file's teardown removed them. */
let shared: { readonly pki: Pki; readonly files: ReadonlyMap<string, string> } | null = null;

/**
 * Every certificate of `Pki`. Without `dir`, the one PKI of this test process: tests need
 * certificates of known shape, not fresh ones, so openssl runs (a dozen, about 100 ms) only on the
 * first call. Its dir is removed after the calling test file (bun test never emits process "exit"),
 * and the next file's call writes the same files back to the same paths. With `dir`, a fresh set made
 * there, which the caller removes.
 */
export function makePki(dir?: string): Pki {
  if (dir !== undefined) return generate(dir);
  if (!shared) {
    const pki = generate(mkdtempSync(join(tmpdir(), "aegis-pki-")));
    const files = new Map(readdirSync(pki.dir).map((f) => [f, readFileSync(join(pki.dir, f), "utf8")] as const));
    shared = { pki, files };
  } else if (!existsSync(shared.pki.dir)) {
    mkdirSync(shared.pki.dir, { mode: 0o700 });
    // 0600 for all: psql and others refuse a key that group or others may read.
    for (const [f, text] of shared.files) writeFileSync(join(shared.pki.dir, f), text, { mode: 0o600 });
  } else {
    return shared.pki;
  }
  const made = shared.pki.dir;
  afterAll(() => rmSync(made, { recursive: true, force: true }));
  return shared.pki;
}

function generate(dir: string): Pki {
  const issue = (name: string, subject: string, ext: readonly string[], by: CertFiles | null, days?: number) =>
    issueCertificate(dir, name, subject, ext, by, days);
  const ca = issue("ca", "/CN=aegis test CA", CA_EXT, null);
  const otherCa = issue("other-ca", "/CN=aegis other CA", CA_EXT, null);
  const san = (...names: string[]) => `subjectAltName=${names.join(",")}`;
  const strayKeyPath = join(dir, "stray-key.pem");
  openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", strayKeyPath]);
  return {
    dir,
    ca,
    serverA: issue("a", "/CN=a.test", [...SERVER_EXT, san("DNS:a.test", "DNS:*.a.test")], ca),
    serverB: issue("b", "/CN=b.test", [...SERVER_EXT, san("DNS:b.test")], ca),
    localhost: issue("localhost", "/CN=localhost", [...SERVER_EXT, san("IP:127.0.0.1", "DNS:localhost")], ca),
    client: issue("client", "/CN=client-1", CLIENT_EXT, ca),
    otherCa,
    otherClient: issue("other-client", "/CN=client-other", CLIENT_EXT, otherCa),
    selfSigned: issue("self", "/CN=self.test", [...SELF_EXT, san("DNS:self.test")], null),
    expiring: issue("soon", "/CN=soon.test", [...SERVER_EXT, san("DNS:soon.test")], ca, 5),
    unnamed: issue("unnamed", "/O=Aegis, Inc./OU=Ops", SERVER_EXT, ca),
    strayKey: { keyPath: strayKeyPath, key: readFileSync(strayKeyPath, "utf8") },
  };
}
