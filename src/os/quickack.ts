// Send a TCP connection's pending ACK now (TCP_QUICKACK), through one setsockopt by bun:ffi.
//
// Why: Bun's TLS 1.3 server sends nothing after the client's Finished (no session ticket, unlike
// OpenSSL in HAProxy and nginx), so no segment carries the ACK of that Finished and the kernel
// delays it (40 ms). A client with Nagle on (redis-benchmark's connections) holds its first request
// until that ACK comes: 40 ms on every new TLS connection. Setting TCP_QUICKACK on a connection
// with an ACK scheduled sends it at once (Linux, tcp_sock_set_quickack).
import { dlopen, FFIType, ptr } from "bun:ffi";

const IPPROTO_TCP = 6;
const TCP_QUICKACK = 12;
const ONE = new Int32Array([1]);

type SetSockOpt = (fd: number, level: number, name: number, value: number, length: number) => number;
/** undefined until first use; null when libc cannot be opened (then acks are left to the kernel). */
let setsockopt: SetSockOpt | null | undefined;

function load(): SetSockOpt | null {
  try {
    const libc = dlopen("libc.so.6", {
      setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    });
    return libc.symbols.setsockopt as unknown as SetSockOpt;
  } catch {
    return null;
  }
}

/** True when the kernel took it; false for a closed socket (fd < 0) or without libc. Never throws. */
export function ackNow(fd: number | undefined): boolean {
  if (fd === undefined || fd < 0) return false;
  setsockopt ??= load();
  if (!setsockopt) return false;
  return setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, ptr(ONE) as unknown as number, 4) === 0;
}
