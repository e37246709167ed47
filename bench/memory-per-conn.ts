// Memory of the compiled aegis at rest and per idle relayed connection (Pss from smaps_rollup).
//
//   bun bench/memory-per-conn.ts [COUNT=2000] [WORKERS=2] [RUNS=3]
//
// Per run: start dist/aegis (one listener to a PING -> +PONG backend in this process), read Pss
// at rest, open COUNT idle connections from a separate process (bench/lib/idle-clients.ts, each
// relays one PING, then idles), read Pss again; prints at rest and (after - before) / COUNT.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const COUNT = Number(process.argv[2] ?? 2000);
const WORKERS = Number(process.argv[3] ?? 2);
const RUNS = Number(process.argv[4] ?? 3);
const root = new URL("..", import.meta.url).pathname;

const pss = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))![1]) * 1024;

const backend = Bun.listen({
  hostname: "127.0.0.1", port: 0,
  socket: { data(s) { s.write("+PONG\r\n"); } },
});

async function lineOf(stream: ReadableStream<Uint8Array>, match: (line: string) => boolean): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    const line = text.split("\n").find(match);
    if (line) return line;
  }
  throw new Error(`stream ended before the line: ${text.slice(-500)}`);
}

for (let run = 0; run < RUNS; run++) {
  const dir = mkdtempSync(join(tmpdir(), "aegis-mem-"));
  const config = join(dir, "aegis.toml");
  writeFileSync(config, `[global]\nworkers = ${WORKERS}\naccess_log = false\n[metrics]\nlisten = "127.0.0.1:0"\n[[listener]]\nname = "main"\nbind = "127.0.0.1:0"\nupstream = "app"\n[[upstream]]\nname = "app"\nservers = ["127.0.0.1:${backend.port}"]\n`);
  const aegis = Bun.spawn([process.env.AEGIS_BIN ?? join(root, "dist/aegis"), "--config", config], { cwd: dir, stdout: "pipe", stderr: "inherit" });
  const ready = JSON.parse(await lineOf(aegis.stdout, (l) => l.includes('"msg":"ready"'))) as { listeners: { address: string }[] };
  const port = Number(ready.listeners[0]!.address.split(":").pop());
  await Bun.sleep(2000); // settle after start-up (a benchmark, not a test)
  const restCold = pss(aegis.pid);
  // Warm up as bench/compare does: 200 connections opened and closed, so heap growth is not counted.
  const warm = Bun.spawn([process.execPath, join(root, "bench/lib/idle-clients.ts"), String(port), "200"], { stdin: "pipe", stdout: "pipe" });
  await lineOf(warm.stdout, (l) => l.startsWith("{"));
  warm.stdin.end();
  await warm.exited;
  await Bun.sleep(1000);
  const rest = pss(aegis.pid);
  const clients = Bun.spawn([process.execPath, join(root, "bench/lib/idle-clients.ts"), String(port), String(COUNT)], { stdin: "pipe", stdout: "pipe" });
  const settled = JSON.parse(await lineOf(clients.stdout, (l) => l.startsWith("{"))) as { ok: number; failed: number };
  await Bun.sleep(1000);
  const held = pss(aegis.pid);
  clients.stdin.end();
  await clients.exited;
  aegis.kill("SIGTERM");
  await aegis.exited;
  console.log(JSON.stringify({
    run, workers: WORKERS, ok: settled.ok, failed: settled.failed,
    restMiB: +(restCold / 2 ** 20).toFixed(1), warmMiB: +(rest / 2 ** 20).toFixed(1), perConnBytes: Math.round((held - rest) / COUNT),
  }));
}
backend.stop(true);
