// A test client on a real socket: collects what it receives and records how the connection ended.
import type { Socket } from "bun";

export interface Client {
  socket: Socket<undefined>;
  received(): Buffer;
  text(): string;
  /** Resolves when the server's FIN arrives (or the socket closes). */
  ended: Promise<void>;
  closed: Promise<Error | undefined>;
  write(data: string | Uint8Array): void;
  waitFor(predicate: (text: string) => boolean, timeoutMs?: number): Promise<string>;
}

export async function connect(port: number): Promise<Client> {
  const chunks: Buffer[] = [];
  let onEnd!: () => void;
  let onClose!: (e: Error | undefined) => void;
  const ended = new Promise<void>((r) => (onEnd = r));
  const closed = new Promise<Error | undefined>((r) => (onClose = r));
  const pending: Uint8Array[] = [];
  const flush = (s: Socket<undefined>) => {
    while (pending.length) {
      const head = pending[0]!;
      const n = s.write(head);
      if (n < 0) return void (pending.length = 0);
      if (n < head.length) return void (pending[0] = head.subarray(n));
      pending.shift();
    }
  };
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      data(_s, data) { chunks.push(data); },
      drain: flush,
      end() { onEnd(); },
      close(_s, error) { onEnd(); onClose(error); },
      error() {},
    },
  });
  const received = () => Buffer.concat(chunks);
  return {
    socket,
    received,
    text: () => received().toString(),
    ended,
    closed,
    write(data) {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      if (pending.length) return void pending.push(bytes);
      const n = socket.write(bytes);
      if (n >= 0 && n < bytes.length) pending.push(bytes.subarray(n));
    },
    async waitFor(predicate, timeoutMs = 10_000) { // generous: it returns as soon as the data is there, busy machine or not
      const deadline = performance.now() + timeoutMs;
      while (performance.now() < deadline) {
        const text = received().toString();
        if (predicate(text)) return text;
        await Bun.sleep(5);
      }
      throw new Error(`client did not receive the expected data within ${timeoutMs} ms; got ${JSON.stringify(received().toString().slice(0, 200))}`);
    },
  };
}
