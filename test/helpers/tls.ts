// TLS peers for tests: a TLS echo server (a TLS upstream, or an end server behind SNI passthrough), a one-shot TLS client, and openssl s_client.
import type { Socket, TCPSocketListener } from "bun";
import type { CertFiles } from "./certs.ts";
import { within } from "./wait.ts";

export interface TlsEcho {
  readonly port: number;
  readonly address: string;
  /** Connections whose handshake finished. */
  readonly handshakes: number;
  stop(): void;
  [Symbol.dispose](): void;
}

/** A TLS echo server on 127.0.0.1 port 0 serving `cert`; each reply is prefixed with `tag` so a test sees who answered. */
export function startTlsEcho(cert: CertFiles, tag = "", extra: Record<string, unknown> = {}): TlsEcho {
  let handshakes = 0;
  const listener: TCPSocketListener<undefined> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: cert.cert, key: cert.key, ...extra },
    socket: {
      handshake(_s, ok) {
        if (ok) handshakes++;
      },
      data(s, d) {
        s.write(tag ? Buffer.concat([Buffer.from(tag), d]) : d);
      },
      end(s) {
        s.end();
      },
    },
  });
  const stop = () => listener.stop(true);
  return {
    port: listener.port,
    address: `127.0.0.1:${listener.port}`,
    get handshakes() { return handshakes; },
    stop,
    [Symbol.dispose]: stop,
  };
}

export interface TlsResult {
  /** The handshake succeeded (and verified, with rejectUnauthorized). */
  ok: boolean;
  /** The handshake's authorization error, or the socket error, as code: message. */
  error: string | null;
  /** What came back before the close. */
  reply: string;
  alpn: string | null;
  version: string | null;
  /** The server certificate's CN. */
  peer: string | null;
}

export interface TlsClientOptions {
  serverName?: string;
  ca?: string;
  cert?: string;
  key?: string;
  alpn?: string[];
  /** Sent once the handshake is done; then the client half-closes and reads to the end. */
  send?: string;
  rejectUnauthorized?: boolean;
}

const alpnWire = (l: string[]) => Buffer.concat(l.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])));

/** One TLS connection to 127.0.0.1:`port`: handshake, send, half-close, read to the close. Bounded by `timeoutMs`. */
export function tlsClient(port: number, o: TlsClientOptions, timeoutMs = 10_000): Promise<TlsResult> {
  const result: TlsResult = { ok: false, error: null, reply: "", alpn: null, version: null, peer: null };
  const done = new Promise<TlsResult>((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      allowHalfOpen: true,
      tls: {
        ...(o.serverName ? { serverName: o.serverName } : {}),
        ...(o.ca ? { ca: o.ca } : {}),
        ...(o.cert ? { cert: o.cert, key: o.key } : {}),
        ...(o.alpn ? { ALPNProtocols: alpnWire(o.alpn) } : {}),
        rejectUnauthorized: o.rejectUnauthorized ?? true,
      },
      socket: {
        handshake(s: Socket<undefined>, ok, error) {
          result.ok = ok;
          if (error && !ok) result.error = `${(error as { code?: string }).code}: ${error.message}`;
          const t = s as unknown as { alpnProtocol: string | false | null; getTLSVersion(): string; getPeerCertificate(): { subject?: { CN?: string } } };
          result.alpn = t.alpnProtocol || null;
          result.version = t.getTLSVersion() || null;
          result.peer = t.getPeerCertificate()?.subject?.CN ?? null;
          if (!ok) return;
          if (o.send !== undefined) s.write(o.send);
          s.shutdown();
        },
        data(_s, d) {
          result.reply += d.toString();
        },
        error(_s, e) {
          result.error ??= `${(e as { code?: string }).code}: ${e.message}`;
        },
        close(_s, e) {
          if (e) result.error ??= `${(e as { code?: string }).code}: ${e.message}`;
          resolve(result);
        },
        connectError(_s, e) {
          result.error = `connect: ${e.message}`;
          resolve(result);
        },
      },
    }).catch((e: Error) => {
      result.error ??= `connect: ${e.message}`;
      resolve(result);
    });
  });
  return within(done, timeoutMs, `TLS client to port ${port}`);
}

/**
 * The CN of the certificate `openssl s_client` is served at 127.0.0.1:`port` for `serverName`
 * (null: no SNI sent), with its verification result against `caPath`.
 */
export async function sClientSubject(port: number, serverName: string | null, caPath: string): Promise<{ cn: string | null; verified: boolean; output: string }> {
  const args = ["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", caPath, ...(serverName ? ["-servername", serverName] : ["-noservername"])];
  const proc = Bun.spawn(args, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  proc.stdin.end(); // EOF: s_client sends nothing and leaves once the handshake is printed
  const timer = setTimeout(() => proc.kill(), 10_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const output = out + err;
  const cn = /subject=.*?CN\s?=\s?([^\s,/]+)/.exec(output)?.[1] ?? null;
  return { cn, verified: /Verify return code: 0 \(ok\)/.test(output), output };
}
