import { describe, expect, test } from "bun:test";
import { crc32c } from "../../src/net/crc32c.ts";
import { listTlvs, parseProxyHeader, PROXY_V2_LOCAL, proxyHeaderSize, writeProxyHeader, type Endpoint, type ProxyAccept, type ProxyHeader, type ProxyParse } from "../../src/net/proxy-protocol.ts";

const ascii = (text: string) => new TextEncoder().encode(text);
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header built by hand from the spec's layout, the length field filled in from `body`. */
function v2(verCmd: number, family: number, body: number[], length = body.length): Uint8Array {
  return Uint8Array.from([...SIGNATURE, verCmd, family, length >> 8, length & 0xff, ...body]);
}
const IPV4_BLOCK = [192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb]; // 192.168.0.1:56324 -> 192.168.0.11:443

function header(result: ProxyParse): ProxyHeader {
  if (result.status !== "ok") throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.header;
}
function why(result: ProxyParse): string {
  if (result.status !== "invalid") throw new Error(`expected invalid, got ${JSON.stringify(result)}`);
  return result.why;
}
function encode(version: 1 | 2, source: Endpoint, destination: Endpoint, tlvs: Uint8Array | null = null): Uint8Array {
  const out = new Uint8Array(proxyHeaderSize(version, source, destination, tlvs));
  expect(writeProxyHeader(version, source, destination, tlvs, out)).toBe(out.length);
  return out;
}

describe("the spec's examples", () => {
  test("the v1 line before an HTTP request: the request starts right after the CRLF", () => {
    const bytes = ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n");
    const h = header(parseProxyHeader(bytes, "any"));
    expect(h).toEqual({ version: 1, command: "proxy", source: { host: "192.168.0.1", port: 56324 }, destination: { host: "192.168.0.11", port: 443 }, tlvs: new Uint8Array(0), length: 47 });
    expect(new TextDecoder().decode(bytes.subarray(h.length))).toStartWith("GET / HTTP/1.1\r\n");
  });

  test("the longest lines the receiver must support", () => {
    const ffff = Array(8).fill("ffff").join(":");
    const lines: [string, number][] = [
      ["PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 56],
      [`PROXY TCP6 ${ffff} ${ffff} 65535 65535\r\n`, 104],
      ["PROXY UNKNOWN\r\n", 15],
      [`PROXY UNKNOWN ${ffff} ${ffff} 65535 65535\r\n`, 107],
    ];
    for (const [line, length] of lines) {
      expect(line.length).toBe(length);
      expect(header(parseProxyHeader(ascii(line), "v1")).length).toBe(length);
    }
    expect(header(parseProxyHeader(ascii(lines[1]![0]), "v1")).source).toEqual({ host: ffff, port: 65535 });
    expect(header(parseProxyHeader(ascii(lines[3]![0]), "v1")).command).toBe("local");
  });

  test("v2 TCP over IPv4 and IPv6, and LOCAL", () => {
    expect(header(parseProxyHeader(v2(0x21, 0x11, IPV4_BLOCK), "v2"))).toEqual({
      version: 2, command: "proxy", source: { host: "192.168.0.1", port: 56324 }, destination: { host: "192.168.0.11", port: 443 }, tlvs: new Uint8Array(0), length: 28,
    });
    const six = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1, ...Array(15).fill(0), 1, 0x30, 0x39, 0, 80];
    expect(header(parseProxyHeader(v2(0x21, 0x21, six), "any"))).toMatchObject({ source: { host: "2001:db8::1", port: 12345 }, destination: { host: "::1", port: 80 }, length: 52 });
    expect(header(parseProxyHeader(PROXY_V2_LOCAL, "v2"))).toEqual({ version: 2, command: "local", source: null, destination: null, tlvs: new Uint8Array(0), length: 16 });
  });

  test("LOCAL, UNSPEC and AF_UNIX keep the peer's own address; the length field is still honoured", () => {
    // "Receivers MUST always consider this field to skip the appropriate number of bytes."
    const local = header(parseProxyHeader(v2(0x20, 0x11, IPV4_BLOCK), "v2"));
    expect(local).toMatchObject({ command: "local", source: null, destination: null, length: 28 });
    expect(header(parseProxyHeader(v2(0x21, 0x00, []), "v2")).command).toBe("local");
    expect(header(parseProxyHeader(v2(0x21, 0x31, Array(216).fill(0x2f)), "v2"))).toMatchObject({ command: "local", length: 232 });
    // LOCAL ignores the family, datagram ones included: the connection itself is a TCP one.
    expect(header(parseProxyHeader(v2(0x20, 0x12, IPV4_BLOCK), "v2")).command).toBe("local");
  });

  test("CRC32C is RFC 4960's (Castagnoli): the usual check value and RFC 3720's vectors", () => {
    expect(crc32c(ascii("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  test("a v2 header's CRC32C TLV is checked over the whole header with the field zeroed", () => {
    const body = [...IPV4_BLOCK, 0x03, 0, 4, 0, 0, 0, 0, 0x04, 0, 2, 0xaa, 0xbb];
    const bytes = v2(0x21, 0x11, body);
    const crc = crc32c(bytes);
    bytes.set([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255], 16 + 12 + 3);
    const h = header(parseProxyHeader(bytes, "v2"));
    expect(listTlvs(h.tlvs).map((t) => [t.type, [...t.value]])).toEqual([[0x03, [crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255]], [0x04, [0xaa, 0xbb]]]);
    for (const at of [0, 13, 20, 31, bytes.length - 1]) {
      const broken = bytes.slice();
      broken[at]! ^= at === 13 ? 0x30 : 1; // family 0x11 -> 0x21: IPv6, whose block the length no longer covers
      expect(parseProxyHeader(broken, "any").status).toBe("invalid");
    }
    const flipped = bytes.slice();
    flipped[38]! ^= 0x80; // inside the NOOP TLV: only the checksum can tell
    expect(why(parseProxyHeader(flipped, "v2"))).toContain("CRC32C mismatch");
  });
});

describe("encode then parse", () => {
  const cases: [string, Endpoint, Endpoint, string, string][] = [
    ["IPv4", { host: "203.0.113.7", port: 4444 }, { host: "10.0.0.1", port: 80 }, "203.0.113.7", "10.0.0.1"],
    ["IPv6, compressed on the way", { host: "2001:0DB8:0:0:0:0:0:0001", port: 65535 }, { host: "fe80::1:2", port: 0 }, "2001:db8::1", "fe80::1:2"],
    ["IPv4 beside IPv6 goes as mapped IPv6", { host: "192.0.2.1", port: 1 }, { host: "::1", port: 2 }, "::ffff:192.0.2.1", "::1"],
    ["IPv4-mapped is kept as given", { host: "::ffff:192.0.2.1", port: 1 }, { host: "::ffff:10.0.0.1", port: 2 }, "::ffff:192.0.2.1", "::ffff:10.0.0.1"],
  ];
  for (const version of [1, 2] as const) {
    for (const [name, source, destination, sourceHost, destinationHost] of cases) {
      test(`v${version} ${name}`, () => {
        const bytes = encode(version, source, destination);
        const data = ascii("hello");
        const stream = new Uint8Array(bytes.length + data.length);
        stream.set(bytes);
        stream.set(data, bytes.length);
        const h = header(parseProxyHeader(stream, "any"));
        expect(h).toEqual({ version, command: "proxy", source: { host: sourceHost, port: source.port }, destination: { host: destinationHost, port: destination.port }, tlvs: new Uint8Array(0), length: bytes.length });
        expect(stream.subarray(h.length)).toEqual(data);
      });
    }
  }

  test("v1 writes the spec's text exactly", () => {
    expect(new TextDecoder().decode(encode(1, { host: "192.168.0.1", port: 56324 }, { host: "192.168.0.11", port: 443 }))).toBe("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    expect(new TextDecoder().decode(encode(1, { host: "2001:db8::1", port: 1 }, { host: "::", port: 2 }))).toBe("PROXY TCP6 2001:db8::1 :: 1 2\r\n");
  });

  test("v2 writes the spec's bytes exactly", () => {
    expect(encode(2, { host: "192.168.0.1", port: 56324 }, { host: "192.168.0.11", port: 443 })).toEqual(v2(0x21, 0x11, IPV4_BLOCK));
  });

  test("v2 TLVs are carried as sent, and a CRC32C TLV is recomputed for the new header", () => {
    const tlvs = Uint8Array.of(0x02, 0, 3, 0x61, 0x62, 0x63, 0x03, 0, 4, 0, 0, 0, 0, 0xe0, 0, 0);
    const first = header(parseProxyHeader(encode(2, { host: "198.51.100.2", port: 9 }, { host: "10.0.0.1", port: 5432 }, tlvs), "v2"));
    expect(listTlvs(first.tlvs).map((t) => t.type)).toEqual([0x02, 0x03, 0xe0]);
    expect([...listTlvs(first.tlvs)[0]!.value]).toEqual([0x61, 0x62, 0x63]);
    expect(listTlvs(first.tlvs)[1]!.value).not.toEqual(new Uint8Array(4));
    // Forwarded with other addresses: the checksum is made again, so the next receiver accepts it.
    const forwarded = encode(2, { host: "2001:db8::7", port: 10 }, { host: "2001:db8::8", port: 11 }, first.tlvs);
    const second = header(parseProxyHeader(forwarded, "v2"));
    expect(second.source).toEqual({ host: "2001:db8::7", port: 10 });
    expect(listTlvs(second.tlvs)[1]!.value).not.toEqual(listTlvs(first.tlvs)[1]!.value);
  });

  test("bad arguments are refused with a reason", () => {
    const a = { host: "10.0.0.1", port: 1 };
    const out = new Uint8Array(300);
    expect(() => writeProxyHeader(2, { host: "example.com", port: 1 }, a, null, out)).toThrow(/source host "example.com" is not an IP address/);
    expect(() => writeProxyHeader(2, a, { host: "10.0.0.1", port: 65536 }, null, out)).toThrow(/destination port 65536/);
    expect(() => writeProxyHeader(1, a, { host: "10.0.0.1", port: 1.5 }, null, out)).toThrow(/destination port 1.5/);
    expect(() => writeProxyHeader(1, a, a, Uint8Array.of(4, 0, 0), out)).toThrow(/v1 header cannot carry TLVs/);
    expect(() => writeProxyHeader(3 as 2, a, a, null, out)).toThrow(/version must be 1 or 2/);
    expect(() => writeProxyHeader(2, a, a, Uint8Array.of(4, 0, 5, 1), out)).toThrow(/bad TLV block/);
    expect(() => writeProxyHeader(2, a, a, Uint8Array.of(3, 0, 2, 0, 0), out)).toThrow(/CRC32C TLV of 2 bytes/);
    expect(() => writeProxyHeader(2, a, a, null, new Uint8Array(27))).toThrow(/out holds 27 bytes, the header needs 28/);
    const huge = new Uint8Array(65535 - 12 + 1);
    huge.set([0x04, (huge.length - 3) >> 8, (huge.length - 3) & 255]);
    expect(() => proxyHeaderSize(2, a, a, huge)).toThrow(/do not fit a v2 header/);
    expect(() => listTlvs(Uint8Array.of(1, 0))).toThrow(/listTlvs: truncated TLV/);
  });
});

/** Valid headers, each followed by some stream bytes, for the incremental tests. */
const VALID: [string, Uint8Array][] = [
  ["v1 TCP4", ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")],
  ["v1 TCP4, shortest", ascii("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n")],
  ["v1 TCP6", ascii("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 65535\r\n")],
  ["v1 TCP6, shortest", ascii("PROXY TCP6 :: :: 0 0\r\n")],
  ["v1 UNKNOWN", ascii("PROXY UNKNOWN\r\n")],
  ["v1 UNKNOWN with addresses", ascii("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n")],
  ["v2 LOCAL", PROXY_V2_LOCAL],
  ["v2 TCP4", v2(0x21, 0x11, IPV4_BLOCK)],
  ["v2 TCP6 with TLVs and CRC32C", encode(2, { host: "2001:db8::1", port: 7 }, { host: "::1", port: 8 }, Uint8Array.of(3, 0, 4, 0, 0, 0, 0, 5, 0, 2, 1, 2))],
];

describe("delivered a byte at a time", () => {
  for (const [name, bytes] of VALID) {
    const own: ProxyAccept = bytes[0] === 0x50 ? "v1" : "v2";
    for (const accept of [own, "any"] as const) {
      test(`${name} (accept ${accept}): pending with a rising atLeast that never passes the header, then ok`, () => {
        const stream = new Uint8Array(bytes.length + 3);
        stream.set(bytes);
        stream.set([0x53, 0x53, 0x48], bytes.length); // "SSH": the stream's own first bytes
        let last = 0;
        for (let k = 0; k < bytes.length; k++) {
          const result = parseProxyHeader(stream.subarray(0, k), accept);
          if (result.status !== "pending") throw new Error(`${k} bytes gave ${JSON.stringify(result)}`);
          expect(result.atLeast).toBeGreaterThan(k);
          expect(result.atLeast).toBeGreaterThanOrEqual(last);
          expect(result.atLeast).toBeLessThanOrEqual(bytes.length);
          last = result.atLeast;
        }
        for (const end of [bytes.length, stream.length]) expect(header(parseProxyHeader(stream.subarray(0, end), accept)).length).toBe(bytes.length);
      });
    }
  }
});

describe("malformed headers are invalid", () => {
  const TCP4 = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
  const v1Cases: [string, string, RegExp][] = [
    ["two spaces after PROXY", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", /unknown protocol/],
    ["an unknown protocol", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", /unknown protocol "TCP5"/],
    ["a lower-case protocol", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", /unknown protocol/],
    ["UNKNOWN run on", "PROXY UNKNOWNX\r\n", /unknown protocol/],
    ["two spaces between fields", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", /empty destination address/],
    ["a tab for a space", "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", /unexpected byte 0x9/],
    ["a space before the CRLF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", /more than four fields/],
    ["five fields", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", /more than four fields/],
    ["a missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", /missing fields/],
    ["no addresses", "PROXY TCP4\r\n", /missing fields/],
    ["LF alone", TCP4.replace("\r\n", "\n"), /LF without CR/],
    ["CR alone", TCP4.replace("\r\n", "\rx"), /CR not followed by LF/],
    ["CR alone in UNKNOWN", "PROXY UNKNOWN a\rb\r\n", /CR not followed by LF/],
    ["IPv6 for TCP4", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", /unexpected byte 0x3a in the source address/],
    ["IPv4 for TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", /bad source address "1.2.3.4" for TCP6/],
    ["an octet above 255", "PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n", /bad destination address/],
    ["an octet with a leading zero", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", /bad source address/],
    ["three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", /bad source address/],
    ["a bad IPv6", "PROXY TCP6 1::2::3 ::1 1 2\r\n", /bad source address/],
    ["an IPv6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", /unexpected byte 0x25/],
    ["a port above 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", /source port above 65535/],
    ["a port with a leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n", /destination port with a leading zero/],
    ["a signed port", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", /unexpected byte 0x2b in the source port/],
    ["107 bytes and no CRLF", `PROXY UNKNOWN ${"x".repeat(93)}`, /oversized/],
    ["a 108-byte line", `PROXY UNKNOWN ${"x".repeat(92)}\r\n`, /oversized/],
  ];
  for (const [name, line, reason] of v1Cases) {
    test(`v1: ${name}`, () => {
      expect(why(parseProxyHeader(ascii(line), "any"))).toMatch(reason);
      expect(why(parseProxyHeader(ascii(line), "v1"))).toMatch(reason);
    });
  }

  const v2Cases: [string, Uint8Array, RegExp][] = [
    ["version 1 in the binary format", v2(0x11, 0x11, IPV4_BLOCK), /version 1, not 2/],
    ["version 3", v2(0x31, 0x11, IPV4_BLOCK), /version 3, not 2/],
    ["an unassigned command", v2(0x22, 0x11, IPV4_BLOCK), /unknown command 2/],
    ["UDP over IPv4", v2(0x21, 0x12, IPV4_BLOCK), /datagram family 0x12/],
    ["UDP over IPv6", v2(0x21, 0x22, Array(36).fill(0)), /datagram family 0x22/],
    ["UNIX datagram", v2(0x21, 0x32, Array(216).fill(0)), /datagram family 0x32/],
    ["an undefined family", v2(0x21, 0x41, IPV4_BLOCK), /unknown family\/transport 0x41/],
    ["an undefined transport", v2(0x21, 0x13, IPV4_BLOCK), /unknown family\/transport 0x13/],
    ["a length short of the IPv4 block", v2(0x21, 0x11, IPV4_BLOCK.slice(0, 11)), /length 11 is shorter than the 12-byte address block/],
    ["a length short of the IPv6 block", v2(0x21, 0x21, Array(35).fill(0)), /length 35 is shorter than the 36-byte/],
    ["a truncated TLV", v2(0x21, 0x11, [...IPV4_BLOCK, 0x04, 0]), /truncated TLV/],
    ["a TLV longer than the header", v2(0x21, 0x11, [...IPV4_BLOCK, 0x04, 0, 3, 1, 2]), /TLV 0x04 at offset 28 overruns the header/],
    ["a CRC32C TLV of 3 bytes", v2(0x21, 0x11, [...IPV4_BLOCK, 0x03, 0, 3, 1, 2, 3]), /CRC32C TLV of 3 bytes/],
    ["two CRC32C TLVs", v2(0x21, 0x11, [...IPV4_BLOCK, 0x03, 0, 4, 0, 0, 0, 0, 0x03, 0, 4, 0, 0, 0, 0]), /two CRC32C TLVs/],
    ["a wrong CRC32C", v2(0x21, 0x11, [...IPV4_BLOCK, 0x03, 0, 4, 0, 0, 0, 0]), /CRC32C mismatch/],
    ["a signature with a wrong byte", Uint8Array.from([...SIGNATURE.slice(0, 5), 0x0c, ...SIGNATURE.slice(6), 0x21, 0x11, 0, 12, ...IPV4_BLOCK]), /not a PROXY protocol header/],
  ];
  for (const [name, bytes, reason] of v2Cases) {
    test(`v2: ${name}`, () => {
      expect(why(parseProxyHeader(bytes, "any"))).toMatch(reason);
      expect(why(parseProxyHeader(bytes, "v2"))).toMatch(reason);
    });
  }

  test("v2 longer than maxBytes is refused from its first 16 bytes, before the rest arrives", () => {
    const big = v2(0x21, 0x11, [...IPV4_BLOCK, 0x04, 0x10, 0x00], 12 + 3 + 4096);
    expect(why(parseProxyHeader(big, "v2"))).toBe("v2: oversized (4127 bytes, at most 4096)");
    expect(why(parseProxyHeader(big.subarray(0, 16), "v2", 4126))).toMatch(/oversized/);
    expect(parseProxyHeader(big.subarray(0, 16), "v2", 4127)).toEqual({ status: "pending", atLeast: 4127 });
    expect(() => parseProxyHeader(big, "v2", 15)).toThrow(RangeError);
  });

  test("a version that is not accepted is refused, and so is anything else, at the first byte that tells", () => {
    expect(why(parseProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "v2"))).toBe("a v1 header, but only v2 is accepted");
    expect(why(parseProxyHeader(PROXY_V2_LOCAL, "v1"))).toBe("a v2 header, but only v1 is accepted");
    expect(why(parseProxyHeader(ascii("P"), "v2"))).toBe("a v1 header, but only v2 is accepted");
    expect(why(parseProxyHeader(Uint8Array.of(0x0d), "v1"))).toBe("a v2 header, but only v1 is accepted");
    for (const start of ["G", "\x16\x03\x01", "SSH-2.0", "PROXY\t", "PROXY X", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "\r\n\r\n\0\r\nX"]) {
      expect(parseProxyHeader(Uint8Array.from(start, (c) => c.charCodeAt(0)), "any").status).toBe("invalid");
    }
    expect(why(parseProxyHeader(Uint8Array.of(...SIGNATURE, 0x10), "any"))).toMatch(/version 1/);
    expect(why(parseProxyHeader(Uint8Array.of(...SIGNATURE, 0x21, 0x22), "any"))).toMatch(/datagram/);
    expect(parseProxyHeader(new Uint8Array(0), "any")).toEqual({ status: "pending", atLeast: 15 });
    expect(parseProxyHeader(new Uint8Array(0), "v2")).toEqual({ status: "pending", atLeast: 16 });
  });
});
