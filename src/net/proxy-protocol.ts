// The PROXY protocol header, v1 (text) and v2 (binary), parsed and written by hand: a pure codec, no sockets.
// Spec: HAProxy's doc/proxy-protocol.txt (2020/03/05). Each refusal's reason names the rule that was broken.
import { CRC32C_START, crc32cFinish, crc32cUpdate, crc32cZeros } from "./crc32c.ts";
import { formatIp, isV4, newIpWords, parseIp } from "./ip.ts";

export interface Endpoint {
  /** Dotted IPv4, or RFC 5952 IPv6 text (lower case, compressed, no brackets; "::ffff:a.b.c.d" when mapped). */
  host: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** "proxy": the addresses are the client's; "local": a balancer's own health check (v2 LOCAL, v1 UNKNOWN, v2 UNSPEC/AF_UNIX family): the peer's own address stands. */
  command: "proxy" | "local";
  /** null when command is "local". */
  source: Endpoint | null;
  destination: Endpoint | null;
  /** v2: a copy of the TLV bytes as sent (after the address block), kept so they can be forwarded; empty for v1. */
  tlvs: Uint8Array;
  /** Bytes the header took: the stream's own bytes start at this offset. */
  length: number;
}

export type ProxyAccept = "v1" | "v2" | "any";

export type ProxyParse =
  /** Not enough bytes yet: at least `atLeast` in total are needed before it is worth parsing again. */
  | { status: "pending"; atLeast: number }
  /** A short human reason, for a debug log line. */
  | { status: "invalid"; why: string }
  | { status: "ok"; header: ProxyHeader };

const V1_PREFIX = Uint8Array.from("PROXY ", (c) => c.charCodeAt(0));
const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
/** The longest v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses and ports). */
const V1_MAX = 107;
/** v2: signature, version/command, family/transport, 16-bit length. */
const V2_FIXED = 16;
const TLV_CRC32C = 0x03;
const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const EMPTY = new Uint8Array(0);

/** A complete v2 LOCAL header with no addresses and no TLVs: what HAProxy's health checks send. */
export const PROXY_V2_LOCAL: Uint8Array = Uint8Array.of(...V2_SIGNATURE, 0x20, 0x00, 0x00, 0x00);

interface V1Family { name: Uint8Array; v6: boolean; tcp: boolean; shortest: number }
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
// `shortest`: the shortest valid line of the family, so `pending` can ask for that much at once.
const V1_FAMILIES: readonly V1Family[] = [
  { name: ascii("TCP4"), v6: false, tcp: true, shortest: "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n".length },
  { name: ascii("TCP6"), v6: true, tcp: true, shortest: "PROXY TCP6 :: :: 0 0\r\n".length },
  { name: ascii("UNKNOWN"), v6: false, tcp: false, shortest: "PROXY UNKNOWN\r\n".length },
];
const V1_SHORTEST = Math.min(...V1_FAMILIES.map((f) => f.shortest));

const pending = (atLeast: number): ProxyParse => ({ status: "pending", atLeast });
const invalid = (why: string): ProxyParse => ({ status: "invalid", why });
const ok = (header: ProxyHeader): ProxyParse => ({ status: "ok", header });

/** True when the first bytes seen agree with `signature` as far as they go. */
function agreesWith(bytes: Uint8Array, signature: Uint8Array): boolean {
  for (let i = 0; i < bytes.length && i < signature.length; i++) if (bytes[i] !== signature[i]) return false;
  return true;
}

/**
 * Parse the PROXY header at the start of `bytes` (everything received so far). Decides as early as
 * the bytes allow: anything that cannot begin a header of an accepted version is invalid at once.
 * Never throws on any bytes; linear in their length. `maxBytes` caps a v2 header (default 4096).
 */
export function parseProxyHeader(bytes: Uint8Array, accept: ProxyAccept, maxBytes = 4096): ProxyParse {
  if (!Number.isInteger(maxBytes) || maxBytes < V2_FIXED) throw new RangeError(`parseProxyHeader: maxBytes must be an integer of at least ${V2_FIXED}, not ${maxBytes}`);
  const v1 = agreesWith(bytes, V1_PREFIX);
  const v2 = agreesWith(bytes, V2_SIGNATURE);
  if (bytes.length === 0) return pending(accept === "v2" ? V2_FIXED : V1_SHORTEST);
  if (v1) return accept === "v2" ? invalid("a v1 header, but only v2 is accepted") : parseV1(bytes);
  if (v2) return accept === "v1" ? invalid("a v2 header, but only v1 is accepted") : parseV2(bytes, maxBytes);
  return invalid("not a PROXY protocol header");
}

// ---- v1 -------------------------------------------------------------------------------------

function parseV1(b: Uint8Array): ProxyParse {
  const n = b.length;
  // The line ends at the first LF, which must follow a CR: a lone CR or LF never ends it.
  const scanEnd = Math.min(n, V1_MAX);
  let lineEnd = -1;
  for (let i = V1_PREFIX.length; i < scanEnd; i++) {
    const c = b[i];
    if (c === LF) {
      if (b[i - 1] !== CR) return invalid("v1: LF without CR");
      lineEnd = i + 1;
      break;
    }
    if (c === CR && i + 1 < n && b[i + 1] !== LF) return invalid("v1: CR not followed by LF");
  }
  const complete = lineEnd > 0;
  if (!complete && n >= V1_MAX) return invalid(`v1: oversized (no CRLF within ${V1_MAX} bytes)`);
  const contentEnd = complete ? lineEnd - 2 : b[n - 1] === CR ? n - 1 : n;

  let at = V1_PREFIX.length;
  while (at < contentEnd && b[at] !== SP) at++;
  const tokenDone = at < contentEnd || complete;
  let family: V1Family | null = null;
  let shortest = Infinity;
  for (const f of V1_FAMILIES) {
    const len = at - V1_PREFIX.length;
    if (tokenDone ? len !== f.name.length : len > f.name.length) continue;
    let same = true;
    for (let i = 0; i < len && same; i++) same = b[V1_PREFIX.length + i] === f.name[i];
    if (!same) continue;
    family = f;
    shortest = Math.min(shortest, f.shortest);
  }
  if (family === null) return invalid(`v1: unknown protocol ${JSON.stringify(text(b, V1_PREFIX.length, Math.min(at, V1_PREFIX.length + 8)))}`);
  const more = pending(Math.max(n + 1, shortest));
  if (!tokenDone) return more;
  // UNKNOWN: the receiver must ignore the rest of the line and keep the real addresses.
  if (!family.tcp) return complete ? ok({ version: 1, command: "local", source: null, destination: null, tlvs: EMPTY, length: lineEnd }) : more;
  return v1Addresses(b, at, contentEnd, complete, lineEnd, family.v6, more);
}

/** Where each of the four fields (source, destination, source port, destination port) starts and ends. */
const fieldStart = new Int32Array(4);
const fieldEnd = new Int32Array(4);

function v1Addresses(b: Uint8Array, at: number, contentEnd: number, complete: boolean, lineEnd: number, v6: boolean, more: ProxyParse): ProxyParse {
  for (let f = 0; f < 4; f++) {
    if (at === contentEnd) return complete ? invalid("v1: missing fields") : more;
    at++; // the single space before the field
    const start = at;
    let port = 0;
    while (at < contentEnd && b[at] !== SP) {
      const c = b[at]!;
      const digit = c >= 0x30 && c <= 0x39;
      const allowed = f >= 2 ? digit : v6 ? digit || c === 0x3a || c === 0x2e || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) : digit || c === 0x2e;
      if (!allowed) return invalid(`v1: unexpected byte 0x${c.toString(16)} in the ${FIELD_NAMES[f]}`);
      if (f >= 2) {
        if (at > start && b[start] === 0x30) return invalid(`v1: ${FIELD_NAMES[f]} with a leading zero`);
        port = port * 10 + (c - 0x30);
        if (port > 65535) return invalid(`v1: ${FIELD_NAMES[f]} above 65535`);
      }
      at++;
    }
    if (at === start && (at < contentEnd || complete)) return invalid(`v1: empty ${FIELD_NAMES[f]} (two spaces?)`);
    if (f < 2 && at - start > (v6 ? 45 : 15)) return invalid(`v1: ${FIELD_NAMES[f]} too long`);
    fieldStart[f] = start;
    fieldEnd[f] = at;
  }
  if (at < contentEnd) return invalid("v1: more than four fields");
  if (!complete) return more;
  const source = v1Endpoint(b, 0, v6);
  const destination = v1Endpoint(b, 1, v6);
  if (typeof source === "string") return invalid(source);
  if (typeof destination === "string") return invalid(destination);
  return ok({ version: 1, command: "proxy", source, destination, tlvs: EMPTY, length: lineEnd });
}

const FIELD_NAMES = ["source address", "destination address", "source port", "destination port"];
const words = newIpWords();

/** Address field `f` and port field `f + 2` as an endpoint, or why not. Their characters are already checked. */
function v1Endpoint(b: Uint8Array, f: number, v6: boolean): Endpoint | string {
  const host = text(b, fieldStart[f]!, fieldEnd[f]!);
  // TCP6 needs an IPv6 address: dotted IPv4 alone has no colon.
  if ((v6 && host.indexOf(":") < 0) || !parseIp(host, words)) return `v1: bad ${FIELD_NAMES[f]} "${host}" for TCP${v6 ? 6 : 4}`;
  const port = Number(text(b, fieldStart[f + 2]!, fieldEnd[f + 2]!));
  return { host: hostText(words, v6), port };
}

/** Bytes as Latin-1 text. A loop: several times faster than a spread for these few bytes. */
function text(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]!);
  return s;
}

// ---- v2 -------------------------------------------------------------------------------------

/** Address block size of each family/transport byte the spec lists; DGRAM ones are refused for PROXY. */
const V2_ADDRESS_BYTES: ReadonlyMap<number, number> = new Map([[0x00, 0], [0x11, 12], [0x12, 12], [0x21, 36], [0x22, 36], [0x31, 216], [0x32, 216]]);

function parseV2(b: Uint8Array, maxBytes: number): ProxyParse {
  const n = b.length;
  if (n > 12) {
    if (b[12]! >> 4 !== 2) return invalid(`v2: version ${b[12]! >> 4}, not 2`);
    if ((b[12]! & 15) > 1) return invalid(`v2: unknown command ${b[12]! & 15}`);
  }
  const proxy = (b[12]! & 15) === 1;
  const family = b[13]!;
  if (n > 13) {
    if (!V2_ADDRESS_BYTES.has(family)) return invalid(`v2: unknown family/transport 0x${hex2(family)}`);
    // LOCAL ignores the family (spec 2.2); PROXY over UDP has no place in a TCP proxy.
    if (proxy && (family & 15) === 2) return invalid(`v2: datagram family 0x${hex2(family)} on a TCP connection`);
  }
  if (n < V2_FIXED) return pending(V2_FIXED);
  const length = (b[14]! << 8) | b[15]!;
  const total = V2_FIXED + length;
  if (total > maxBytes) return invalid(`v2: oversized (${total} bytes, at most ${maxBytes})`);
  const addressBytes = V2_ADDRESS_BYTES.get(family)!;
  if (length < addressBytes) return invalid(`v2: length ${length} is shorter than the ${addressBytes}-byte address block of family 0x${hex2(family)}`);
  if (n < total) return pending(total);
  const tlvStart = V2_FIXED + addressBytes;
  const crcAt = checkTlvs(b, tlvStart, total);
  if (typeof crcAt === "string") return invalid(`v2: ${crcAt}`);
  if (crcAt >= 0 && v2Checksum(b, total, crcAt) !== readU32(b, crcAt)) return invalid("v2: CRC32C mismatch");
  const tlvs = total > tlvStart ? b.slice(tlvStart, total) : EMPTY;
  if (!proxy || (family !== 0x11 && family !== 0x21)) return ok({ version: 2, command: "local", source: null, destination: null, tlvs, length: total });
  const v6 = family === 0x21;
  const size = v6 ? 16 : 4;
  const ports = V2_FIXED + 2 * size;
  const source = { host: v2Host(b, V2_FIXED, v6), port: (b[ports]! << 8) | b[ports + 1]! };
  const destination = { host: v2Host(b, V2_FIXED + size, v6), port: (b[ports + 2]! << 8) | b[ports + 3]! };
  return ok({ version: 2, command: "proxy", source, destination, tlvs, length: total });
}

/**
 * Check that b[from, to) is a sequence of whole TLVs. Returns why not, or the offset of the value
 * of the one CRC32C TLV (-1 when there is none).
 */
function checkTlvs(b: Uint8Array, from: number, to: number): number | string {
  let crcAt = -1;
  for (let i = from; i < to;) {
    if (to - i < 3) return `truncated TLV at offset ${i}`;
    const type = b[i]!;
    const len = (b[i + 1]! << 8) | b[i + 2]!;
    if (i + 3 + len > to) return `TLV 0x${hex2(type)} at offset ${i} overruns the header`;
    if (type === TLV_CRC32C) {
      if (len !== 4) return `CRC32C TLV of ${len} bytes, not 4`;
      if (crcAt >= 0) return "two CRC32C TLVs";
      crcAt = i + 3;
    }
    i += 3 + len;
  }
  return crcAt;
}

/** CRC32C of the whole header b[0, total) with the 4-byte checksum at `crcAt` taken as zeros. */
function v2Checksum(b: Uint8Array, total: number, crcAt: number): number {
  const head = crc32cZeros(crc32cUpdate(CRC32C_START, b, 0, crcAt), 4);
  return crc32cFinish(crc32cUpdate(head, b, crcAt + 4, total));
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Host text of an address: dotted IPv4, or IPv6 by RFC 5952 with a mapped IPv4 kept mapped ("::ffff:1.2.3.4"). */
function hostText(w: Uint32Array, v6: boolean): string {
  if (isV4(w)) return v6 ? `::ffff:${formatIp(w)}` : formatIp(w);
  // RFC 5952 by hand (formatIp's URL round trip costs microseconds, paid here once per connection):
  // lower-case hex without leading zeros, and the first longest run of two or more zero groups as "::".
  let gapAt = -1;
  let gapLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && group(w, j) === 0) j++;
    if (j - i > gapLength) {
      gapAt = i;
      gapLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === gapAt) {
      out += "::";
      i += gapLength - 1;
    } else {
      out += (out === "" || i === gapAt + gapLength ? "" : ":") + group(w, i).toString(16);
    }
  }
  return out;
}

const group = (w: Uint32Array, i: number) => (i & 1 ? w[i >> 1]! & 0xffff : w[i >> 1]! >>> 16);

function v2Host(b: Uint8Array, at: number, v6: boolean): string {
  if (!v6) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  for (let i = 0; i < 4; i++) words[i] = readU32(b, at + 4 * i);
  return hostText(words, true);
}

const hex2 = (byte: number) => byte.toString(16).padStart(2, "0");

// ---- writing --------------------------------------------------------------------------------

const sourceWords = newIpWords();
const destinationWords = newIpWords();

/** Bytes `writeProxyHeader` writes for these arguments (and it throws for the same bad ones). */
export function proxyHeaderSize(version: 1 | 2, source: Endpoint, destination: Endpoint, tlvs: Uint8Array | null): number {
  return encode(version, source, destination, tlvs, null);
}

/**
 * Write a PROXY header into `out` (allocating no buffer) and return the bytes written. TCP4 when both
 * hosts are IPv4, else TCP6 with an IPv4 host sent as ::ffff:a.b.c.d (as HAProxy does); a "%zone" is
 * dropped. v2 `tlvs` follow the addresses as given, except that a CRC32C TLV among them gets the
 * checksum of this header (a forwarded one would no longer match). Throws on a bad version, host, port
 * or TLV block, on TLVs for v1, and when `out` is shorter than `proxyHeaderSize(...)`.
 */
export function writeProxyHeader(version: 1 | 2, source: Endpoint, destination: Endpoint, tlvs: Uint8Array | null, out: Uint8Array): number {
  const size = encode(version, source, destination, tlvs, null);
  if (out.length < size) throw new RangeError(`writeProxyHeader: out holds ${out.length} bytes, the header needs ${size}`);
  return encode(version, source, destination, tlvs, out);
}

function encode(version: 1 | 2, source: Endpoint, destination: Endpoint, tlvs: Uint8Array | null, out: Uint8Array | null): number {
  readEndpoint(source, "source", sourceWords);
  readEndpoint(destination, "destination", destinationWords);
  const v6 = source.host.indexOf(":") >= 0 || destination.host.indexOf(":") >= 0;
  const extra = tlvs ?? EMPTY;
  if (version === 1) {
    if (extra.length > 0) throw new Error("writeProxyHeader: a v1 header cannot carry TLVs");
    const line = `PROXY TCP${v6 ? 6 : 4} ${hostText(sourceWords, v6)} ${hostText(destinationWords, v6)} ${source.port} ${destination.port}\r\n`;
    if (out) for (let i = 0; i < line.length; i++) out[i] = line.charCodeAt(i);
    return line.length;
  }
  if (version !== 2) throw new RangeError(`writeProxyHeader: version must be 1 or 2, not ${String(version)}`);
  const crcAt = checkTlvs(extra, 0, extra.length);
  if (typeof crcAt === "string") throw new Error(`writeProxyHeader: bad TLV block: ${crcAt}`);
  const length = (v6 ? 36 : 12) + extra.length;
  if (length > 0xffff) throw new RangeError(`writeProxyHeader: ${extra.length} bytes of TLVs do not fit a v2 header`);
  if (!out) return V2_FIXED + length;
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = v6 ? 0x21 : 0x11;
  out[14] = length >> 8;
  out[15] = length & 0xff;
  let at = V2_FIXED;
  for (let i = v6 ? 0 : 3; i < 4; i++, at += 4) writeU32(out, at, sourceWords[i]!);
  for (let i = v6 ? 0 : 3; i < 4; i++, at += 4) writeU32(out, at, destinationWords[i]!);
  out[at++] = source.port >> 8;
  out[at++] = source.port & 0xff;
  out[at++] = destination.port >> 8;
  out[at++] = destination.port & 0xff;
  out.set(extra, at);
  if (crcAt >= 0) writeU32(out, at + crcAt, v2Checksum(out, V2_FIXED + length, at + crcAt));
  return V2_FIXED + length;
}

function readEndpoint(endpoint: Endpoint, which: string, into: Uint32Array): void {
  if (typeof endpoint?.host !== "string" || !parseIp(endpoint.host, into)) throw new Error(`writeProxyHeader: the ${which} host ${JSON.stringify(endpoint?.host)} is not an IP address`);
  const port = endpoint.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`writeProxyHeader: the ${which} port ${port} is not an integer in 0..65535`);
}

function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** The TLVs of a v2 header as a list (for logs and tests); `value` views `tlvs`. Throws on a malformed block. */
export function listTlvs(tlvs: Uint8Array): { type: number; value: Uint8Array }[] {
  const problem = checkTlvs(tlvs, 0, tlvs.length);
  if (typeof problem === "string") throw new Error(`listTlvs: ${problem}`);
  const list: { type: number; value: Uint8Array }[] = [];
  for (let i = 0; i < tlvs.length;) {
    const len = (tlvs[i + 1]! << 8) | tlvs[i + 2]!;
    list.push({ type: tlvs[i]!, value: tlvs.subarray(i + 3, i + 3 + len) });
    i += 3 + len;
  }
  return list;
}
