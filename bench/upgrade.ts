// Upgrades in place under a high rate of new connections, with net.ipv4.tcp_migrate_req = 0 and = 1:
// counts the connections refused, reset or cut short across the upgrades. Sets the sysctl only for
// its own rounds and restores the value it found. Loopback only; every loop is bounded.
// Usage: bun bench/upgrade.ts [--upgrades N] [--concurrency N] [--rounds N]   (as root, after `bun run build`)
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAegis, tempDir, type Aegis, type LogLine } from "../test/helpers/aegis.ts";
import { startEcho } from "../test/helpers/backends.ts";
import { ensureBinary } from "../test/helpers/build.ts";
import { startChurn, type ChurnResult } from "../test/helpers/churn.ts";

const MIGRATE = "/proc/sys/net/ipv4/tcp_migrate_req";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} takes a positive whole number, got ${process.argv[at + 1]}`);
  return value;
}

const UPGRADES = option("upgrades", 10);
const CONCURRENCY = option("concurrency", 32);
const ROUNDS = option("rounds", 2);

const config = (server: string) => `
[global]
workers = 2
log_level = "info"
shutdown_grace = "10s"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"

[[upstream]]
name = "app"
servers = ["${server}"]
`;

function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return false;
  }
}

interface Row {
  migrate: string;
  result: ChurnResult;
  seconds: number;
}

async function round(binary: string, migrate: "0" | "1"): Promise<Row> {
  writeFileSync(MIGRATE, migrate);
  const echo = startEcho();
  const pids: number[] = [];
  let aegis: Aegis | null = null;
  try {
    aegis = await startAegis(config(echo.address), { command: [binary], cwd: tempDir() });
    pids.push(aegis.proc.pid);
    const churn = startChurn(aegis.port, CONCURRENCY, 300_000, 5_000);
    const started = performance.now();
    let pid = aegis.proc.pid;
    for (let n = 0; n < UPGRADES; n++) {
      const done = churn.done();
      for (let i = 0; i < 2000 && churn.done() < done + 200; i++) await Bun.sleep(5); // traffic between upgrades
      process.kill(pid, "SIGUSR2");
      const from = pid;
      const ready = await aegis.waitForLog((l: LogLine) => l.msg === "ready" && l.upgraded_from === from, 60_000);
      pid = ready.pid as number;
      pids.push(pid);
    }
    const result = await churn.stop();
    return { migrate, result, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const p of pids) if (alive(p)) process.kill(p, "SIGKILL");
    echo.stop();
  }
}

if (!existsSync(MIGRATE)) throw new Error(`${MIGRATE} is missing: tcp_migrate_req needs Linux 5.14 or later`);
const before = readFileSync(MIGRATE, "utf8").trim();
const binary = join(tempDir("aegis-bench-upgrade-"), "aegis");
copyFileSync(ensureBinary(), binary);
chmodSync(binary, 0o755);
const rows: Row[] = [];
try {
  for (let r = 0; r < ROUNDS; r++) for (const m of ["0", "1"] as const) rows.push(await round(binary, m));
} finally {
  writeFileSync(MIGRATE, before);
}
console.log(`${UPGRADES} upgrades per round, ${CONCURRENCY} connection loops, 2 Workers; tcp_migrate_req restored to ${before}\n`);
console.log("| tcp_migrate_req | connections ok | failed | by kind | connections/s |");
console.log("| --- | ---: | ---: | --- | ---: |");
for (const { migrate, result, seconds } of rows) {
  const failed = Object.values(result.failures).reduce((a, b) => a + b, 0);
  const kinds = Object.entries(result.failures).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  console.log(`| ${migrate} | ${result.ok} | ${failed} | ${kinds} | ${Math.round((result.ok + failed) / seconds)} |`);
}
process.exit(0);
