// The server side of TLS as Bun takes it: a listener's options, its extra certificates by SNI, and the postgres SSLRequest answer.
import type { TCPSocketListener, TLSOptions } from "bun";
import { constants } from "node:crypto";
import { createServer } from "node:tls";
import type { CertificateConfig, ListenerTlsConfig, TlsVersion } from "../config/types.ts";
import { alpnWire } from "../tls/alpn.ts";

/** TLS versions below the minimum, switched off (BoringSSL takes SSL_OP_NO_* as Node does). */
function versionOptions(min: TlsVersion): number {
  const old = constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1;
  return min === "1.3" ? old | constants.SSL_OP_NO_TLSv1_2 : old;
}

/** Bun's options for serving `certificate` under `tls`'s other settings. */
export function serverOptions(tls: ListenerTlsConfig, certificate: CertificateConfig = tls.certificates[0]!): TLSOptions {
  return {
    cert: certificate.cert.pem,
    key: certificate.key.pem,
    secureOptions: versionOptions(tls.minVersion),
    ...(tls.alpn.length > 0 ? { ALPNProtocols: alpnWire(tls.alpn) } : {}),
    // A client CA asks every client for a certificate; require_client_cert makes one mandatory.
    ...(tls.clientCa ? { ca: tls.clientCa.pem, requestCert: true, rejectUnauthorized: tls.requireClientCert } : {}),
  };
}

/**
 * Bun.listen takes one certificate. Its listener does keep a table of certificates by server name
 * (what node:tls `addContext` fills, and SNI picks from, wildcards included, in native code), but
 * the only way in is node:tls's own `addContext`, which works on whatever listener handle it is
 * given. So: serve the first certificate, and add each other one under each of its names that no
 * earlier certificate claims. Every context carries the full settings (ALPN, client CA, versions):
 * the handshake continues on the context SNI picked.
 */
export function addSniCertificates(listener: TCPSocketListener<unknown>, tls: ListenerTlsConfig): void {
  if (tls.certificates.length < 2) return;
  const addContext = (createServer({}) as unknown as { addContext(this: { _handle: unknown }, name: string, options: object): void }).addContext;
  const claimed = new Set(tls.certificates[0]!.names.map((n) => n.toLowerCase()));
  for (const certificate of tls.certificates.slice(1)) {
    for (const name of certificate.names) {
      const key = name.toLowerCase();
      if (claimed.has(key) || /^[\d.]+$|:/.test(key)) continue; // first claim wins; SNI never carries an IP
      claimed.add(key);
      addContext.call({ _handle: listener }, key, { ...serverOptions(tls, certificate), ALPNProtocols: tls.alpn.length > 0 ? tls.alpn : undefined });
    }
  }
}

/** PostgreSQL's SSLRequest (length 8, code 80877103) and GSSENCRequest (80877104). */
export const PG_SSL_REQUEST = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f] as const;
export const PG_GSSENC_REQUEST = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30] as const;

/** What the first 8 bytes of a postgres-mode client are. */
export function pgRequest(bytes: Uint8Array): "ssl" | "gssenc" | "other" {
  const is = (want: readonly number[]) => want.every((b, i) => bytes[i] === b);
  return is(PG_SSL_REQUEST) ? "ssl" : is(PG_GSSENC_REQUEST) ? "gssenc" : "other";
}

/** A PostgreSQL ErrorResponse (FATAL, 28000) a client that does not ask for TLS is told before it is closed. */
export function pgTlsRequired(): Uint8Array {
  const fields = "SFATAL\0VFATAL\0C28000\0Mthis aegis listener requires TLS: connect with sslmode=require\0\0";
  const body = Buffer.from(fields, "utf8");
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x45; // 'E'
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
