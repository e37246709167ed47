// A small echo server for `aegis demo`: greets with its name, then returns every byte, honouring backpressure.
import type { Socket, TCPSocketListener } from "bun";

interface EchoState {
  pending: Uint8Array[];
}

function flush(socket: Socket<EchoState>): void {
  const queue = socket.data.pending;
  while (queue.length > 0) {
    const head = queue[0]!;
    const written = socket.write(head);
    if (written < 0) return void (queue.length = 0);
    if (written < head.length) {
      queue[0] = head.subarray(written);
      return;
    }
    queue.shift();
  }
  socket.resume();
}

export function startEchoBackend(name: string): TCPSocketListener<EchoState> {
  return Bun.listen<EchoState>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(socket) {
        socket.data = { pending: [] };
        socket.write(`hello from ${name}\n`);
      },
      data(socket, data) {
        if (socket.data.pending.length === 0) {
          const written = socket.write(data);
          if (written === data.length || written < 0) return;
          socket.data.pending.push(data.subarray(written));
        } else {
          socket.data.pending.push(data);
        }
        socket.pause();
      },
      drain: flush,
      end(socket) {
        socket.shutdown();
      },
    },
  });
}
