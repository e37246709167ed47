// Holds COUNT idle connections to 127.0.0.1:PORT, in its own process so that the
// harness' memory is not what gets measured.
//
//   bun bench/lib/idle-clients.ts PORT COUNT [DEADLINE_MS]
//
// Each connection sends one PING and waits for +PONG, which proves the proxy has relayed
// it to the backend, then stays idle. Prints one JSON line once all are settled:
//   {"ok":N,"failed":N,"ms":N,"firstError":"..."}
// then waits for a line (or EOF) on stdin, closes everything and prints
//   {"dropped":N}   (connections the other side closed while they were idle)
// and exits. It exits by itself after DEADLINE_MS (default 120 s) whatever happens.

import type { Socket } from "bun";

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const deadlineMs = Number(process.argv[4] ?? 120_000);
const CONCURRENT_CONNECTS = 200;
const PER_CONNECTION_MS = 10_000;

if (!Number.isInteger(port) || !Number.isInteger(count) || count <= 0) {
  console.error("usage: bun idle-clients.ts PORT COUNT [DEADLINE_MS]");
  process.exit(2);
}
setTimeout(() => process.exit(3), deadlineMs).unref();

const held: Socket[] = [];
let ok = 0;
let failed = 0;
let dropped = 0;
let closing = false;
let firstError = "";

function openOne(): Promise<void> {
  return new Promise((resolve) => {
    let reply = "";
    let state: "pending" | "held" | "done" = "pending";
    const fail = (why: string) => {
      if (state !== "pending") return;
      state = "done";
      failed++;
      firstError ||= why;
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => fail("no +PONG within 10 s"), PER_CONNECTION_MS);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write("PING\r\n");
        },
        data(s, chunk) {
          if (state !== "pending") return;
          reply += chunk.toString();
          if (reply.includes("+PONG\r\n")) {
            state = "held";
            ok++;
            held.push(s);
            clearTimeout(timer);
            resolve();
          }
        },
        close() {
          if (state === "held" && !closing) dropped++;
          fail("closed before +PONG");
        },
        error(_s, e) {
          fail(String(e));
        },
        connectError(_s, e) {
          fail(String(e));
        },
      },
    }).catch((e: unknown) => fail(String(e)));
  });
}

const t0 = performance.now();
let next = 0;
async function opener(): Promise<void> {
  while (next < count) {
    next++;
    await openOne();
  }
}
await Promise.all(Array.from({ length: Math.min(CONCURRENT_CONNECTS, count) }, opener));
console.log(JSON.stringify({ ok, failed, ms: Math.round(performance.now() - t0), firstError }));

// Wait for the harness to say "close" (any line) or to go away.
const reader = Bun.stdin.stream().getReader();
await reader.read();
closing = true;
for (const s of held) s.end();
console.log(JSON.stringify({ dropped }));
await Bun.sleep(200);
process.exit(0);
