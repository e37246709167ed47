// [metrics] allow: the clients the metrics listener answers; the rest get 403 on every path.
import type { Config } from "../config/types.ts";
import { cidrSetOf, type CidrSet } from "../net/cidr-set.ts";
import { newIpWords, parseIp } from "../net/ip.ts";

// One set per running config: a reload swaps the config object, and so the set.
const sets = new WeakMap<Config, CidrSet | null>();
const words = newIpWords();

function setOf(config: Config): CidrSet | null {
  let set = sets.get(config);
  if (set === undefined) {
    set = config.metrics.allow?.length ? cidrSetOf(config.metrics.allow) : null;
    sets.set(config, set);
  }
  return set;
}

/** A 403 response when `address` (the peer, as Bun gives it) is outside [metrics] allow; null to go on. */
export function refuseOutsider(config: Config, address: string | undefined): Response | null {
  const set = setOf(config);
  if (!set) return null;
  if (address !== undefined && parseIp(address, words) && set.has(words)) return null;
  return new Response(`forbidden: ${address ?? "this client"} is not in [metrics] allow\n`, { status: 403, headers: { "content-type": "text/plain; charset=utf-8" } });
}
