// TEMPORARY placeholder until the DNS source lands from h-disc; never committed.
import type { Address, DiscoveryConfig, ServerConfig } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";
import type { DiscoveryEvents } from "./held-set.ts";
export function createDnsSource(_c: DiscoveryConfig, _r: Address[], _l: Logger, _e: DiscoveryEvents, _i?: ServerConfig[]): never {
  throw new Error("dns discovery is not built yet");
}
