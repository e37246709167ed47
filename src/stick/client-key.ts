// Which client an address is, as two Int32 words, and back to text: IPv4 as itself, IPv6 by its /64.
//
// The same rule as the per-IP table's (src/admission/ip-table.ts, #clientKey), copied because a
// rank-3 folder may not import admission/: the rule belongs in net/ for both to share.
import { formatIp, isV4, type IpWords } from "../net/ip.ts";

/** High halves no real source can have (ff01::/16 and ff02::/16 are multicast), so 0 stays "empty". */
const V4_HI = 0xff010000 | 0;
const ZERO_64_HI = 0xff020000 | 0;

/**
 * The key of client `w` into `out` ([0] high half, [1] low half, as Int32): IPv4 as itself; IPv6 by
 * its /64, the unit a host is given and can rotate addresses within (::/64, where ::1 is, included).
 */
export function clientKey(w: IpWords, out: Int32Array): void {
  if (isV4(w)) {
    out[0] = V4_HI;
    out[1] = w[3]! | 0;
    return;
  }
  const hi = w[0]! | 0;
  const lo = w[1]! | 0;
  out[0] = hi === 0 && lo === 0 ? ZERO_64_HI : hi;
  out[1] = lo;
}

/** The client a key stands for, as the admin API shows it: "192.0.2.7", or "2001:db8:1:2::/64". */
export function keyText(hi: number, lo: number): string {
  if (hi === V4_HI) return formatIp([0, 0, 0xffff, lo >>> 0]);
  if (hi === ZERO_64_HI && lo === 0) return "::/64";
  return `${formatIp([hi >>> 0, lo >>> 0, 0, 0])}/64`;
}
