// The Bun TLS client of bench/tls-sni-choice.ts, in its own process so that its CPU and memory are
// never the server's. Connections alternate SNI between a.test and b.test and check that each got
// the certificate of its name (CN), on TLS 1.3, without session resumption.
//
//   bun bench/lib/tls-load.ts connect PORT SECONDS CONCURRENCY   new connection per 64-byte echo
//   bun bench/lib/tls-load.ts echo    PORT SECONDS CONNECTIONS   64-byte echo round trips, kept alive
//   bun bench/lib/tls-load.ts bulk    PORT SECONDS MIB           MIB-sized streams echoed, one connection
//   bun bench/lib/tls-load.ts idle    PORT COUNT                 COUNT connections, one echo each, then idle
//
// connect/echo/bulk print one JSON line {ops, bytes, ms, errors, problems} and exit. idle prints
// {ok, failed, problems} once every connection is settled, waits for a line (or EOF) on stdin,
// prints {dropped} (connections the server closed while idle), closes everything and exits.

import type { Socket } from "bun";

const [mode, portText, a3, a4] = process.argv.slice(2);
const port = Number(portText);
const HOST = "127.0.0.1";
const NAMES = ["a.test", "b.test"] as const;
const SMALL = 64;
const payload = new Uint8Array(SMALL).map((_, i) => (i * 7 + 1) & 0xff);

setTimeout(() => process.exit(3), 120_000).unref();

const problems = new Map<string, number>();
function problem(what: string): void {
  problems.set(what, (problems.get(what) ?? 0) + 1);
}
const problemList = () => [...problems].map(([what, n]) => (n > 1 ? `${what} (×${n})` : what));

interface Conn {
  name: string;
  got: number;
  onData: (chunk: Uint8Array) => void;
  onClose: () => void;
  onDrain?: () => void;
}

/** One TLS connection with SNI `name`; resolves once its handshake is done and its certificate checked. */
function connect(name: string, conn: Conn): Promise<Socket<Conn> | null> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (s: Socket<Conn> | null) => {
      if (settled) return;
      settled = true;
      resolve(s);
    };
    Bun.connect<Conn>({
      hostname: HOST,
      port,
      data: conn,
      tls: { serverName: name, rejectUnauthorized: false },
      socket: {
        handshake(s, ok) {
          if (!ok) {
            problem("handshake failed");
            s.end();
            return settle(null);
          }
          const cn = s.getPeerCertificate()?.subject?.CN;
          if (cn !== name) problem(`SNI ${name} got the certificate of ${cn}`);
          const version = s.getTLSVersion();
          if (version !== "TLSv1.3") problem(`negotiated ${version}`);
          if (s.isSessionReused()) problem("session resumed");
          settle(s);
        },
        data(s, chunk) {
          s.data.onData(chunk);
        },
        drain(s) {
          s.data.onDrain?.();
        },
        close(s) {
          settle(null);
          s.data.onClose();
        },
        error(_s, e) {
          problem(`socket error: ${String(e)}`);
        },
        connectError(_s, e) {
          problem(`connect error: ${String(e)}`);
          settle(null);
        },
      },
    }).catch((e: unknown) => {
      problem(`connect error: ${String(e)}`);
      settle(null);
    });
  });
}

/** Sends the 64-byte payload; so small a write is always taken whole by an open socket. */
function writeSmall(s: Socket<Conn>): void {
  if (s.write(payload) !== SMALL) problem("short write of 64 bytes");
}

function sameAsPayload(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== payload[(at + i) % SMALL]) return false;
  return true;
}

const nop = () => {};

function print(result: object): void {
  console.log(JSON.stringify({ ...result, problems: problemList() }));
}

/** Each of `concurrency` loops: connect, one 64-byte echo, close; for `seconds`. */
async function connectLoop(seconds: number, concurrency: number): Promise<void> {
  let ops = 0;
  let errors = 0;
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const one = () =>
    new Promise<boolean>((resolve) => {
      const conn: Conn = { name: NAMES[n++ % 2]!, got: 0, onData: nop, onClose: () => resolve(false) };
      void connect(conn.name, conn).then((s) => {
        if (!s) return resolve(false);
        conn.onData = (chunk) => {
          if (!sameAsPayload(chunk, conn.got)) problem("echo differs");
          conn.got += chunk.length;
          if (conn.got >= SMALL) {
            conn.onClose = nop;
            s.end();
            resolve(true);
          }
        };
        writeSmall(s);
      });
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        if (await one()) ops++;
        else errors++;
      }
    }),
  );
  print({ ops, bytes: ops * SMALL, ms: performance.now() - t0, errors });
}

/** `connections` kept-alive connections, each sending 64 bytes and waiting for them back, for `seconds`. */
async function echoLoop(seconds: number, connections: number): Promise<void> {
  let ops = 0;
  let errors = 0;
  let measuring = false;
  const socks: Socket<Conn>[] = [];
  const conns: Conn[] = [];
  for (let i = 0; i < connections; i++) {
    const conn: Conn = { name: NAMES[i % 2]!, got: 0, onData: nop, onClose: () => errors++ };
    conns.push(conn);
  }
  const opened = await Promise.all(conns.map((c) => connect(c.name, c)));
  for (const s of opened) if (s) socks.push(s);
  if (socks.length < connections) problem(`${connections - socks.length} connections failed`);
  let stop = false;
  for (const s of socks) {
    const conn = s.data;
    conn.onData = (chunk) => {
      conn.got += chunk.length;
      if (conn.got < SMALL) return;
      if (conn.got > SMALL) problem("more bytes than sent");
      conn.got = 0;
      if (measuring) ops++;
      if (!stop) writeSmall(s);
    };
  }
  const first = performance.now();
  for (const s of socks) writeSmall(s);
  // A quarter second of warm-up, then the measured window.
  await Bun.sleep(Math.max(0, 250 - (performance.now() - first)));
  measuring = true;
  const t0 = performance.now();
  await Bun.sleep(seconds * 1000);
  measuring = false;
  const ms = performance.now() - t0;
  stop = true;
  for (const s of socks) s.data.onClose = nop;
  for (const s of socks) s.end();
  print({ ops, bytes: ops * SMALL, ms, errors });
}

/** One connection; streams of `mib` MiB written in 64 KiB chunks and read back, until `seconds` have passed. */
async function bulkLoop(seconds: number, mib: number): Promise<void> {
  const total = mib * 1024 * 1024;
  const chunk = crypto.getRandomValues(new Uint8Array(64 * 1024));
  let errors = 0;
  const conn: Conn = { name: "b.test", got: 0, onData: nop, onClose: () => errors++ };
  const s = await connect(conn.name, conn);
  if (!s) {
    print({ ops: 0, bytes: 0, ms: 0, errors: 1 });
    return;
  }
  const oneStream = () =>
    new Promise<boolean>((resolve) => {
      let sent = 0;
      let pendingAt = -1; // offset into chunk of a short write's remainder
      conn.got = 0;
      const pump = () => {
        while (sent < total) {
          const start = pendingAt >= 0 ? pendingAt : 0;
          const want = Math.min(chunk.length - start, total - sent);
          const n = s.write(chunk.subarray(start, start + want));
          if (n < 0) return resolve(false);
          sent += n;
          if (n < want) {
            pendingAt = start + n;
            return; // the rest on drain
          }
          pendingAt = -1;
        }
      };
      conn.onData = (data) => {
        conn.got += data.length;
        if (conn.got >= total) {
          if (conn.got > total) problem("more bytes than sent");
          resolve(true);
        }
      };
      conn.onClose = () => resolve(false);
      conn.onDrain = pump;
      pump();
    });
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  do {
    if (await oneStream()) ops++;
    else {
      errors++;
      break;
    }
  } while (performance.now() < end);
  const ms = performance.now() - t0;
  conn.onClose = nop;
  s.end();
  print({ ops, bytes: ops * total, ms, errors });
}

/** `count` connections, 100 handshaking at a time, each with one echo, then held open. */
async function idle(count: number): Promise<void> {
  const held: Socket<Conn>[] = [];
  let failed = 0;
  let dropped = 0;
  let closing = false;
  let next = 0;
  const one = async () => {
    const i = next++;
    const conn: Conn = { name: NAMES[i % 2]!, got: 0, onData: nop, onClose: nop };
    const s = await connect(conn.name, conn);
    if (!s) return failed++;
    const echoed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      conn.onData = (chunk) => {
        conn.got += chunk.length;
        if (conn.got >= SMALL) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      conn.onClose = () => resolve(false);
      writeSmall(s);
    });
    if (!echoed) return failed++;
    conn.onClose = () => {
      if (!closing) dropped++;
    };
    held.push(s);
  };
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < count) await one();
    }),
  );
  print({ ok: held.length, failed });
  await new Promise<void>((resolve) => {
    process.stdin.once("data", () => resolve());
    process.stdin.once("end", () => resolve());
  });
  console.log(JSON.stringify({ dropped }));
  closing = true;
  for (const s of held) s.end();
  await Bun.sleep(100);
  process.exit(0);
}

const n3 = Number(a3);
const n4 = Number(a4);
if (!Number.isInteger(port) || !(n3 > 0) || (mode !== "idle" && !(n4 > 0))) {
  console.error("usage: bun tls-load.ts connect|echo|bulk PORT SECONDS N | idle PORT COUNT");
  process.exit(2);
}
if (mode === "connect") await connectLoop(n3, n4);
else if (mode === "echo") await echoLoop(n3, n4);
else if (mode === "bulk") await bulkLoop(n3, n4);
else if (mode === "idle") await idle(n3);
else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
process.exit(0);
