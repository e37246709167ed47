// The process_* families every Prometheus client library exports (resident and virtual memory, CPU
// seconds, open and max fds, start time), read from /proc/self at scrape time, plus aegis_build_info.
import { readdirSync, readFileSync } from "node:fs";
import { formatLabels } from "./prometheus-text.ts";

/** Clock ticks per second: the unit of utime/stime in /proc/self/stat (USER_HZ, 100 on every Linux ABI). */
const TICKS = 100;

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null; // not Linux, or /proc not mounted: those families are left out
  }
}

/** The fields of /proc/self/stat after the command name (which may hold spaces and parentheses). */
function statFields(): string[] | null {
  const stat = read("/proc/self/stat");
  if (!stat) return null;
  return stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ");
}

function bootTime(): number | null {
  const m = /^btime (\d+)$/m.exec(read("/proc/stat") ?? "");
  return m ? Number(m[1]) : null;
}

function maxFds(): number | null {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(read("/proc/self/limits") ?? "");
  if (!m) return null;
  return m[1] === "unlimited" ? -1 : Number(m[1]);
}

function openFds(): number | null {
  try {
    return readdirSync("/proc/self/fd").length - 1; // less the descriptor readdir itself holds open
  } catch {
    return null;
  }
}

function gauge(out: string[], name: string, type: "gauge" | "counter", help: string, value: number | null): void {
  if (value === null || !Number.isFinite(value)) return;
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
}

export function renderProcess(): string {
  const out: string[] = [];
  // Fields after ")": [0] state ... [11] utime [12] stime ... [19] starttime [20] vsize [21] rss (pages).
  const f = statFields();
  if (f) {
    gauge(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", (Number(f[11]) + Number(f[12])) / TICKS);
    const boot = bootTime();
    gauge(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", boot === null ? null : boot + Number(f[19]) / TICKS);
    gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", Number(f[20]));
  }
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(read("/proc/self/status") ?? "");
  gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss ? Number(rss[1]) * 1024 : null);
  gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", openFds());
  gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", maxFds());
  return out.length ? out.join("\n") + "\n" : "";
}

/** aegis_build_info: always 1, the labels say which build answers. */
export function renderBuildInfo(info: { version: string; commit: string; bun: string }): string {
  return [
    "# HELP aegis_build_info The aegis build answering: version, commit and the Bun runtime inside; always 1.",
    "# TYPE aegis_build_info gauge",
    `aegis_build_info{${formatLabels(info)}} 1`,
    "",
  ].join("\n");
}

/** aegis_reloads_total{result} and aegis_config_last_reload_success_timestamp_seconds. */
export function renderReloads(r: { ok: number; failed: number; lastSuccessAt: number }): string {
  return [
    "# HELP aegis_reloads_total Reloads the operator asked for (file change, SIGHUP, admin API), by result: a failure changes nothing.",
    "# TYPE aegis_reloads_total counter",
    `aegis_reloads_total{result="success"} ${r.ok}`,
    `aegis_reloads_total{result="failure"} ${r.failed}`,
    "# HELP aegis_config_last_reload_success_timestamp_seconds When the running config was taken (the last successful reload, or the start).",
    "# TYPE aegis_config_last_reload_success_timestamp_seconds gauge",
    `aegis_config_last_reload_success_timestamp_seconds ${r.lastSuccessAt / 1000}`,
    "",
  ].join("\n");
}
