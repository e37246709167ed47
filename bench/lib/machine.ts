// What the numbers were measured on, as lines for RESULTS.md.

import { availableParallelism, totalmem } from "node:os";
import { readFileSync } from "node:fs";

function firstLine(cmd: string[]): string {
  try {
    const r = Bun.spawnSync({ cmd, stdout: "pipe", stderr: "pipe", timeout: 5000 });
    // nginx -v prints on stderr.
    const text = `${r.stdout.toString()}\n${r.stderr.toString()}`.trim();
    return text.split("\n")[0]?.trim() || "(no output)";
  } catch {
    return "(not installed)";
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function describeMachine(aegisPath: string | null, repoRoot: string): [string, string][] {
  const head = firstLine(["git", "-C", repoRoot, "rev-parse", "--short", "HEAD"]);
  const dirty = firstLine(["git", "-C", repoRoot, "status", "--porcelain", "--", "src"]);
  return [
    ["date", new Date().toISOString()],
    ["cores (nproc)", String(availableParallelism())],
    ["CPU", cpuModel()],
    ["memory", `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ["kernel", firstLine(["uname", "-r"])],
    ["open-file limit", firstLine(["sh", "-c", "ulimit -n"])],
    ["Bun", Bun.version],
    ["aegis", aegisPath ? `${firstLine([aegisPath, "--version"])}: ${aegisPath}` : "not run"],
    ["repository", `${head}${dirty === "(no output)" ? "" : " (src/ has uncommitted changes)"}`],
    ["load average at start", readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")],
    ["HAProxy", firstLine(["haproxy", "-v"])],
    ["nginx", firstLine(["nginx", "-v"])],
    ["Redis", firstLine(["redis-server", "--version"])],
    ["redis-benchmark", firstLine(["redis-benchmark", "--version"])],
    ["iperf3", firstLine(["iperf3", "--version"])],
  ];
}
