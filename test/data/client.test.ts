// Who the client is, in a real plane: a PROXY header in front (trusted peers only, whole or refused),
// its address used for admission and routes, and a PROXY header sent to servers, pooled sockets included.
import { describe, expect, test } from "bun:test";
import { parseProxyHeader, PROXY_V2_LOCAL, writeProxyHeader, proxyHeaderSize, type Endpoint } from "../../src/net/proxy-protocol.ts";
import { connectClient, startEchoBackend, startPlane, startBackend, type TestClient } from "../helpers/plane.ts";
import { waitFor } from "../helpers/wait.ts";
import { GEO_DB } from "../helpers/geo.ts";

const v1 = (src: string, port = 5555) => `PROXY TCP4 ${src} 10.0.0.1 ${port} 5432\r\n`;
function v2(source: Endpoint, destination: Endpoint, tlvs: Uint8Array | null = null): Uint8Array {
  const out = new Uint8Array(proxyHeaderSize(2, source, destination, tlvs));
  writeProxyHeader(2, source, destination, tlvs, out);
  return out;
}
/** aegis closed its side (a refusal sends a FIN; the client, half-open, may still be open). */
const ended = (c: TestClient, what: string) => c.recorder.until((r) => r.closed || r.events.includes("end"), what);
const trusted = `proxy_protocol = "any"\nproxy_protocol_from = ["127.0.0.0/8"]`;

describe("accepting a PROXY header", () => {
  test("v1 in the same write as the data: the server gets only the data; the header's client is the client", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: trusted });
    const client = await connectClient(p.port);
    client.write(v1("203.0.113.9") + "HELLO");
    const conn = await app.conn(1);
    await client.recorder.untilBytes(5, "the echo");
    expect(conn.events.slice(0, 2)).toEqual(["open", "data:HELLO"]);
    client.socket.end();
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
    expect(p.sessionLogs()[0]).toMatchObject({ client: "203.0.113.9:5555", peer: "127.0.0.1", bytes_in: 5, end: "client_closed" });
  });

  test("v2 dripped a few bytes at a time, then the data in a later write", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: trusted });
    const client = await connectClient(p.port);
    const header = v2({ host: "2001:db8::7", port: 4242 }, { host: "2001:db8::1", port: 443 });
    for (let at = 0; at < header.length; at += 5) {
      client.write(header.subarray(at, at + 5));
      await waitFor(() => p.counter("bytesReceived") === 0 && p.sessions === 1, { what: "still waiting for the header" });
    }
    client.write("PING");
    await client.recorder.untilBytes(4, "the echo");
    expect((await app.conn(1)).events.slice(0, 2)).toEqual(["open", "data:PING"]);
    client.socket.end();
    await waitFor(() => p.sessionLogs().length === 1, { what: "the access log line" });
    expect(p.sessionLogs()[0]).toMatchObject({ client: "2001:db8::7:4242", bytes_in: 4 });
  });

  test("a v2 LOCAL header (a balancer's health check) is accepted and the peer stays the client", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: trusted });
    const client = await connectClient(p.port);
    client.write(Buffer.concat([PROXY_V2_LOCAL, Buffer.from("PING")]));
    await client.recorder.untilBytes(4, "the echo");
    client.socket.end();
    await waitFor(() => p.sessionLogs().length === 1, { what: "the access log line" });
    expect(String(p.sessionLogs()[0]!.client)).toStartWith("127.0.0.1:");
  });

  const refusals: [string, string | Uint8Array][] = [
    ["a malformed v1 header", "PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\nDATA"],
    ["something that is not a PROXY header at all", "GET / HTTP/1.1\r\n\r\n"],
    ["a v1 line that never ends", `PROXY TCP4 ${"1".repeat(200)}`],
  ];
  for (const [what, bytes] of refusals) {
    test(`${what} is refused (proxy_protocol) and nothing reaches a server`, async () => {
      using app = startEchoBackend();
      using p = startPlane([app.address], { listener: trusted });
      const client = await connectClient(p.port);
      client.write(bytes);
      await ended(client, "refused");
      expect(p.counter("rejectedProxyProtocol")).toBe(1);
      expect(app.conns.length).toBe(0);
      expect(client.recorder.bytes).toBe(0);
      await waitFor(() => p.sessions === 0 && p.admitted === 0, { what: "nothing held" });
      expect(p.sessionLogs()[0]).toMatchObject({ end: "rejected", reason: "proxy_protocol" });
    });
  }

  test("a header cut short by the peer's close, and one that never completes before the timeout, are refused", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: `${trusted}\nproxy_protocol_timeout = "300ms"` });
    const cut = await connectClient(p.port);
    cut.write("PROXY TCP4 203.0.113.9");
    await waitFor(() => p.sessions === 1, { what: "the first session waits for its header" });
    cut.socket.end();
    await ended(cut, "cut");
    await waitFor(() => p.counter("rejectedProxyProtocol") === 1, { what: "the cut header counted" });
    const late = await connectClient(p.port);
    late.write(v2({ host: "203.0.113.9", port: 1 }, { host: "10.0.0.1", port: 2 }).subarray(0, 20));
    await ended(late, "closed at the timeout");
    expect(p.counter("rejectedProxyProtocol")).toBe(2);
    expect(app.conns.length).toBe(0);
    // A bare connect and close (a port check) is not a refused header.
    const bare = await connectClient(p.port);
    bare.socket.end();
    await ended(bare, "bare");
    await waitFor(() => p.sessions === 0, { what: "all sessions over" });
    expect(p.counter("rejectedProxyProtocol")).toBe(2);
  });

  test("a peer not in proxy_protocol_from is refused at accept", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: `proxy_protocol = "v1"\nproxy_protocol_from = ["10.0.0.0/8"]` });
    const client = await connectClient(p.port);
    client.write(v1("203.0.113.9") + "HELLO");
    await ended(client, "refused");
    expect(p.counter("rejectedProxyProtocol")).toBe(1);
    expect(app.conns.length).toBe(0);
    expect(p.admitted).toBe(0);
  });

  test("the header's address is what the ACL and per-IP limits judge", async () => {
    using app = startEchoBackend();
    using p = startPlane([app.address], { listener: `${trusted}\ndeny = ["203.0.113.0/24"]\nmax_connections_per_ip = 1` });
    const denied = await connectClient(p.port);
    denied.write(v1("203.0.113.9") + "X");
    await ended(denied, "denied by the ACL");
    expect(p.counter("rejectedAcl")).toBe(1);
    const first = await connectClient(p.port);
    first.write(v1("198.51.100.1") + "ONE");
    await first.recorder.untilBytes(3, "the first echo");
    const second = await connectClient(p.port);
    second.write(v1("198.51.100.1", 6666) + "TWO");
    await ended(second, "over the per-IP cap");
    expect(p.counter("rejectedPerIpLimit")).toBe(1);
    const other = await connectClient(p.port);
    other.write(v1("198.51.100.2") + "OK");
    await other.recorder.untilBytes(2, "another client is let in");
    expect(app.conns.length).toBe(2);
  });
});

describe("routes on who the client is", () => {
  test("source routes from the header's address, in order, with the default last", async () => {
    using app = startEchoBackend();
    using internal = startEchoBackend();
    using us = startEchoBackend();
    using p = startPlane([app.address], {
      global: `geoip = ${JSON.stringify(GEO_DB)}`,
      listener: `${trusted}\n[[listener.route]]\nsource = ["192.168.0.0/16", "2001:db8::/32"]\nupstream = "internal"\n[[listener.route]]\ncountry = ["US", "CA"]\nupstream = "us"`,
      upstreams: `[[upstream]]\nname = "internal"\nservers = [${JSON.stringify(internal.address)}]\n[[upstream]]\nname = "us"\nservers = [${JSON.stringify(us.address)}]`,
    });
    const cases: [string, string][] = [
      ["PROXY TCP4 192.168.4.4 10.0.0.1 1 2\r\n", "internal"],
      ["PROXY TCP6 2001:db8::9 2001:db8::1 1 2\r\n", "internal"],
      ["PROXY TCP4 8.8.8.8 10.0.0.1 1 2\r\n", "us"],      // US in the database
      ["PROXY TCP4 24.48.0.1 10.0.0.1 1 2\r\n", "us"],    // CA
      ["PROXY TCP4 81.2.69.142 10.0.0.1 1 2\r\n", "app"], // GB: no route
      ["PROXY TCP4 10.9.9.9 10.0.0.1 1 2\r\n", "app"],    // private: no country
    ];
    for (const [header, expected] of cases) {
      const client = await connectClient(p.port);
      client.write(header + "HI");
      await client.recorder.untilBytes(2, `echo for ${header.trim()}`);
      client.socket.end();
      await client.recorder.untilClosed();
      await waitFor(() => p.sessions === 0, { what: "session over" });
      expect(p.sessionLogs().at(-1), header).toMatchObject({ upstream: expected });
      // The country shows in the access log once a route has looked it up.
      if (expected === "us") expect(p.sessionLogs().at(-1)!.country).toBeOneOf(["US", "CA"]);
    }
  });
});

describe("sending a PROXY header", () => {
  for (const version of [1, 2] as const) {
    test(`send_proxy = "v${version}": the header comes first, with the client a PROXY header in front named`, async () => {
      using server = startBackend();
      using p = startPlane([server.address], { listener: trusted, upstream: `send_proxy = "v${version}"` });
      const client = await connectClient(p.port);
      client.write(v1("203.0.113.50", 40000) + "DATA");
      const conn = await server.conn(1);
      await conn.recorder.until((r) => r.received.includes("DATA"), "header and data at the server");
      const parsed = parseProxyHeader(conn.recorder.received, version === 1 ? "v1" : "v2");
      if (parsed.status !== "ok") throw new Error(`not a header: ${JSON.stringify(parsed)}`);
      expect(parsed.header).toMatchObject({ version, command: "proxy", source: { host: "203.0.113.50", port: 40000 }, destination: { host: "10.0.0.1", port: 5432 } });
      expect(conn.recorder.received.subarray(parsed.header.length).toString()).toBe("DATA");
    });
  }

  test("without a header in front, the source is the peer and the destination the listener's address", async () => {
    using server = startBackend();
    using p = startPlane([server.address], { upstream: `send_proxy = "v2"` });
    const client = await connectClient(p.port);
    client.write("X");
    const conn = await server.conn(1);
    await conn.recorder.until((r) => r.received.includes("X"), "header and data");
    const parsed = parseProxyHeader(conn.recorder.received, "v2");
    if (parsed.status !== "ok") throw new Error("not a header");
    expect(parsed.header.source).toEqual({ host: "127.0.0.1", port: client.socket.localPort });
    expect(parsed.header.destination).toEqual({ host: "127.0.0.1", port: p.port });
  });

  test("a pooled socket gets its header when a session takes it, not when it is dialled", async () => {
    using server = startBackend();
    using p = startPlane([server.address], { listener: trusted, upstream: `send_proxy = "v2"\npool = 1` });
    const pooled = await server.conn(1);
    await waitFor(() => p.plane.upstreams[0]!.pools![0]!.idleCount === 1, { what: "the pooled socket is ready" });
    expect(pooled.recorder.bytes).toBe(0);
    const client = await connectClient(p.port);
    client.write(v1("198.51.100.77", 1234) + "Q");
    await pooled.recorder.until((r) => r.received.includes("Q"), "the pooled socket's header and data");
    const parsed = parseProxyHeader(pooled.recorder.received, "v2");
    if (parsed.status !== "ok") throw new Error("not a header");
    expect(parsed.header.source).toEqual({ host: "198.51.100.77", port: 1234 });
  });

  test("TLVs of a v2 header in front go on to the servers", async () => {
    using server = startBackend();
    using p = startPlane([server.address], { listener: trusted, upstream: `send_proxy = "v2"` });
    const tlv = Uint8Array.of(0xea, 0x00, 0x03, 0x61, 0x62, 0x63); // a vendor TLV ("abc")
    const client = await connectClient(p.port);
    client.write(Buffer.concat([v2({ host: "203.0.113.1", port: 9 }, { host: "10.0.0.1", port: 80 }, tlv), Buffer.from("Z")]));
    const conn = await server.conn(1);
    await conn.recorder.until((r) => r.received.includes("Z"), "header and data");
    const parsed = parseProxyHeader(conn.recorder.received, "v2");
    if (parsed.status !== "ok") throw new Error("not a header");
    expect([...parsed.header.tlvs]).toEqual([...tlv]);
  });
});
