// CRC32C (Castagnoli, RFC 4960 appendix B), the checksum a PROXY protocol v2 header may carry.

/** The reflected Castagnoli polynomial 0x1EDC6F41. */
const POLYNOMIAL = 0x82f63b78;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The running state before any byte: pass it to the first `crc32cUpdate`. */
export const CRC32C_START = 0xffffffff;

/**
 * Feed bytes[from, to) into a running checksum and return the new state. Streaming, so a caller
 * can checksum a header in pieces (with a field replaced by zeros) without copying it.
 */
export function crc32cUpdate(state: number, bytes: Uint8Array, from = 0, to = bytes.length): number {
  let crc = state;
  for (let i = from; i < to; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** Feed `count` zero bytes (the checksum field itself, blanked while it is computed). */
export function crc32cZeros(state: number, count: number): number {
  let crc = state;
  for (let i = 0; i < count; i++) crc = TABLE[crc & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** The final value of a running checksum. */
export function crc32cFinish(state: number): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** CRC32C of bytes[from, to) in one call. */
export function crc32c(bytes: Uint8Array, from = 0, to = bytes.length): number {
  return crc32cFinish(crc32cUpdate(CRC32C_START, bytes, from, to));
}
