// Many connections held at once (bench/compare holds 9,900; this holds 1,000): the binary keeps every
// one relayed, serves 50 more clients while they are open, and lets all of them go afterwards.
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { BINARY, eventually, simpleConfig, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";

const HELD = 1000;
const BUSY_CLIENTS = 50;
const ROUND_TRIPS = 20;

let aegis: Aegis | null = null;
let echo: Backend | null = null;
const sockets: Socket<Peer>[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await aegis?.stop("SIGKILL");
  aegis = null;
  echo?.stop();
  echo = null;
});

interface Peer { got: string; closed: boolean; onData: (() => void) | null }

async function connect(port: number): Promise<Socket<Peer>> {
  const socket = await Bun.connect<Peer>({
    hostname: "127.0.0.1",
    port,
    data: { got: "", closed: false, onData: null },
    socket: {
      data(s, data) {
        s.data.got += data.toString();
        s.data.onData?.();
      },
      close(s) { s.data.closed = true; s.data.onData?.(); },
      error() {},
    },
  });
  sockets.push(socket);
  return socket;
}

/** Write `line` and wait until the peer has received `expect` in total (or the socket closed). */
function roundTrip(s: Socket<Peer>, line: string, expectTotal: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.data.onData = () => {
      if (s.data.got === expectTotal) resolve();
      else if (s.data.closed || !expectTotal.startsWith(s.data.got)) reject(new Error(`got ${JSON.stringify(s.data.got.slice(-40))}, closed=${s.data.closed}`));
    };
    s.write(line);
  });
}

describe("held connections", () => {
  test(`${HELD} held open: each still relays, ${BUSY_CLIENTS} more clients are served meanwhile, and all are let go`, async () => {
    ensureBinary();
    echo = startEcho();
    aegis = await startAegis(simpleConfig([echo.address], { workers: 2, logLevel: "info", global: "max_connections = 2000" }), { command: [BINARY], cwd: tempDir() });
    const port = aegis.port;

    // Open in batches of 100, each proving its relay with one round trip.
    const held: Socket<Peer>[] = [];
    for (let batch = 0; batch < HELD / 100; batch++) {
      const opened = await Promise.all(Array.from({ length: 100 }, () => connect(port)));
      await Promise.all(opened.map((s) => roundTrip(s, "hello\n", "hello\n")));
      held.push(...opened);
    }
    await eventually(async () => ((await aegis!.metrics()).get("aegis_connections_active") ?? 0) >= HELD, 30_000, `${HELD} sessions active`);

    // 50 more clients, 20 round trips each, while the 1,000 are open.
    await Promise.all(Array.from({ length: BUSY_CLIENTS }, async (_, c) => {
      const s = await connect(port);
      let total = "";
      for (let i = 0; i < ROUND_TRIPS; i++) {
        const line = `client ${c} request ${i}\n`;
        total += line;
        await roundTrip(s, line, total);
      }
      s.end();
    }));

    // Every held connection is still relayed both ways.
    await Promise.all(held.map((s) => roundTrip(s, "still here\n", "hello\nstill here\n")));
    expect(held.filter((s) => s.data.closed)).toHaveLength(0);

    for (const s of held) s.end();
    await eventually(async () => ((await aegis!.metrics()).get("aegis_connections_active") ?? -1) === 0, 30_000, "every session closed");
    await eventually(() => echo!.open === 0, 30_000, "every server connection closed");
  });
});
