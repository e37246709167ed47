// Starts a real aegis process (source or compiled binary) on a temporary config and reads its JSON logs.
import type { Subprocess } from "bun";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REPO = new URL("../..", import.meta.url).pathname;
export const SOURCE_COMMAND = [process.execPath, join(REPO, "src/main.ts")];
export const BINARY = join(REPO, "dist/aegis");

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface Aegis {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Bound port of each listener, by name. */
  ports: Record<string, number>;
  port: number;
  /** The config file it runs with (rewrite it, then reload). */
  configPath: string;
  metricsPort: number | null;
  logs: LogLine[];
  stderr(): string;
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM (or the given signal) and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  metrics(): Promise<Map<string, number>>;
}

export function tempDir(prefix = "aegis-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeConfig(toml: string): string {
  const path = join(tempDir(), "aegis.toml");
  writeFileSync(path, toml);
  return path;
}

export interface StartOptions {
  command?: string[];
  cwd?: string;
  readyTimeoutMs?: number;
  /** Variables added to the test's environment (NOTIFY_SOCKET, for one). */
  env?: Record<string, string>;
}

async function pump(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  if (buffered) onLine(buffered);
}

/** Start aegis with `toml` as its config and wait for its "ready" line. */
export async function startAegis(toml: string, options: StartOptions = {}): Promise<Aegis> {
  const path = writeConfig(toml);
  const command = [...(options.command ?? SOURCE_COMMAND), "--config", path];
  const env = options.env ? { ...process.env, ...options.env } : undefined;
  const proc = Bun.spawn(command, { cwd: options.cwd ?? tempDir(), ...(env ? { env } : {}), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const logs: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let errText = "";
  void pump(proc.stdout, (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: "<non-json>", text };
    }
    logs.push(line);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.match(line)) waiters.splice(i, 1)[0]!.resolve(line);
    }
  });
  void pump(proc.stderr, (text) => (errText += text + "\n"));

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${errText}; logs: ${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
      waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };

  const ready = await Promise.race([
    waitForLog((l) => l.msg === "ready", options.readyTimeoutMs ?? 15_000),
    proc.exited.then((code) => {
      throw new Error(`aegis exited with ${code} before ready: ${errText} ${JSON.stringify(logs)}`);
    }),
  ]);
  const listeners = ready.listeners as { name: string; address: string }[];
  const ports = Object.fromEntries(listeners.map((l) => [l.name, Number(l.address.split(":").pop())]));
  const metricsAddress = ready.metrics as string | null;
  const metricsPort = metricsAddress ? Number(metricsAddress.split(":").pop()) : null;

  return {
    proc,
    ports,
    port: Number(Object.values(ports)[0]),
    configPath: path,
    metricsPort,
    logs,
    stderr: () => errText,
    waitForLog,
    async stop(signal = "SIGTERM", timeoutMs = 15_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
    async metrics() {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return parseMetrics(text);
    },
  };
}

/** `name{labels} value` lines into a map keyed by `name{labels}` (and summed per bare name). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const key = line.slice(0, space);
    const value = Number(line.slice(space + 1));
    out.set(key, value);
    const bare = key.split("{")[0]!;
    if (bare !== key) out.set(bare, (out.get(bare) ?? 0) + value);
  }
  return out;
}

/** Poll `check` every 20 ms until it returns true or `timeoutMs` passes (see also waitFor in ./wait.ts). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`${what} not met within ${timeoutMs} ms`);
}

/** A minimal config: one listener on port 0 to one upstream. */
export function simpleConfig(
  servers: string[],
  extra: {
    workers?: number;
    logLevel?: string;
    /** shutdown_grace, "5s" unless given. */
    grace?: string;
    global?: string;
    /** An [admin] token: the admin API (and upgrade) answer with it. */
    adminToken?: string;
    listener?: string;
    upstream?: string;
    /** Servers as TOML inline tables (`{ address = "...", name = "..." }`), instead of `servers`' plain addresses. */
    serverTables?: string[];
  } = {},
): string {
  const list = extra.serverTables ?? servers.map((s) => JSON.stringify(s));
  return `
[global]
workers = ${extra.workers ?? 2}
log_level = "${extra.logLevel ?? "debug"}"
shutdown_grace = "${extra.grace ?? "5s"}"
${extra.global ?? ""}

[metrics]
listen = "127.0.0.1:0"
${extra.adminToken ? `\n[admin]\ntoken = "${extra.adminToken}"\n` : ""}
[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
${extra.listener ?? ""}

[[upstream]]
name = "app"
servers = [${list.join(", ")}]
${extra.upstream ?? ""}
`;
}
