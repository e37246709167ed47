// systemd readiness (sd_notify): one datagram to $NOTIFY_SOCKET, sent through libc with bun:ffi.
// Bun has no unix datagram sockets of its own; FFI sends from the main process, so the unit keeps
// the default NotifyAccess=main instead of NotifyAccess=all that `systemd-notify` would need.
import { dlopen, FFIType, ptr, read } from "bun:ffi";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un): a 2-byte family, then 108 bytes of path. */
const SOCKADDR_UN_SIZE = 110;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: number, len: number, flags: number, addr: number, addrLen: number): number | bigint;
  close(fd: number): number;
  errno(): number;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      const { symbols } = dlopen(name, {
        socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
        close: { args: [FFIType.i32], returns: FFIType.i32 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      libc = {
        socket: (d, t, p) => symbols.socket(d, t, p),
        sendto: (fd, buf, len, flags, addr, addrLen) => symbols.sendto(fd, buf, len, flags, addr, addrLen),
        close: (fd) => symbols.close(fd),
        errno: () => {
          const at = symbols.__errno_location();
          return at === null ? 0 : read.i32(at, 0);
        },
      };
      break;
    } catch {
      // try the next name
    }
  }
  return libc;
}

/**
 * The sockaddr_un for `path` and its length, or null if the path cannot be one. A leading "@"
 * names the abstract namespace (a NUL byte in the address), as sd_notify(3) does.
 */
export function socketAddress(path: string): { bytes: Uint8Array; length: number } | null {
  const abstract = path.startsWith("@");
  const name = new TextEncoder().encode(path);
  if (!abstract && !path.startsWith("/")) return null;
  // A filesystem path needs its terminating NUL inside the 108 bytes; an abstract name does not.
  if (name.length > SOCKADDR_UN_SIZE - 2 - (abstract ? 0 : 1)) return null;
  const bytes = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(bytes.buffer).setUint16(0, AF_UNIX, true);
  bytes.set(name, 2);
  if (abstract) bytes[2] = 0;
  return { bytes, length: 2 + name.length + (abstract ? 0 : 1) };
}

/**
 * Sends `state` (for example "READY=1") to the service manager. Returns null when it was sent or
 * when there is no NOTIFY_SOCKET (not started by systemd with Type=notify), else why it failed.
 */
export function sdNotify(state: string, env: Record<string, string | undefined> = process.env): string | null {
  const path = env.NOTIFY_SOCKET;
  if (!path) return null;
  const address = socketAddress(path);
  if (!address) return `NOTIFY_SOCKET ${JSON.stringify(path)} is not a unix socket path`;
  const c = loadLibc();
  if (!c) return "cannot load libc to reach NOTIFY_SOCKET";
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return `socket(AF_UNIX, SOCK_DGRAM) failed: errno ${c.errno()}`;
  try {
    const message = new TextEncoder().encode(state);
    const sent = Number(c.sendto(fd, ptr(message), message.length, MSG_NOSIGNAL, ptr(address.bytes), address.length));
    if (sent < 0) return `sendto ${path} failed: errno ${c.errno()}`;
    if (sent !== message.length) return `sendto ${path} sent ${sent} of ${message.length} bytes`;
    return null;
  } finally {
    c.close(fd);
  }
}
