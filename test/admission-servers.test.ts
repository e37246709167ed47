// Per-server limits and the upstream queue on real sockets, counted at the backends themselves.
import { describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { eventually, startAegis, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { clients, cleanups: stops } = stopAfterEach(() => aegis);

/**
 * A server that answers each connection's first bytes after `holdMs`, then closes it itself. It
 * counts a connection from open until it decides to close (before aegis can know), so `peak` is
 * the most connections it ever had at once.
 */
function startHolding(holdMs: number) {
  let open = 0;
  let peak = 0;
  let accepted = 0;
  const server: TCPSocketListener<{ done: boolean }> = Bun.listen<{ done: boolean }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(s) { s.data = { done: false }; accepted++; peak = Math.max(peak, ++open); },
      data(s: Socket<{ done: boolean }>, d) {
        setTimeout(() => {
          if (s.data.done) return;
          s.data.done = true;
          open--;
          s.write(d);
          s.end();
        }, holdMs);
      },
      close(s) { if (!s.data.done) { s.data.done = true; open--; } },
    },
  });
  stops.push(() => server.stop(true));
  return { address: `127.0.0.1:${server.port}`, get open() { return open; }, get peak() { return peak; }, get accepted() { return accepted; } };
}

function config(servers: string, upstream = ""): string {
  return `
[global]
workers = 2
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"

[[upstream]]
name = "app"
servers = ${servers}
${upstream}
`;
}

function echo(): Backend {
  const b = startEcho();
  stops.push(() => b.stop());
  return b;
}

async function client(port: number, text: string): Promise<Client> {
  const c = await connect(port);
  clients.push(c);
  c.write(text);
  return c;
}

const metric = async (name: string) => (await aegis!.metrics()).get(name) ?? 0;

describe("server max_connections", () => {
  test("never exceeded at the backend, across Workers, under 60 concurrent clients; the queue serves them all", async () => {
    const a = startHolding(40);
    const b = startHolding(40);
    aegis = await startAegis(config(
      `[{ address = "${a.address}", max_connections = 3 }, { address = "${b.address}", max_connections = 2 }]`,
      `queue = 100\nqueue_timeout = "10s"`,
    ));
    const all = await Promise.all(Array.from({ length: 60 }, (_, i) => client(aegis!.port, `c${i}`)));
    // Each client closes once answered, as clients do: aegis frees the place when the upstream socket closes.
    await Promise.all(all.map(async (c, i) => {
      await c.waitFor((t) => t === `c${i}`, 10_000);
      c.socket.end();
    }));
    expect(a.accepted + b.accepted).toBe(60);
    expect(a.peak).toBe(3);
    expect(b.peak).toBe(2);
    expect(await metric("aegis_connections_rejected_total")).toBe(0);
    await eventually(async () => (await metric("aegis_connections_queued")) === 0, 10_000, "queue empty");
  }, 20_000);

  test("soft_limit steers new sessions to servers below theirs", async () => {
    const a = echo();
    const b = echo();
    aegis = await startAegis(config(`[{ address = "${a.address}", soft_limit = 1 }, "${b.address}"]`));
    for (let i = 0; i < 6; i++) {
      const c = await client(aegis.port, "x");
      await c.waitFor((t) => t === "x");
    }
    // Whichever server the first session met, the soft-limited one never holds more than one.
    expect(a.open).toBe(1);
    expect(b.open).toBe(5);
  });
});

describe("queue", () => {
  test("holds a session, its bytes kept, then connects it when a place frees", async () => {
    const a = echo();
    aegis = await startAegis(config(`[{ address = "${a.address}", max_connections = 1 }]`, `queue_timeout = "5s"`));
    const first = await client(aegis.port, "one");
    await first.waitFor((t) => t === "one");
    const waiting = await client(aegis.port, "two");
    await eventually(async () => (await metric('aegis_connections_queued{listener="main"}')) === 1, 10_000, "second session queued");
    await Bun.sleep(200); // a chance for a wrong early connect to show; a slow machine only makes this check weaker
    expect(waiting.text()).toBe("");
    expect(a.accepted).toBe(1);
    first.socket.end();
    await waiting.waitFor((t) => t === "two", 10_000);
    expect(a.accepted).toBe(2);
    expect(a.open).toBe(1);
    expect(await metric('aegis_connections_queued{listener="main"}')).toBe(0);
  });

  test("times out: the waiting client is refused with queue_timeout and logged", async () => {
    const a = echo();
    aegis = await startAegis(config(`[{ address = "${a.address}", max_connections = 1 }]`, `queue_timeout = "400ms"`));
    const holder = await client(aegis.port, "held");
    await holder.waitFor((t) => t === "held");
    const started = performance.now();
    const late = await client(aegis.port, "late");
    await late.ended;
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(350);
    expect(waited).toBeLessThan(4000); // refused by queue_timeout, not the default 5 s (seconds of margin for a busy machine)
    expect(late.text()).toBe("");
    expect(a.accepted).toBe(1);
    expect(await metric('aegis_connections_rejected_total{listener="main",reason="queue_timeout"}')).toBe(1);
    const line = await aegis.waitForLog((l) => l.msg === "session" && l.reason === "queue_timeout");
    expect(line).toMatchObject({ end: "rejected", server: null, attempts: 0 }); // its bytes waited in the kernel: the client was paused
  });

  test("full: refused at once with queue_full; the bound is for all Workers together, and waiters are served in arrival order", async () => {
    const a = echo();
    aegis = await startAegis(config(`[{ address = "${a.address}", max_connections = 1 }]`, `queue = 2\nqueue_timeout = "20s"`));
    const holder = await client(aegis.port, "held");
    await holder.waitFor((t) => t === "held");
    // One at a time: a connect returns once the kernel accepted it, before a Worker has seen it.
    const queued: Client[] = [];
    for (const text of ["q1", "q2"]) {
      queued.push(await client(aegis.port, text));
      await eventually(async () => (await metric('aegis_connections_queued{listener="main"}')) === queued.length, 10_000, `${text} queued`);
    }
    const started = performance.now();
    const refused = await client(aegis.port, "no");
    await refused.ended;
    expect(performance.now() - started).toBeLessThan(10_000); // at once, not after the 20 s queue_timeout
    expect(await metric('aegis_connections_rejected_total{listener="main",reason="queue_full"}')).toBe(1);
    holder.socket.end();
    await queued[0]!.waitFor((t) => t === "q1", 10_000);
    queued[0]!.socket.end();
    await queued[1]!.waitFor((t) => t === "q2", 10_000);
  });
});
