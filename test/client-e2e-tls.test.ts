// TLS after a PROXY header, through a real HAProxy 2.6 in front of the compiled aegis: a listener
// that terminates TLS routes on the SNI and the header's client together, and one that passes TLS
// through reads the ClientHello that follows the header.
import { afterEach, describe, expect, test } from "bun:test";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { closedPort, startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { makePki } from "./helpers/certs.ts";
import { startHaproxy, type Haproxy } from "./helpers/haproxy.ts";
import { startTlsEcho, type TlsEcho } from "./helpers/tls.ts";
import { within } from "./helpers/wait.ts";

const pki = makePki();
const q = JSON.stringify;
let aegis: Aegis | null = null;
let haproxy: Haproxy | null = null;
const servers: (Backend | TlsEcho)[] = [];
afterEach(async () => {
  await haproxy?.stop();
  haproxy = null;
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const s of servers.splice(0)) s.stop();
});

interface TlsExchange {
  localPort: number;
  reply: string;
  error: string | null;
}

/**
 * A TLS client bound to `localAddress` (node: Bun.connect cannot bind one): handshake, a line, then
 * `replyBytes` read before it closes. It does not half-close first: when the ClientHello came in
 * the same read as the PROXY header, aegis runs TLS through node:tls over a stream
 * (src/data/stream-tls.ts), and Bun 1.4.5 answers a client's close_notify there with its own and
 * ends the stream, so a reply still to come is lost.
 */
function tlsFrom(localAddress: string, port: number, serverName: string, replyBytes: number): Promise<TlsExchange> {
  const done = new Promise<TlsExchange>((resolve) => {
    const out: TlsExchange = { localPort: 0, reply: "", error: null };
    // TLS over a TCP socket bound to the address (node:tls takes no localAddress of its own).
    const tcp = netConnect({ host: "127.0.0.1", port, localAddress });
    const socket = tlsConnect({ socket: tcp, servername: serverName, ca: pki.ca.cert });
    socket.on("secureConnect", () => {
      out.localPort = socket.localPort ?? 0;
      socket.write(`hello from ${localAddress}\n`);
    });
    socket.on("data", (d: Buffer) => {
      out.reply += d.toString();
      if (out.reply.length >= replyBytes) socket.end();
    });
    socket.on("error", (e: Error) => (out.error ??= e.message));
    socket.on("close", () => resolve(out));
  });
  return within(done, 10_000, `TLS from ${localAddress} to ${port}`);
}

describe("TLS after the PROXY header", () => {
  test("terminated: the SNI and the header's client route together; passed through: the ClientHello after the header is read", async () => {
    const [app, other] = [startEcho({ greeting: "app\n" }), startEcho({ greeting: "other\n" })];
    const [endA, endB] = [startTlsEcho(pki.serverA, "A:"), startTlsEcho(pki.serverB, "B:")];
    servers.push(app, other, endA, endB);
    aegis = await startAegis(`
[global]
workers = 2
log_level = "debug"
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "term"
bind = "127.0.0.1:0"
upstream = "app"
proxy_protocol = "v2"
proxy_protocol_from = ["127.0.0.1/32"]
tls = { cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverA.keyPath)} }

[[listener.route]]
sni = ["db.a.test"]
source = ["127.0.0.6"]
upstream = "other"

[[listener]]
name = "pass"
bind = "127.0.0.1:0"
upstream = "end_a"
proxy_protocol = "v1"
proxy_protocol_from = ["127.0.0.1/32"]

[[listener.route]]
sni = ["b.test"]
upstream = "end_b"

[[upstream]]
name = "app"
servers = ["${app.address}"]

[[upstream]]
name = "other"
servers = ["${other.address}"]

[[upstream]]
name = "end_a"
servers = ["${endA.address}"]

[[upstream]]
name = "end_b"
servers = ["${endB.address}"]
`, { command: [ensureBinary()], cwd: tempDir() });
    const [termPort, passPort] = [closedPort(), closedPort()];
    haproxy = await startHaproxy(`
listen to_term
    bind 127.0.0.1:${termPort}
    server aegis 127.0.0.1:${aegis.ports.term} send-proxy-v2
listen to_pass
    bind 127.0.0.1:${passPort}
    server aegis 127.0.0.1:${aegis.ports.pass} send-proxy
`);
    const cases = [
      // [client, listener port, SNI, the reply, aegis's upstream]
      ["127.0.0.6", termPort, "db.a.test", "other\nhello from 127.0.0.6\n", "other"],
      ["127.0.0.7", termPort, "db.a.test", "app\nhello from 127.0.0.7\n", "app"],
      ["127.0.0.6", termPort, "www.a.test", "app\nhello from 127.0.0.6\n", "app"],
      ["127.0.0.8", passPort, "b.test", "B:hello from 127.0.0.8\n", "end_b"],
      ["127.0.0.9", passPort, "a.test", "A:hello from 127.0.0.9\n", "end_a"],
    ] as const;
    for (const [client, port, sni, reply, upstream] of cases) {
      const out = await tlsFrom(client, port, sni, reply.length);
      expect({ client, sni, error: out.error, reply: out.reply }).toEqual({ client, sni, error: null, reply });
      const line = await aegis.waitForLog((l) => l.msg === "session" && l.client === `${client}:${out.localPort}`);
      expect(line).toMatchObject({ upstream, sni });
      // Terminated, the client's close comes first (the echo waits for it); passed through, the end
      // server closes on the client's close_notify, and either FIN may reach aegis first.
      if (port === termPort) expect(line).toMatchObject({ tls_version: "TLSv1.3", end: "client_closed" });
      else expect(["client_closed", "server_closed"]).toContain(String(line.end));
    }
    expect([endA.handshakes, endB.handshakes]).toEqual([1, 1]); // TLS ran end to end through the passing listener
  });
});
