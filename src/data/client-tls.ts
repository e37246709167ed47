// A terminating listener's session before it routes: PostgreSQL's SSLRequest, the client's TLS handshake, and what it negotiated.
import type { Socket, TLSOptions } from "bun";
import type { ListenerTlsConfig } from "../config/types.ts";
import type { ByteQueue } from "../primitives/byte-queue.ts";
import { L } from "../shared/layout.ts";
import type { ListenerRef } from "./listener-runtime.ts";
import type { Plane } from "./plane-types.ts";
import { StreamTlsClient, type ClientEvents, type ClientSocket } from "./stream-tls.ts";
import { pgRequest, pgTlsRequired } from "./tls-listen.ts";
import type { EndReason, Routes } from "./session.ts";
import { ackNow } from "../os/quickack.ts";

/** What the client's TLS said, for the access log: from the handshake, or from the ClientHello passed through. */
export interface TlsFacts {
  sni: string | null;
  alpn: string | null;
  version: string | null;
  /** The client certificate's subject (CN), when it presented one that verified. */
  clientCert: string | null;
}

/** What the stage needs of its session (Session is one). */
export interface TlsHost extends ClientEvents {
  client: ClientSocket;
  endReason: EndReason | null;
  rejectReason: string | null;
  readonly toServer: ByteQueue;
  /** toServer, made a real queue (from the Worker's pool) before bytes are pushed onto it. */
  queueToServer(): ByteQueue;
  readonly plane: Plane;
  readonly listener: ListenerRef;
  readonly clientAddress: string;
  refuse(cell: number, reason: string): void;
  close(reason: EndReason): void;
  /** The handshake is done: route with what it negotiated. */
  handshakeDone(facts: TlsFacts, routes: Routes): void;
}

/** The parts of a TLS socket read after a handshake: Bun's (bun-types has them on Socket), or StreamTlsClient's. */
type TlsSocket = ClientSocket & {
  getServername(): string;
  alpnProtocol: string | false | null;
  getTLSVersion(): string;
  authorized: boolean;
  getPeerCertificate(): { subject?: { CN?: string } } | undefined;
};

const HANDSHAKE = 1;
/** mode = "postgres": the 8-byte SSLRequest comes first, answered "S" before the handshake. */
const SSL_REQUEST = 2;

export class ClientTls {
  #waiting: typeof HANDSHAKE | typeof SSL_REQUEST;
  /** The client has been refused (and counted once): its close that follows counts nothing more. */
  #refused = false;

  /**
   * `upgrade`: the options the plain socket is upgraded with (mode = "postgres", after the
   * SSLRequest; or after a PROXY header, `afterProxy`, when mode = "tls").
   */
  constructor(readonly routes: Routes, readonly tls: ListenerTlsConfig, readonly upgrade: TLSOptions | null) {
    this.#waiting = tls.mode === "postgres" ? SSL_REQUEST : HANDSHAKE;
  }

  /**
   * The PROXY header is in; TLS (or the SSLRequest) starts now. `rest` are bytes read with the
   * header: a ClientHello already read runs through node:tls on those bytes, else Bun's native
   * upgrade takes the socket from the kernel's next bytes.
   */
  afterProxyHeader(host: TlsHost, rest: Uint8Array): void {
    const bytes = Buffer.from(rest.buffer, rest.byteOffset, rest.length); // a view: both paths copy what they keep
    if (this.#waiting === SSL_REQUEST) {
      if (bytes.length > 0) this.onRequestBytes(host, bytes);
      return;
    }
    if (bytes.length > 0) return this.#directTls(host, bytes);
    this.#upgrade(host);
  }

  /** True while the client's bytes are the SSLRequest, not the stream. */
  get awaitingRequest(): boolean {
    return this.#waiting === SSL_REQUEST;
  }

  /**
   * mode = "postgres": gather the 8-byte request; "S" and TLS for an SSLRequest, "N" for GSS
   * encryption. A TLS record instead is PostgreSQL 17's direct TLS (sslnegotiation=direct).
   */
  onRequestBytes(host: TlsHost, data: Buffer): void {
    if (host.toServer.empty && data[0] === 0x16) return this.#directTls(host, data);
    host.queueToServer().push(data, 0);
    if (host.toServer.size < 8) return;
    const first = host.toServer.copyOut();
    const kind = first.length === 8 ? pgRequest(first) : "other";
    host.toServer.clear();
    if (kind === "gssenc") return void host.client.write("N"); // not offered: libpq asks for TLS next
    if (kind === "other") {
      host.client.write(pgTlsRequired()); // the client then shows why, rather than a bare close
      return this.#notInspected(host, "no SSLRequest: the client did not ask for TLS");
    }
    host.client.write("S");
    this.#upgrade(host);
  }

  /** Start TLS on the plain socket, from the kernel's next bytes on. */
  #upgrade(host: TlsHost): void {
    const [raw, tls] = (host.client as Socket<ClientEvents | null>).upgradeTLS<ClientEvents | null>({ data: host, tls: this.upgrade!, socket: host.plane.upgradedHandlers });
    raw.data = null; // the raw socket's own events (the ciphertext) are not the session's
    host.client = tls;
    this.#waiting = HANDSHAKE;
  }

  /** The ClientHello has been read already, so TLS runs on those bytes in hand (src/data/stream-tls.ts). */
  #directTls(host: TlsHost, first: Buffer): void {
    const raw = host.client as Socket<unknown>;
    const tls = new StreamTlsClient(raw, first, this.tls, host);
    raw.data = tls.transport; // the raw socket's bytes now feed the TLS session
    host.client = tls;
    this.#waiting = HANDSHAKE;
  }

  onHandshake(host: TlsHost, ok: boolean, error: Error | null): void {
    if (this.#waiting !== HANDSHAKE) return;
    if (!ok) return this.failed(host, error?.message ?? "the handshake failed");
    const c = host.client as TlsSocket;
    // Bun refuses a client without a certificate, but completes the handshake (ok, with the error)
    // for one that does not chain to client_ca: refused here, or mTLS would let anyone in.
    if (this.tls.requireClientCert && !c.authorized) return this.failed(host, `client certificate refused: ${error?.message ?? "not verified"}`);
    host.plane.cells[host.listener.base + L.tlsHandshakes]! += 1;
    ackNow((c as { fd?: number }).fd); // the client's Finished is acked now, not after 40 ms (src/os/quickack.ts)
    const peer = c.authorized ? c.getPeerCertificate() : undefined;
    const facts = { sni: c.getServername() || null, alpn: c.alpnProtocol || null, version: c.getTLSVersion() || null, clientCert: peer?.subject?.CN ?? null };
    host.handshakeDone(facts, this.routes);
  }

  /** The inspect timeout: no SSLRequest (tls_inspect) or no finished handshake (tls_handshake) in time. */
  timedOut(host: TlsHost): void {
    if (this.#waiting === SSL_REQUEST) return this.#notInspected(host, "no SSLRequest before the inspect timeout");
    this.failed(host, "no handshake before the inspect timeout");
  }

  /** The client closed before this stage was done: a client that never asked for TLS, or a failed handshake. */
  closedEarly(host: TlsHost, why: string): void {
    if (this.#waiting === SSL_REQUEST) return this.#notInspected(host, why, true);
    this.failed(host, why, true);
  }

  /** Count and log a failed handshake, and close the client (`closing`: it is closing already). */
  failed(host: TlsHost, why: string, closing = false): void {
    this.#refuse(host, L.tlsHandshakeFailures, "tls_handshake", "TLS handshake with client failed", why, closing);
  }

  #notInspected(host: TlsHost, why: string, closing = false): void {
    this.#refuse(host, L.rejectedTlsInspect, "tls_inspect", "connection refused: tls_inspect", why, closing);
  }

  /** Once per client: one debug line, one count, and the close (unless it is closing already). */
  #refuse(host: TlsHost, cell: number, reason: string, msg: string, why: string, closing: boolean): void {
    if (this.#refused) return;
    this.#refused = true;
    host.plane.logger.debug(msg, { listener: host.listener.name, client: host.clientAddress, why });
    if (!closing) return host.refuse(cell, reason);
    host.endReason = "rejected";
    host.rejectReason = reason;
    host.plane.cells[host.listener.base + cell]! += 1;
  }
}
