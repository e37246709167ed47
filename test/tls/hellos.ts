// Real ClientHellos for the parser's tests, captured at test time from openssl s_client and Bun's own TLS client, and tools to re-frame and edit them.
import type { Socket } from "bun";
import { within } from "../helpers/wait.ts";

/** The hellos every test file works on: one per client and option set that behaves differently on the wire. */
export interface Hellos {
  /** openssl s_client -servername db.example.com -alpn h2,http/1.1: TLS 1.3 with 1.2 fallback. */
  readonly openssl: Uint8Array;
  /** The same with -tls1_2: no supported_versions at all. */
  readonly tls12: Uint8Array;
  /** -noservername: no server_name extension. */
  readonly noSni: Uint8Array;
  /** Bun.connect({ tls: { serverName, ALPNProtocols } }): BoringSSL, with a post-quantum key share. */
  readonly bun: Uint8Array;
}

const CAPTURE_MS = 10_000;

/**
 * What a client sends first to a raw TCP server on 127.0.0.1 port 0 that never answers: the
 * client waits for a ServerHello, so its first record is all it sends. `start` connects the client
 * to the port and returns how to stop it. Resolves once a whole record has arrived.
 */
async function capture(what: string, start: (port: number) => Promise<{ stop(): void; exited: Promise<unknown> }>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let received = 0;
  let whole!: () => void;
  const arrived = new Promise<void>((resolve) => (whole = resolve));
  using server = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_socket, data) {
        chunks.push(new Uint8Array(data));
        received += data.length;
        const bytes = Buffer.concat(chunks);
        // Independent of the parser under test: the first record's own length says when it is in.
        if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) whole();
      },
    },
  });
  const client = await start(server.port);
  try {
    const first = await within(Promise.race([arrived.then(() => true), client.exited.then(() => false)]), CAPTURE_MS, `${what}'s ClientHello`);
    if (!first) throw new Error(`${what} ended before sending a whole record (${received} bytes arrived)`);
  } finally {
    client.stop();
    await client.exited;
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** openssl s_client with `args`, stdin closed (it still waits for the server), killed by its PID once the hello is in. */
export function opensslHello(args: readonly string[]): Promise<Uint8Array> {
  return capture(`openssl s_client ${args.join(" ")}`, async (port) => {
    const proc = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, ...args], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    return { stop: () => proc.kill("SIGKILL"), exited: proc.exited }; // by its PID, never by name
  });
}

/** Bun's own TLS client (BoringSSL), as a data-path upstream connection would send it. */
export function bunHello(serverName: string, alpn: readonly string[]): Promise<Uint8Array> {
  return capture("Bun.connect", async (port) => {
    // ALPNProtocols takes the wire format: each name prefixed by its length.
    const wire = Buffer.concat(alpn.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "latin1")])));
    let closed!: () => void;
    const exited = new Promise<void>((resolve) => (closed = resolve));
    const socket: Socket<undefined> = await Bun.connect<undefined>({
      hostname: "127.0.0.1",
      port,
      tls: { serverName, ALPNProtocols: wire, rejectUnauthorized: false },
      socket: { data() {}, error() {}, close: () => closed() },
    });
    return { stop: () => socket.terminate(), exited };
  });
}

/** All four, captured in parallel (each is its own server and client). */
export async function captureHellos(): Promise<Hellos> {
  const sni = ["-servername", "db.example.com"];
  const [openssl, tls12, noSni, bun] = await Promise.all([
    opensslHello([...sni, "-alpn", "h2,http/1.1"]),
    opensslHello([...sni, "-tls1_2"]),
    opensslHello(["-noservername"]),
    bunHello("db.example.com", ["h2", "http/1.1"]),
  ]);
  return { openssl, tls12, noSni, bun };
}

/** A ClientHello taken apart: the body before the extensions, and each extension. Assumes a well-formed one-record hello. */
export interface HelloParts {
  /** legacy_version through legacy_compression_methods. */
  readonly head: Uint8Array;
  readonly extensions: readonly (readonly [type: number, data: Uint8Array])[];
}

export function partsOf(hello: Uint8Array): HelloParts {
  const b = Buffer.from(hello.buffer, hello.byteOffset, hello.byteLength);
  const body = 9; // record header 5, handshake header 4
  let p = body + 2 + 32;
  p += 1 + b[p]!;
  p += 2 + b.readUInt16BE(p);
  p += 1 + b[p]!;
  const head = hello.slice(body, p);
  const end = p + 2 + b.readUInt16BE(p);
  const extensions: [number, Uint8Array][] = [];
  for (p += 2; p < end; ) {
    const length = b.readUInt16BE(p + 2);
    extensions.push([b.readUInt16BE(p), hello.slice(p + 4, p + 4 + length)]);
    p += 4 + length;
  }
  return { head, extensions };
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const u24 = (n: number) => [n >> 16, (n >> 8) & 0xff, n & 0xff];

/** The handshake message (type 1, 3-byte length, body) for `parts`; `extensions: null` leaves the block out, as TLS 1.2 allowed. */
export function helloMessage(head: Uint8Array, extensions: HelloParts["extensions"] | null): Uint8Array {
  const exts = extensions === null ? [] : [...u16(extensions.reduce((n, [, d]) => n + 4 + d.length, 0)), ...extensions.flatMap(([t, d]) => [...u16(t), ...u16(d.length), ...d])];
  const body = [...head, ...exts];
  return new Uint8Array([1, ...u24(body.length), ...body]);
}

/** `message` in records of the given fragment sizes (the last one takes the rest). */
export function records(message: Uint8Array, sizes: readonly number[] = []): Uint8Array {
  const out: number[] = [];
  let p = 0;
  for (let i = 0; p < message.length; i++) {
    const n = Math.min(sizes[i] ?? message.length - p, message.length - p);
    out.push(22, 3, 1, ...u16(n), ...message.subarray(p, p + n));
    p += n;
  }
  return new Uint8Array(out);
}

/** A one-record hello from parts. */
export function helloFrom(head: Uint8Array, extensions: HelloParts["extensions"] | null): Uint8Array {
  return records(helloMessage(head, extensions));
}

/** Latin1 bytes of `text`. */
export const bytesOf = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"));

/** A server_name extension's data holding `names` as (type, name) entries. */
export function serverNameData(entries: readonly (readonly [type: number, name: Uint8Array])[]): Uint8Array {
  const list = entries.flatMap(([t, n]) => [t, ...u16(n.length), ...n]);
  return new Uint8Array([...u16(list.length), ...list]);
}

/** An ALPN extension's data for `names`. */
export function alpnData(names: readonly Uint8Array[]): Uint8Array {
  const list = names.flatMap((n) => [n.length, ...n]);
  return new Uint8Array([...u16(list.length), ...list]);
}

/** Seeded PRNG: the same seed gives the same cases, so a failure reproduces. */
export { seeded as prng } from "../helpers/random.ts";
