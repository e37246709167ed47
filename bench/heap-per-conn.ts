// What one idle relayed connection costs on the JS heap, class by class: aegis (bun src/main.ts, one
// Worker) and the bare Bun relay (bench/lib/bun-relay.ts) in turn, each with AEGIS_HEAP_PROBE set so
// its Worker writes its heap by class after a full GC (src/telemetry/heap-probe.ts). COUNT idle
// connections (each relays one PING, bench/lib/idle-clients.ts) are opened from another process;
// the table is (after - before) / COUNT per class, after a warm-up of as many.
//
//   bun bench/heap-per-conn.ts [COUNT=2000]
//
// The JS heap only: the kernel's socket memory and Bun's native per-socket structures are not in it
// (bench/compare's Pss row has everything). A benchmark, so it waits with sleeps.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./lib/net.ts";

const COUNT = Number(process.argv[2] ?? 2000);
const root = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "aegis-heap-"));
type ByClass = Record<string, { count: number; bytes: number }>;

const backend = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data(s) { s.write("+PONG\r\n"); } } });

/** The newest probe file a Worker wrote after `since` (ms epoch). */
async function probe(path: string, since: number): Promise<ByClass> {
  for (let i = 0; i < 100; i++) {
    const file = [`${path}.0`, `${path}.1`].find((f) => existsSync(f) && Bun.file(f).lastModified > since);
    if (file) return JSON.parse(readFileSync(file, "utf8")) as ByClass;
    await Bun.sleep(100);
  }
  throw new Error(`no heap probe at ${path} after 10 s`);
}

/** The first line `stream` prints. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) break;
  }
  return text.split("\n")[0]!;
}

/** COUNT idle connections through `port`, held by another process until release(). */
async function hold(port: number, name: string): Promise<{ release(): Promise<void> }> {
  const clients = Bun.spawn([process.execPath, join(root, "bench/lib/idle-clients.ts"), String(port), String(COUNT)], { stdin: "pipe", stdout: "pipe" });
  const settled = JSON.parse(await firstLine(clients.stdout)) as { ok: number; failed: number };
  if (settled.ok !== COUNT) throw new Error(`${name}: ${settled.failed} of ${COUNT} connections failed`);
  return {
    async release() {
      clients.stdin.end();
      await clients.exited;
    },
  };
}

async function measure(name: string, port: number, cmd: string[]): Promise<Map<string, { count: number; bytes: number }>> {
  const path = join(dir, name);
  const proc = Bun.spawn(cmd, { env: { ...process.env, AEGIS_HEAP_PROBE: path }, stdout: "ignore", stderr: "inherit" });
  try {
    await Bun.sleep(4000); // started, compiled, settled
    // Warm-up: the same number of connections opened and closed once, so what stays from the first
    // burst (JIT code, the recycler's slabs, table growth) is in "before", not billed per connection.
    await (await hold(port, name)).release();
    await Bun.sleep(1000);
    const before = await probe(path, Date.now());
    const held = await hold(port, name);
    await Bun.sleep(1000);
    const after = await probe(path, Date.now());
    await held.release();
    const delta = new Map<string, { count: number; bytes: number }>();
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const b = before[k] ?? { count: 0, bytes: 0 };
      const a = after[k] ?? { count: 0, bytes: 0 };
      delta.set(k, { count: (a.count - b.count) / COUNT, bytes: (a.bytes - b.bytes) / COUNT });
    }
    return delta;
  } finally {
    proc.kill();
    await proc.exited;
  }
}

const aegisPort = freePort();
const config = join(dir, "aegis.toml");
writeFileSync(config, `[global]\nworkers = 1\naccess_log = false\n[metrics]\nlisten = "127.0.0.1:0"\n[[listener]]\nname = "main"\nbind = "127.0.0.1:${aegisPort}"\nupstream = "app"\n[[upstream]]\nname = "app"\nservers = ["127.0.0.1:${backend.port}"]\n`);
const relayPort = freePort();
const results = {
  aegis: await measure("aegis", aegisPort, [process.execPath, join(root, "src/main.ts"), "--config", config]),
  relay: await measure("relay", relayPort, [process.execPath, join(root, "bench/lib/bun-relay.ts"), "1", `${relayPort}:${backend.port}`]),
};
backend.stop(true);

const classes = [...new Set([...results.aegis.keys(), ...results.relay.keys()])]
  .filter((k) => Math.abs(results.aegis.get(k)?.bytes ?? 0) >= 8 || Math.abs(results.relay.get(k)?.bytes ?? 0) >= 8)
  .sort((x, y) => (results.aegis.get(y)?.bytes ?? 0) - (results.aegis.get(x)?.bytes ?? 0));
const cell = (m: Map<string, { count: number; bytes: number }>, k: string) => {
  const v = m.get(k);
  return v ? `${v.count.toFixed(2)} | ${Math.round(v.bytes)}` : "0 | 0";
};
const total = (m: Map<string, { count: number; bytes: number }>) => Math.round([...m.values()].reduce((n, v) => n + v.bytes, 0));
console.log(`JS heap per idle relayed connection, ${COUNT} connections, after a full GC (bytes; objects per connection)\n`);
console.log("| class | aegis objects | aegis bytes | bare relay objects | bare relay bytes |\n| --- | --- | --- | --- | --- |");
for (const k of classes) console.log(`| ${k} | ${cell(results.aegis, k)} | ${cell(results.relay, k)} |`);
console.log(`| **all classes** | | ${total(results.aegis)} | | ${total(results.relay)} |`);
