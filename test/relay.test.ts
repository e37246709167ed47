// The relay end to end: bytes both ways, half-close in each direction, resets, and closing promptly.
import { describe, expect, test } from "bun:test";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import type { Socket } from "bun";
import { startEcho, startScripted } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends } = stopAfterEach(() => aegis);

describe("relay", () => {
  test("a server that stops reading stops the client, not aegis's memory; every byte arrives once it reads again", async () => {
    // The server reads nothing at first. aegis may hold what the kernel buffers on both of its
    // sockets plus one queue of at most 1 MiB: far less than the 64 MiB the client tries to send.
    const TOTAL = 64 * 1024 * 1024;
    let serverSide: Socket<unknown> | null = null;
    let received = 0;
    const receivedHash = new Bun.CryptoHasher("sha256");
    const sink = startScripted({
      open(socket) { serverSide = socket; socket.pause(); },
      data(_socket, data) { received += data.length; receivedHash.update(data); },
    });
    backends.push(sink);
    aegis = await startAegis(simpleConfig([sink.address], { workers: 1 }));
    const chunk = new Uint8Array(256 * 1024);
    crypto.getRandomValues(chunk.subarray(0, 65536));
    for (let i = 65536; i < chunk.length; i++) chunk[i] = chunk[i - 65536]! ^ (i & 0xff);
    const sentHash = new Bun.CryptoHasher("sha256");
    let sent = 0;
    const pump = (socket: Socket<undefined>) => {
      while (sent < TOTAL) {
        const piece = chunk.subarray(0, Math.min(chunk.length, TOTAL - sent));
        const written = socket.write(piece);
        if (written <= 0) return;
        sentHash.update(piece.subarray(0, written));
        sent += written;
        if (written < piece.length) return;
      }
    };
    const client = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, socket: { open: pump, drain: pump, data() {} } });
    try {
      // Wait until the client is stuck: nothing more accepted for 300 ms.
      await eventually(() => serverSide !== null, 5000, "the server got the connection");
      let last = -1;
      for (let i = 0; i < 50 && sent !== last; i++) {
        last = sent;
        await Bun.sleep(300);
      }
      expect(sent).toBeLessThan(TOTAL / 2);
      const m = await aegis.metrics();
      const readByAegis = m.get('aegis_bytes_received_total{listener="main"}')!;
      expect(readByAegis).toBeLessThan(24 * 1024 * 1024);
      expect(m.get('aegis_connections_active{listener="main"}')).toBe(1);

      serverSide!.resume();
      await eventually(() => received === TOTAL, 20_000, "all 64 MiB reached the server");
      expect(receivedHash.digest("hex")).toBe(sentHash.digest("hex"));
    } finally {
      client.terminate();
    }
  }, 40_000);

  test("echo round trip, counted in metrics and the access log", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { global: "access_log = true" }));
    const client = await connect(aegis.port);
    client.write("hello aegis\n");
    expect(await client.waitFor((t) => t === "hello aegis\n")).toBe("hello aegis\n");
    client.socket.shutdown();
    await client.closed;
    const line = await aegis.waitForLog((l) => l.msg === "session");
    expect(line).toMatchObject({ listener: "main", upstream: "app", server: echo.address, bytes_in: 12, bytes_out: 12, end: "client_closed", server_state: "up" });
    expect(typeof line.connect_ms).toBe("number");
    expect(line.client).toMatch(/^127\.0\.0\.1:\d+$/);
    const m = await aegis.metrics();
    expect(m.get('aegis_connections_total{listener="main"}')).toBe(1);
    expect(m.get('aegis_bytes_received_total{listener="main"}')).toBe(12);
    expect(m.get('aegis_bytes_sent_total{listener="main"}')).toBe(12);
    expect(m.get('aegis_connections_active{listener="main"}')).toBe(0);
  });

  test("client half-close: the server still answers after the client's FIN", async () => {
    let serverSawEnd = false;
    const server = startScripted({
      data() {},
      end(socket) {
        serverSawEnd = true;
        socket.write("answer after your FIN");
        socket.shutdown();
      },
    });
    backends.push(server);
    aegis = await startAegis(simpleConfig([server.address]));
    const client = await connect(aegis.port);
    client.write("question");
    client.socket.shutdown();
    await client.ended;
    expect(serverSawEnd).toBe(true);
    expect(client.text()).toBe("answer after your FIN");
  });

  test("server half-close: the client can still send after the server's FIN", async () => {
    let got = "";
    const server = startScripted({
      open(socket) {
        socket.write("bye");
        socket.shutdown();
      },
      data(_s, data) { got += data.toString(); },
    });
    backends.push(server);
    aegis = await startAegis(simpleConfig([server.address]));
    const client = await connect(aegis.port);
    await client.ended;
    expect(client.text()).toBe("bye");
    client.write("still talking");
    client.socket.shutdown();
    await client.closed;
    // Bun reports a FIN on an already shut-down socket as `close` (not `end`): the server's socket closing is the FIN.
    await eventually(() => server.open === 0, 3000, "server socket closed by the relayed FIN");
    expect(got).toBe("still talking");
  });

  test("a server reset is passed on to the client as a reset", async () => {
    const server = startScripted({ data(socket) { socket.terminate(); } });
    backends.push(server);
    aegis = await startAegis(simpleConfig([server.address]));
    const client = await connect(aegis.port);
    client.write("x");
    const error = await client.closed;
    expect(error?.message ?? "").toContain("ECONNRESET");
  });

  test("a client that goes away takes its upstream socket with it", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address]));
    const client = await connect(aegis.port);
    client.write("ping");
    await client.waitFor((t) => t === "ping");
    expect(echo.open).toBe(1);
    client.socket.terminate();
    await eventually(() => echo.open === 0, 3000, "upstream socket closed");
  });
});
