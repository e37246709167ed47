// Checks the wizard runs on the machine: is a listen port free, does a server accept connections.
import { formatAddress, parseAddress } from "../../config/address.ts";
import { ConfigError } from "../../config/errors.ts";
import type { Address } from "../../config/types.ts";

export interface PortProblem {
  /** busy: someone listens there; denied: a port below 1024 without the privilege; unavailable: not an address of this machine. */
  kind: "busy" | "denied" | "unavailable" | "other";
  message: string;
}

/** Binds `a` for a moment (without SO_REUSEPORT, so any listener counts) and says why not, or null. */
export function portProblem(a: Address): PortProblem | null {
  if (a.port === 0) return null;
  try {
    Bun.listen({ hostname: a.host, port: a.port, socket: { data() {} } }).stop(true);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = formatAddress(a);
    if (code === "EADDRINUSE") return { kind: "busy", message: `${where} is already in use: another program listens there (see \`ss -ltnp\`)` };
    if (code === "EACCES") {
      return { kind: "denied", message: `ports below 1024 need root or CAP_NET_BIND_SERVICE; the systemd service (aegis service install) has it` };
    }
    if (code === "EADDRNOTAVAIL") return { kind: "unavailable", message: `${a.host} is not an address of this machine` };
    return { kind: "other", message: `cannot listen on ${where}: ${(err as Error).message}` };
  }
}

/** Connects to `a` within `timeoutMs`: null when it accepted, else why not. */
export async function reach(a: Address, timeoutMs = 2000): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${timeoutMs / 1000}s`), timeoutMs)));
  const attempt = Bun.connect({
    hostname: a.host,
    port: a.port,
    socket: { data() {}, error() {}, connectError() {} },
  }).then(
    (socket) => {
      socket.end();
      return null;
    },
    (err: Error & { code?: string }) => (err.code === "ECONNREFUSED" ? "connection refused" : err.message || String(err)),
  );
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The parse error of an address as one line without its path, or null when it parses. */
export function addressError(value: string, use: "bind" | "connect"): string | null {
  try {
    parseAddress(value, "", use);
    return null;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.join("; ").replace(/^: /, "");
  }
}
