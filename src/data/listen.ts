// The one place aegis calls Bun.listen: adds `reusePort`, which bun-types 1.4.5 omits from listen options.
import type { SocketHandler, TCPSocketListener, TLSOptions } from "bun";

export interface ListenOptions<T> {
  hostname: string;
  port: number;
  socket: SocketHandler<T>;
  /** Terminate TLS with these settings (one certificate; src/data/tls-listen.ts adds more by SNI). */
  tls?: TLSOptions;
}

type ListenWithReusePort = <T>(options: ListenOptions<T> & { reusePort: boolean; allowHalfOpen: boolean }) => TCPSocketListener<T>;

/**
 * Listen with SO_REUSEPORT (every Worker binds the same port and the kernel spreads connections)
 * and half-open sockets (a client's FIN must not close the connection: it is relayed).
 */
export function listenShared<T>(options: ListenOptions<T>): TCPSocketListener<T> {
  return (Bun.listen as unknown as ListenWithReusePort)({ ...options, reusePort: true, allowHalfOpen: true });
}
