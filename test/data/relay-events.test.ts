// The relay state machine (src/data/session.ts) against real sockets: the exact order of the socket
// events the client and the backend see. Each case that a plain TCP connection also has runs twice,
// straight to the backend and through the plane, and both must give the same events: a transparent
// L4 proxy is one whose ends cannot tell it is there.
import { describe, expect, test } from "bun:test";
import {
  connectClient, refusedAddress, startBackend, startBlackhole, startEchoBackend, startGreetingBackend,
  startHalfClosingBackend, startPlane, startResettingBackend, startSlowReaderBackend, writer,
  type BackendConn, type PlaneSetup, type TestBackend, type TestClient, type TestPlane,
} from "../helpers/plane.ts";
import { waitFor, within } from "../helpers/wait.ts";

/**
 * buffer_limit (256 KiB by default) per direction, and past it one more read (a Bun read is at most
 * 512 KiB, and the reader then pauses), no more.
 */
const QUEUED_MAX = 256 * 1024 + 512 * 1024;
/** The same in 16 KiB chunks (the unsent part of a read is copied into chunks): the most one session takes. */
const QUEUE_CHUNKS_MAX = QUEUED_MAX / (16 * 1024) + 1;

/** The session is over and everything it held is given back: sessions, admission count, active gauge, chunks. */
async function drained(p: TestPlane): Promise<void> {
  await waitFor(() => p.sessions === 0, { what: `the plane's sessions back to 0 (now ${p.sessions})` });
  expect(p.admitted).toBe(0);
  expect(p.counter("active")).toBe(0);
  expect(p.chunksInUse).toBe(0);
}

/** The one session log line of a case. */
async function sessionLog(p: TestPlane): Promise<Record<string, unknown>> {
  return waitFor(() => p.sessionLogs()[0], { what: "the session's access log line" });
}

interface Ends {
  client: TestClient;
  conn: BackendConn;
}

/**
 * A case run straight to the backend and through the plane: both must end with `expected`.
 * `drive` runs the conversation and returns both ends; the events are compared once both closed.
 */
function bothWays(
  name: string,
  start: () => TestBackend,
  drive: (port: number, backend: TestBackend) => Promise<Ends>,
  expected: { client: string[]; backend: string[]; end?: string },
  setup?: PlaneSetup,
): void {
  for (const through of [false, true]) {
    test(`${name} (${through ? "through the plane" : "direct, as a baseline"})`, async () => {
      using backend = start();
      const p = through ? startPlane([backend.address], setup) : null;
      try {
        const { client, conn } = await drive(p?.port ?? backend.port, backend);
        await client.recorder.untilClosed("the client's socket closed");
        await conn.recorder.untilClosed("the backend's socket closed");
        expect({ client: client.events, backend: conn.events }).toEqual({ client: expected.client, backend: expected.backend });
        if (p) {
          await drained(p);
          if (expected.end) expect((await sessionLog(p)).end).toBe(expected.end);
        }
      } finally {
        p?.stop();
      }
    });
  }
}

describe("relay events, the same with and without the plane", () => {
  bothWays(
    "client sends and half-closes; the backend answers after the FIN and closes",
    () => startBackend({
      end(c) {
        c.socket.write(`got:${c.events.find((e) => e.startsWith("data:"))?.slice(5)}`);
        c.socket.end();
      },
    }),
    async (port, backend) => {
      const client = await connectClient(port);
      client.write("hello");
      client.socket.shutdown();
      return { client, conn: await backend.conn() };
    },
    // The client shut its side first, so Bun closes it at the server's FIN without an `end`.
    { client: ["open", "data:got:hello", "close"], backend: ["open", "data:hello", "end", "close"], end: "client_closed" },
  );

  bothWays(
    "the backend half-closes first and the client goes on sending, then closes",
    () => startHalfClosingBackend("bye"),
    async (port, backend) => {
      const client = await connectClient(port);
      await client.recorder.until((r) => r.events.includes("end"), "the backend's FIN reached the client");
      const conn = await backend.conn();
      client.write("more1");
      await conn.recorder.untilBytes(5, "the first write after the FIN reached the backend");
      client.write("more2");
      await conn.recorder.untilBytes(10, "the second write after the FIN reached the backend");
      client.socket.shutdown();
      return { client, conn };
    },
    { client: ["open", "data:bye", "end", "close"], backend: ["open", "data:more1more2", "close"], end: "server_closed" },
  );

  bothWays(
    "the backend resets mid-stream: the client sees a reset, not a clean end",
    () => startBackend({
      data(c) {
        if (c.recorder.bytes < 5) c.socket.write("part");
        else c.socket.terminate();
      },
    }),
    async (port, backend) => {
      const client = await connectClient(port);
      client.write("ping");
      await client.recorder.untilBytes(4, "the backend's first answer reached the client");
      client.write("boom");
      return { client, conn: await backend.conn() };
    },
    { client: ["open", "data:part", "close:ECONNRESET"], backend: ["open", "data:pingboom", "close"], end: "server_reset" },
  );

  bothWays(
    "the client resets: the backend sees a reset",
    () => startBackend(),
    async (port, backend) => {
      const client = await connectClient(port);
      client.write("hello");
      const conn = await backend.conn();
      await conn.recorder.untilBytes(5, "the client's bytes reached the backend");
      client.socket.terminate();
      return { client, conn };
    },
    { client: ["open", "close"], backend: ["open", "data:hello", "close:ECONNRESET"], end: "client_reset" },
  );

  bothWays(
    "a server that speaks first: its greeting reaches the client before the client says anything",
    () => startGreetingBackend("220 ready\r\n"),
    async (port, backend) => {
      const client = await connectClient(port);
      await client.recorder.untilBytes(11, "the greeting reached the client");
      const greetedFirst = client.events;
      client.write("QUIT\r\n");
      await client.recorder.untilBytes(17, "the echo of QUIT reached the client");
      client.socket.shutdown();
      expect(greetedFirst).toEqual(["open", "data:220 ready\r\n"]);
      return { client, conn: await backend.conn() };
    },
    { client: ["open", "data:220 ready\r\nQUIT\r\n", "close"], backend: ["open", "data:QUIT\r\n", "end", "close"], end: "client_closed" },
  );

  bothWays(
    "the backend closes at once and the client writes after its FIN: the client sees the broken pipe",
    () => startBackend({ open(c) { c.socket.end(); } }),
    async (port, backend) => {
      const client = await connectClient(port);
      await client.recorder.until((r) => r.events.includes("end"), "the backend's FIN reached the client");
      client.write("late");
      return { client, conn: await backend.conn() };
    },
    { client: ["open", "end", "close:EPIPE"], backend: ["open", "close"] },
  );
});

describe("relay events the plane alone decides", () => {
  test("no server accepts (connect refused): the client is closed with a FIN and no data, and counted as no_server", async () => {
    using p = startPlane([refusedAddress()], { upstream: "retries = 0" });
    const client = await connectClient(p.port);
    await client.recorder.until((r) => r.events.includes("end"), "the plane closed the client");
    await drained(p);
    expect(client.events).toEqual(["open", "end"]);
    client.socket.end();
    await client.recorder.untilClosed();
    expect(client.events).toEqual(["open", "end", "close"]);
    expect(p.counter("rejectedNoServer")).toBe(1);
    expect(await sessionLog(p)).toMatchObject({ end: "connect_failed", server: null, bytes_in: 0, bytes_out: 0, attempts: 1 });
  });

  test("idle timeout: both sides get a FIN once nothing moved for idle_timeout", async () => {
    using echo = startEchoBackend();
    using p = startPlane([echo.address], { listener: 'idle_timeout = "300ms"' });
    const client = await connectClient(p.port);
    client.write("hello");
    await client.recorder.until((r) => r.events.includes("end"), "the plane closed the idle session", 15_000);
    const conn = await echo.conn();
    await conn.recorder.untilClosed("the backend's socket closed");
    await drained(p);
    expect(client.events).toEqual(["open", "data:hello", "end"]);
    expect(conn.events).toEqual(["open", "data:hello", "end", "close"]);
    client.socket.end();
    await client.recorder.untilClosed();
    expect(client.events).toEqual(["open", "data:hello", "end", "close"]);
    expect(await sessionLog(p)).toMatchObject({ end: "idle_timeout", bytes_in: 5, bytes_out: 5 });
  });

  test("idle timeout with bytes still queued: both sides get a reset, so the cut stream never looks complete", async () => {
    const out = new Map<BackendConn, ReturnType<typeof writer>>();
    using backend = startBackend({
      open(c) {
        out.set(c, writer(c.socket));
        out.get(c)!.write(new Uint8Array(16 * 1024 * 1024));
      },
      drain(c) { out.get(c)!.flush(); },
    });
    using p = startPlane([backend.address], { listener: 'idle_timeout = "300ms"' });
    const client = await connectClient(p.port, { paused: true });
    // The plane holds bytes it could not write to the paused client: the session goes idle with them.
    await waitFor(() => p.bytesQueued > 0, { what: "the plane queued bytes for the paused client" });
    const conn = await backend.conn();
    await conn.recorder.untilClosed("the backend's socket closed", 15_000);
    await drained(p);
    expect(conn.events).toEqual(["open", "close:ECONNRESET"]);
    const log = await sessionLog(p);
    expect(log.end).toBe("idle_timeout");
    client.socket.resume();
    await client.recorder.untilClosed("the client's socket closed");
    // What was already in the client's receive buffer may still be read before the reset; never a FIN.
    expect(client.events.filter((e) => !e.startsWith("data:"))).toEqual(["open", "close:ECONNRESET"]);
    expect(client.recorder.bytes).toBeLessThanOrEqual(log.bytes_out as number);
  });

  // Suspected bug: the reset here is the server's kernel answering bytes sent to a socket the server
  // had closed cleanly, the everyday race of a server closing an idle connection (Redis `timeout`,
  // MySQL `wait_timeout`) as its client writes. The plane logs it as server_reset and reports a
  // passive health failure, so such closes count toward ejecting a healthy server. Run with --todo.
  test("a server that closed cleanly is not blamed when its client writes after the FIN", async () => {
    using backend = startBackend({ open(c) { c.socket.end(); } });
    using p = startPlane([backend.address]);
    const client = await connectClient(p.port);
    await client.recorder.until((r) => r.events.includes("end"), "the backend's FIN reached the client");
    client.write("late");
    await client.recorder.untilClosed();
    await drained(p);
    expect(p.serverFailures).toEqual([]);
    expect((await sessionLog(p)).end).toBe("server_closed");
  });

  test("bytes sent before the server connection exists are delivered first and in order", async () => {
    await using hole = await within(startBlackhole(), 10_000, "blackhole.py printed its port").then((h) => ({ ...h, [Symbol.asyncDispose]: async () => h.stop() }));
    using echo = startEchoBackend();
    // "first" dials the black hole first; its connect hangs until connect_timeout, then the retry
    // goes to the echo server. Meanwhile the client's bytes can only wait in the plane's queue.
    using p = startPlane([hole.address, echo.address], { upstream: 'balance = "first"\nconnect_timeout = "3s"\nretries = 1' });
    const blob = new Uint8Array(300 * 1024); // past the 256 KiB at which a connecting client is paused
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 31 + (i >> 10)) & 0xff;
    const sent = new Bun.CryptoHasher("sha256");
    const client = await connectClient(p.port);
    let total = 0;
    for (const piece of [Buffer.from("one"), Buffer.from("two"), Buffer.from("three"), blob, Buffer.from("last")]) {
      client.write(piece);
      sent.update(piece);
      total += piece.length;
    }
    await waitFor(() => p.counter("bytesReceived") >= 11, { what: "the plane read the client's first bytes" });
    expect(echo.conns.length).toBe(0); // read while the only connect was still hanging
    const conn = await echo.conn(1, 15_000);
    await conn.recorder.untilBytes(total, "every early byte reached the server", 15_000);
    client.socket.shutdown();
    await client.recorder.untilClosed("the client's socket closed");
    await conn.recorder.untilClosed("the backend's socket closed");
    const expectedHash = sent.digest("hex");
    expect(conn.recorder.hash.digest("hex")).toBe(expectedHash);
    expect(client.recorder.hash.digest("hex")).toBe(expectedHash);
    expect(conn.events).toEqual(["open", `data:${total} bytes`, "end", "close"]);
    expect(client.events).toEqual(["open", `data:${total} bytes`, "close"]);
    await drained(p);
    expect(await sessionLog(p)).toMatchObject({ end: "client_closed", attempts: 2, server: echo.address, bytes_in: total, bytes_out: total });
  }, 30_000);
});

/** Deterministic bytes, different in every 256 KiB piece, so a lost, doubled or swapped piece changes the hash. */
function piece(index: number, size = 256 * 1024): Uint8Array {
  const out = new Uint8Array(size);
  let x = (index + 1) * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe("backpressure: a slow reader holds the sender back, the plane holds at most one queue", () => {
  test("a backend sends 48 MiB to a client that does not read: every byte arrives in order once it does", async () => {
    const TOTAL = 48 * 1024 * 1024;
    const PIECE = 256 * 1024;
    const pieces = [piece(0), piece(1), piece(2), piece(3)];
    const sent = new Bun.CryptoHasher("sha256");
    let produced = 0;
    let maxChunks = 0;
    let p: TestPlane | null = null;
    const sample = () => (maxChunks = Math.max(maxChunks, p?.chunksInUse ?? 0));
    const out = new Map<BackendConn, ReturnType<typeof writer>>();
    const pump = (c: BackendConn) => {
      const w = out.get(c)!;
      sample();
      for (let round = 0; round < 1000 && w.flush() && produced < TOTAL; round++) {
        const next = pieces[(produced / PIECE) % pieces.length]!;
        sent.update(next);
        produced += next.length;
        w.write(next);
      }
      if (produced >= TOTAL && w.pending === 0) c.socket.end();
    };
    using backend = startBackend({
      open(c) {
        out.set(c, writer(c.socket));
        pump(c);
      },
      drain: pump,
    });
    using plane = startPlane([backend.address]);
    p = plane;
    let reads = 0;
    const client = await connectClient(plane.port, {
      paused: true,
      // A slow reader: after every 32 reads it stops and reads on only in a later turn.
      onData(c) {
        sample();
        if (++reads % 32 === 0) {
          c.socket.pause();
          setTimeout(() => c.socket.resume(), 0);
        }
      },
    });
    const conn = await backend.conn();
    // The plane has a short write to the client (chunks in use) and the backend is held back.
    await waitFor(() => plane.bytesQueued > 0 && out.get(conn)!.pending > 0, { what: "the plane queued bytes for the paused client and the backend is held back" });
    sample();
    expect(client.recorder.bytes).toBe(0);
    expect(produced).toBeLessThan(TOTAL);
    expect(plane.chunksInUse).toBeLessThanOrEqual(QUEUE_CHUNKS_MAX);
    expect(plane.bytesQueued).toBeLessThanOrEqual(QUEUED_MAX);
    client.socket.resume();
    await client.recorder.until((r) => r.events.includes("end"), "every byte and the backend's FIN reached the client", 30_000);
    expect(client.recorder.bytes).toBe(TOTAL);
    expect(client.recorder.hash.digest("hex")).toBe(sent.digest("hex"));
    expect(client.events).toEqual(["open", `data:${TOTAL} bytes`, "end"]);
    expect(maxChunks).toBeLessThanOrEqual(QUEUE_CHUNKS_MAX);
    client.socket.end();
    await client.recorder.untilClosed();
    await conn.recorder.untilClosed();
    expect(conn.events).toEqual(["open", "close"]);
    await drained(plane);
    expect(await sessionLog(plane)).toMatchObject({ end: "server_closed", bytes_out: TOTAL });
  }, 60_000);

  test("a client sends 32 MiB to a backend that does not read: held back, then every byte arrives in order", async () => {
    const TOTAL = 32 * 1024 * 1024;
    const PIECE = 256 * 1024;
    const pieces = [piece(10), piece(11), piece(12)];
    const sent = new Bun.CryptoHasher("sha256");
    let produced = 0;
    using backend = startSlowReaderBackend();
    using plane = startPlane([backend.address]);
    let maxChunks = 0;
    const pump = (c: TestClient) => {
      maxChunks = Math.max(maxChunks, plane.chunksInUse);
      for (let round = 0; round < 1000 && c.pending === 0 && produced < TOTAL; round++) {
        const next = pieces[(produced / PIECE) % pieces.length]!;
        sent.update(next);
        produced += next.length;
        c.write(next);
      }
      if (produced >= TOTAL && c.pending === 0) c.socket.shutdown();
    };
    const client = await connectClient(plane.port, { onDrain: pump });
    pump(client);
    const conn = await backend.conn();
    await waitFor(() => plane.bytesQueued > 0 && client.pending > 0, { what: "the plane queued bytes for the paused backend and the client is held back" });
    expect(conn.recorder.bytes).toBe(0);
    expect(produced).toBeLessThan(TOTAL);
    expect(plane.chunksInUse).toBeLessThanOrEqual(QUEUE_CHUNKS_MAX);
    expect(plane.bytesQueued).toBeLessThanOrEqual(QUEUED_MAX);
    let reads = 0;
    // A slow reader from now on: after every 32 reads it stops and reads on only in a later turn.
    const stopSampling = conn.recorder.onEvent(() => {
      maxChunks = Math.max(maxChunks, plane.chunksInUse);
      if (++reads % 32 === 0) {
        conn.socket.pause();
        setTimeout(() => conn.socket.resume(), 0);
      }
    });
    conn.socket.resume();
    await conn.recorder.until((r) => r.events.includes("end"), "every byte and the client's FIN reached the backend", 30_000);
    stopSampling();
    expect(conn.recorder.bytes).toBe(TOTAL);
    expect(conn.recorder.hash.digest("hex")).toBe(sent.digest("hex"));
    expect(maxChunks).toBeLessThanOrEqual(QUEUE_CHUNKS_MAX);
    conn.socket.end();
    await client.recorder.untilClosed();
    await conn.recorder.untilClosed();
    expect(conn.events).toEqual(["open", `data:${TOTAL} bytes`, "end", "close"]);
    expect(client.events).toEqual(["open", "close"]);
    await drained(plane);
    expect(await sessionLog(plane)).toMatchObject({ end: "client_closed", bytes_in: TOTAL });
  }, 60_000);
});
