// Refuses to start on a port another process already serves. Workers bind with SO_REUSEPORT, which
// would otherwise silently share the port with any other SO_REUSEPORT listener (a second aegis).
import { formatAddress } from "../config/address.ts";
import type { ListenerConfig } from "../config/types.ts";

/** Throws a readable error naming the first listener whose address is taken. */
export function assertPortsFree(listeners: readonly ListenerConfig[]): void {
  for (const l of listeners) {
    if (l.bind.port === 0) continue; // the kernel picks a free one
    try {
      // Without reusePort this bind fails if anyone holds the port, with or without SO_REUSEPORT.
      Bun.listen({ hostname: l.bind.host, port: l.bind.port, socket: { data() {} } }).stop(true);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "EADDRINUSE" ? "address already in use (another aegis or another program serves it)"
        // Bun's own text ("Failed to listen at ...") does not say why.
        : code === "EACCES" ? "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE, which the unit of `aegis service install` grants)"
        : (err as Error).message;
      throw new Error(`listener ${l.name}: cannot listen on ${formatAddress(l.bind)}: ${why}`);
    }
  }
}
