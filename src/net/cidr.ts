// CIDR blocks ("10.0.0.0/8", "2001:db8::/32", or a bare address) in the 128-bit space of ip.ts; pure, so config checks them and admission matches them.
import { formatIp, maskedWord, newIpWords, parseIp } from "./ip.ts";

/** A network: the address with its host bits zero, and its prefix length in the 128-bit space. */
export interface Cidr {
  readonly words: readonly [number, number, number, number];
  /** 0..128; an IPv4 /n is 96 + n, since IPv4 lives at ::ffff:0:0/96. */
  readonly bits: number;
}

/**
 * Parse a CIDR or a bare address (a single host). Returns the block, or a reason it is not one,
 * worded to follow the value in an error message: `"10.0.0.1/8" has host bits set ...`.
 */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const w = newIpWords();
  if (!parseIp(addressText, w)) {
    return `is not an IP address or CIDR (expected e.g. "10.0.0.0/8", "192.168.1.7" or "2001:db8::/32")`;
  }
  const v4 = addressText.indexOf(":") < 0;
  const max = v4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    length = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
    if (!(length <= max)) return `has an invalid prefix length (0 to ${max} for ${v4 ? "IPv4" : "IPv6"})`;
  }
  const bits = v4 ? 96 + length : length;
  const words = [0, 1, 2, 3].map((i) => maskedWord(w, i, bits)) as [number, number, number, number];
  if (words.some((m, i) => m !== w[i])) {
    // nginx warns and masks; silently widening a rule is worse than asking.
    return `has host bits set (did you mean "${formatCidr({ words, bits })}"?)`;
  }
  return { words, bits };
}

/** Canonical text: "10.0.0.0/8", "::1/128"; IPv4-mapped blocks of /96 or longer are written as IPv4. */
export function formatCidr(c: Cidr): string {
  const v4 = c.bits >= 96 && c.words[0] === 0 && c.words[1] === 0 && c.words[2] === 0xffff;
  return `${formatIp(c.words)}/${v4 ? c.bits - 96 : c.bits}`;
}
