// Real TCP backends for tests, all on 127.0.0.1 port 0: echo, slow-reading echo, and a scripted server.
import type { Socket, TCPSocketListener } from "bun";

export interface Backend {
  readonly port: number;
  readonly address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections currently open. */
  readonly open: number;
  stop(): void;
  /** Close the listening socket only: open connections go on, new ones are refused. */
  stopAccepting?(): void;
}

interface EchoData {
  pending: Uint8Array[];
  timer: ReturnType<typeof setTimeout> | null;
}

export interface EchoOptions {
  /** Sent on connect, before anything else (like a MySQL greeting). */
  greeting?: string;
  /** Pause reading for this long after each read: a slow reader that exercises backpressure. */
  readDelayMs?: number;
}

function flush(socket: Socket<EchoData>): boolean {
  const queue = socket.data.pending;
  while (queue.length > 0) {
    const head = queue[0]!;
    const written = socket.write(head);
    if (written < 0) {
      queue.length = 0;
      return true;
    }
    if (written < head.length) {
      queue[0] = head.subarray(written);
      return false;
    }
    queue.shift();
  }
  return true;
}

/** An echo server that honours backpressure and half-close (answers everything, then FIN). */
export function startEcho(options: EchoOptions = {}): Backend {
  let accepted = 0;
  let open = 0;
  const resumeLater = (socket: Socket<EchoData>) => {
    if (!options.readDelayMs) return socket.resume();
    socket.data.timer = setTimeout(() => {
      socket.data.timer = null;
      if (socket.data.pending.length === 0) socket.resume();
    }, options.readDelayMs);
  };
  const server: TCPSocketListener<EchoData> = Bun.listen<EchoData>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(socket) {
        accepted++;
        open++;
        socket.data = { pending: [], timer: null };
        if (options.greeting) socket.write(options.greeting);
      },
      data(socket, data) {
        socket.data.pending.push(data);
        socket.pause();
        if (flush(socket)) resumeLater(socket);
      },
      drain(socket) {
        if (flush(socket) && !socket.data.timer) resumeLater(socket);
      },
      end(socket) {
        // Answer what is still queued, then half-close our side too.
        const finish = () => (flush(socket) ? socket.shutdown() : setTimeout(finish, 5));
        finish();
      },
      close(socket) {
        open--;
        if (socket.data?.timer) clearTimeout(socket.data.timer);
      },
    },
  });
  return {
    port: server.port,
    address: `127.0.0.1:${server.port}`,
    get accepted() { return accepted; },
    get open() { return open; },
    stop: () => server.stop(true),
    stopAccepting: () => server.stop(false),
  };
}

export interface ScriptedHandlers {
  open?(socket: Socket<unknown>): void;
  data?(socket: Socket<unknown>, data: Buffer): void;
  end?(socket: Socket<unknown>): void;
}

/** A server whose behaviour the test writes (half-close answers, resets, silence); `port` 0 = any. */
export function startScripted(handlers: ScriptedHandlers, port = 0): Backend {
  let accepted = 0;
  let open = 0;
  const server = Bun.listen<unknown>({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      open(socket) {
        accepted++;
        open++;
        handlers.open?.(socket);
      },
      data(socket, data) { handlers.data?.(socket, data); },
      end(socket) { handlers.end?.(socket); },
      close() { open--; },
    },
  });
  return {
    port: server.port,
    address: `127.0.0.1:${server.port}`,
    get accepted() { return accepted; },
    get open() { return open; },
    stop: () => server.stop(true),
  };
}

/** A port on which nothing listens (bound, read, closed): connects to it are refused. */
export function closedPort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}
