// Syscalls per proxied GET: `strace -c -f` attached to every thread of the proxy's process group
// while redis-benchmark sends a fixed number of GETs through it. Under strace the proxy is slow;
// the count, not the speed, is what this row is for.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { groupMembers, sleep, start, stop } from "./procs.ts";
import { redisBenchmark } from "./workloads.ts";

export interface SyscallCount {
  perGet: number;
  /** The calls that make up most of it, per GET: name → count. */
  top: Record<string, number>;
}

/** Every thread of every process in the group (aegis's Workers are threads of one process). */
function threadsOf(pgid: number): number[] {
  return groupMembers(pgid).flatMap((pid) => {
    try {
      return readdirSync(`/proc/${pid}/task`).map(Number);
    } catch {
      return [];
    }
  });
}

export async function syscallsPerGet(pgid: number, port: number, requests: number, dir: string): Promise<SyscallCount> {
  const out = join(dir, "strace.txt");
  const tids = threadsOf(pgid);
  if (tids.length === 0) throw new Error("no threads to attach to");
  const strace = start("strace", ["strace", "-c", "-f", "-o", out, ...tids.flatMap((t) => ["-p", String(t)])], join(dir, "strace.log"));
  // strace says "Process N attached" once per thread; wait (bounded) for all of them.
  for (let i = 0; i < 100; i++) {
    const said = (() => {
      try {
        return readFileSync(join(dir, "strace.log"), "utf8");
      } catch {
        return "";
      }
    })();
    if ((said.match(/attached/g) ?? []).length >= tids.length) break;
    await sleep(50);
  }
  try {
    await redisBenchmark(port, { requests, clients: 50, pipeline: 1, keepalive: true });
  } finally {
    await stop(strace, 5000); // SIGTERM: strace detaches and writes its summary
  }
  const text = readFileSync(out, "utf8");
  const total = /^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total$/m.exec(text);
  if (!total) throw new Error(`no total line in strace's summary: ${text.slice(0, 300)}`);
  const top: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)$/.exec(line);
    if (m && m[2] !== "total" && Number(m[1]) / requests >= 0.05) top[m[2]!] = Number(m[1]) / requests;
  }
  return { perGet: Number(total[1]) / requests, top };
}


