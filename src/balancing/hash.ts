// 32-bit string hashing for the hash-based algorithms: FNV-1a with murmur3's finaliser.
// FNV-1a alone spreads similar keys ("10.0.0.1", "10.0.0.2") poorly in its low bits, which a
// `hash % n` uses; the finaliser mixes every input bit into every output bit.

import { mix32 } from "../shared/hash.ts";

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Contract: a pure function of (`text`, `seed`), uniform over 0 .. 2^32-1. Reads UTF-16 code units. */
export function hash32(text: string, seed = 0): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h = Math.imul(h ^ (c & 0xff), FNV_PRIME);
    if (c > 0xff) h = Math.imul(h ^ (c >>> 8), FNV_PRIME);
  }
  return mix32(h);
}

/** The key a client is hashed by: its IP, with an IPv4-mapped IPv6 address ("::ffff:10.0.0.1") as plain IPv4. */
export function clientKey(address: string): string {
  return address.length > 7 && address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
