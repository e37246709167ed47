// The one integer mixer: the balancers' string hash and the per-IP table's bucket choice both use it.

/** murmur3's fmix32: a bijection on 32-bit integers with full avalanche. Unsigned 32-bit result. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
