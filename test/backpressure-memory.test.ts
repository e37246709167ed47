// Back-pressure memory of the compiled binary: 1,000 sessions toward a server that never reads stay
// within 2 x buffer_limit each, and once they close the process gives its memory back.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Socket } from "bun";
import { startAegis, simpleConfig, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";

const SESSIONS = 1000;
const BUFFER_LIMIT = 64 * 1024;
const PIECE = new Uint8Array(64 * 1024).fill(0x61);

/** Resident memory of the whole process (its Workers are threads of it), in bytes. */
function rss(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!kib) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib[1]) * 1024;
}

interface Stuck {
  socket: Socket<unknown>;
  /** A write came back short: aegis stopped reading this client. */
  held: boolean;
  sent: number;
  closed: boolean;
}

test("1,000 sessions to a server that never reads: memory under 2 x buffer_limit each, given back after", async () => {
  // The server accepts and never reads, so every byte a client sends piles up in front of it.
  const accepted: Socket<unknown>[] = [];
  using server = Bun.listen<unknown>({
    hostname: "127.0.0.1", port: 0,
    socket: { open(s) { s.pause(); accepted.push(s); }, data() {}, close() {} },
  });
  let aegis: Aegis | null = null;
  const clients: Stuck[] = [];
  try {
    aegis = await startAegis(simpleConfig([`127.0.0.1:${server.port}`], {
      workers: 2, logLevel: "info",
      global: "access_log = false\nmax_connections = 4000\nbuffer_budget = \"256MiB\"",
      listener: `buffer_limit = "${BUFFER_LIMIT / 1024}KiB"`,
    }), { command: [ensureBinary()], cwd: tempDir() });
    const pid = aegis.proc.pid;
    const base = rss(pid);

    const fill = (c: Stuck) => {
      for (let round = 0; round < 64; round++) {
        const n = c.socket.write(PIECE);
        if (n > 0) c.sent += n;
        if (n < PIECE.length) return void (c.held = true);
      }
      c.held = false; // took all of it: come back on the next turn
    };
    for (let i = 0; i < SESSIONS; i++) {
      const c: Stuck = { socket: null as never, held: false, sent: 0, closed: false };
      c.socket = await Bun.connect<unknown>({
        hostname: "127.0.0.1", port: aegis.port,
        socket: { data() {}, drain() { fill(c); }, close() { c.closed = true; } },
      });
      clients.push(c);
      fill(c);
    }

    // Wait until every client is held back (its write short and no drain since), sampling the peak.
    let peak = rss(pid);
    for (let round = 0; round < 3000; round++) {
      peak = Math.max(peak, rss(pid));
      const free = clients.filter((c) => !c.held);
      if (free.length === 0 && accepted.length === SESSIONS) break;
      for (const c of free) fill(c);
      await Bun.sleep(20);
    }
    expect(accepted.length).toBe(SESSIONS);
    expect(clients.every((c) => c.held)).toBe(true);
    peak = Math.max(peak, rss(pid));
    const bound = base + SESSIONS * 2 * BUFFER_LIMIT;
    // While they filled, some 2 GB passed through aegis into the kernel's buffers, each read a fresh
    // buffer of Bun's: the peak counts that garbage until JSC collects it. What the stuck sessions
    // hold is the RSS once it has: polled (bounded) while every session stays stuck.
    let held = rss(pid);
    for (let round = 0; round < 100 && held >= bound; round++) {
      await Bun.sleep(100);
      held = rss(pid);
    }
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    console.log(`aegis RSS: base ${mib(base)}, peak while filling ${mib(peak)}, held ${mib(held)}, bound ${mib(bound)}; ${mib(clients.reduce((a, c) => a + c.sent, 0))} sent`);
    expect(held).toBeLessThan(bound);
    // No session was cut for overload: every client is still connected.
    expect(clients.filter((c) => c.closed).length).toBe(0);

    for (const c of clients) c.socket.terminate();
    for (const s of accepted) s.terminate();
    // The slabs go back after their idle period (15 s): poll, bounded, for RSS near the start.
    let after = rss(pid);
    for (let round = 0; round < 450 && after > base * 1.2; round++) {
      await Bun.sleep(200);
      after = rss(pid);
    }
    console.log(`aegis RSS after close: ${(after / 2 ** 20).toFixed(1)} MiB`);
    expect(after).toBeLessThanOrEqual(base * 1.2);
  } finally {
    for (const c of clients) c.socket.terminate();
    await aegis?.stop();
  }
}, 180_000);
