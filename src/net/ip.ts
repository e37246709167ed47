// IP addresses as four 32-bit words (an IPv6 address; IPv4 as ::ffff:a.b.c.d), parsed without regexes.

/** Four big-endian 32-bit words of a 128-bit address. Callers reuse one to parse without allocating. */
export type IpWords = Uint32Array;

export const newIpWords = (): IpWords => new Uint32Array(4);

/** True when `w` is an IPv4 address (written either way: "10.0.0.1" or "::ffff:10.0.0.1"). */
export function isV4(w: IpWords): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/**
 * Parse `text` into `out`: dotted IPv4 (stored IPv4-mapped, so "::ffff:10.0.0.1" and "10.0.0.1" are
 * the same client) or any RFC 4291 text form of IPv6, with an optional "%zone" that is ignored.
 * Returns false for anything else; `out` is then unspecified.
 */
export function parseIp(text: string, out: IpWords): boolean {
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  if (text.indexOf(":") < 0) {
    const v4 = parseV4(text, 0, text.length);
    if (v4 < 0) return false;
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v4;
    return true;
  }
  return parseV6(text, out);
}

/** The IPv4 address in text[from, to) as an unsigned 32-bit number, or -1. Octets as inet_pton reads them: no leading zeros. */
function parseV4(text: string, from: number, to: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero: "010" is octal to some parsers
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function parseV6(text: string, out: IpWords): boolean {
  const groups = new Uint16Array(8);
  const gap = text.indexOf("::");
  if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) return false;
  const head = gap >= 0 ? text.slice(0, gap) : text;
  const tail = gap >= 0 ? text.slice(gap + 2) : "";
  const front = head === "" ? [] : head.split(":");
  const back = tail === "" ? [] : tail.split(":");
  const all = gap >= 0 ? back : front;
  // A trailing dotted IPv4 part ("::ffff:1.2.3.4") stands for the last two groups.
  const last = all[all.length - 1];
  let v4 = -1;
  if (last !== undefined && last.indexOf(".") >= 0) {
    v4 = parseV4(last, 0, last.length);
    if (v4 < 0) return false;
    all.pop();
  }
  const count = front.length + (gap >= 0 ? back.length : 0) + (v4 >= 0 ? 2 : 0);
  if (gap >= 0 ? count > 7 : count !== 8) return false;
  let at = 0;
  for (const g of front) if (!group(g, groups, at++)) return false;
  if (gap >= 0) {
    at = 8 - back.length - (v4 >= 0 ? 2 : 0);
    for (const g of back) if (!group(g, groups, at++)) return false;
  }
  if (v4 >= 0) {
    groups[6] = Math.floor(v4 / 65536);
    groups[7] = v4 % 65536;
  }
  for (let i = 0; i < 4; i++) out[i] = (groups[2 * i]! * 65536 + groups[2 * i + 1]!) >>> 0;
  return true;
}

function group(text: string, groups: Uint16Array, at: number): boolean {
  if (text.length === 0 || text.length > 4) return false;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) | 0x20; // lower-case letters; digits are unchanged
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (digit < 0) return false;
    value = value * 16 + digit;
  }
  groups[at] = value;
  return true;
}

/** Mask of the top `bits` (0..32) of a 32-bit word. */
export function wordMask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** The bits of `w` that prefix length `bits` (0..128) covers, in word `i`. */
export function maskedWord(w: IpWords | readonly number[], i: number, bits: number): number {
  return (w[i]! & wordMask(bits - 32 * i)) >>> 0;
}

/** Canonical text: dotted for IPv4(-mapped), RFC 5952 for IPv6 ("2001:db8::1"). */
export function formatIp(w: IpWords | readonly number[]): string {
  if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) {
    const a = w[3]!;
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) groups.push((w[i]! >>> 16).toString(16), (w[i]! & 0xffff).toString(16));
  // The WHATWG URL parser prints IPv6 the RFC 5952 way (longest zero run as "::").
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}
