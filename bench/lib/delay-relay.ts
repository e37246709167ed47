// A TCP relay that delays everything the server sends by DELAY_MS: a backend that accepts
// connections as fast as any other but answers slowly, for the latency-aware balancing row.
//
//   bun bench/lib/delay-relay.ts LISTEN_PORT TARGET_PORT DELAY_MS
//
// Listens on 127.0.0.1:LISTEN_PORT; each accepted connection gets its own connection to
// 127.0.0.1:TARGET_PORT. Client → server bytes pass at once; server → client bytes are held
// until DELAY_MS after they arrived (in order). With DELAY_MS = 0 it is a plain relay, so the
// fast and the slow backends have the same path length. When one side closes, the other is
// closed once what is owed to it is written. Socket errors (resets above all) are printed on
// stderr, one line each, so the harness can report them; with SIGTERM it prints a summary.

import type { Socket } from "bun";

const listenPort = Number(process.argv[2]);
const targetPort = Number(process.argv[3]);
const delayMs = Number(process.argv[4]);
if (!Number.isInteger(listenPort) || !Number.isInteger(targetPort) || !(delayMs >= 0)) {
  console.error("usage: bun delay-relay.ts LISTEN_PORT TARGET_PORT DELAY_MS");
  process.exit(2);
}

const HOST = "127.0.0.1";
let accepted = 0;
let errors = 0;

interface Pair {
  client: Socket<Pair>;
  server: Socket<Pair> | null;
  /** Client bytes that arrived before the server connection was open, or that it could not take yet. */
  toServer: Uint8Array[];
  /** Server bytes that may be written to the client now (their delay is over). */
  toClient: Uint8Array[];
  /** Server bytes still being held: [due time, bytes]. */
  held: [number, Uint8Array][];
  timer: ReturnType<typeof setTimeout> | null;
  clientGone: boolean;
  serverGone: boolean;
}

function logError(side: string, e: Error): void {
  errors++;
  console.error(`delay-relay ${listenPort}: ${side}: ${(e as { code?: string }).code ?? ""} ${e.message}`);
}

/** Write queued chunks while the socket takes them; true when the queue is empty. */
function flush(socket: Socket<Pair>, queue: Uint8Array[]): boolean {
  while (queue.length) {
    const chunk = queue[0]!;
    const n = socket.write(chunk);
    if (n < 0) return false;
    if (n < chunk.length) {
      queue[0] = chunk.subarray(n);
      return false;
    }
    queue.shift();
  }
  return true;
}

function release(p: Pair): void {
  p.timer = null;
  const now = performance.now();
  while (p.held.length && p.held[0]![0] <= now + 0.2) p.toClient.push(p.held.shift()![1]);
  if (p.held.length) p.timer = setTimeout(release, p.held[0]![0] - now, p);
  toClient(p);
}

function toClient(p: Pair): void {
  if (p.clientGone) return;
  const empty = flush(p.client, p.toClient);
  if (empty && p.held.length === 0 && p.serverGone) p.client.end();
}

function toServer(p: Pair): void {
  if (!p.server || p.serverGone) return;
  const empty = flush(p.server, p.toServer);
  if (empty && p.clientGone) p.server.end();
}

const serverSide = {
  open(s: Socket<Pair>) {
    const p = s.data;
    if (p.clientGone) return void s.end();
    p.server = s;
    toServer(p);
  },
  data(s: Socket<Pair>, chunk: Buffer) {
    const p = s.data;
    if (p.clientGone) return;
    // Copy: the buffer is only ours until this callback returns.
    const bytes = new Uint8Array(chunk);
    if (delayMs === 0 && p.held.length === 0) {
      p.toClient.push(bytes);
      toClient(p);
      return;
    }
    p.held.push([performance.now() + delayMs, bytes]);
    p.timer ??= setTimeout(release, delayMs, p);
  },
  drain(s: Socket<Pair>) {
    toServer(s.data);
  },
  close(s: Socket<Pair>) {
    const p = s.data;
    p.serverGone = true;
    toClient(p);
  },
  error(s: Socket<Pair>, e: Error) {
    logError("server side", e);
  },
  connectError(s: Socket<Pair>, e: Error) {
    logError("connect", e);
    const p = s.data;
    p.serverGone = true;
    toClient(p);
  },
};

Bun.listen<Pair>({
  hostname: HOST,
  port: listenPort,
  socket: {
    open(client) {
      accepted++;
      const p: Pair = { client, server: null, toServer: [], toClient: [], held: [], timer: null, clientGone: false, serverGone: false };
      client.data = p;
      Bun.connect<Pair>({ hostname: HOST, port: targetPort, data: p, socket: serverSide }).catch(() => {
        // connectError has handled it.
      });
    },
    data(client, chunk) {
      const p = client.data;
      p.toServer.push(new Uint8Array(chunk));
      toServer(p);
    },
    drain(client) {
      toClient(client.data);
    },
    close(client) {
      const p = client.data;
      p.clientGone = true;
      if (p.timer) clearTimeout(p.timer);
      p.held.length = 0;
      p.toClient.length = 0;
      toServer(p);
    },
    error(_client, e) {
      logError("client side", e);
    },
  },
});

process.on("SIGTERM", () => {
  console.error(`delay-relay ${listenPort}: summary: accepted=${accepted} errors=${errors}`);
  process.exit(0);
});
console.error(`delay-relay ${listenPort} → ${targetPort}, +${delayMs} ms on replies: listening`);
