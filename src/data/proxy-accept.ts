// A PROXY-protocol listener's session before anything else: the header that says who the client is (HAProxy's accept-proxy).
import type { ProxyProtocolConfig } from "../config/types.ts";
import { parseProxyHeader, type ProxyHeader } from "../net/proxy-protocol.ts";
import type { ByteQueue } from "../primitives/byte-queue.ts";
import { L } from "../shared/layout.ts";
import type { ListenerRef, ListenerRuntime } from "./listener-runtime.ts";
import type { Plane } from "./plane-types.ts";
import type { EndReason } from "./session.ts";

/** The longest v2 header accepted (addresses and TLVs); HAProxy's own limit is its buffer size. */
export const PROXY_MAX_BYTES = 4096;

/** What the stage needs of its session (Session is one). */
export interface ProxyHost {
  readonly toServer: ByteQueue;
  /** toServer, made a real queue (from the Worker's pool) before bytes are pushed onto it. */
  queueToServer(): ByteQueue;
  readonly plane: Plane;
  readonly listener: ListenerRef;
  readonly clientAddress: string;
  endReason: EndReason | null;
  rejectReason: string | null;
  refuse(cell: number, reason: string): void;
  close(reason: EndReason): void;
  /** The header is in: `rest` are the stream's first bytes (what followed the header in the same reads). */
  proxied(header: ProxyHeader, runtime: ListenerRuntime, rest: Uint8Array): void;
}

export class ProxyAccept {
  /** Bytes the parser said it needs before parsing again. */
  #need = 0;
  /** Any byte arrived: a peer that closes after sending part of a header is refused, one that sent nothing is not counted. */
  #started = false;
  #refused = false;

  /** `runtime`: the listener as it was at accept; its routes (as they are when the header is in) are used next. */
  constructor(readonly config: ProxyProtocolConfig, readonly runtime: ListenerRuntime) {}

  /**
   * The header's bytes, as they come. The common case (the whole header in the first read) parses
   * the read itself, copying nothing; a header split over reads is gathered in the session's queue.
   */
  onBytes(host: ProxyHost, data: Buffer): void {
    this.#started = true;
    let bytes: Uint8Array = data;
    if (!host.toServer.empty) {
      host.queueToServer().push(data, 0);
      if (host.toServer.size < this.#need) return;
      bytes = host.toServer.copyOut();
    }
    const parsed = parseProxyHeader(bytes, this.config.accept, PROXY_MAX_BYTES);
    if (parsed.status === "pending") {
      if (bytes === data) host.queueToServer().push(data, 0); // the parser bounds the header (PROXY_MAX_BYTES)
      this.#need = parsed.atLeast;
      return;
    }
    host.toServer.clear();
    if (parsed.status === "invalid") return this.#refuse(host, parsed.why);
    host.proxied(parsed.header, this.runtime, bytes.subarray(parsed.header.length));
  }

  /** proxy_protocol_timeout passed without a whole header. */
  timedOut(host: ProxyHost): void {
    this.#refuse(host, this.#started ? "the header was not complete before proxy_protocol_timeout" : "no header before proxy_protocol_timeout");
  }

  /** The peer's FIN came first: a truncated header is refused; a bare connect and FIN (a port check) is closed, not counted. */
  endedEarly(host: ProxyHost): void {
    if (this.#started) return this.#refuse(host, "the peer ended the connection inside the header");
    host.close("client_closed");
  }

  /** The peer closed first: a truncated header is refused; a bare connect and close (a port check) counts nothing. */
  closedEarly(host: ProxyHost): void {
    if (!this.#started || this.#refused) return;
    this.#refused = true;
    this.#log(host, "the connection closed inside the header");
    host.endReason = "rejected";
    host.rejectReason = "proxy_protocol";
    host.plane.cells[host.listener.base + L.rejectedProxyProtocol]! += 1;
  }

  #refuse(host: ProxyHost, why: string): void {
    if (this.#refused) return;
    this.#refused = true;
    this.#log(host, why);
    host.toServer.clear(); // not one byte of a refused header goes anywhere
    host.refuse(L.rejectedProxyProtocol, "proxy_protocol");
  }

  #log(host: ProxyHost, why: string): void {
    host.plane.logger.debug("connection refused: proxy_protocol", { listener: host.listener.name, peer: host.clientAddress, why });
  }
}
