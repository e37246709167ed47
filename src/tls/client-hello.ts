// The TLS ClientHello a client opens with, read from its first bytes: SNI, ALPN and versions for routing, decided as early as the bytes allow.
//
// Pure and synchronous: the caller hands in everything received so far and asks again when more
// arrives. Every length is checked against the field that contains it before it is trusted, and
// every loop advances by at least one byte, so no input can make this throw or spin.
import { HANDSHAKE_HEADER, RECORD_HEADER, handshakeMessage } from "./records.ts";

export type HelloResult =
  | {
      status: "pending";
      /**
       * Once the hello's length is known: the fewest bytes of stream that can hold it (one record
       * header, then the message). Fewer cannot complete it, so a caller fed a byte at a time need
       * not parse again before then: reading stays linear in the bytes, not quadratic.
       */
      atLeast?: number;
    }
  | { status: "invalid"; why: string }
  | {
      status: "ok";
      /** The host_name of server_name, lower-cased; null when the client sent none. */
      serverName: string | null;
      /** ALPN protocol names in the client's order, as latin1 strings ("h2", "http/1.1"). */
      alpn: readonly string[];
      /** legacy_version: 0x0303 for TLS 1.2 and 1.3 alike (1.3 is told by supportedVersions). */
      legacyVersion: number;
      /** supported_versions as sent (GREASE values included); empty when the extension is absent. */
      supportedVersions: readonly number[];
    };

const PENDING: HelloResult = Object.freeze({ status: "pending" });
const invalid = (why: string): HelloResult => ({ status: "invalid", why });

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;

/**
 * Parse the ClientHello at the start of `bytes` (everything the client has sent so far). "pending"
 * means more bytes could still make it whole; "invalid" is final. Only the first `maxBytes` bytes
 * are ever read: a hello that is not complete within them, or that declares itself larger, is
 * invalid, so a caller that waits for at most `maxBytes` always gets a final answer. Bytes after a
 * complete hello (0-RTT data) are not looked at. Each call starts over, keeping no state: it runs
 * on a session's first few chunks only, and a hello is rarely more than one.
 */
export function parseClientHello(bytes: Uint8Array, maxBytes: number): HelloResult {
  const max = maxBytes > 0 ? Math.floor(maxBytes) : 0; // NaN and negatives read nothing
  const message = handshakeMessage(bytes, max);
  if (typeof message === "string") return invalid(message);
  const result = message.needed === Infinity ? PENDING : parseHandshake(message.received, message.needed);
  // Nothing past max_bytes is read, so more bytes cannot help.
  if (result === PENDING && bytes.length >= max) return invalid("ClientHello not complete within max_bytes");
  if (result === PENDING && message.needed !== Infinity) return { status: "pending", atLeast: RECORD_HEADER + message.needed };
  return result;
}

/** Outcome codes of a read; positions are never negative. */
const WAIT = -1;
const BAD = -2;

/** Reads the fields of a handshake message of which `b` has arrived, each within the field that contains it. */
class Reader {
  why = "";
  constructor(readonly b: Uint8Array) {}

  /**
   * The position after `n` bytes at `p` inside a container ending at `end`: BAD when they overrun
   * it (final, whatever arrives later), WAIT when they have not all arrived yet.
   */
  skip(p: number, n: number, end: number, what: string): number {
    if (p + n > end) {
      this.why = `${what} overruns its container`;
      return BAD;
    }
    return p + n > this.b.length ? WAIT : p + n;
  }

  /** The 1-, 2- or 3-byte big-endian length at `p` (already known to have arrived). */
  len(p: number, width: number): number {
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + this.b[p + i]!;
    return v;
  }

  /** The position after a length-prefixed vector at `p` (prefix of `width` bytes), or WAIT / BAD. */
  vector(p: number, width: number, end: number, what: string): number {
    const q = this.skip(p, width, end, `${what} length`);
    return q < 0 ? q : this.skip(q, this.len(p, width), end, what);
  }

  fail(why: string): number {
    this.why = why;
    return BAD;
  }
}

/** Where the fields the result is built from lie in the message, or -1 when the client sent none. */
interface Found {
  /** The host_name's length prefix. */
  serverName: number;
  /** The ALPN extension's data (its list length prefix). */
  alpn: number;
  /** The supported_versions extension's data. */
  versions: number;
}

/** The ClientHello in `h` (handshake header included), of which `needed` bytes make the whole. */
function parseHandshake(h: Uint8Array, needed: number): HelloResult {
  const r = new Reader(h);
  const found: Found = { serverName: -1, alpn: -1, versions: -1 };
  const p = parseBody(r, needed, found);
  if (p === WAIT) return PENDING;
  if (p === BAD) return invalid(r.why);
  return {
    status: "ok",
    serverName: found.serverName < 0 ? null : hostName(h, found.serverName),
    alpn: found.alpn < 0 ? [] : protocols(h, found.alpn),
    legacyVersion: (h[4]! << 8) | h[5]!,
    supportedVersions: found.versions < 0 ? [] : versions(h, found.versions),
  };
}

/** Checks every field of the ClientHello body (RFC 8446 4.1.2) and notes where the extensions we read are. */
function parseBody(r: Reader, end: number, found: Found): number {
  let p = r.skip(HANDSHAKE_HEADER, 2, end, "legacy_version");
  if (p < 0) return p;
  if (r.b[HANDSHAKE_HEADER] !== 3) return r.fail("legacy_version is not 3.x");
  if ((p = r.skip(p, 32, end, "random")) < 0) return p;
  if ((p = r.skip(p, 1, end, "legacy_session_id length")) < 0) return p;
  if (r.b[p - 1]! > 32) return r.fail("legacy_session_id longer than 32 bytes");
  if ((p = r.skip(p, r.b[p - 1]!, end, "legacy_session_id")) < 0) return p;
  const suites = p;
  if ((p = r.vector(p, 2, end, "cipher_suites")) < 0) return p;
  const suitesLength = p - suites - 2;
  if (suitesLength === 0 || suitesLength % 2 !== 0) return r.fail("cipher_suites length is zero or odd");
  const methods = p;
  if ((p = r.vector(p, 1, end, "legacy_compression_methods")) < 0) return p;
  if (p === methods + 1) return r.fail("no compression method");
  if (p === end) return p; // before TLS 1.3, extensions were optional
  const extensions = p;
  if ((p = r.skip(p, 2, end, "extensions length")) < 0) return p;
  const extEnd = p + r.len(extensions, 2);
  if (extEnd > end) return r.fail("extensions overrun the ClientHello");
  if (extEnd < end) return r.fail("bytes after the extensions");
  return parseExtensions(r, p, extEnd, found);
}

/** Walks the extensions in [p, end): each once only (RFC 8446 4.2), the three we read checked in full. */
function parseExtensions(r: Reader, p: number, end: number, found: Found): number {
  const seen = new Set<number>();
  while (p < end) {
    const start = p;
    if ((p = r.skip(p, 4, end, "extension header")) < 0) return p;
    const type = r.len(start, 2);
    if (seen.has(type)) return r.fail(`extension ${type} appears twice`);
    seen.add(type);
    const data = p;
    if ((p = r.skip(data, r.len(start + 2, 2), end, `extension ${type}`)) < 0) return p;
    let q = p;
    if (type === EXT_SERVER_NAME) q = checkServerName(r, data, p, found);
    else if (type === EXT_ALPN) q = checkAlpn(r, data, p, found);
    else if (type === EXT_SUPPORTED_VERSIONS) q = checkVersions(r, data, p, found);
    if (q < 0) return q;
  }
  return p;
}

/** A vector at `p` (prefix of `width` bytes) that must fill the extension data [p, end) exactly. */
function whole(r: Reader, p: number, width: number, end: number, what: string): number {
  const q = r.vector(p, width, end, what);
  if (q < 0) return q;
  if (q !== end) return r.fail(`bytes after the ${what}`);
  if (q === p + width) return r.fail(`empty ${what}`);
  return q;
}

/** RFC 6066 3: one host_name at most, of 1 to 255 bytes; we also want it printable ASCII, no space. */
function checkServerName(r: Reader, s: number, e: number, found: Found): number {
  const q = whole(r, s, 2, e, "server_name list");
  if (q < 0) return q;
  for (let p = s + 2; p < e; ) {
    const nameType = r.b[p]!;
    const name = p + 1;
    if ((p = r.vector(name, 2, e, "server_name entry")) < 0) return p;
    if (nameType !== 0) continue; // no other name type was ever defined; skip it as RFC 6066 allows
    if (found.serverName >= 0) return r.fail("two host_name entries in server_name");
    const n = p - name - 2;
    if (n === 0 || n > 255) return r.fail(`host_name of ${n} bytes`);
    for (let i = name + 2; i < p; i++) {
      const c = r.b[i]!;
      if (c <= 0x20 || c >= 0x7f) return r.fail("host_name has a byte outside printable ASCII");
    }
    found.serverName = name;
  }
  return e;
}

/** RFC 7301 3.1: a non-empty list of non-empty protocol names. */
function checkAlpn(r: Reader, s: number, e: number, found: Found): number {
  const q = whole(r, s, 2, e, "ALPN list");
  if (q < 0) return q;
  for (let p = s + 2; p < e; ) {
    const name = p;
    if ((p = r.vector(name, 1, e, "ALPN protocol")) < 0) return p;
    if (p === name + 1) return r.fail("empty ALPN protocol name");
  }
  found.alpn = s;
  return e;
}

/** RFC 8446 4.2.1: a list of 2-byte versions, at least one. */
function checkVersions(r: Reader, s: number, e: number, found: Found): number {
  const q = whole(r, s, 1, e, "supported_versions list");
  if (q < 0) return q;
  if ((e - s - 1) % 2 !== 0) return r.fail("supported_versions length is odd");
  found.versions = s;
  return e;
}

function hostName(h: Uint8Array, p: number): string {
  const end = p + 2 + ((h[p]! << 8) | h[p + 1]!);
  let name = "";
  // At most 255 checked ASCII bytes: concatenation is cheap enough, and lower-casing here saves a copy.
  for (let i = p + 2; i < end; i++) {
    const c = h[i]!;
    name += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
  }
  return name;
}

function protocols(h: Uint8Array, s: number): string[] {
  const end = s + 2 + ((h[s]! << 8) | h[s + 1]!);
  const out: string[] = [];
  for (let p = s + 2; p < end; p += 1 + h[p]!) out.push(String.fromCharCode(...h.subarray(p + 1, p + 1 + h[p]!)));
  return out;
}

function versions(h: Uint8Array, s: number): number[] {
  const end = s + 1 + h[s]!;
  const out: number[] = [];
  for (let p = s + 1; p < end; p += 2) out.push((h[p]! << 8) | h[p + 1]!);
  return out;
}
