// TLS on bytes already read: PostgreSQL 17's direct TLS, where the ClientHello is the first thing a postgres-mode listener reads.
//
// Bun can start TLS on an accepted socket (upgradeTLS), but only on bytes still in the kernel: once
// the ClientHello has been read to tell it from an SSLRequest, it cannot be handed back. node:tls
// can: a TLSSocket over a stream we feed, starting with the bytes in hand. This file wraps that in
// the few socket calls a Session makes, so the relay is the same one. It allocates per chunk (node
// streams do), which is acceptable for this one path: the SSLRequest path stays native.
import type { Socket } from "bun";
import { Duplex } from "node:stream";
import { TLSSocket, createSecureContext, type PeerCertificate } from "node:tls";
import type { ListenerTlsConfig } from "../config/types.ts";

/** The client-side calls a Session makes on its socket (Bun's Socket has them all). */
export interface ClientSocket {
  write(data: Uint8Array | string, offset?: number, length?: number): number;
  pause(): void;
  resume(): void;
  shutdown(): void;
  end(): void;
  terminate(): void;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** What a client socket's events are delivered to (a Session). */
export interface ClientEvents {
  fromClient(data: Buffer): void;
  onClientDrain(): void;
  onClientEof(): void;
  onClientClosed(error: Error | undefined): void;
  onClientHandshake(ok: boolean, error: Error | null): void;
}

const VERSIONS = { "1.2": "TLSv1.2", "1.3": "TLSv1.3" } as const;

/**
 * A server-side TLS session on `raw`, whose first bytes `first` were already read. Its events go to
 * `events`; the raw socket's own events (ciphertext) must be routed to the object's `transport`.
 */
export class StreamTlsClient implements ClientSocket {
  readonly #tls: TLSSocket;
  readonly #duplex: Duplex;
  /** Ciphertext the raw socket has not taken yet, and the write callback waiting for it. */
  #pending: Buffer | null = null;
  #pendingDone: (() => void) | null = null;
  #closed = false;

  /** Where the raw socket's events go (set as its `data`). */
  readonly transport: ClientEvents;

  constructor(readonly raw: Socket<unknown>, first: Uint8Array, tls: ListenerTlsConfig, readonly events: ClientEvents) {
    const self = this;
    this.#duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        self.#send(chunk, done);
      },
      final(done) {
        raw.shutdown();
        done();
      },
    });
    const cert = tls.certificates[0]!;
    this.#tls = new TLSSocket(this.#duplex, {
      isServer: true,
      secureContext: createSecureContext({ cert: cert.cert.pem, key: cert.key.pem, ...(tls.clientCa ? { ca: tls.clientCa.pem } : {}), minVersion: VERSIONS[tls.minVersion] }),
      requestCert: tls.clientCa !== null,
      rejectUnauthorized: tls.requireClientCert,
      ALPNProtocols: tls.alpn.length > 0 ? tls.alpn : ["postgresql"],
    });
    // Meant to make a client's close_notify its FIN, relayed rather than answered. Bun 1.4.5's
    // node:tls answers it with its own and ends the stream all the same (reproduced without aegis),
    // so on this path a client that half-closes before its reply loses the reply; the README says so.
    (this.#tls as unknown as { allowHalfOpen: boolean }).allowHalfOpen = true;
    this.#tls.on("secure", () => events.onClientHandshake(true, null));
    this.#tls.on("data", (data: Buffer) => events.fromClient(data));
    this.#tls.on("drain", () => events.onClientDrain());
    this.#tls.on("end", () => events.onClientEof());
    this.#tls.on("error", () => {}); // 'close' follows
    this.#tls.on("close", (hadError: boolean) => this.#onClose(hadError));
    this.transport = {
      fromClient: (data) => this.#duplex.push(data),
      onClientDrain: () => this.#flush(),
      onClientEof: () => this.#duplex.push(null),
      onClientClosed: (error) => {
        this.#duplex.destroy(error);
        this.#tls.destroy(error);
      },
      onClientHandshake: () => {},
    };
    this.#duplex.push(Buffer.from(first));
  }

  #send(chunk: Buffer, done: () => void): void {
    const n = this.raw.write(chunk);
    if (n === chunk.length) return done();
    if (n < 0) return done(); // the raw socket is gone; its close ends the TLS socket
    this.#pending = chunk.subarray(n);
    this.#pendingDone = done;
  }

  #flush(): void {
    const pending = this.#pending;
    if (!pending) return;
    const n = this.raw.write(pending);
    if (n < 0 || n === pending.length) {
      this.#pending = null;
      const done = this.#pendingDone!;
      this.#pendingDone = null;
      return done();
    }
    this.#pending = pending.subarray(n);
  }

  #onClose(hadError: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.raw.end();
    // Before the handshake finished, the session counts this close as a failed handshake.
    this.events.onClientClosed(hadError ? new Error("the TLS connection failed or was reset") : undefined);
  }

  // ---- ClientSocket ------------------------------------------------------------------------

  write(data: Uint8Array | string, offset = 0, length?: number): number {
    if (this.#closed || this.#tls.destroyed) return -1;
    if (this.#tls.writableNeedDrain) return 0;
    const bytes = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.subarray(offset, length === undefined ? undefined : offset + length));
    this.#tls.write(bytes); // a copy: the caller's buffer (a recycled chunk) is reused at once
    return bytes.length;
  }

  pause(): void {
    this.#tls.pause();
  }

  resume(): void {
    this.#tls.resume();
  }

  shutdown(): void {
    this.#tls.end();
  }

  end(): void {
    this.#tls.destroySoon(); // ends (close_notify, FIN) once written, then closes
  }

  terminate(): void {
    this.raw.terminate();
    this.#tls.destroy();
  }

  get remoteAddress(): string {
    return this.raw.remoteAddress;
  }

  get remotePort(): number {
    return this.raw.remotePort;
  }

  /** The raw socket's descriptor (Bun's undocumented Socket.fd), for src/os/quickack.ts. */
  get fd(): number | undefined {
    return (this.raw as unknown as { fd?: number }).fd;
  }

  // ---- what the handshake negotiated, read like a Bun TLS socket ------------------------------

  getServername(): string {
    return (this.#tls as unknown as { servername?: string | false }).servername || "";
  }

  get alpnProtocol(): string | false | null {
    return this.#tls.alpnProtocol ?? null;
  }

  getTLSVersion(): string {
    return this.#tls.getProtocol() ?? "";
  }

  get authorized(): boolean {
    return this.#tls.authorized;
  }

  getPeerCertificate(): PeerCertificate | undefined {
    return this.#tls.getPeerCertificate();
  }
}
