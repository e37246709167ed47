// What a config's TLS amounts to, for people: certificate lines for `aegis check`, and warnings (certificates near expiry, verification off).
import type { CertificateConfig, Config } from "./types.ts";
import { expiresWithin } from "../tls/certificates.ts";

/** Warn this long before a certificate expires (Let's Encrypt renews at 30 days left; 14 is late). */
export const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

function expiry(c: CertificateConfig, now: number): string {
  const days = Math.floor((c.notAfter - now) / DAY_MS);
  const date = new Date(c.notAfter).toISOString().slice(0, 10);
  return c.notAfter <= now ? `EXPIRED on ${date}` : `expires ${date} (in ${days} day${days === 1 ? "" : "s"})`;
}

/** One line per certificate, CA and TLS setting: what `aegis check` shows (paths read, key matched). */
export function describeTls(config: Config, now = Date.now()): string[] {
  const lines: string[] = [];
  for (const l of config.listeners) {
    const tls = l.tls;
    if (tls) {
      const how = tls.mode === "postgres" ? "terminates TLS after PostgreSQL's SSLRequest" : "terminates TLS";
      lines.push(`listener ${l.name} ${how} (TLS ${tls.minVersion}+${tls.alpn.length ? `, ALPN ${tls.alpn.join(", ")}` : ""})`);
      tls.certificates.forEach((c, i) => {
        const role = tls.certificates.length > 1 ? (i === 0 ? " (default)" : "") : "";
        lines.push(`  certificate${role} ${c.cert.file}: ${c.subject}; names ${c.names.join(", ") || "none"}; ${expiry(c, now)}; key ${c.key.file} matches`);
      });
      if (tls.clientCa) lines.push(`  client certificates ${tls.requireClientCert ? "required" : "asked for"}, checked against ${tls.clientCa.file}`);
    }
    if (l.routes) {
      // Routes on who the client is (source, country) read no ClientHello: they are in the listener's summary line.
      for (const r of l.routes.filter((route) => route.sni.length > 0 || route.alpn.length > 0)) {
        const on = [r.sni.length ? `sni ${r.sni.join(", ")}` : "", r.alpn.length ? `alpn ${r.alpn.join(", ")}` : ""].filter(Boolean).join(" and ");
        lines.push(`listener ${l.name}: ${on} -> upstream ${r.upstream}${tls ? "" : " (read from the ClientHello, passed through)"}`);
      }
    }
  }
  for (const u of config.upstreams) {
    const tls = u.tls;
    if (!tls) continue;
    const verify = tls.verify ? `verified against ${tls.ca ? tls.ca.file : "the system's roots"}` : "NOT verified";
    lines.push(`upstream ${u.name} originates TLS${tls.serverName ? ` to ${tls.serverName}` : ""}: server certificates ${verify}`);
    if (tls.certificate) lines.push(`  client certificate ${tls.certificate.cert.file}: ${tls.certificate.subject}; ${expiry(tls.certificate, now)}`);
  }
  return lines;
}

/** Certificates that expire within EXPIRY_WARNING_DAYS (or have), and servers whose certificates go unchecked. */
export function tlsWarnings(config: Config, now = Date.now()): string[] {
  const warnings: string[] = [];
  const check = (where: string, c: CertificateConfig) => {
    if (expiresWithin(c.notAfter, now, EXPIRY_WARNING_DAYS)) warnings.push(`${where}: certificate ${c.cert.file} (${c.subject}) ${expiry(c, now)}`);
  };
  for (const l of config.listeners) for (const c of l.tls?.certificates ?? []) check(`listener ${l.name}`, c);
  for (const u of config.upstreams) {
    if (u.tls?.certificate) check(`upstream ${u.name}`, u.tls.certificate);
    if (u.tls && !u.tls.verify) warnings.push(`upstream ${u.name}: verify = false accepts any server certificate, so the TLS hop can be intercepted`);
  }
  return warnings;
}
