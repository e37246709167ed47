// Seeded mutated, truncated and random PROXY headers against the compiled aegis, one connection each:
// every one is refused or (only if it is a valid header) relayed, the server never sees a byte of a
// refused one, /metrics counts each refusal, and aegis is still serving at the end.
import { afterEach, describe, expect, test } from "bun:test";
import { connect as connectFrom } from "node:net";
import { parseProxyHeader, PROXY_V2_LOCAL, proxyHeaderSize, writeProxyHeader, type Endpoint } from "../src/net/proxy-protocol.ts";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startEchoBackend, type TestBackend } from "./helpers/plane.ts";
import { seeded } from "./helpers/random.ts";
import { waitFor, within } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
const backends: TestBackend[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

const random = seeded(0xae915_011);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const CASES = 240;
/** Truncated headers left hanging (no FIN) until proxy_protocol_timeout refuses them, all at once. */
const HANGING = 8;

function randomHost(v6: boolean): string {
  if (!v6) return [int(256), int(256), int(256), int(256)].join(".");
  if (random() < 0.2) return `::ffff:${randomHost(false)}`;
  return Array.from({ length: 8 }, () => (random() < 0.4 ? 0 : int(0x10000)).toString(16)).join(":");
}
const randomEndpoint = (v6: boolean): Endpoint => ({ host: randomHost(v6), port: pick([0, 1, 443, 65535, int(65536)]) });

/** A valid header: v1 or v2, IPv4 or IPv6, v2 with TLVs (a CRC32C among them, sometimes), or a LOCAL / UNKNOWN one. */
function validHeader(): Uint8Array {
  const roll = random();
  if (roll < 0.05) return new TextEncoder().encode("PROXY UNKNOWN\r\n");
  if (roll < 0.1) return PROXY_V2_LOCAL.slice();
  const version = random() < 0.5 ? 1 : 2;
  const v6 = random() < 0.4;
  const [source, destination] = [randomEndpoint(v6), randomEndpoint(v6)];
  let tlvs: Uint8Array | null = null;
  if (version === 2 && random() < 0.5) {
    const parts: number[] = [];
    for (let n = 1 + int(3); n > 0; n--) {
      const length = int(24);
      parts.push(pick([0x01, 0x02, 0x05, 0x20, 0xe0]), 0, length, ...Array.from({ length }, () => int(256)));
    }
    if (random() < 0.5) parts.push(0x03, 0, 4, 0, 0, 0, 0); // the writer fills the checksum in
    tlvs = Uint8Array.from(parts);
  }
  const out = new Uint8Array(proxyHeaderSize(version, source, destination, tlvs));
  writeProxyHeader(version, source, destination, tlvs, out);
  return out;
}

/** One to three random changes: a flipped bit, a byte replaced, removed or added, a cut, or a 16-bit length made larger. */
function mutated(bytes: Uint8Array): Uint8Array {
  const b = Array.from(bytes);
  for (let n = 1 + int(3); n > 0; n--) {
    const at = int(b.length);
    switch (int(6)) {
      case 0: b[at]! ^= 1 << int(8); break;
      case 1: b[at] = pick([0x20, 0x0d, 0x0a, 0x30, 0x3a, 0x2e, 0x00, 0xff, int(256)]); break;
      case 2: b.splice(at, 1); break;
      case 3: b.splice(at, 0, int(256)); break;
      case 4: b.length = Math.max(1, at); break;
      case 5: if (b.length > 15) b[14] = int(256); break; // v2: the header's length, high byte
    }
  }
  return Uint8Array.from(b);
}

interface Case {
  /** What the connection sends, then half-closes. */
  bytes: Uint8Array;
  /** Sent in this many writes (each flushed to the kernel before the next). */
  writes: number;
  kind: "valid" | "truncated" | "mutated" | "garbage";
}

function makeCase(i: number): Case {
  const payload = Buffer.concat([Buffer.from(`case ${i}:`), Buffer.from(Array.from({ length: 1 + int(40) }, () => pick([0x0d, 0x0a, 0x00, 0x20, int(256)])))]);
  const header = validHeader();
  const writes = 1 + int(3);
  const roll = random();
  if (roll < 0.25) return { bytes: Buffer.concat([header, payload]), writes, kind: "valid" };
  if (roll < 0.45) return { bytes: header.slice(0, 1 + int(header.length - 1)), writes, kind: "truncated" };
  if (roll < 0.9) return { bytes: Buffer.concat([mutated(header), payload]), writes, kind: "mutated" };
  return { bytes: Buffer.from(Array.from({ length: 1 + int(60) }, () => int(256))), writes, kind: "garbage" };
}

interface Outcome {
  localPort: number;
  received: Buffer;
  /** aegis ended its side (FIN or close) without the client having half-closed. */
  endedByAegis: boolean;
}

/**
 * From 127.0.0.1: send `bytes` in `writes` pieces, then half-close (unless `hold`), and resolve once
 * aegis has closed its side; a held connection is then closed by the client.
 */
function send(port: number, bytes: Uint8Array, writes: number, hold = false, timeoutMs = 10_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connectFrom({ host: "127.0.0.1", port, localAddress: "127.0.0.1", allowHalfOpen: true });
    socket.setNoDelay(true);
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`connection from ${socket.localPort} not closed by aegis within ${timeoutMs} ms`))), timeoutMs);
    let localPort = 0;
    let endedByAegis = false;
    socket.on("connect", () => {
      localPort = socket.localPort ?? 0;
      const cuts = [0, ...Array.from({ length: writes - 1 }, () => int(bytes.length + 1)).sort((a, b) => a - b), bytes.length];
      const next = (k: number) => {
        if (k === cuts.length - 1) return void (hold ? null : socket.end());
        socket.write(bytes.subarray(cuts[k], cuts[k + 1]), () => next(k + 1));
      };
      next(0);
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => {
      endedByAegis = true;
      socket.end();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ localPort, received: Buffer.concat(chunks), endedByAegis });
    });
  });
}

const REFUSED = `aegis_connections_rejected_total{listener="pp",reason="proxy_protocol"}`;

describe("fuzzed PROXY headers against the binary", () => {
  test(`${CASES} seeded headers, one connection each, then ${HANGING} left hanging: each refused or, only if valid, relayed`, async () => {
    const echo = startEchoBackend();
    backends.push(echo);
    aegis = await startAegis(`
[global]
workers = 2
log_level = "debug"
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "pp"
bind = "127.0.0.1:0"
upstream = "app"
proxy_protocol = "any"
proxy_protocol_from = ["127.0.0.1/32"]
proxy_protocol_timeout = "500ms"

[[upstream]]
name = "app"
servers = ["${echo.address}"]
`, { command: [ensureBinary()], cwd: tempDir() });
    const a = aegis;
    const relayed: Buffer[] = [];
    const tally = { relayed: 0, refused: 0, valid: 0, truncated: 0, mutated: 0, garbage: 0 };
    for (let i = 0; i < CASES; i++) {
      const c = makeCase(i);
      tally[c.kind]++;
      // The oracle is the codec itself, already fuzzed and checked against HAProxy and nginx (test/net/):
      // here the question is whether the running binary acts on its verdict, byte for byte.
      const verdict = parseProxyHeader(c.bytes, "any");
      if (c.kind === "valid") expect(verdict.status).toBe("ok");
      if (c.kind === "truncated") expect(verdict.status).not.toBe("ok");
      const out = await send(a.port, c.bytes, c.writes);
      const peer = `127.0.0.1:${out.localPort}`;
      const what = { case: i, kind: c.kind, verdict: verdict.status, bytes: [...c.bytes.subarray(0, 48)] };
      if (verdict.status === "ok") {
        tally.relayed++;
        const rest = Buffer.from(c.bytes.subarray(verdict.header.length));
        expect({ ...what, echoed: [...out.received] }).toEqual({ ...what, echoed: [...rest] });
        relayed.push(rest);
        const source = verdict.header.source;
        const client = source ? `${source.host}:${source.port}` : peer;
        const line = await a.waitForLog((l) => l.msg === "session" && l.client === client && l.listener === "pp");
        expect({ ...what, end: line.end, bytes_in: line.bytes_in }).toEqual({ ...what, end: "client_closed", bytes_in: rest.length });
      } else {
        tally.refused++;
        expect({ ...what, received: out.received.length }).toEqual({ ...what, received: 0 });
        const line = await a.waitForLog((l) => l.msg === "session" && l.client === peer);
        expect({ ...what, end: line.end, reason: line.reason }).toEqual({ ...what, end: "rejected", reason: "proxy_protocol" });
      }
    }
    // Every kind came up, and both verdicts: the seed exercises what it claims to.
    for (const kind of ["valid", "truncated", "mutated", "garbage"] as const) expect(tally[kind]).toBeGreaterThan(5);
    expect(tally.relayed).toBeGreaterThan(CASES / 5);
    expect(tally.refused).toBeGreaterThan(CASES / 3);

    // Truncated headers, no FIN: refused by proxy_protocol_timeout, all waiting at the same time.
    const hanging = Array.from({ length: HANGING }, () => {
      const header = validHeader();
      return header.slice(0, 1 + int(header.length - 1));
    });
    const held = await within(Promise.all(hanging.map((bytes) => send(a.port, bytes, 1, true))), 15_000, "every hanging header refused");
    for (const out of held) {
      expect({ endedByAegis: out.endedByAegis, received: out.received.length }).toEqual({ endedByAegis: true, received: 0 });
      const line = await a.waitForLog((l) => l.msg === "session" && l.client === `127.0.0.1:${out.localPort}`);
      expect(line).toMatchObject({ end: "rejected", reason: "proxy_protocol" });
    }
    const timedOut = a.logs.filter((l) => l.msg === "connection refused: proxy_protocol" && String(l.why).includes("proxy_protocol_timeout"));
    expect(timedOut.length).toBe(HANGING);

    // The server saw exactly the relayed streams, in order: not one byte of a refused connection.
    expect(echo.conns.map((c) => c.recorder.received)).toEqual(relayed);
    await waitFor(async () => (await a.metrics()).get(REFUSED) === tally.refused + HANGING || false, { what: `${REFUSED} = ${tally.refused + HANGING}` });

    // Still up, both Workers: a valid header and its bytes go through.
    const last = Buffer.from("PROXY TCP4 198.51.100.7 127.0.0.1 4242 80\r\nstill here\n");
    const out = await send(a.port, last, 1);
    expect(out.received.toString()).toBe("still here\n");
    expect(await a.waitForLog((l) => l.msg === "session" && l.client === "198.51.100.7:4242")).toMatchObject({ end: "client_closed" });
    const m = await a.metrics();
    expect(m.get("aegis_workers")).toBe(2);
    expect(a.proc.exitCode).toBeNull();
    expect(a.logs.filter((l) => l.level === "error")).toEqual([]);
  }, 90_000);
});
