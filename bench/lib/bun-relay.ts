// The floor for any proxy written on Bun: a correct relay with nothing else (no balancing, limits,
// timers, counters or logs). Same process model as aegis: one Worker per core, each listening on
// every port with reusePort. Where aegis is level with it, aegis's own code costs nothing and
// what is left is Bun's socket layer; where aegis is behind it, aegis's code is the cost.
// Usage: bun bench/lib/bun-relay.ts WORKERS [--tls-dir DIR] LISTEN_PORT:BACKEND_PORT[:in|:out] ...
// With `:in` the listener terminates TLS (DIR/server.pem, DIR/server.key); with `:out` the relay
// originates TLS to the backend, verifying it against DIR/ca.pem as "localhost" (the TLS rows).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket, SocketHandler, TLSOptions } from "bun";
import { isMainThread, threadId, workerData, Worker } from "node:worker_threads";
import { startHeapProbe } from "../../src/telemetry/heap-probe.ts";
import { listenShared } from "../../src/data/listen.ts"; // the same Bun.listen call as aegis: reusePort, allowHalfOpen

type Tls = "in" | "out" | "";
type Routes = [listen: number, backend: number, tls: Tls][];
interface Setup {
  routes: Routes;
  tlsDir: string;
}

interface Side {
  /** The other socket; null while the upstream connect is in flight. */
  peer: Socket<Side> | null;
  /** Bytes the peer could not take yet (client bytes also wait here while connecting). */
  queue: Uint8Array[];
  /** FIN seen on this socket, to pass on once its queue toward the peer is written. */
  eof: boolean;
  /** Closed: an upstream connect that completes after its client left is closed at once. */
  closed: boolean;
}

function flush(from: Socket<Side>): void {
  const to = from.data.peer;
  if (!to) return;
  const queue = from.data.queue;
  while (queue.length > 0) {
    const head = queue[0]!;
    const n = to.write(head);
    if (n < 0) return void (queue.length = 0);
    if (n < head.length) return void (queue[0] = head.subarray(n));
    queue.shift();
  }
  if (from.data.eof) to.shutdown();
  else from.resume();
}

const relay = {
  data(socket: Socket<Side>, data: Uint8Array) {
    const peer = socket.data.peer;
    if (peer && socket.data.queue.length === 0) {
      const n = peer.write(data);
      if (n === data.length || n < 0) return;
      socket.data.queue.push(data.subarray(n));
    } else {
      socket.data.queue.push(data);
    }
    socket.pause(); // until the peer drains
  },
  end(socket: Socket<Side>) {
    if (!socket.data) return; // see close
    socket.data.eof = true;
    if (socket.data.queue.length === 0) socket.data.peer?.shutdown();
  },
  close(socket: Socket<Side>, error?: Error) {
    if (!socket.data) return; // a TLS client that reset before its ClientHello: Bun never ran open
    socket.data.closed = true;
    const peer = socket.data.peer;
    if (!peer) return;
    socket.data.peer = null;
    if (error) peer.terminate();
    else peer.end();
  },
};

/** The socket that can take more: write what the other side queued for it. */
const drain = (socket: Socket<Side>) => {
  const peer = socket.data.peer;
  if (peer) flush(peer);
};

function serve({ routes, tlsDir }: Setup): void {
  const file = (name: string) => readFileSync(join(tlsDir, name), "utf8");
  for (const [listen, backend, tls] of routes) {
    const terminate: TLSOptions | undefined = tls === "in" ? { cert: file("server.pem"), key: file("server.key") } : undefined;
    const originate: TLSOptions | undefined = tls === "out" ? { ca: file("ca.pem"), serverName: "localhost", rejectUnauthorized: true } : undefined;
    const options = {
      hostname: "127.0.0.1",
      port: listen,
      ...(terminate ? { tls: terminate } : {}),
      socket: {
        open(client: Socket<Side>) {
          client.data = { peer: null, queue: [], eof: false, closed: false };
          // Plaintext: relay once connected. TLS: once the backend's certificate is verified.
          const link = (server: Socket<Side>) => {
            if (client.data.closed) return void server.end();
            client.data.peer = server;
            flush(client);
          };
          const upstream: SocketHandler<Side> = {
            ...relay,
            drain,
            open(server) {
              if (!originate) link(server);
            },
            handshake(server, ok) {
              if (!originate) return;
              if (ok) link(server);
              else {
                server.end();
                client.end();
              }
            },
            connectError() { client.end(); },
          };
          Bun.connect<Side>({
            hostname: "127.0.0.1",
            port: backend,
            allowHalfOpen: true,
            ...(originate ? { tls: originate } : {}),
            data: { peer: client, queue: [], eof: false, closed: false },
            socket: upstream,
          }).catch(() => {});
        },
        ...relay,
        drain,
      },
    };
    // listenShared's options type has no tls; Bun.listen takes it (the TLS rows).
    listenShared<Side>(options as Parameters<typeof listenShared<Side>>[0]);
  }
}

if (isMainThread) {
  const [workers, ...rest] = process.argv.slice(2);
  let tlsDir = "";
  if (rest[0] === "--tls-dir") {
    tlsDir = rest[1] ?? "";
    rest.splice(0, 2);
  }
  const routes: Routes = rest.map((p) => {
    const [l, b, tls = ""] = p.split(":");
    return [Number(l), Number(b), tls as Tls];
  });
  const bad = routes.some(([a, b, tls]) => !a || !b || !["", "in", "out"].includes(tls) || (tls && !tlsDir));
  if (!Number(workers) || routes.length === 0 || bad) {
    console.error("usage: bun bench/lib/bun-relay.ts WORKERS [--tls-dir DIR] LISTEN_PORT:BACKEND_PORT[:in|:out] ...");
    process.exit(2);
  }
  const setup: Setup = { routes, tlsDir };
  for (let i = 0; i < Number(workers); i++) new Worker(new URL(import.meta.url), { workerData: setup });
} else {
  serve(workerData as Setup);
  startHeapProbe(() => threadId); // bench/heap-per-conn.ts: nothing unless AEGIS_HEAP_PROBE is set
}
