// The TLS keys of a config: a listener's `tls`, `inspect` and `[[listener.route]]`, an upstream's `tls`.
//
// The schema part (fields) is plain data like every other section; the files it names are read and
// checked in a second step (`TlsFiles`), relative to the config file, so that `aegis check`, a
// start and a reload all refuse an unreadable file, a key that does not match its certificate or a
// file that holds no certificate, before anything is bound.
import { isAbsolute, resolve } from "node:path";
import { boolean, duration, integer, list, name, oneOf, optional, strings, table, text, type Values } from "./fields.ts";
import type { CertificateConfig, InspectConfig, ListenerTlsConfig, PemFile, RouteConfig, TlsMode, TlsVersion, UpstreamTlsConfig } from "./types.ts";
import { configDir, readBoundedFile, readFailure } from "./read-file.ts";
import { quote } from "./quote.ts";
import { ConfigError } from "./errors.ts";
import { checkNamePattern } from "../tls/names.ts";
import { inspectCertificate } from "../tls/certificates.ts";
import { ROUTE_CLIENT } from "./client.ts";

/** A certificate chain or a key is a few KiB; a CA bundle (the system's) some hundreds. */
const MAX_PEM_BYTES = 4 * 1024 * 1024;

export const TLS_VERSIONS = ["1.2", "1.3"] as const satisfies readonly TlsVersion[];
export const TLS_MODES = ["tls", "postgres"] as const satisfies readonly TlsMode[];

/** An ALPN protocol id is 1 to 255 bytes; printable ASCII covers every registered one. */
const checkAlpn = (v: string) => (/^[\x21-\x7e]{1,255}$/.test(v) ? undefined : "is not an ALPN protocol name (1-255 printable ASCII characters, e.g. \"h2\")");

const KEY_PAIR = {
  cert: text({ required: true, description: "PEM file of the certificate, then its intermediates; relative to the config file." }),
  key: optional(text({ defaultText: "the cert file (which then holds the key too, as HAProxy's crt)", description: "PEM file of its private key (unencrypted)." })),
} as const;

/** A key pair as written: file names only (read later by TlsFiles). */
interface KeyPairPaths {
  cert: string;
  key: string | undefined;
}

const alpnList = (description: string) => optional(strings({ example: `["h2", "http/1.1"]`, minItems: 1, check: checkAlpn, defaultText: "none", description }));

export const LISTENER_TLS = {
  cert: optional(text({ defaultText: "none (give cert or certificates)", description: "PEM file of the certificate (and chain) served; relative to the config file." })),
  key: optional(text({ defaultText: "the cert file", description: "PEM file of its private key." })),
  certificates: optional(list(KEY_PAIR, {
    shorthand: "cert", minItems: 1, noun: "certificate",
    defaultText: "none",
    description: `Several certificates, chosen by the client's SNI against each one's names (SANs); the first is served when none matches or no SNI is sent. Instead of cert and key.`,
    build: (v): KeyPairPaths => ({ cert: v.cert, key: v.key }),
  })),
  client_ca: optional(text({ defaultText: "none: no client certificate is asked for", description: "PEM file of the CAs client certificates must chain to (mTLS)." })),
  require_client_cert: boolean({ default: false, description: "Refuse clients without a valid certificate from client_ca (mTLS)." }),
  min_version: oneOf(TLS_VERSIONS, { default: "1.2", description: "Oldest TLS version accepted." }),
  alpn: alpnList("ALPN protocols offered, most preferred first, e.g. [\"redis\"]."),
  mode: oneOf(TLS_MODES, {
    default: "tls",
    description: `"postgres": answer PostgreSQL's SSLRequest, then terminate TLS, so \`psql "sslmode=require"\` reaches a plaintext server (caddy-l4's postgres_tls).`,
  }),
} as const;

/** A listener's `tls` as written, before its files are read. */
export interface ListenerTlsPaths {
  pairs: KeyPairPaths[];
  /** Written as certificates = [...] (problems then name the item), not as cert and key. */
  listed: boolean;
  clientCa: string | undefined;
  requireClientCert: boolean;
  minVersion: TlsVersion;
  alpn: string[];
  mode: TlsMode;
}

function buildListenerTls(v: Values<typeof LISTENER_TLS>, path: string): ListenerTlsPaths {
  const problems: string[] = [];
  if (v.certificates && (v.cert !== undefined || v.key !== undefined)) problems.push(`${path}: give cert (and key) or certificates, not both`);
  if (!v.certificates && v.cert === undefined) problems.push(`${path}: missing the certificate: give cert = "server.pem" (and key), or certificates = [...]`);
  if (v.mode === "postgres" && (v.certificates?.length ?? 1) > 1) problems.push(`${path}.certificates: mode = "postgres" serves one certificate (TLS starts on an accepted connection, after the SSLRequest)`);
  if (v.require_client_cert && v.client_ca === undefined) problems.push(`${path}.require_client_cert: needs client_ca, the CAs that client certificates are checked against`);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    pairs: v.certificates ?? [{ cert: v.cert!, key: v.key }],
    listed: v.certificates !== undefined,
    clientCa: v.client_ca,
    requireClientCert: v.require_client_cert,
    minVersion: v.min_version,
    alpn: v.alpn ?? [],
    mode: v.mode,
  };
}

export const listenerTlsField = () => optional(table(LISTENER_TLS, {
  defaultText: "none: bytes pass through untouched",
  description: `Terminate TLS, e.g. { cert = "server.pem", key = "server.key" }; see the keys below.`,
  build: buildListenerTls,
}));

export const INSPECT = {
  timeout: duration({ min: 1, default: "5s", description: "How long to wait for the client's first bytes (a ClientHello) that the routes read; past it the client is closed (tls_inspect)." }),
  max_bytes: integer({ min: 64, max: 1_048_576, default: 16_384, description: "Most bytes read while waiting; a ClientHello larger than this is refused (tls_inspect)." }),
} as const;

export const inspectField = () => optional(table(INSPECT, {
  defaultText: `{ timeout = "5s", max_bytes = 16384 }`,
  description: "How long and how much to wait for a ClientHello when routes match on sni or alpn (nginx's preread_timeout and preread_buffer_size).",
  build: (v): InspectConfig => ({ timeoutMs: v.timeout, maxBytes: v.max_bytes }),
}));

export const ROUTE = {
  sni: optional(strings({
    example: `["db.example.com", "*.db.example.com"]`, minItems: 1, check: checkNamePattern, defaultText: "any",
    description: "Server names the client asks for (its SNI): exact names or one-label wildcards, case-insensitive.",
  })),
  alpn: alpnList("ALPN protocols: the route matches when the client offers any of them."),
  ...ROUTE_CLIENT,
  upstream: name({ required: true, description: "Name of the [[upstream]] that takes the connections this route matches." }),
} as const;

export const routesField = () => optional(list(ROUTE, {
  shorthand: "upstream", minItems: 1, noun: "route",
  defaultText: "none: every connection goes to upstream",
  description: "Written [[listener.route]], tried in order before upstream: the first whose matchers all match takes the connection. Matchers: sni, alpn, source, country. Without tls on the listener nothing is terminated: the ClientHello is read and passed on untouched.",
  build: (v): RouteConfig => ({
    sni: (v.sni ?? []).map((n) => n.toLowerCase().replace(/\.$/, "")),
    alpn: v.alpn ?? [],
    source: v.source ?? [],
    country: (v.country ?? []).map((c) => c.toUpperCase()),
    preferRegion: v.prefer_region ?? null,
    upstream: v.upstream,
  }),
}));

export const UPSTREAM_TLS = {
  server_name: optional(text({ defaultText: "the server's host when it is a name", description: "Name sent as SNI and verified against the server's certificate." })),
  verify: boolean({ default: true, description: "Verify the server's certificate (against ca, else the system's roots); false accepts any certificate, for tests only." }),
  ca: optional(text({ defaultText: "the system's roots", description: "PEM file of the CAs the servers' certificates must chain to." })),
  cert: optional(text({ defaultText: "none", description: "PEM file of a client certificate for servers that ask for one (mTLS)." })),
  key: optional(text({ defaultText: "the cert file", description: "PEM file of the client certificate's key." })),
  alpn: alpnList("ALPN protocols offered to the servers."),
} as const;

export interface UpstreamTlsPaths {
  serverName: string | null;
  verify: boolean;
  ca: string | undefined;
  pair: KeyPairPaths | null;
  alpn: string[];
}

export const upstreamTlsField = () => optional(table(UPSTREAM_TLS, {
  defaultText: "none: plain TCP",
  description: `Originate TLS to the servers, e.g. { server_name = "redis.internal", ca = "ca.pem" }; a certificate that does not verify fails the connect.`,
  build: (v, path): UpstreamTlsPaths => {
    if (v.key !== undefined && v.cert === undefined) throw new ConfigError([`${path}.key: needs cert, the client certificate it belongs to`]);
    if (v.server_name !== undefined && checkNamePattern(v.server_name) !== undefined) {
      throw new ConfigError([`${path}.server_name: ${quote(v.server_name)} ${checkNamePattern(v.server_name)}`]);
    }
    return { serverName: v.server_name ?? null, verify: v.verify, ca: v.ca, pair: v.cert === undefined ? null : { cert: v.cert, key: v.key }, alpn: v.alpn ?? [] };
  },
}));

/**
 * Reads the files TLS keys name, relative to the config file, and checks them: each problem goes
 * onto `problems` under the key that named the file.
 */
export class TlsFiles {
  readonly #base: string;

  constructor(source: string, private readonly problems: string[]) {
    this.#base = configDir(source);
  }

  listener(paths: ListenerTlsPaths, path: string): ListenerTlsConfig | undefined {
    const certificates = paths.pairs.map((pair, i) => this.#pair(pair, paths.listed ? `${path}.certificates[${i}]` : path));
    const clientCa = paths.clientCa === undefined ? null : this.#certificates(paths.clientCa, `${path}.client_ca`);
    if (certificates.some((c) => c === undefined) || clientCa === undefined) return undefined;
    return {
      mode: paths.mode, certificates: certificates as CertificateConfig[], clientCa,
      requireClientCert: paths.requireClientCert, minVersion: paths.minVersion, alpn: paths.alpn,
    };
  }

  upstream(paths: UpstreamTlsPaths, path: string): UpstreamTlsConfig | undefined {
    const ca = paths.ca === undefined ? null : this.#certificates(paths.ca, `${path}.ca`);
    const certificate = paths.pair === null ? null : this.#pair(paths.pair, path);
    if (ca === undefined || certificate === undefined) return undefined;
    return { serverName: paths.serverName, verify: paths.verify, ca, certificate, alpn: paths.alpn };
  }

  /** A certificate and its key: both read, the key unencrypted and matching the leaf. */
  #pair(pair: KeyPairPaths, path: string): CertificateConfig | undefined {
    const cert = this.#read(pair.cert, `${path}.cert`);
    const key = pair.key === undefined ? cert : this.#read(pair.key, `${path}.key`);
    if (!cert || !key) return undefined;
    const keyKey = pair.key === undefined ? `${path}.cert` : `${path}.key`;
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.pem)) {
      this.problems.push(pair.key === undefined
        ? `${path}.cert: ${quote(cert.file)} holds no private key: give key = "<file>" too`
        : `${keyKey}: ${quote(key.file)} holds no PEM private key`);
      return undefined;
    }
    try {
      const info = inspectCertificate(cert.pem, key.pem);
      if (info.keyMatches === false) {
        this.problems.push(`${keyKey}: the key in ${quote(key.file)} does not match the certificate in ${quote(cert.file)} (${info.subject})`);
        return undefined;
      }
      return { cert, key, subject: info.subject, names: [...info.names], notAfter: info.notAfter.getTime(), fingerprint: info.fingerprint };
    } catch (e) {
      this.problems.push(`${path}.cert: ${quote(cert.file)}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** A file of CA certificates: read, and holding at least one. */
  #certificates(file: string, key: string): PemFile | undefined {
    const read = this.#read(file, key);
    if (!read) return undefined;
    if (!read.pem.includes("-----BEGIN CERTIFICATE-----")) {
      this.problems.push(`${key}: ${quote(read.file)} holds no PEM certificate`);
      return undefined;
    }
    return read;
  }

  #read(file: string, key: string): PemFile | undefined {
    const full = isAbsolute(file) ? file : resolve(this.#base, file);
    try {
      return { file: full, pem: readBoundedFile(full, MAX_PEM_BYTES).toString("utf8") };
    } catch (e) {
      this.problems.push(`${key}: cannot read ${quote(full)}: ${readFailure(e)}`);
      return undefined;
    }
  }
}
