// Back-pressure memory of the compiled binary: 1,000 sessions toward a server that never reads stay
// within 2 x buffer_limit each, and once they close the process gives its memory back.
//
// Why buffer_limit is the default 256 KiB here and not smaller: Bun reads up to 512 KiB per event
// (uSockets' receive buffer) and has no way to read less, so a session whose server stops mid-read
// holds what is left of that read, whatever buffer_limit says. Measured in this scenario with
// buffer_limit = 64 KiB: reads of 512 KiB, and 126 to 212 KiB of unsent bytes per stuck session
// depending on how busy the machine was (larger reads when aegis reads late), against the 128 KiB
// that 2 x 64 KiB allows. From 256 KiB up, one read fits in 2 x buffer_limit and the bound holds.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Socket } from "bun";
import { startAegis, simpleConfig, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { waitFor } from "./helpers/wait.ts";

const SESSIONS = 1000;
const WARM_UP = 40;
const WORKERS = 2;
const BUFFER_LIMIT = 256 * 1024;
const PIECE = new Uint8Array(64 * 1024).fill(0x61);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/**
 * Anonymous resident memory of the whole process (its Workers are threads of it), in bytes: the
 * heap, the recycler's slabs and Bun's buffers, which is what a burst can leave held. The
 * executable's file pages are left out: they are the kernel's to drop at any time, aegis gives its
 * start-up ones back 3 s after ready (src/os/page-out.ts), and the code a burst runs pages back in,
 * so counting them would move the start and the end by a few MiB for reasons other than buffers.
 */
function rss(pid: number): number {
  const kib = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!kib) throw new Error(`no RssAnon in /proc/${pid}/status`);
  return Number(kib[1]) * 1024;
}

/**
 * Bytes the kernel holds in the sessions' sockets (send queues not yet acked, receive queues not
 * yet read), from /proc/net/tcp: every established socket to or from either port, on loopback.
 */
function kernelHeld(ports: number[]): number {
  let bytes = 0;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[3] !== "01") continue;
    const local = parseInt(f[1]!.split(":")[1]!, 16), remote = parseInt(f[2]!.split(":")[1]!, 16);
    if (!ports.includes(local) && !ports.includes(remote)) continue;
    const [tx, rx] = f[4]!.split(":").map((h) => parseInt(h, 16));
    bytes += tx! + rx!;
  }
  return bytes;
}

interface Stuck {
  socket: Socket<unknown>;
  /** A write came back short: aegis stopped reading this client. */
  held: boolean;
  sent: number;
  closed: boolean;
}

function fill(c: Stuck): void {
  for (let round = 0; round < 64; round++) {
    const n = c.socket.write(PIECE);
    if (n > 0) c.sent += n;
    if (n < PIECE.length) return void (c.held = true);
  }
  c.held = false; // took all of it: come back on the next turn
}

/** `count` clients writing until aegis holds every one of them back (bounded), sampling the peak RSS. */
async function stickSessions(aegis: Aegis, accepted: Socket<unknown>[], count: number): Promise<{ clients: Stuck[]; peak: number }> {
  const clients: Stuck[] = [];
  const want = accepted.length + count;
  for (let i = 0; i < count; i++) {
    const c: Stuck = { socket: null as never, held: false, sent: 0, closed: false };
    c.socket = await Bun.connect<unknown>({
      hostname: "127.0.0.1", port: aegis.port,
      socket: { data() {}, drain() { fill(c); }, close() { c.closed = true; } },
    });
    clients.push(c);
    fill(c);
  }
  let peak = rss(aegis.proc.pid);
  await waitFor(() => {
    peak = Math.max(peak, rss(aegis.proc.pid));
    const free = clients.filter((c) => !c.held);
    for (const c of free) fill(c);
    return free.length === 0 && accepted.length === want;
  }, { what: `${count} sessions held back by aegis`, timeoutMs: 90_000 });
  return { clients, peak: Math.max(peak, rss(aegis.proc.pid)) };
}

test("1,000 sessions to a server that never reads: memory under 2 x buffer_limit each, given back after", async () => {
  // The server accepts and never reads, so every byte a client sends piles up in front of it.
  const accepted: Socket<unknown>[] = [];
  using server = Bun.listen<unknown>({
    hostname: "127.0.0.1", port: 0,
    socket: { open(s) { s.pause(); accepted.push(s); }, data() {}, close() {} },
  });
  let aegis: Aegis | null = null;
  const everyClient: Stuck[] = [];
  try {
    aegis = await startAegis(simpleConfig([`127.0.0.1:${server.port}`], {
      workers: WORKERS, logLevel: "debug",
      global: "access_log = false\nmax_connections = 4000\nbuffer_budget = \"256MiB\"",
      listener: `buffer_limit = "${BUFFER_LIMIT / 1024}KiB"`,
    }), { command: [ensureBinary()], cwd: tempDir() });
    const pid = aegis.proc.pid;

    // "Its start" is aegis at rest after a first small burst, once that burst's buffers are given
    // back: the first relayed bytes page in code and JIT-compile the relay (measured: about 3.5 MiB
    // of the binary's pages and 5 MiB of anonymous memory, once, not per session), which no later
    // burst adds again. With 40 sessions both Workers take part (all in one: odds 2^-39).
    const warm = await stickSessions(aegis, accepted, WARM_UP);
    everyClient.push(...warm.clients);
    for (const c of warm.clients) c.socket.terminate();
    for (const s of accepted) s.terminate();
    const givenBack = (from: number) => waitFor(() => {
      const workers = new Set(aegis!.logs.slice(from).filter((l) => l.msg === "buffers given back").map((l) => l.worker));
      return workers.size === WORKERS;
    }, { what: "every Worker gave its slabs back", timeoutMs: 90_000 });
    await givenBack(0);
    const logsBefore = aegis.logs.length;
    const base = rss(pid);

    const { clients, peak } = await stickSessions(aegis, accepted, SESSIONS);
    everyClient.push(...clients);
    expect(accepted.length).toBe(WARM_UP + SESSIONS);
    const bound = base + SESSIONS * 2 * BUFFER_LIMIT;
    // While they filled, some 2 GB passed through aegis into the kernel's buffers, each read a fresh
    // buffer of Bun's: the peak counts that garbage until JSC collects it (measured: it does within
    // about a second, with or without an explicit collection). What the stuck sessions hold is the
    // RSS once it has: polled (bounded) while every session stays stuck.
    let held = rss(pid);
    for (let round = 0; round < 100 && held >= bound; round++) {
      await Bun.sleep(100);
      held = rss(pid);
    }
    // What aegis itself holds: every byte the clients sent that no socket's kernel queue holds.
    const sentAll = clients.reduce((a, c) => a + c.sent, 0);
    const inAegis = sentAll - kernelHeld([aegis.port, server.port]);
    console.log(`aegis anonymous RSS: base ${mib(base)}, peak while filling ${mib(peak)}, held ${mib(held)}, bound ${mib(bound)}; `
      + `${mib(sentAll)} sent, ${mib(inAegis)} of it unsent inside aegis (${(inAegis / SESSIONS / 1024).toFixed(0)} KiB per session)`);
    expect(inAegis).toBeGreaterThan(0);
    expect(inAegis).toBeLessThan(SESSIONS * 2 * BUFFER_LIMIT);
    expect(held).toBeLessThan(bound);
    // No session was cut for overload: every client is still connected.
    expect(clients.filter((c) => c.closed).length).toBe(0);

    for (const c of clients) c.socket.terminate();
    for (const s of accepted) s.terminate();
    // The slabs go back after their idle period (15 s), each Worker logs it; then the RSS falls.
    await givenBack(logsBefore);
    // Freed memory reaches the OS as the allocators' scavengers run, seconds apart: polled for up
    // to 30 s, which with the slabs' 15 s keeps it within the minute the issue allows.
    let after = rss(pid);
    let round = 0;
    for (; round < 300 && after > base * 1.2; round++) {
      await Bun.sleep(100);
      after = rss(pid);
    }
    console.log(`aegis anonymous RSS after close: ${mib(after)} (start ${mib(base)}), ${round * 100} ms after the slabs went back`);
    expect(after).toBeLessThanOrEqual(base * 1.2);
  } finally {
    for (const c of everyClient) c.socket.terminate();
    await aegis?.stop();
  }
}, 300_000);
