// The TLS record layer under a client's first handshake message: records walked and checked, the message's bytes gathered across them.

/** type (1), version (2), length (2). */
export const RECORD_HEADER = 5;
/** msg_type (1), length (3). */
export const HANDSHAKE_HEADER = 4;
/** RFC 8446 5.1: a record's plaintext is at most 2^14 bytes. */
const MAX_FRAGMENT = 16_384;
const HANDSHAKE = 22;
const CLIENT_HELLO = 1;

/** The first handshake message, as far as it has arrived. */
export interface HandshakeMessage {
  /** Its bytes so far, header included, never more than `needed` (a view of the input when one record holds them). */
  readonly received: Uint8Array;
  /** Its whole size, header included; Infinity until the 4-byte header is in. */
  readonly needed: number;
}

/**
 * The ClientHello message at the start of `bytes`, gathered from as many records as it spans
 * (RFC 8446 5.1 lets a client fragment it), reading no byte at or past `max`. A string says why
 * the stream is not a TLS client's: decided at the first byte that shows it, which for plain text
 * is the very first.
 */
export function handshakeMessage(bytes: Uint8Array, max: number): HandshakeMessage | string {
  const limit = Math.min(bytes.length, max);
  let off = 0;
  let available = 0;
  let records = 0;
  let needed = Infinity;
  let length = 0; // the handshake length, assembled as its three bytes pass by
  while (off < limit && available < needed) {
    const type = bytes[off]!;
    if (type !== HANDSHAKE) {
      if (off > 0) return `record of type ${type} inside the ClientHello`;
      // SSLv2's two-byte header sets the top bit; nothing since speaks it (RFC 6176).
      return type & 0x80 ? "SSLv2-style hello (not supported)" : "not TLS";
    }
    if (off + 1 < limit && bytes[off + 1] !== 3) return "record version is not 3.x";
    if (off + RECORD_HEADER > limit) break;
    const size = (bytes[off + 3]! << 8) | bytes[off + 4]!;
    if (size === 0) return "empty handshake record"; // RFC 8446 5.1 forbids them
    if (size > MAX_FRAGMENT) return "record longer than 2^14 bytes";
    const from = off + RECORD_HEADER;
    const got = Math.min(from + size, limit) - from;
    records++;
    for (let k = available; k < HANDSHAKE_HEADER && k < available + got; k++) {
      const b = bytes[from + k - available]!;
      if (k === 0 && b !== CLIENT_HELLO) return `handshake type ${b} is not ClientHello`;
      if (k > 0) length = length * 256 + b;
    }
    available += got;
    if (needed === Infinity && available >= HANDSHAKE_HEADER) {
      needed = HANDSHAKE_HEADER + length;
      // The shortest stream that carries it: one record header, then the message.
      if (RECORD_HEADER + needed > max) return "ClientHello larger than max_bytes";
    }
    off = from + size;
  }
  available = Math.min(available, needed);
  const received = records <= 1 ? bytes.subarray(RECORD_HEADER, RECORD_HEADER + available) : gather(bytes, available);
  return { received, needed };
}

/** The first `available` handshake bytes of the (already checked) records at the start of `bytes`, copied into one buffer. */
function gather(bytes: Uint8Array, available: number): Uint8Array {
  const out = new Uint8Array(available);
  let off = 0;
  let copied = 0;
  while (copied < available) {
    const size = (bytes[off + 3]! << 8) | bytes[off + 4]!; // at least 1: checked by the walk
    const n = Math.min(size, available - copied);
    out.set(bytes.subarray(off + RECORD_HEADER, off + RECORD_HEADER + n), copied);
    copied += n;
    off += RECORD_HEADER + size;
  }
  return out;
}
