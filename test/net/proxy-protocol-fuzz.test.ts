// Seeded fuzzing of the PROXY header parser: mutated valid headers and random bytes never throw, and `ok` only for a header that re-encodes to itself.
import { describe, expect, test } from "bun:test";
import { parseProxyHeader, PROXY_V2_LOCAL, proxyHeaderSize, writeProxyHeader, type Endpoint, type ProxyAccept, type ProxyHeader } from "../../src/net/proxy-protocol.ts";
import { formatIp, newIpWords } from "../../src/net/ip.ts";
import { seeded } from "../helpers/random.ts";

const random = seeded(0x5eed_0001);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
const SIGNATURE = PROXY_V2_LOCAL.subarray(0, 12);

function randomHost(v6: boolean): string {
  if (!v6) return [int(256), int(256), int(256), int(256)].join(".");
  const groups = Array.from({ length: 8 }, () => (random() < 0.4 ? 0 : int(0x10000)).toString(16));
  if (random() < 0.2) return `::ffff:${randomHost(false)}`;
  return groups.join(":");
}

function randomEndpoint(v6: boolean): Endpoint {
  return { host: randomHost(v6), port: pick([0, 1, 80, 65535, int(65536)]) };
}

function randomTlvs(): Uint8Array | null {
  if (random() < 0.4) return null;
  const parts: number[] = [];
  for (let count = int(4); count > 0; count--) {
    const type = pick([0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0, int(256)]);
    if (type === 0x03) continue;
    const length = int(20);
    parts.push(type, 0, length, ...Array.from({ length }, () => int(256)));
  }
  if (random() < 0.4) parts.push(0x03, 0, 4, 0, 0, 0, 0); // the writer fills in the checksum
  return Uint8Array.from(parts);
}

/** One valid header of any kind: v1 or v2, IPv4, IPv6 or mixed, with or without TLVs, or a LOCAL one. */
function randomValid(): Uint8Array {
  const roll = random();
  if (roll < 0.05) return ascii("PROXY UNKNOWN\r\n");
  if (roll < 0.1) return PROXY_V2_LOCAL.slice();
  const version = random() < 0.5 ? 1 : 2;
  const source = randomEndpoint(random() < 0.5);
  const destination = randomEndpoint(random() < 0.5);
  const tlvs = version === 2 ? randomTlvs() : null;
  const out = new Uint8Array(proxyHeaderSize(version, source, destination, tlvs));
  writeProxyHeader(version, source, destination, tlvs, out);
  return out;
}

/** One random change: a flipped bit, a new byte, a cut, a byte removed or added, a slice repeated, or bytes appended. */
function mutate(bytes: Uint8Array): Uint8Array {
  const b = Array.from(bytes);
  const at = int(b.length + 1);
  switch (int(7)) {
    case 0: if (at < b.length) b[at]! ^= 1 << int(8); break;
    case 1: if (at < b.length) b[at] = pick([0x20, 0x0d, 0x0a, 0x30, 0x3a, 0x2e, 0x00, 0xff, int(256)]); break;
    case 2: b.length = at; break;
    case 3: b.splice(at, 1); break;
    case 4: b.splice(at, 0, int(256)); break;
    case 5: b.splice(at, 0, ...b.slice(int(b.length), int(b.length) + 1 + int(8))); break;
    case 6: b.push(...Array.from({ length: int(8) }, () => int(256))); break;
  }
  return Uint8Array.from(b);
}

/** Bytes from the alphabet of v1 lines after "PROXY ", so the text state machine is walked in odd ways. */
function randomV1Line(): Uint8Array {
  const alphabet = "TCP46UNKOW 0123456789abcdefABCDEF:.:.  \r\n\r\n";
  let line = pick(["PROXY ", "PROXY TCP4 ", "PROXY TCP6 ", "PROXY UNKNOWN"]);
  for (let n = int(60); n > 0; n--) line += alphabet[int(alphabet.length)];
  return ascii(line);
}

function randomV2(): Uint8Array {
  const body = Array.from({ length: int(60) }, () => int(256));
  return Uint8Array.from([...SIGNATURE, pick([0x20, 0x21, int(256)]), pick([0x00, 0x11, 0x21, 0x31, 0x12, int(256)]), 0, int(64), ...body]);
}

const same = (a: ProxyHeader, b: ProxyHeader) =>
  expect({ ...a, length: 0, tlvs: [...a.tlvs] }).toEqual({ ...b, length: 0, tlvs: [...b.tlvs] });

const tally = { ok: 0, pending: 0, invalid: 0 };

/** Everything the parser promises about one input, whatever it is. */
function check(bytes: Uint8Array, accept: ProxyAccept): void {
  let result;
  try {
    result = parseProxyHeader(bytes, accept);
  } catch (err) {
    throw new Error(`threw on [${[...bytes]}] (${accept}): ${err}`);
  }
  tally[result.status]++;
  if (result.status === "pending") {
    expect(Number.isInteger(result.atLeast) && result.atLeast > bytes.length && result.atLeast <= 4096).toBe(true);
    return;
  }
  if (result.status === "invalid") {
    expect(result.why.length).toBeGreaterThan(0);
    return;
  }
  const h = result.header;
  expect(h.length).toBeGreaterThan(0);
  expect(h.length).toBeLessThanOrEqual(bytes.length);
  if (accept !== "any") expect(`v${h.version}`).toBe(accept);
  // The header alone parses the same, and any shorter piece of it is only pending.
  const alone = parseProxyHeader(bytes.subarray(0, h.length), accept);
  expect(alone.status).toBe("ok");
  if (alone.status === "ok") expect(alone.header).toEqual(h);
  expect(parseProxyHeader(bytes.subarray(0, int(h.length)), accept).status).toBe("pending");
  if (h.command === "local") {
    expect(h.source === null && h.destination === null).toBe(true);
    return;
  }
  const tlvs = h.tlvs.length > 0 ? h.tlvs : null;
  const again = new Uint8Array(proxyHeaderSize(h.version, h.source!, h.destination!, tlvs));
  writeProxyHeader(h.version, h.source!, h.destination!, tlvs, again);
  const reparsed = parseProxyHeader(again, accept);
  if (reparsed.status !== "ok") throw new Error(`re-encoding [${[...bytes.subarray(0, h.length)]}] gave ${JSON.stringify(reparsed)}`);
  same(reparsed.header, h);
  // v2 has one encoding of a TCP header. v1 text has one once its hosts are canonical, which the
  // parser made them: the line written from the parsed header is the line the parser returned.
  if (h.version === 2) expect([...again]).toEqual([...bytes.subarray(0, h.length)]);
  else expect(String.fromCharCode(...again)).toBe(`PROXY ${h.source!.host.includes(":") ? "TCP6" : "TCP4"} ${h.source!.host} ${h.destination!.host} ${h.source!.port} ${h.destination!.port}\r\n`);
}

describe("fuzz", () => {
  test("mutations of valid headers, under each accept setting", () => {
    for (let i = 0; i < 4000; i++) {
      let bytes = randomValid();
      for (let k = 0; k < 3; k++) check(bytes, pick(["v1", "v2", "any"] as const));
      for (let m = 1 + int(3); m > 0; m--) bytes = mutate(bytes);
      for (const accept of ["v1", "v2", "any"] as const) check(bytes, accept);
    }
  });

  test("random bytes, random v1-like lines and random v2-like blocks", () => {
    for (let i = 0; i < 4000; i++) {
      const bytes = pick([() => Uint8Array.from({ length: int(120) }, () => int(256)), randomV1Line, randomV2])();
      for (const accept of ["v1", "v2", "any"] as const) check(bytes, accept);
    }
  });

  test("IPv6 hosts come out in the RFC 5952 form that formatIp (WHATWG URL) gives", () => {
    const words = newIpWords();
    for (let i = 0; i < 20_000; i++) {
      // Zero-heavy groups, so runs of zeros of every length and position occur.
      const groups = Array.from({ length: 8 }, () => (random() < 0.5 ? 0 : int(0x10000)));
      if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) continue; // mapped: kept as ::ffff:a.b.c.d (proxy-protocol.test.ts)
      const block = [...groups.flatMap((g) => [g >> 8, g & 255]), ...Array(16).fill(0), 0, 1, 0, 2];
      const result = parseProxyHeader(Uint8Array.from([...SIGNATURE, 0x21, 0x21, 0, 36, ...block]), "v2");
      for (let w = 0; w < 4; w++) words[w] = groups[2 * w]! * 65536 + groups[2 * w + 1]!;
      expect(result.status === "ok" && result.header.source!.host).toBe(formatIp(words));
    }
  });

  test("every status was reached, so the cases were not all of one kind", () => {
    expect(tally.ok).toBeGreaterThan(1000);
    expect(tally.pending).toBeGreaterThan(1000);
    expect(tally.invalid).toBeGreaterThan(1000);
  });
});
