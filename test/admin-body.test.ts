// Admin API request bodies on a real aegis process: the 64 KiB limit holds for chunked bodies (no
// Content-Length) too, counted while the stream is read, so a large body is refused without being
// buffered: the 413 comes back while the client is still sending.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";

const TOKEN = "test-token-0123456789abcdef0123";
const PATH = "/api/upstreams/app/servers/0/state";
const CHUNK = 16 * 1024;
/** Far more than socket buffers on loopback hold (a few MiB), so sending all of it needs a reader. */
const TOTAL = 64 * 1024 * 1024;

let aegis: Aegis;
let backend: Backend;

beforeAll(async () => {
  backend = startEcho();
  aegis = await startAegis(simpleConfig([backend.address], { workers: 1, logLevel: "info", global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`);
});
afterAll(async () => {
  await aegis?.stop("SIGKILL");
  backend?.stop();
});

interface Upload {
  /** The response head and what followed it, as far as received. */
  response: string;
  /** Body bytes written before the response arrived (or the connection closed). */
  sent: number;
}

/**
 * POSTs a chunked body of up to TOTAL bytes on a raw socket, one 16 KiB chunk at a time and only
 * as fast as the socket takes them, and stops sending as soon as any response byte arrives.
 */
async function chunkedUpload(port: number): Promise<Upload> {
  let response = "";
  let closed = false;
  let wake: () => void = () => {};
  const woken = () => new Promise<void>((r) => (wake = r));
  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, data) { response += data.toString("latin1"); wake(); },
      drain() { wake(); },
      close() { closed = true; wake(); },
      error() { closed = true; wake(); },
    },
  });
  const head = `POST ${PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TOKEN}\r\n`
    + `content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`;
  const chunk = Buffer.concat([Buffer.from(`${CHUNK.toString(16)}\r\n`), Buffer.alloc(CHUNK, " "), Buffer.from("\r\n")]);
  let pending = Buffer.from(head);
  let sent = 0;
  // Bounded: at most TOTAL / CHUNK chunks, and each pass either writes bytes or waits for an event.
  while (!closed && response === "") {
    if (pending.length === 0) {
      if (sent >= TOTAL) break;
      pending = chunk;
      sent += CHUNK;
    }
    const n = socket.write(pending);
    if (n < 0) break;
    pending = pending.subarray(n);
    // Yield to the event loop after each write so an arriving response is seen at once; wait for
    // drain (or the response) when the socket is full.
    if (pending.length > 0) await woken();
    else await Promise.resolve();
  }
  // Wait for the whole response head (bounded by the connection closing).
  while (!closed && !response.includes("\r\n\r\n")) await woken();
  socket.end();
  return { response, sent };
}

describe("chunked bodies", () => {
  test("a chunked body over 64 KiB is answered 413 before it has all been sent", async () => {
    const { response, sent } = await chunkedUpload(aegis.metricsPort!);
    expect(response).toStartWith("HTTP/1.1 413");
    expect(response).toContain("the body is over 65536 bytes");
    // The server stopped reading at the limit: had it buffered the body, nothing would have come
    // back before all of it was sent.
    expect(sent).toBeLessThan(TOTAL);
    // And it is still serving.
    const ok = await fetch(`http://127.0.0.1:${aegis.metricsPort}/api/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
  });

  test("a small chunked body is read whole and applied", async () => {
    const parts = [`{"state":`, `"draining"}`];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const r = await fetch(`http://127.0.0.1:${aegis.metricsPort}${PATH}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { server: { admin: string } }).server.admin).toBe("draining");
    const back = await fetch(`http://127.0.0.1:${aegis.metricsPort}${PATH}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: `{"state":"ready"}` });
    expect(back.status).toBe(200);
  });

  test("a Content-Length over 64 KiB is refused before reading", async () => {
    const r = await fetch(`http://127.0.0.1:${aegis.metricsPort}${PATH}`, {
      method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ state: "ready", pad: "x".repeat(70_000) }),
    });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: string }).error).toBe("the body is 70026 bytes; at most 65536 are read");
  });
});
