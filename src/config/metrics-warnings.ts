// Warnings about who can reach the metrics listener: /metrics, the status page and /api answer any Host.
import { formatAddress } from "./address.ts";
import type { Config } from "./types.ts";

/** Loopback names and addresses: only this machine can connect there. */
function loopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** One warning when [metrics] listens beyond loopback with no allow list (the admin token guards only /api/). */
export function metricsWarnings(config: Config): string[] {
  const listen = config.metrics.listen;
  if (!listen || loopback(listen.host) || (config.metrics.allow?.length ?? 0) > 0) return [];
  return [`[metrics] listen = "${formatAddress(listen)}" is reachable beyond this machine and has no allow list: anyone who can connect reads /metrics and the status page (any Host header); add allow = ["10.0.0.0/8", ...] to [metrics], or listen on 127.0.0.1`];
}
