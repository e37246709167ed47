// The PROXY codec against a real HAProxy, both ways: parsing what HAProxy sends (send-proxy, send-proxy-v2 with CRC32C and a unique ID), and HAProxy accepting what the writer sends.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { listTlvs, parseProxyHeader, proxyHeaderSize, writeProxyHeader, type Endpoint, type ProxyHeader } from "../../src/net/proxy-protocol.ts";
import { closedPort, startEcho, type Backend } from "../helpers/backends.ts";
import { exchangeFrom, startCapture, startHaproxy, type CaptureServer, type Haproxy } from "../helpers/haproxy.ts";

const ascii = (text: string) => new TextEncoder().encode(text);
const CLAIMED: Endpoint = { host: "203.0.113.7", port: 4444 };
const SERVICE: Endpoint = { host: "198.51.100.1", port: 443 };

function encode(version: 1 | 2, source: Endpoint, destination: Endpoint, tlvs: Uint8Array | null, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(proxyHeaderSize(version, source, destination, tlvs) + data.length);
  out.set(data, writeProxyHeader(version, source, destination, tlvs, out));
  return out;
}

/** The header HAProxy sent, parsed accepting only its version, and the same when accepting either. */
function parsed(bytes: Uint8Array, version: 1 | 2): ProxyHeader {
  const result = parseProxyHeader(bytes, `v${version}`);
  if (result.status !== "ok") throw new Error(`HAProxy's header did not parse: ${JSON.stringify(result)} from [${[...bytes.subarray(0, 64)]}]`);
  expect(parseProxyHeader(bytes, "any")).toEqual(result);
  expect(result.header.version).toBe(version);
  return result.header;
}

describe("HAProxy sends, the parser reads", () => {
  const modes = [
    { name: "send-proxy", server: "send-proxy", version: 1 as const, tlvTypes: [] as number[] },
    { name: "send-proxy-v2", server: "send-proxy-v2", version: 2 as const, tlvTypes: [] as number[] },
    { name: "send-proxy-v2 with crc32c and unique-id", server: "send-proxy-v2 proxy-v2-options crc32c,unique-id", version: 2 as const, tlvTypes: [0x03, 0x05] },
  ];
  const ports = modes.map(() => closedPort());
  let captures: CaptureServer[] = [];
  let haproxy: Haproxy;

  beforeAll(async () => {
    captures = modes.map(() => startCapture());
    haproxy = await startHaproxy(modes.map((mode, i) => `
listen sender_${i}
    bind 127.0.0.1:${ports[i]}
    unique-id-format %{+X}o%ci:%cp_%Ts
    server capture 127.0.0.1:${captures[i]!.port} ${mode.server}
`).join(""));
  });
  afterAll(async () => {
    await haproxy?.stop();
    for (const c of captures) c.stop();
  });

  modes.forEach((mode, i) => {
    test(`${mode.name}: the client's own address from 127.0.0.2-9, and its bytes right after the header`, async () => {
      for (let last = 2; last <= 9; last++) {
        const client = `127.0.0.${last}`;
        const data = Uint8Array.from([...ascii(`hello from ${client}\r\n`), 0x00, 0x0d, 0x0a, 0xff]);
        const exchange = await exchangeFrom(client, ports[i]!, data);
        expect(exchange.error).toBeNull();
        const bytes = await captures[i]!.next();
        const h = parsed(bytes, mode.version);
        expect(h).toMatchObject({ version: mode.version, command: "proxy", source: { host: client, port: exchange.localPort }, destination: { host: "127.0.0.1", port: ports[i] } });
        expect(listTlvs(h.tlvs).map((t) => t.type)).toEqual(mode.tlvTypes);
        expect(bytes.subarray(h.length)).toEqual(data);
        await haproxy.waitForLog(new RegExp(`client=${client.replaceAll(".", "\\.")}:${exchange.localPort} .* frontend=sender_${i} `));
      }
    });
  });

  test("the unique ID HAProxy sends is the one it logs", async () => {
    const exchange = await exchangeFrom("127.0.0.3", ports[2]!, ascii("x"));
    const h = parsed(await captures[2]!.next(), 2);
    const id = new TextDecoder().decode(listTlvs(h.tlvs).find((t) => t.type === 0x05)!.value);
    // unique-id-format %{+X}o%ci:%cp_%Ts: the client's address and port in hex, then the time.
    expect(id).toStartWith(`7F000003:${exchange.localPort.toString(16).toUpperCase().padStart(4, "0")}_`);
    await haproxy.waitForLog(new RegExp(`client=127\\.0\\.0\\.3:${exchange.localPort} .* id=${id} `));
  });
});

describe("the writer sends, HAProxy reads (accept-proxy)", () => {
  const echoPort = closedPort();
  const relayPort = closedPort();
  let echo: Backend;
  let capture: CaptureServer;
  let haproxy: Haproxy;

  beforeAll(async () => {
    echo = startEcho();
    capture = startCapture();
    haproxy = await startHaproxy(`
listen receiver
    bind 127.0.0.1:${echoPort} accept-proxy
    server echo 127.0.0.1:${echo.port}

listen relay
    bind 127.0.0.1:${relayPort} accept-proxy
    server capture 127.0.0.1:${capture.port} send-proxy-v2
`);
  });
  afterAll(async () => {
    await haproxy?.stop();
    echo?.stop();
    capture?.stop();
  });

  for (const version of [1, 2] as const) {
    test(`v${version}: HAProxy logs the claimed client and relays the data`, async () => {
      const data = ascii(`ping over v${version}\n`);
      const exchange = await exchangeFrom("127.0.0.1", echoPort, encode(version, CLAIMED, SERVICE, null, data));
      expect(exchange.received).toEqual(data);
      const line = await haproxy.waitForLog(new RegExp(`client=203\\.0\\.113\\.7:4444 peer=127\\.0\\.0\\.1:${exchange.localPort} frontend=receiver `));
      expect(line).toContain(`bytes_in=${data.length} `);
    });
  }

  test("v2 TLVs reach HAProxy: the authority is logged, and the CRC32C the writer made is accepted", async () => {
    const authority = ascii("db.example.com");
    const tlvs = Uint8Array.of(0x02, 0, authority.length, ...authority, 0x03, 0, 4, 0, 0, 0, 0);
    const data = ascii("with tlvs\n");
    const exchange = await exchangeFrom("127.0.0.1", echoPort, encode(2, CLAIMED, SERVICE, tlvs, data));
    expect(exchange.received).toEqual(data);
    await haproxy.waitForLog(new RegExp(`peer=127\\.0\\.0\\.1:${exchange.localPort} .* authority=db\\.example\\.com `));
  });

  test("a v2 header whose CRC32C is wrong is refused by HAProxy, so the checksum above was really checked", async () => {
    const bytes = encode(2, CLAIMED, SERVICE, Uint8Array.of(0x03, 0, 4, 0, 0, 0, 0), ascii("never relayed\n"));
    bytes[16 + 12 + 3]! ^= 0x01; // the first byte of the checksum value
    expect(parseProxyHeader(bytes, "v2")).toEqual({ status: "invalid", why: "v2: CRC32C mismatch" });
    const refused = await exchangeFrom("127.0.0.1", echoPort, bytes);
    expect(refused.received.length).toBe(0);
    const after = await exchangeFrom("127.0.0.1", echoPort, encode(2, CLAIMED, SERVICE, null, ascii("still up\n")));
    expect(new TextDecoder().decode(after.received)).toBe("still up\n");
  });

  test("HAProxy and the parser agree on what is a header, except where the parser follows the spec more strictly", async () => {
    const v2 = (verCmd: number, family: number, body: number[]) => Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, verCmd, family, body.length >> 8, body.length & 255, ...body);
    const v4Block = [203, 0, 113, 7, 198, 51, 100, 1, 0x11, 0x5c, 0x01, 0xbb];
    // [what, header, HAProxy accepts it]; the parser's verdict comes from parseProxyHeader itself.
    const cases: [string, Uint8Array, boolean][] = [
      ["TCP4", ascii("PROXY TCP4 203.0.113.7 198.51.100.1 4444 443\r\n"), true],
      ["TCP6", ascii("PROXY TCP6 2001:db8::7 2001:db8::1 4444 443\r\n"), true],
      ["UNKNOWN", ascii("PROXY UNKNOWN\r\n"), true],
      ["TCP6 with an IPv4 destination (what nginx writes for an IPv6 client over IPv4)", ascii("PROXY TCP6 2001:db8::7 127.0.0.1 4444 443\r\n"), false],
      ["TCP4 with an IPv6 source", ascii("PROXY TCP4 ::1 198.51.100.1 4444 443\r\n"), false],
      ["a space before the CRLF", ascii("PROXY TCP4 203.0.113.7 198.51.100.1 4444 443 \r\n"), false],
      ["LF alone", ascii("PROXY TCP4 203.0.113.7 198.51.100.1 4444 443\n"), false],
      ["TCP5", ascii("PROXY TCP5 203.0.113.7 198.51.100.1 4444 443\r\n"), false],
      ["v2 LOCAL", v2(0x20, 0x00, []), true],
      ["v2 TCP4", v2(0x21, 0x11, v4Block), true],
      ["v2 version 1", v2(0x11, 0x11, v4Block), false],
      ["v2 command 2", v2(0x22, 0x11, v4Block), false],
      ["v2 PROXY over UDP", v2(0x21, 0x12, v4Block), false],
      ["v2 length short of the address block", v2(0x21, 0x11, v4Block.slice(0, 8)), false],
      ["v2 truncated TLV", v2(0x21, 0x11, [...v4Block, 0x04, 0]), false],
      ["v2 TLV overrunning the header", v2(0x21, 0x11, [...v4Block, 0x04, 0, 9, 1]), false],
    ];
    // The spec forbids these, but HAProxy reads v1 ports leniently (strtol, cut to 16 bits).
    const stricter: [string, Uint8Array][] = [
      ["a port above 65535", ascii("PROXY TCP4 203.0.113.7 198.51.100.1 65536 443\r\n")],
      ["a port with a leading zero", ascii("PROXY TCP4 203.0.113.7 198.51.100.1 04444 443\r\n")],
    ];
    const data = ascii("hi\n");
    const accepted = async (header: Uint8Array) => {
      const bytes = new Uint8Array(header.length + data.length);
      bytes.set(header);
      bytes.set(data, header.length);
      const exchange = await exchangeFrom("127.0.0.1", echoPort, bytes);
      return exchange.received.length > 0;
    };
    for (const [what, header, haproxyAccepts] of cases) {
      expect({ what, haproxy: await accepted(header) }).toEqual({ what, haproxy: haproxyAccepts });
      expect({ what, parser: parseProxyHeader(header, "any").status }).toEqual({ what, parser: haproxyAccepts ? "ok" : "invalid" });
    }
    for (const [what, header] of stricter) {
      expect({ what, haproxy: await accepted(header), parser: parseProxyHeader(header, "any").status }).toEqual({ what, haproxy: true, parser: "invalid" });
    }
  });

  for (const version of [1, 2] as const) {
    test(`through HAProxy and back: a v${version} header claiming IPv6 comes out as HAProxy's v2 with the same client`, async () => {
      const claimed = { host: "2001:db8::7", port: 40000 };
      const data = ascii("relayed\n");
      await exchangeFrom("127.0.0.1", relayPort, encode(version, claimed, { host: "2001:db8::1", port: 5432 }, null, data));
      const bytes = await capture.next();
      const h = parsed(bytes, 2);
      expect(h).toMatchObject({ command: "proxy", source: claimed, destination: { host: "2001:db8::1", port: 5432 } });
      expect(bytes.subarray(h.length)).toEqual(data);
    });
  }
});
