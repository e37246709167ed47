// The PROXY codec against a real nginx stream server, both ways: nginx accepting what the writer sends (listen ... proxy_protocol), and the parser reading what nginx sends (proxy_protocol on).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseProxyHeader, proxyHeaderSize, writeProxyHeader, type Endpoint } from "../../src/net/proxy-protocol.ts";
import { closedPort, startEcho, type Backend } from "../helpers/backends.ts";
import { exchangeFrom, startCapture, type CaptureServer } from "../helpers/haproxy.ts";
import { startNginx, type Nginx } from "../helpers/nginx.ts";

const ascii = (text: string) => new TextEncoder().encode(text);
const CLAIMED: Endpoint = { host: "203.0.113.7", port: 4444 };
const SERVICE: Endpoint = { host: "198.51.100.1", port: 443 };

function encode(version: 1 | 2, source: Endpoint, tlvs: Uint8Array | null, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(proxyHeaderSize(version, source, SERVICE, tlvs) + data.length);
  out.set(data, writeProxyHeader(version, source, SERVICE, tlvs, out));
  return out;
}

describe("nginx stream and the PROXY codec", () => {
  const receiverPort = closedPort();
  const senderPort = closedPort();
  const relayPort = closedPort();
  let echo: Backend;
  let capture: CaptureServer;
  let nginx: Nginx;

  beforeAll(async () => {
    echo = startEcho();
    capture = startCapture();
    nginx = await startNginx(`
server {
    listen 127.0.0.1:${receiverPort} proxy_protocol;
    proxy_pass 127.0.0.1:${echo.port};
    # The client half-closes after its data: without this nginx would drop the echo on the way back.
    proxy_half_close on;
}
server {
    listen 127.0.0.1:${senderPort};
    proxy_pass 127.0.0.1:${capture.port};
    proxy_protocol on;
}
# Trusts the header from 127.0.0.1 and passes the client it names on (realip), as one more v1 header.
server {
    listen 127.0.0.1:${relayPort} proxy_protocol;
    set_real_ip_from 127.0.0.1;
    proxy_pass 127.0.0.1:${capture.port};
    proxy_protocol on;
}
`);
  });
  afterAll(async () => {
    await nginx?.stop();
    echo?.stop();
    capture?.stop();
  });

  for (const version of [1, 2] as const) {
    test(`v${version} from the writer: nginx logs the claimed client and relays the data`, async () => {
      const data = ascii(`ping over v${version}\n`);
      const tlvs = version === 2 ? Uint8Array.of(0x03, 0, 4, 0, 0, 0, 0, 0x04, 0, 1, 0) : null;
      const exchange = await exchangeFrom("127.0.0.1", receiverPort, encode(version, CLAIMED, tlvs, data));
      expect(exchange.received).toEqual(data);
      const line = await nginx.waitForLog(new RegExp(`remote=127\\.0\\.0\\.1:${exchange.localPort} proxy=203\\.0\\.113\\.7:4444 `));
      expect(line).toContain(`bytes_in=${data.length} `);
    });
  }

  test("nginx refuses what is not a PROXY header, on a proxy_protocol listener", async () => {
    const refused = await exchangeFrom("127.0.0.1", receiverPort, ascii("GET / HTTP/1.0\r\n\r\n"));
    expect(refused.received.length).toBe(0);
    await nginx.waitForLog(new RegExp(`remote=127\\.0\\.0\\.1:${refused.localPort} proxy=-:- .* bytes_in=0 `));
  });

  test("nginx's own v1 header names the client, from 127.0.0.2-9, and the stream follows it", async () => {
    for (let last = 2; last <= 9; last++) {
      const client = `127.0.0.${last}`;
      const data = ascii(`hello from ${client}\n`);
      const exchange = await exchangeFrom(client, senderPort, data);
      const bytes = await capture.next();
      const result = parseProxyHeader(bytes, "v1");
      if (result.status !== "ok") throw new Error(`nginx's header did not parse: ${JSON.stringify(result)}: ${new TextDecoder().decode(bytes)}`);
      expect(result.header).toMatchObject({ version: 1, command: "proxy", source: { host: client, port: exchange.localPort }, destination: { host: "127.0.0.1", port: senderPort } });
      expect(bytes.subarray(result.header.length)).toEqual(data);
    }
  });

  for (const version of [1, 2] as const) {
    test(`a v${version} header through nginx's realip comes back as nginx's v1 with the same client`, async () => {
      const data = ascii("relayed\n");
      await exchangeFrom("127.0.0.1", relayPort, encode(version, CLAIMED, null, data));
      const bytes = await capture.next();
      const result = parseProxyHeader(bytes, "any");
      if (result.status !== "ok") throw new Error(`nginx's header did not parse: ${JSON.stringify(result)}`);
      expect(result.header).toMatchObject({ version: 1, source: CLAIMED, destination: { host: "127.0.0.1", port: relayPort } });
      expect(bytes.subarray(result.header.length)).toEqual(data);
    });
  }

  test("an IPv6 client through nginx's realip over IPv4: nginx mixes the families in one TCP6 line, which is refused (HAProxy refuses it too)", async () => {
    const claimed = { host: "2001:db8::7", port: 40000 };
    await exchangeFrom("127.0.0.1", relayPort, encode(2, claimed, null, ascii("relayed\n")));
    const bytes = await capture.next();
    const line = new TextDecoder().decode(bytes);
    expect(line).toStartWith(`PROXY TCP6 2001:db8::7 127.0.0.1 40000 ${relayPort}\r\n`);
    expect(parseProxyHeader(bytes, "v1")).toEqual({ status: "invalid", why: 'v1: bad destination address "127.0.0.1" for TCP6' });
  });
});
