// Config combinations an algorithm cannot honour, found from what each algorithm declares it needs.
import type { Config } from "../config/types.ts";
import { ALGORITHMS } from "./registry.ts";

/** One line per problem, naming the upstream; empty when every upstream's servers suit its algorithm. */
export function balanceWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const u of config.upstreams) {
    const needs = ALGORITHMS[u.balance].needs;
    const what = `upstream ${u.name}: balance = "${u.balance}"`;
    if (!needs.includes("weights") && new Set(u.servers.map((s) => s.weight)).size > 1) {
      warnings.push(`${what} ignores weights: servers take connections in the order they are listed`);
    }
    if (needs.includes("max_connections") && u.servers.length > 1 && !u.servers.some((s) => s.maxConnections !== undefined || s.softLimit !== undefined)) {
      warnings.push(`${what} sends every connection to the first available server, since no server has max_connections or soft_limit: set one on the servers to fill them in turn`);
    }
    if (needs.includes("client_address") && u.servers.some((s) => s.softLimit !== undefined)) {
      warnings.push(`${what} keeps each client on one server, but soft_limit sends clients elsewhere while their server is busy: a client no longer always lands on the same server`);
    }
  }
  return warnings;
}
