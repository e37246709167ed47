// One interface for every discovery source, and the factory the control plane calls.
import type { Address, DiscoveryConfig, ServerConfig } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";
import type { DiscoveryEvents, LastLookup } from "./held-set.ts";
import { SqliteSource } from "./sqlite-source.ts";
import { createDnsSource } from "./dns-source.ts";

export type { DiscoveryEvents, LastLookup } from "./held-set.ts";

export interface DiscoverySource {
  readonly label: string;
  /** The current set (a held one while lookups fail, within hold). */
  readonly servers: readonly ServerConfig[];
  readonly last: LastLookup | null;
  start(): void;
  /** Stops timers, closes sockets and files; idempotent. */
  stop(): void;
}

/** `initial`: the last good set a state file kept; held for hold from now unless a lookup succeeds. */
export function createSource(config: DiscoveryConfig, resolvers: Address[], logger: Logger, events: DiscoveryEvents, initial?: ServerConfig[]): DiscoverySource {
  if (config.kind === "sqlite") return new SqliteSource(config, logger, events, initial);
  return createDnsSource(config, resolvers, logger, events, initial);
}
