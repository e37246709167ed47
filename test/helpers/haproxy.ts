// Runs a real HAProxy (Debian's 2.6) on a temporary config for interoperability tests and reads its log lines.
import type { Subprocess } from "bun";
import { rmSync, writeFileSync } from "node:fs";
import { connect as connectFrom } from "node:net";
import { join } from "node:path";
import { tempDir } from "./aegis.ts";
import { closedPort } from "./backends.ts";
import { waitFor } from "./wait.ts";

/**
 * The log line of every session (HAProxy's `log-format`), written when the session ends: the client
 * address as HAProxy believes it (after `accept-proxy`, the one the PROXY header claimed), the real
 * peer the connection came from (%fc_src: the sender of the header), and the bytes each way; the
 * session's own unique ID (%ID, when the section has a unique-id-format), and what a received v2
 * header carried: its authority (TLV 0x02) and unique ID (0x05).
 */
export const HAPROXY_LOG_FORMAT =
  "client=%ci:%cp peer=%[fc_src]:%[fc_src_port] frontend=%ft server=%b/%s bytes_in=%U bytes_out=%B term=%ts id=%ID authority=%[fc_pp_authority] unique_id=%[fc_pp_unique_id]";

export interface Haproxy {
  readonly pid: number;
  /** The config file as written (for a failure message). */
  readonly config: string;
  /** Everything HAProxy has written so far: log lines (stdout), then warnings and alerts (stderr). */
  logs(): string;
  /** The first log line matching `re`, already written or still to come; rejects after `timeoutMs` with what was logged. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (hard stop), SIGKILL if it has not exited within 5 s; resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** Where the helper's own readiness frontend listens is chosen by it; everything else the caller writes. */
function configText(sections: string, readyPort: number): string {
  return `# Written by test/helpers/haproxy.ts.
global
    log stdout format raw local0 info

defaults
    mode tcp
    log global
    log-format "${HAPROXY_LOG_FORMAT}"
    timeout connect 5s
    timeout client 30s
    timeout server 30s

${sections.trim()}

# The helper's readiness probe: it answers a connection only once the event loop runs, which is
# after every listener above is bound, and it closes it unlogged without touching a backend.
frontend aegis_test_ready
    bind 127.0.0.1:${readyPort}
    tcp-request connection reject
`;
}

/**
 * Start HAProxy in the foreground (`haproxy -db -f`) with the global and defaults sections above
 * (raw logs on stdout, `HAPROXY_LOG_FORMAT`, TCP mode) followed by `sections`: the caller's
 * frontend/backend/listen sections, on ports it chose (test/helpers/backends.ts closedPort()).
 * Resolves once every listener accepts; rejects with HAProxy's own alerts if it exits first.
 */
export async function startHaproxy(sections: string, readyTimeoutMs = 15_000): Promise<Haproxy> {
  if (!Bun.which("haproxy")) throw new Error("haproxy is missing: run `bash scripts/setup.sh --test` as root (it installs Debian's haproxy)");
  const dir = tempDir("aegis-haproxy-");
  const readyPort = closedPort();
  const config = configText(sections, readyPort);
  const path = join(dir, "haproxy.cfg");
  writeFileSync(path, config);
  const proc = Bun.spawn(["haproxy", "-db", "-f", path], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const output = capture(proc);
  const stop = () => stopAndClean(proc, dir);
  try {
    await whenServing(readyPort, proc, `HAProxy (config ${path})`, output.text, readyTimeoutMs);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- config ---\n${config}`);
  }
  return { pid: proc.pid, config, logs: output.text, waitForLog: output.waitForLog, stop };
}

/** SIGTERM (SIGKILL after 5 s) a program a test started, then remove its directory; safe to call twice. */
export async function stopAndClean(proc: Subprocess, dir: string): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    await proc.exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
}

export interface Captured {
  text(): string;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
}

/** Collect a child's stdout and stderr and let tests wait for a line of it without polling. */
export function capture(proc: Subprocess<"ignore", "pipe", "pipe">): Captured {
  let out = "";
  let err = "";
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const lines = () => `${out}${err}`.split("\n");
  const wake = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const line = lines().find((l) => waiters[i]!.re.test(l));
      if (line !== undefined) waiters.splice(i, 1)[0]!.resolve(line);
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>, add: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      add(decoder.decode(chunk, { stream: true }));
      wake();
    }
  };
  void pump(proc.stdout, (t) => (out += t));
  void pump(proc.stderr, (t) => (err += t));
  return {
    text: () => `${out}${err}`,
    waitForLog(re, timeoutMs = 10_000) {
      const seen = lines().find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; logged:\n${out}${err}`)), timeoutMs);
        waiters.push({ re, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
  };
}

/**
 * Wait until `port` accepts a connection and the server then closes it: proof that its event loop
 * runs (a kernel backlog alone would accept), so every listener bound before it is live. Fails at
 * once, with the program's output, if the program exits.
 */
export async function whenServing(port: number, proc: Subprocess, what: string, output: () => string, timeoutMs: number): Promise<void> {
  let running = true;
  const exited = proc.exited.then((code) => {
    if (running) throw new Error(`${what} exited with ${code} before serving:\n${output()}`);
  });
  exited.catch(() => {}); // handled by the race below; this keeps a late rejection from going unhandled
  try {
    await Promise.race([waitFor(() => closedByPeer(port), { what: `${what} serving on 127.0.0.1:${port}`, timeoutMs }), exited]);
  } finally {
    running = false;
  }
}

/** Connect to 127.0.0.1:port; true once the peer closes the connection, false if refused or if it is still open after 2 s. */
function closedByPeer(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let opened = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (value: boolean) => {
      clearTimeout(timer);
      resolve(value);
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          opened = true;
          timer = setTimeout(() => (done(false), socket.terminate()), 2_000);
        },
        data() {},
        close() { done(opened); },
        error() {},
        connectError() { done(false); },
      },
    }).catch(() => done(false));
  });
}

// ---- what a proxy under test talks to -------------------------------------------------------

export interface CaptureServer {
  readonly port: number;
  /** The bytes of the next connection, in order of arrival, once its sender has closed it. */
  next(timeoutMs?: number): Promise<Uint8Array>;
  stop(): void;
}

/** A server on 127.0.0.1 that never answers and records everything a proxy sends it, connection by connection. */
export function startCapture(): CaptureServer {
  const done: Uint8Array[] = [];
  const waiting: ((bytes: Uint8Array) => void)[] = [];
  const server = Bun.listen<Buffer[]>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) { socket.data = []; },
      data(socket, chunk) { socket.data.push(chunk); },
      close(socket) {
        const bytes = new Uint8Array(Buffer.concat(socket.data ?? []));
        const waiter = waiting.shift();
        if (waiter) waiter(bytes);
        else done.push(bytes);
      },
    },
  });
  return {
    port: server.port,
    next(timeoutMs = 10_000) {
      const ready = done.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`capture server on ${server.port}: no connection closed within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((bytes) => (clearTimeout(timer), resolve(bytes)));
      });
    },
    stop: () => server.stop(true),
  };
}

export interface Exchange {
  /** The client's own port, as the server side sees it. */
  localPort: number;
  /** Everything the server sent back before it closed. */
  received: Uint8Array;
  /** How the connection failed, if it did (a reset, say). */
  error: Error | null;
}

/**
 * Connect to 127.0.0.1:port from `localAddress` (any of 127.0.0.0/8 on Linux), send `data`, half-close,
 * and resolve once the server has closed. node:net, because Bun.connect cannot bind a source address.
 */
export function exchangeFrom(localAddress: string, port: number, data: Uint8Array, timeoutMs = 10_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let error: Error | null = null;
    let localPort = 0;
    const socket = connectFrom({ host: "127.0.0.1", port, localAddress });
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`exchange from ${localAddress} to ${port}: not closed within ${timeoutMs} ms`))), timeoutMs);
    socket.on("connect", () => {
      localPort = socket.localPort ?? 0;
      socket.end(data);
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (err: Error) => (error = err));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ localPort, received: new Uint8Array(Buffer.concat(chunks)), error });
    });
  });
}
