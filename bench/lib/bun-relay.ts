// The floor for any proxy written on Bun: a correct relay with nothing else (no balancing, limits,
// timers, counters or logs). Same process model as aegis: one Worker per core, each listening on
// every port with reusePort. Where aegis is level with it, aegis's own code costs nothing and
// what is left is Bun's socket layer; where aegis is behind it, aegis's code is the cost.
// Usage: bun bench/lib/bun-relay.ts WORKERS LISTEN_PORT:BACKEND_PORT [LISTEN_PORT:BACKEND_PORT ...]
import type { Socket } from "bun";
import { isMainThread, workerData, Worker } from "node:worker_threads";
import { listenShared } from "../../src/data/listen.ts"; // the same Bun.listen call as aegis: reusePort, allowHalfOpen

type Routes = [listen: number, backend: number][];

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
    socket.data.eof = true;
    if (socket.data.queue.length === 0) socket.data.peer?.shutdown();
  },
  close(socket: Socket<Side>, error?: Error) {
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

function serve(routes: Routes): void {
  for (const [listen, backend] of routes) {
    listenShared<Side>({
      hostname: "127.0.0.1",
      port: listen,
      socket: {
        open(client) {
          client.data = { peer: null, queue: [], eof: false, closed: false };
          Bun.connect<Side>({
            hostname: "127.0.0.1",
            port: backend,
            allowHalfOpen: true,
            data: { peer: client, queue: [], eof: false, closed: false },
            socket: {
              ...relay,
              drain,
              open(server) {
                if (client.data.closed) return void server.end();
                client.data.peer = server;
                flush(client);
              },
              connectError() { client.end(); },
            },
          }).catch(() => {});
        },
        ...relay,
        drain,
      },
    });
  }
}

if (isMainThread) {
  const [workers, ...pairs] = process.argv.slice(2);
  const routes: Routes = pairs.map((p) => p.split(":").map(Number) as [number, number]);
  if (!Number(workers) || routes.length === 0 || routes.some(([a, b]) => !a || !b)) {
    console.error("usage: bun bench/lib/bun-relay.ts WORKERS LISTEN_PORT:BACKEND_PORT ...");
    process.exit(2);
  }
  for (let i = 0; i < Number(workers); i++) new Worker(new URL(import.meta.url), { workerData: routes });
} else {
  serve(workerData as Routes);
}
