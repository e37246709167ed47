// The route stage in a real plane: a listener whose route reads the client's first bytes waits for
// them without holding up anything (no await on the accept path), then relays them untouched to the
// upstream the route chose; the inspect timeout, max_bytes and the client's FIN end the wait.
import { describe, expect, test } from "bun:test";
import { RouteTable, Verdict, type Matcher } from "../../src/route/table.ts";
import { connectClient, startEchoBackend, startPlane, type TestBackend } from "../helpers/plane.ts";
import { waitFor } from "../helpers/wait.ts";

/** Matches when the first bytes begin with "BETA"; not yet while they are a prefix of it. */
const beta: Matcher = {
  readsBytes: true,
  test(input, final) {
    const bytes = Buffer.from(input.firstBytes()).toString("latin1");
    if (bytes.startsWith("BETA")) return Verdict.match;
    return "BETA".startsWith(bytes) && !final ? Verdict.notYet : Verdict.noMatch;
  },
};

/** Never decides on its own: only the inspect timeout, max_bytes or a FIN end its wait. */
const undecided: Matcher = { readsBytes: true, test: () => Verdict.notYet };

function planWithRoute(app: TestBackend, other: TestBackend, matcher: Matcher, inspect = { timeoutMs: 60_000, maxBytes: 16_384 }) {
  return startPlane([app.address], {
    upstreams: `[[upstream]]\nname = "beta"\nservers = [${JSON.stringify(other.address)}]`,
    routes: (listener, resolve) => new RouteTable([{ matchers: [matcher], target: { upstream: resolve("beta"), preferRegion: null } }], { upstream: resolve(listener.upstream), preferRegion: null }, inspect),
  });
}

describe("route stage", () => {
  test("first bytes that arrive in pieces decide the route, and reach the chosen server whole and in order", async () => {
    using app = startEchoBackend();
    using other = startEchoBackend();
    using p = planWithRoute(app, other, beta);
    const client = await connectClient(p.port);
    client.write("BE");
    await waitFor(() => p.counter("bytesReceived") >= 2, { what: "the plane read the first two bytes" });
    // Not decided yet: no server has been asked for anything.
    expect(p.sessions).toBe(1);
    expect([app.conns.length, other.conns.length]).toEqual([0, 0]);
    client.write("TA and the rest");
    const conn = await other.conn(1);
    await conn.recorder.untilBytes(17, "the whole stream at the beta server");
    client.socket.shutdown();
    await client.recorder.untilClosed();
    expect(conn.events).toEqual(["open", "data:BETA and the rest", "end", "close"]);
    expect(client.events).toEqual(["open", "data:BETA and the rest", "close"]);
    expect(app.conns.length).toBe(0);
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
    expect(p.sessionLogs()[0]).toMatchObject({ upstream: "beta", bytes_in: 17, end: "client_closed" });
  });

  test("bytes that rule the route out go to the default at once", async () => {
    using app = startEchoBackend();
    using other = startEchoBackend();
    using p = planWithRoute(app, other, beta);
    const client = await connectClient(p.port);
    client.write("PING");
    const conn = await app.conn(1);
    await client.recorder.until((r) => r.bytes >= 4, "the echo came back");
    expect(conn.events.slice(0, 2)).toEqual(["open", "data:PING"]);
    expect(other.conns.length).toBe(0);
    client.socket.end();
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
    expect(p.sessionLogs()[0]).toMatchObject({ upstream: "app" });
  });

  test("a client that half-closes before deciding goes to the default, and its FIN follows its bytes", async () => {
    using app = startEchoBackend();
    using other = startEchoBackend();
    using p = planWithRoute(app, other, beta);
    const client = await connectClient(p.port);
    client.write("BE");
    await waitFor(() => p.counter("bytesReceived") >= 2, { what: "the plane read the first two bytes" });
    client.socket.shutdown();
    const conn = await app.conn(1);
    await conn.recorder.untilClosed();
    await client.recorder.untilClosed();
    expect(conn.events).toEqual(["open", "data:BE", "end", "close"]);
    expect(client.events).toEqual(["open", "data:BE", "close"]);
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
  });

  test("max_bytes ends the wait: the route decides on what came", async () => {
    using app = startEchoBackend();
    using other = startEchoBackend();
    using p = planWithRoute(app, other, undecided, { timeoutMs: 60_000, maxBytes: 8 });
    const client = await connectClient(p.port);
    client.write("1234");
    await waitFor(() => p.counter("bytesReceived") >= 4, { what: "the plane read four bytes" });
    expect(app.conns.length).toBe(0);
    client.write("5678");
    const conn = await app.conn(1);
    await conn.recorder.untilBytes(8, "eight bytes at the default server");
    expect(conn.events.slice(0, 2)).toEqual(["open", "data:12345678"]);
    client.socket.end();
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
  });

  test("the inspect timeout ends the wait of a client that sends nothing", async () => {
    using app = startEchoBackend();
    using other = startEchoBackend();
    using p = planWithRoute(app, other, undecided, { timeoutMs: 200, maxBytes: 16_384 });
    const client = await connectClient(p.port);
    const conn = await app.conn(1, 15_000); // the timer wheel routes it to the default
    client.write("late");
    await conn.recorder.untilBytes(4, "the late bytes at the default server");
    await client.recorder.until((r) => r.bytes >= 4, "the echo came back");
    expect(other.conns.length).toBe(0);
    client.socket.end();
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
  });

  test("a client that leaves while the route waits is finished and leaves nothing behind", async () => {
    using app = startEchoBackend();
    using other = startEchoBackend();
    using p = planWithRoute(app, other, undecided);
    const client = await connectClient(p.port);
    client.write("xy");
    await waitFor(() => p.counter("bytesReceived") >= 2, { what: "the plane read two bytes" });
    client.socket.terminate();
    await waitFor(() => p.sessions === 0, { what: "the session ended" });
    expect(p.admitted).toBe(0);
    expect(p.chunksInUse).toBe(0);
    expect([app.conns.length, other.conns.length]).toEqual([0, 0]);
    expect(p.sessionLogs()[0]).toMatchObject({ upstream: null, end: "client_reset" });
  });
});
