// ALPN protocol lists in the wire form Bun's TLS options take: each name prefixed by its length.

/** ["h2", "http/1.1"] -> 0x02 "h2" 0x08 "http/1.1" (names are 1-255 bytes; the config checks them). */
export function alpnWire(protocols: readonly string[]): Buffer {
  return Buffer.concat(protocols.map((p) => {
    const name = Buffer.from(p, "latin1");
    return Buffer.concat([Buffer.from([name.length]), name]);
  }));
}
