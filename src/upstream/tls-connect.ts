// The client side of TLS to an upstream's servers: Bun's connect options, and telling the operator why a handshake failed.
import type { TLSOptions } from "bun";
import { isIP } from "node:net";
import type { Address, UpstreamTlsConfig } from "../config/types.ts";
import { alpnWire } from "../tls/alpn.ts";
import { TLS_FAILURE_REASONS, type TlsFailureReason } from "../shared/layout.ts";

/**
 * Options for one server. The name sent as SNI and verified is `server_name`, else the server's
 * host when it is a name (as nginx's proxy_ssl_name defaults to the host); an IP host sends no SNI
 * and is verified against the certificate's IP names. Verification is on unless `verify = false`:
 * a certificate that does not verify fails the connect, never a silent plaintext fallback.
 */
export function clientOptions(tls: UpstreamTlsConfig, address: Address): TLSOptions {
  const serverName = tls.serverName ?? (isIP(address.host) ? undefined : address.host);
  return {
    ...(serverName ? { serverName } : {}),
    rejectUnauthorized: tls.verify,
    ...(tls.ca ? { ca: tls.ca.pem } : {}),
    ...(tls.certificate ? { cert: tls.certificate.cert.pem, key: tls.certificate.key.pem } : {}),
    ...(tls.alpn.length > 0 ? { ALPNProtocols: alpnWire(tls.alpn) } : {}),
  };
}

/**
 * The reason label of a failed handshake, from the error code Bun gives (Node's codes): what an
 * operator does next differs (trust the CA, fix server_name, renew the certificate, check the port).
 */
export function tlsFailureReason(code: string | undefined): TlsFailureReason {
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return "name_mismatch";
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") return "expired";
  if (code && /CERT|UNABLE_TO|SELF_SIGNED|CHAIN|ISSUER/.test(code)) return "untrusted";
  return "handshake";
}

export const tlsFailureIndex = (reason: TlsFailureReason): number => TLS_FAILURE_REASONS.indexOf(reason);

/** At most one warning per server this often: a server with a bad certificate fails every connect. */
export const TLS_WARN_EVERY_MS = 10_000;
