// Whether a listener of a new config can keep the socket of an old one: the one rule reload planning and the Workers both apply.
import type { ListenerConfig } from "./types.ts";

/**
 * True when `next` can be served by the socket `old` has open: same name and host, and the same
 * port, where a port written as 0 on either side matches the port the kernel gave the old socket.
 * `boundPort` is that port, or null while the old listener has no socket (then a 0 matches nothing,
 * since there is no socket to keep).
 */
export function keepsSocket(old: ListenerConfig, boundPort: number | null, next: ListenerConfig): boolean {
  if (next.name !== old.name || next.bind.host !== old.bind.host) return false;
  if (next.bind.port === old.bind.port) return true;
  return boundPort !== null && (next.bind.port === boundPort || next.bind.port === 0);
}
