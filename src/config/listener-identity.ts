// Whether a listener of a new config keeps the port, and the socket, of an old one: the rules reload planning and the Workers both apply.
import type { ListenerConfig } from "./types.ts";

/**
 * True when `next` is the same listener as `old` on the same port: same name and host, and the
 * same port, where a port written as 0 on either side matches the port the kernel gave the old
 * socket. `boundPort` is that port, or null while the old listener has no socket (then a 0
 * matches nothing, since there is no port to keep).
 */
export function keepsPort(old: ListenerConfig, boundPort: number | null, next: ListenerConfig): boolean {
  if (next.name !== old.name || next.bind.host !== old.bind.host) return false;
  if (next.bind.port === old.bind.port) return true;
  return boundPort !== null && (next.bind.port === boundPort || next.bind.port === 0);
}

/**
 * True when `next` can be served by the very socket `old` has open: it keeps the port, and its TLS
 * settings (certificates included) are the same. Bun fixes a listening socket's certificates when
 * it binds (its reload() keeps them), so new ones take a new socket bound beside the old one on
 * the same port (SO_REUSEPORT); the old one then stops accepting and its sessions go on.
 */
export function keepsSocket(old: ListenerConfig, boundPort: number | null, next: ListenerConfig): boolean {
  return keepsPort(old, boundPort, next) && JSON.stringify(next.tls) === JSON.stringify(old.tls) && listensWithTls(next) === listensWithTls(old);
}

/**
 * Whether the listening socket itself is TLS. A PostgreSQL-mode listener, and one that reads a
 * PROXY header first, listen plain and start TLS on each connection once the bytes before it are read.
 */
export function listensWithTls(l: ListenerConfig): boolean {
  return l.tls?.mode === "tls" && !l.proxyProtocol;
}
