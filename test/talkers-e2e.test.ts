// Top talkers through the compiled binary with two Workers: a skewed load from 20 addresses ranked exactly by bytes
// and by sessions in GET /api/clients and /metrics.json (never as labels on /metrics), and an open session seen while it runs.
//
// The summaries halve every minute from each Worker's start, so every test here finishes well
// within a minute of starting its own aegis: the totals it checks are the exact ones.
import { afterEach, describe, expect, test } from "bun:test";
import { connect as netConnect, type Socket as NetSocket } from "node:net";
import { parseMetrics, simpleConfig, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { exchangeFrom } from "./helpers/haproxy.ts";
import { seeded } from "./helpers/random.ts";
import { waitFor, within } from "./helpers/wait.ts";

const TOKEN = "talkers-e2e-token-0123456789abcdef";
const KIB = 1024;

let aegis: Aegis | null = null;
const backends: Backend[] = [];
const sockets: NetSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

async function start(): Promise<Aegis> {
  backends.push(startEcho(), startEcho(), startEcho());
  const toml = simpleConfig(backends.map((b) => b.address), { workers: 2, logLevel: "info", global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`;
  aegis = await startAegis(toml, { command: [ensureBinary()], cwd: tempDir() });
  return aegis;
}

interface Row { client: string; bytes: number; bytes_error: number; sessions: number; sessions_error: number; current: number }
interface Listing { listeners: { listener: string; by: string; clients: Row[] }[] }
async function get(a: Aegis, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${a.metricsPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
async function clients(a: Aegis, query = ""): Promise<Row[]> {
  const { status, body } = await get(a, `/api/clients${query}`);
  if (status !== 200) throw new Error(`GET /api/clients${query} answered ${status}: ${JSON.stringify(body)}`);
  const listeners = (body as unknown as Listing).listeners;
  expect(listeners.map((l) => l.listener)).toEqual(["main"]);
  return listeners[0]!.clients;
}

const random = seeded(0x7a1c);
/** Seeded bytes every session's payload is cut from (the heaviest address sends 20 x 64 KiB). */
const BYTES = Uint8Array.from({ length: 20 * 64 * KIB }, () => Math.floor(random() * 256));
const payload = (n: number) => BYTES.subarray(0, n);

/** One session from `source` that sends `bytes` and gets them all back from the echo server. */
async function echoFrom(source: string, port: number, bytes: number): Promise<void> {
  const data = payload(bytes);
  const { received, error } = await exchangeFrom(source, port, data, 20_000);
  expect({ source, error: error?.message ?? null, same: Buffer.from(received).equals(Buffer.from(data)) }).toEqual({ source, error: null, same: true });
}

describe("top talkers through the binary, two Workers", () => {
  test("20 addresses with known bytes and sessions: exact top 10 by bytes and by sessions; /metrics.json agrees; /metrics has no client labels", async () => {
    const a = await start();
    // Address i sends (20 - i) * 64 KiB over i + 1 sessions: the heaviest by bytes are the lightest by sessions.
    const load = Array.from({ length: 20 }, (_, i) => ({ client: `127.0.0.${40 + i}`, bytes: (20 - i) * 64 * KIB, sessions: i + 1 }));
    await Promise.all(load.map(async ({ client, bytes, sessions }) => {
      const each = Math.floor(bytes / sessions);
      for (let s = 0; s < sessions; s++) await echoFrom(client, a.port, s === 0 ? bytes - each * (sessions - 1) : each);
    }));
    // Each byte counts twice, in and out. Wait for both Workers' posts (every 2 s) to hold every session.
    const expected = load.map((l) => ({ client: l.client, bytes: 2 * l.bytes, bytes_error: 0, sessions: l.sessions, sessions_error: 0, current: 0 }));
    const totalBytes = expected.reduce((s, r) => s + r.bytes, 0);
    const all = await waitFor(async () => {
      const rows = await clients(a, "?limit=20");
      return rows.reduce((s, r) => s + r.bytes, 0) === totalBytes && rows.reduce((s, r) => s + r.sessions, 0) === 210 ? rows : false;
    }, { what: "every session's bytes posted by the Workers", timeoutMs: 20_000 });
    expect(all).toEqual(expected);

    expect(await clients(a)).toEqual(expected.slice(0, 10));
    expect(await clients(a, "?by=sessions")).toEqual(expected.slice().reverse().slice(0, 10));
    expect(await clients(a, "?listener=main&by=sessions&limit=3")).toEqual(expected.slice(-3).reverse());
    const json = (await (await fetch(`http://127.0.0.1:${a.metricsPort}/metrics.json`)).json()) as { clients: Listing["listeners"] };
    expect(json.clients).toEqual([{ listener: "main", by: "bytes", clients: expected.slice(0, 10) }]);
    // One label per client would be unbounded: /metrics names none of them.
    const text = await (await fetch(`http://127.0.0.1:${a.metricsPort}/metrics`)).text();
    expect(parseMetrics(text).get("aegis_connections_total")).toBe(210); // the exposition is there...
    expect(text.split("\n").filter((l) => /127\.0\.0\.(4\d|5\d)\b|client=/.test(l))).toEqual([]); // ...without the clients

    for (const [query, status, says] of [
      ["?by=packets", 400, `by must be "bytes" or "sessions"`],
      ["?limit=0", 400, "limit must be an integer from 1 to 128"],
      ["?limit=129", 400, "limit must be an integer from 1 to 128"],
      ["?listener=nope", 404, `no listener named "nope"`],
    ] as const) {
      const res = await get(a, `/api/clients${query}`);
      expect({ query, status: res.status, error: String(res.body.error) }).toEqual({ query, status, error: expect.stringContaining(says) });
    }
  }, 90_000);

  test("a session still open shows its bytes as it runs, with current = 1; after it ends current is 0", async () => {
    const a = await start();
    const source = "127.0.0.60";
    const socket = netConnect({ host: "127.0.0.1", port: a.port, localAddress: source });
    sockets.push(socket);
    let received = 0;
    socket.on("data", (chunk: Buffer) => (received += chunk.length));
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    await within(new Promise((r) => socket.once("connect", r)), 10_000, `connect from ${source}`);
    const rowOf = async () => (await clients(a, "?limit=128")).find((r) => r.client === source) ?? null;
    let sent = 0;
    for (const chunk of [256 * KIB, 128 * KIB]) {
      socket.write(payload(chunk));
      sent += chunk;
      await waitFor(() => received === sent, { what: `${sent} bytes echoed back`, timeoutMs: 15_000 });
      // The Workers sample open sessions when they post: the row grows while the session runs.
      const row = await waitFor(async () => {
        const r = await rowOf();
        return r?.bytes === 2 * sent ? r : false;
      }, { what: `${2 * sent} bytes of the open session posted`, timeoutMs: 15_000 });
      expect(row).toEqual({ client: source, bytes: 2 * sent, bytes_error: 0, sessions: 1, sessions_error: 0, current: 1 });
    }
    socket.end();
    await within(closed, 10_000, "the session closed");
    const after = await waitFor(async () => {
      const r = await rowOf();
      return r?.current === 0 ? r : false;
    }, { what: "the ended session no longer current", timeoutMs: 15_000 });
    expect(after).toEqual({ client: source, bytes: 2 * sent, bytes_error: 0, sessions: 1, sessions_error: 0, current: 0 });
  }, 90_000);
});
