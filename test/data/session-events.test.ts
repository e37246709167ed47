// Ended sessions for a library's on("session"), in one plane against real sockets: nothing is
// gathered while nobody listens, and what is gathered is posted in batches with the access log's facts.
import { describe, expect, test } from "bun:test";
import { connectClient, startEchoBackend, startPlane, type TestPlane } from "../helpers/plane.ts";
import { waitFor } from "../helpers/wait.ts";

/** One session through the plane: `text` there and back, then the client closes. */
async function oneSession(p: TestPlane, text: string): Promise<void> {
  const before = p.sessionLogs().length;
  const client = await connectClient(p.port);
  client.write(text);
  await client.recorder.untilBytes(text.length, "the echo");
  client.socket.end();
  await waitFor(() => p.sessionLogs().length > before, { what: "the session's access log line" });
}

const posted = (p: TestPlane) => p.sessionBatches.flat();

describe("session events", () => {
  test("off (nobody listens): a session ends and nothing is gathered or posted", async () => {
    using backend = startEchoBackend();
    using p = startPlane([backend.address]);
    await oneSession(p, "unheard");
    p.plane.sessionEvents.flush(); // what a tick would post
    expect(p.sessionBatches).toEqual([]);
  });

  test("on: each ended session is posted once, batched, with what the access log says", async () => {
    using backend = startEchoBackend();
    using p = startPlane([backend.address]);
    p.plane.sessionEvents.set(true);
    await oneSession(p, "first");
    await oneSession(p, "second!");
    await waitFor(() => (posted(p).length >= 2 ? true : undefined), { what: "two posted sessions (the tick posts them)" });
    expect(p.sessionBatches.length).toBeLessThanOrEqual(2);
    const [a, b] = posted(p);
    const log = p.sessionLogs()[0]!;
    expect(a).toMatchObject({ worker: 0, listener: "main", upstream: "app", server: backend.address, bytesIn: 5, bytesOut: 5, attempts: 1, end: "client_closed" });
    expect(a!.client).toBe(log.client as string);
    expect(b).toMatchObject({ bytesIn: 7, bytesOut: 7 });

    // Off again: what ends from now on is not gathered.
    p.plane.sessionEvents.set(false);
    await oneSession(p, "after");
    p.plane.sessionEvents.flush();
    expect(posted(p)).toHaveLength(2);
  });

  test("a connection refused at accept is posted as rejected, with the reason", async () => {
    using backend = startEchoBackend();
    using p = startPlane([backend.address], { listener: `deny = ["127.0.0.1"]` });
    p.plane.sessionEvents.set(true);
    const client = await connectClient(p.port);
    await waitFor(() => posted(p)[0], { what: "the refusal posted" });
    client.socket.end();
    expect(posted(p)[0]).toMatchObject({ listener: "main", upstream: null, server: null, end: "rejected", reason: "acl", bytesIn: 0 });
  });
});
