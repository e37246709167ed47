// What a PEM certificate and key say: names, dates, whether they belong together, whether one is near its end. (Which one a client's SNI gets is picked in native code: src/data/tls-listen.ts.)
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";

/** What one certificate file (and its key, when given) says: what a check or a status line reports. */
export interface CertificateInfo {
  /** The leaf's CN, else its whole subject on one line ("O=Example, OU=Ops"). */
  readonly subject: string;
  /** The issuer's CN, else its whole name on one line. */
  readonly issuer: string;
  /**
   * The names a client may reach this certificate by: DNS SANs, then IP SANs (as the X509 API prints
   * them, IPv6 uncompressed: "0:0:0:0:0:0:0:1"); the CN only when there are no SANs, as clients do.
   */
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the leaf's DER, "AB:CD:…" as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
  /** Whether the key is the leaf's private key; null when no key was given. */
  readonly keyMatches: boolean | null;
  /** Whether the leaf names itself as issuer and its own key verifies its signature. */
  readonly selfSigned: boolean;
  /** Certificates in the file: 1 for a bare leaf, more when intermediates follow it. */
  readonly chainLength: number;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM file in order, the leaf first. Text between blocks is ignored, as OpenSSL
 * does (`openssl x509 -text` output and comments are common there). Throws when there is no
 * certificate block or a block does not parse.
 */
export function readPemChain(certPem: string): X509Certificate[] {
  const blocks = certPem.match(CERT_BLOCK);
  if (!blocks) {
    const swapped = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(certPem);
    const hint = swapped ? " (it holds a private key: are cert and key swapped?)" : "";
    throw new Error(`no PEM certificate block ("-----BEGIN CERTIFICATE-----") found${hint}`);
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new Error(`certificate ${i + 1} of ${blocks.length} does not parse: ${(e as Error).message}`);
    }
  });
}

/** Reads a certificate file's text and, when given, its key's; throws a plain-words Error on a bad key. */
export function inspectCertificate(certPem: string, keyPem: string | null): CertificateInfo {
  const chain = readPemChain(certPem);
  const leaf = chain[0]!;
  return {
    subject: displayName(leaf.subject),
    issuer: displayName(leaf.issuer),
    names: namesOf(leaf),
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
    fingerprint: leaf.fingerprint256,
    keyMatches: keyPem === null ? null : samePublicKey(leaf.publicKey, readPrivateKey(keyPem)),
    selfSigned: leaf.issuer === leaf.subject && leaf.verify(leaf.publicKey),
    chainLength: chain.length,
  };
}

/** True when a certificate ending at `notAfterMs` has expired by `nowMs` or will within `days` days of it (times in ms since the epoch). */
export function expiresWithin(notAfterMs: number, nowMs: number, days: number): boolean {
  return notAfterMs - nowMs <= days * 86_400_000;
}


// The X509 API prints a name one "key=value" per line, most general first, with commas in values
// escaped ("O=Aegis\, Inc.").
function displayName(name: string): string {
  return commonName(name) ?? name.split("\n").filter((l) => l !== "").join(", ");
}

// The last CN is the most specific, the one OpenSSL matches hosts by.
function commonName(name: string): string | null {
  const cn = name.split("\n").findLast((l) => l.startsWith("CN="));
  return cn === undefined ? null : cn.slice(3).replace(/\\(.)/g, "$1");
}

// subjectAltName is "DNS:a.test, DNS:*.a.test, IP Address:127.0.0.1". Node (since 17.3) quotes a
// value holding a comma or quote (DNS:"a,b"), so entries are split by a pattern that knows quotes.
const SAN_ENTRY = /\s*([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/g;

function namesOf(leaf: X509Certificate): string[] {
  const dns: string[] = [];
  const ips: string[] = [];
  for (const [, kind, raw] of (leaf.subjectAltName ?? "").matchAll(SAN_ENTRY)) {
    const value = raw!.startsWith('"') ? (JSON.parse(raw!) as string) : raw!.trim();
    if (kind === "DNS") dns.push(value);
    else if (kind === "IP Address") ips.push(value);
  }
  if (dns.length + ips.length > 0) return [...dns, ...ips];
  const cn = commonName(leaf.subject);
  return cn === null ? [] : [cn];
}

/**
 * The key of a PEM key file, or an Error that says what is wrong in words; the crypto errors alone
 * ("error:0900006e:PEM routines:OPENSSL_internal:NO_START_LINE") do not tell a user which file to fix.
 */
function readPrivateKey(keyPem: string): KeyObject {
  // Both encrypted forms: PKCS#8's own label, and the traditional "Proc-Type: 4,ENCRYPTED" header.
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(keyPem)) {
    const how = "decrypt it with openssl pkey -in key.pem -out plain.pem";
    throw new Error(`the key is encrypted, and encrypted keys are not supported: ${how}`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) {
    const swapped = keyPem.includes("-----BEGIN CERTIFICATE-----");
    const hint = swapped ? " (it holds a certificate: are cert and key swapped?)" : "";
    throw new Error(`the key is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" block${hint}`);
  }
  try {
    return createPrivateKey(keyPem);
  } catch (e) {
    throw new Error(`the key is not a PEM private key: it does not parse (${(e as Error).message})`);
  }
}

function samePublicKey(certKey: KeyObject, privateKey: KeyObject): boolean {
  const der = (k: KeyObject) => k.export({ type: "spki", format: "der" });
  return der(certKey).equals(der(createPublicKey(privateKey)));
}
