// Closes that aegis makes itself on a session with bytes still unsent (the end of shutdown_grace,
// a second SIGTERM) reset both peers: a FIN would make the truncated stream look complete.
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { readFileSync } from "node:fs";
import { BINARY, eventually, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";

let aegis: Aegis | null = null;
let server: TCPSocketListener<undefined> | null = null;
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  server?.stop(true);
  server = null;
});

type Ending = "fin" | "reset" | null;

/** A server that reads nothing until told to, then reports whether its peer ended with a FIN or a reset. */
function startStuckServer() {
  const state = { socket: null as Socket<undefined> | null, ending: null as Ending, received: 0 };
  server = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(socket) {
        state.socket = socket;
        socket.pause();
      },
      data(_s, data) { state.received += data.length; },
      end() { state.ending ??= "fin"; },
      close(_s, error) { state.ending ??= error ? "reset" : "fin"; },
    },
  });
  return state;
}

/** A client that sends until aegis stops taking bytes, and reports how its connection ended. */
async function startFlooder(port: number) {
  // Bun reports a reset that a write runs into as a plain `end` and an error-less `close`, with the
  // write returning -1; a FIN alone never fails a write. So a failed write means a reset.
  const state = { sent: 0, ending: null as Ending, stuck: false, writeFailed: false };
  const chunk = new Uint8Array(64 * 1024);
  const pump = (s: Socket<undefined>) => {
    for (let i = 0; i < 4096; i++) {
      const n = s.write(chunk);
      if (n > 0) state.sent += n;
      if (n < 0) state.writeFailed = true;
      if (n < chunk.length) return void (state.stuck = true);
    }
  };
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      open: pump,
      drain: pump,
      data() {},
      end() { state.ending ??= state.writeFailed ? "reset" : "fin"; },
      error() { state.ending ??= "reset"; },
      close(_s, error) { state.ending ??= error || state.writeFailed ? "reset" : "fin"; },
    },
  });
  return state;
}

function config(serverPort: number, grace: string): string {
  return `
[global]
workers = 1
shutdown_grace = "${grace}"
[metrics]
listen = "127.0.0.1:0"
[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
[[upstream]]
name = "app"
servers = ["127.0.0.1:${serverPort}"]
`;
}

/**
 * Upload bytes aegis holds in its own queue: what it read from the client, less what sits in the
 * kernel between it and the server (its socket's send queue, the server's receive queue); the
 * server has read nothing. Once above 0 it stays there: aegis pauses the client behind it.
 */
async function queuedInAegis(serverPort: number): Promise<number> {
  const read = (await aegis!.metrics()).get('aegis_bytes_received_total{listener="main"}') ?? 0;
  let inKernel = 0;
  for (const row of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = row.trim().split(/\s+/);
    if (f.length < 10 || f[3] === "0A") continue;
    const [tx, rx] = f[4]!.split(":").map((h) => parseInt(h, 16));
    if (parseInt(f[2]!.split(":")[1]!, 16) === serverPort) inKernel += tx!; // aegis -> server, unsent
    if (parseInt(f[1]!.split(":")[1]!, 16) === serverPort) inKernel += rx!; // at the server, unread
  }
  return read - inKernel;
}

/** A session whose upload is stuck in aegis: the server reads nothing, the client has filled every buffer. */
async function stuckSession(grace: string) {
  const backend = startStuckServer();
  aegis = await startAegis(config(server!.port, grace), { command: [BINARY], cwd: tempDir() });
  const client = await startFlooder(aegis.port);
  await eventually(async () => backend.socket !== null && client.stuck && (await queuedInAegis(server!.port)) > 0, 20_000, "bytes to queue up inside aegis");
  return { backend, client };
}

/** Once aegis has gone, let the server read what reached it, then see how the stream ended. */
async function serverEnding(backend: ReturnType<typeof startStuckServer>): Promise<Ending> {
  await aegis!.proc.exited;
  backend.socket!.resume();
  await eventually(() => backend.ending !== null, 20_000, "the server to see its connection end");
  return backend.ending;
}

describe("closes aegis makes with bytes unsent", () => {
  test("shutdown_grace runs out on a stuck upload: the client and the server both get a reset", async () => {
    const { backend, client } = await stuckSession("1s");
    aegis!.proc.kill("SIGTERM");
    await aegis!.waitForLog((l) => l.msg === "shutdown grace over, closing remaining sessions", 20_000);
    await eventually(() => client.ending !== null, 20_000, "the client to see its connection end");
    expect(client.ending).toBe("reset");
    expect(await serverEnding(backend)).toBe("reset");
    expect(backend.received).toBeLessThan(client.sent); // the stream was truncated: that is why it must not look complete
  }, 60_000);

  test("a second SIGTERM: the Workers reset their stuck sessions before aegis exits", async () => {
    const { backend, client } = await stuckSession("60s");
    aegis!.proc.kill("SIGTERM");
    await aegis!.waitForLog((l) => l.msg === "shutting down", 20_000);
    aegis!.proc.kill("SIGTERM");
    await aegis!.waitForLog((l) => l.msg === "second signal, exiting now", 20_000);
    expect(await aegis!.proc.exited).toBe(1);
    await eventually(() => client.ending !== null, 20_000, "the client to see its connection end");
    expect(client.ending).toBe("reset");
    expect(await serverEnding(backend)).toBe("reset");
  }, 60_000);
});
