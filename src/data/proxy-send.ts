// send_proxy: the PROXY protocol header a session writes to its server before any client byte (HAProxy's send-proxy, send-proxy-v2).
import type { ProxyProtocolVersion } from "../config/types.ts";
import { listTlvs, proxyHeaderSize, writeProxyHeader, type Endpoint, type ProxyHeader } from "../net/proxy-protocol.ts";
import type { ByteQueue, Writable } from "../primitives/byte-queue.ts";
import type { ClientSocket } from "./stream-tls.ts";

/** What the header is made from: the client (as a PROXY header in front may have said) and the address it reached. */
export interface ProxySource {
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly client: ClientSocket;
  readonly listener: { readonly local: Endpoint | null; readonly port: number };
  readonly proxyHeader: ProxyHeader | null;
  readonly toServer: ByteQueue;
  /** toServer, made a real queue (from the Worker's pool) before bytes are pushed onto it. */
  queueToServer(): ByteQueue;
}

/** TLVs that describe the header itself, not the client: never passed on (a CRC of another header would be wrong). */
const TLV_CRC32C = 0x03;
const TLV_NOOP = 0x04;

/** One Worker's buffer for the header and the client bytes behind it: encoding into it allocates nothing. */
const scratch = new Uint8Array(16 * 1024);

/**
 * Write the header to `socket` (a fresh connect, or a pooled socket at pairing), with the client's
 * bytes already queued behind it in the same write: one system call and one segment, as when no
 * header is sent. False when the socket is broken. A short write (a socket that has not written
 * a byte cannot be full, but Bun may say so) puts the rest of the header in front of the queue.
 */
export function sendProxyHeader(s: ProxySource, socket: Writable, version: ProxyProtocolVersion): boolean {
  const [source, destination] = endpoints(s);
  const tlvs = version === 2 ? passedOnTlvs(s.proxyHeader) : null;
  const size = proxyHeaderSize(version, source, destination, tlvs);
  const out = size <= scratch.length ? scratch : new Uint8Array(size);
  const length = writeProxyHeader(version, source, destination, tlvs, out);
  const queued = s.toServer.copyInto(out, length);
  const written = socket.write(out, 0, length + queued);
  if (written < 0) return false;
  if (written >= length) {
    s.toServer.discard(written - length);
    return true;
  }
  const rest = s.toServer.copyOut();
  s.toServer.clear();
  const queue = s.queueToServer();
  queue.push(out.subarray(written, length), 0);
  queue.push(rest, 0);
  return true;
}

/**
 * Source: the client. Destination: where the client connected, as the balancer in front said,
 * else the listener's own address (asked of the kernel only when it listens on a wildcard). Both
 * of one family, as the protocol needs: an IPv4 one is written IPv4-mapped beside an IPv6 one.
 */
function endpoints(s: ProxySource): [Endpoint, Endpoint] {
  const source = { host: unmapped(s.clientAddress), port: s.clientPort };
  const said = s.proxyHeader?.destination;
  const known = said ?? s.listener.local;
  const destination = known
    ? { host: unmapped(known.host), port: known.port }
    : { host: unmapped((s.client as unknown as { localAddress?: string }).localAddress ?? "0.0.0.0"), port: s.listener.port };
  const v6 = isV6(source.host) || isV6(destination.host);
  if (v6) {
    if (!isV6(source.host)) source.host = `::ffff:${source.host}`;
    if (!isV6(destination.host)) destination.host = `::ffff:${destination.host}`;
  }
  return [source, destination];
}
const isV6 = (host: string) => host.includes(":");
const unmapped = (host: string) => (host.startsWith("::ffff:") && host.includes(".") ? host.slice(7) : host);

/** The TLVs a v2 header in front carried, less the ones about that header itself; null when none. */
function passedOnTlvs(header: ProxyHeader | null): Uint8Array | null {
  if (!header || header.tlvs.length === 0) return null;
  const kept = listTlvs(header.tlvs).filter((t) => t.type !== TLV_CRC32C && t.type !== TLV_NOOP);
  if (kept.length === 0) return null;
  const out = new Uint8Array(kept.reduce((n, t) => n + 3 + t.value.length, 0));
  let at = 0;
  for (const t of kept) {
    out[at] = t.type;
    out[at + 1] = t.value.length >> 8;
    out[at + 2] = t.value.length & 0xff;
    out.set(t.value, at + 3);
    at += 3 + t.value.length;
  }
  return out;
}
