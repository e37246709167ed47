// A client address as a MaxMind DB lookup takes it: IPv4-mapped IPv6 unmapped, the zone dropped, anything else refused.
import { isIPv4, isIPv6 } from "node:net";

// How Bun reports an IPv4 client on a dual-stack listener ("::ffff:1.2.3.4"): the common case,
// recognised without a parse.
const MAPPED_PREFIX = "::ffff:";
// The canonical (WHATWG URL) form of every spelling of an IPv4-mapped address: "[::ffff:102:304]".
const CANONICAL_MAPPED = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/;

/**
 * The address to look up: dotted IPv4 as given; an IPv4-mapped IPv6 address (any spelling:
 * "::ffff:1.2.3.4", "0:0:0:0:0:ffff:102:304") as its dotted IPv4, so that an IPv4-only database
 * answers it; other IPv6 without its zone ("fe80::1%eth0" -> "fe80::1"). Null when `ip` is not an
 * address (no trimming: " 1.2.3.4" is not one), since mmdb-lib reads garbage as some address.
 */
export function lookupAddress(ip: string): string | null {
  if (isIPv4(ip)) return ip;
  const zone = ip.indexOf("%");
  const bare = zone < 0 ? ip : ip.slice(0, zone);
  if (bare.startsWith(MAPPED_PREFIX)) {
    const tail = bare.slice(MAPPED_PREFIX.length);
    if (isIPv4(tail)) return tail;
  }
  if (!isIPv6(bare)) return null;
  return /ffff/i.test(bare) ? (unmapped(bare) ?? bare) : bare;
}

/** True for an address `lookupAddress` returned as IPv6, which an IPv4-only database must not be asked about. */
export function isV6(address: string): boolean {
  return address.includes(":");
}

// Only spellings that may be mapped get here, so the URL parse (about 1.5 us) stays off the common path.
function unmapped(ipv6: string): string | null {
  const m = CANONICAL_MAPPED.exec(new URL(`http://[${ipv6}]/`).hostname);
  if (!m) return null;
  const high = parseInt(m[1]!, 16);
  const low = parseInt(m[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}
