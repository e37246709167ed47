// Loopback helpers: free ports and a one-shot Redis PING through whatever listens on a port.

import { readFileSync } from "node:fs";

const HOST = "127.0.0.1";
const taken = new Set<number>();

/**
 * A port that nothing listens on now, below the ephemeral range (32768-60999) so that
 * the many short-lived client sockets of the benchmarks can't be handed it meanwhile.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (taken.has(port)) continue;
    try {
      const probe = Bun.listen({ hostname: HOST, port, socket: { data() {} } });
      probe.stop(true);
    } catch {
      continue;
    }
    taken.add(port);
    return port;
  }
  throw new Error("no free port found in 20000-31999");
}

/** Connect, send PING, resolve true on +PONG; false on any failure or after timeoutMs. */
export function redisPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    let reply = "";
    let sock: { end(): void } | null = null;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock?.end();
      resolve(ok);
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    Bun.connect({
      hostname: HOST,
      port,
      socket: {
        open(s) {
          sock = s;
          s.write("PING\r\n");
        },
        data(_s, chunk) {
          reply += chunk.toString();
          if (reply.includes("+PONG\r\n")) settle(true);
        },
        close() {
          settle(false);
        },
        error() {
          settle(false);
        },
        connectError() {
          settle(false);
        },
      },
    }).then(
      (s) => {
        sock = s;
        if (settled) s.end();
      },
      () => settle(false),
    );
  });
}

/**
 * Try a relayed PING every intervalMs until one succeeds; milliseconds from `since`
 * (a performance.now() value) to the first success, or null after maxMs.
 */
export async function firstPong(
  port: number,
  since: number,
  maxMs: number,
  intervalMs = 1,
  isDead: () => boolean = () => false,
): Promise<number | null> {
  const deadline = since + maxMs;
  while (performance.now() < deadline && !isDead()) {
    const attemptAt = performance.now();
    if (await redisPing(port, 250)) return performance.now() - since;
    const wait = intervalMs - (performance.now() - attemptAt);
    if (wait > 0) await Bun.sleep(wait);
  }
  return null;
}

/** A Redis command in RESP, as redis-cli sends it: an array of bulk strings. */
export function respCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

/** One Redis command over a fresh connection, for setup and bookkeeping (INFO, SET). */
export function redisCommand(port: number, args: string[], timeoutMs = 2000): Promise<string> {
  const payload = respCommand(args);
  return new Promise((resolve, reject) => {
    let reply = "";
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(reply);
    };
    const timer = setTimeout(() => finish(new Error(`redis ${args[0]} timed out`)), timeoutMs);
    Bun.connect({
      hostname: HOST,
      port,
      socket: {
        open(s) {
          s.write(payload);
        },
        data(s, chunk) {
          reply += chunk.toString();
          if (isCompleteReply(reply)) {
            s.end();
            finish(null);
          }
        },
        close() {
          finish(isCompleteReply(reply) ? null : new Error(`redis ${args[0]}: connection closed`));
        },
        error(_s, e) {
          finish(e);
        },
        connectError(_s, e) {
          finish(e);
        },
      },
    }).catch((e: Error) => finish(e));
  });
}

function isCompleteReply(reply: string): boolean {
  if (reply.startsWith("$")) {
    const header = reply.indexOf("\r\n");
    if (header < 0) return false;
    const len = Number(reply.slice(1, header));
    return len < 0 || Buffer.byteLength(reply) >= header + 2 + len + 2;
  }
  return reply.endsWith("\r\n");
}

/** `connected_clients` from INFO clients, straight to the backend. */
export async function redisClients(port: number): Promise<number> {
  const info = await redisCommand(port, ["INFO", "clients"]);
  const m = /connected_clients:(\d+)/.exec(info);
  return m?.[1] ? Number(m[1]) : NaN;
}

/** True once something listens on 127.0.0.1:port (read from /proc, without connecting). */
export function isListening(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  try {
    const table = readFileSync("/proc/net/tcp", "utf8");
    return table.split("\n").some((line) => {
      const cols = line.trim().split(/\s+/);
      return (cols[1] === `0100007F:${hexPort}` || cols[1] === `00000000:${hexPort}`) && cols[3] === "0A";
    });
  } catch {
    return false;
  }
}
