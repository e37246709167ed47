// TLS answers of `aegis init`: checks the PEM files on the spot, so a wrong path is fixed at the prompt, not at start.
import { isAbsolute, resolve } from "node:path";
import { readBoundedFile, readFailure } from "../../config/read-file.ts";
import { inspectCertificate, readPemChain } from "../../tls/certificates.ts";

/** TLS termination on the listener: clients speak TLS to aegis, servers stay plaintext. */
export interface TlsAnswer {
  /** Absolute path of the certificate PEM (chain first-to-last). */
  cert: string;
  /** Absolute path of the private key PEM; undefined when the cert file holds the key too. */
  key?: string;
  /** mode = "postgres": answer psql's SSLRequest before the TLS handshake. */
  postgres: boolean;
}

const KEY_BLOCK = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
/** As the loader's bound: a chain is a few KiB, and a mistyped /dev/zero or log file is not read whole. */
const MAX_PEM_BYTES = 4 * 1024 * 1024;

/** `path` made absolute against `cwd`, as it is written into the file (aegis may start elsewhere). */
export function absolutePath(cwd: string, path: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

/** The text of the PEM file at `path`, or why it cannot be read, worded as the loader words it. */
function readPem(path: string): { text: string } | { problem: string } {
  try {
    return { text: readBoundedFile(path, MAX_PEM_BYTES).toString("utf8") };
  } catch (err) {
    return { problem: `cannot read ${path}: ${readFailure(err)}` };
  }
}

/** Checks the certificate file: readable, every certificate block parses. Null when it is fine. */
export function certProblem(path: string): string | null {
  const pem = readPem(path);
  if ("problem" in pem) return pem.problem;
  try {
    readPemChain(pem.text);
    return null;
  } catch (err) {
    return `${path}: ${(err as Error).message}`;
  }
}

/**
 * Checks the key file for `cert` (both absolute) as the loader will: readable, an unencrypted
 * private key, the key of that certificate. Without a key path the cert file must hold the key.
 * Null when it is fine.
 */
export function keyFileProblem(cert: string, key: string | undefined): string | null {
  const certPem = readPem(cert);
  if ("problem" in certPem) return certPem.problem;
  const keyPem = key === undefined ? certPem : readPem(key);
  if ("problem" in keyPem) return keyPem.problem;
  const source = key ?? cert;
  if (key === undefined && !KEY_BLOCK.test(certPem.text)) return `${cert} holds no private key, so the key file is needed too`;
  let info;
  try {
    info = inspectCertificate(certPem.text, keyPem.text);
  } catch (err) {
    return `${source}: ${(err as Error).message}`;
  }
  return info.keyMatches ? null : `${source} is not the key of the certificate in ${cert} (${info.subject})`;
}
