// Starting, watching and stopping the processes a benchmark run needs.
//
// Every process is spawned detached (its own session, so its own process group whose id
// is its pid): stopping it signals the whole group, which takes nginx's and HAProxy's
// workers with it. The groups still alive are listed in $AEGIS_BENCH_PIDFILE so that the
// bench/compare wrapper can kill them if this Bun process itself dies without cleaning up.

import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";

export interface Proc {
  name: string;
  /** Also the process group id. */
  pid: number;
  /** performance.now() just before the spawn call. */
  spawnedAt: number;
  logPath: string;
  exitCode: number | null;
  exited: Promise<number>;
  subprocess: Subprocess;
}

const live = new Map<number, Proc>();
/** Set by stopAll: from then on nothing new may be spawned (a signal arrived mid-run). */
let closed = false;

function refuseWhenClosed(name: string): void {
  if (closed) throw new Error(`not starting ${name}: the run is stopping`);
}
const pidFile = process.env.AEGIS_BENCH_PIDFILE;

function syncPidFile(): void {
  if (!pidFile) return;
  try {
    writeFileSync(pidFile, [...live.keys()].map((pid) => `${pid}\n`).join(""));
  } catch {
    // The wrapper's directory is gone: nothing useful left to record.
  }
}

export const sleep = (ms: number): Promise<void> => Bun.sleep(ms);

/** Spawn a long-running process with stdout and stderr appended to logPath. */
export function start(name: string, cmd: string[], logPath: string, cwd?: string): Proc {
  refuseWhenClosed(name);
  const fd = openSync(logPath, "a");
  const spawnedAt = performance.now();
  let subprocess: Subprocess;
  try {
    subprocess = Bun.spawn({ cmd, cwd, stdin: "ignore", stdout: fd, stderr: fd, detached: true });
  } finally {
    closeSync(fd);
  }
  const proc: Proc = {
    name,
    pid: subprocess.pid,
    spawnedAt,
    logPath,
    exitCode: null,
    exited: subprocess.exited,
    subprocess,
  };
  void subprocess.exited.then((code) => {
    proc.exitCode = code;
  });
  live.set(proc.pid, proc);
  syncPidFile();
  return proc;
}

export interface Piped {
  proc: Proc;
  /** Resolves with the next line the process prints, or null at EOF / after timeoutMs. */
  readLine(timeoutMs: number): Promise<string | null>;
  writeLine(line: string): void;
}

/** Spawn a helper that talks line by line over stdin/stdout; stderr goes to logPath. */
export function startPiped(name: string, cmd: string[], logPath: string): Piped {
  refuseWhenClosed(name);
  const fd = openSync(logPath, "a");
  const spawnedAt = performance.now();
  let sub: Subprocess<"pipe", "pipe", number>;
  try {
    sub = Bun.spawn({ cmd, stdin: "pipe", stdout: "pipe", stderr: fd, detached: true });
  } finally {
    closeSync(fd);
  }
  const proc: Proc = {
    name,
    pid: sub.pid,
    spawnedAt,
    logPath,
    exitCode: null,
    exited: sub.exited,
    subprocess: sub,
  };
  void sub.exited.then((code) => {
    proc.exitCode = code;
  });
  live.set(proc.pid, proc);
  syncPidFile();

  const reader = sub.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let pending: ReturnType<typeof reader.read> | null = null;
  const readLine = async (timeoutMs: number): Promise<string | null> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const nl = buffered.indexOf("\n");
      if (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return line;
      }
      const left = deadline - performance.now();
      if (left <= 0) return null;
      pending ??= reader.read();
      const got = await Promise.race([pending, sleep(left).then(() => null)]);
      if (got === null) return null;
      pending = null;
      if (got.done) return null;
      buffered += decoder.decode(got.value, { stream: true });
    }
  };
  const writeLine = (line: string) => {
    try {
      sub.stdin.write(`${line}\n`);
      sub.stdin.flush();
    } catch {
      // Already gone.
    }
  };
  return { proc, readLine, writeLine };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Run a command to completion, killing its group if it outlives timeoutMs. */
export async function run(name: string, cmd: string[], timeoutMs: number): Promise<RunResult> {
  refuseWhenClosed(name);
  const t0 = performance.now();
  const sub = Bun.spawn({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  const proc: Proc = {
    name,
    pid: sub.pid,
    spawnedAt: t0,
    logPath: "",
    exitCode: null,
    exited: sub.exited,
    subprocess: sub,
  };
  live.set(proc.pid, proc);
  syncPidFile();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(proc.pid, "SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(sub.stdout).text(),
    new Response(sub.stderr).text(),
    sub.exited,
  ]);
  clearTimeout(timer);
  await stop(proc, 1000);
  return { code: timedOut ? null : code, stdout, stderr, timedOut, ms: performance.now() - t0 };
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

/** Pids of all live (non-zombie) processes whose process group is pgid. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may contain anything, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[2]) === pgid) members.push(Number(entry));
  }
  return members;
}

export function isRunning(proc: Proc): boolean {
  return proc.exitCode === null;
}

/** SIGTERM the group, then SIGKILL whatever is left after graceMs. */
export async function stop(proc: Proc, graceMs = 3000): Promise<void> {
  if (!live.has(proc.pid)) return;
  killGroup(proc.pid, "SIGTERM");
  const deadline = performance.now() + graceMs;
  while (groupMembers(proc.pid).length > 0 && performance.now() < deadline) await sleep(20);
  if (groupMembers(proc.pid).length > 0) {
    killGroup(proc.pid, "SIGKILL");
    const hard = performance.now() + 2000;
    while (groupMembers(proc.pid).length > 0 && performance.now() < hard) await sleep(20);
  }
  await Promise.race([proc.exited, sleep(500)]);
  live.delete(proc.pid);
  syncPidFile();
}

export async function stopAll(): Promise<void> {
  closed = true;
  await Promise.all([...live.values()].map((p) => stop(p, 2000)));
}

/** Last resort from an 'exit' handler, where nothing asynchronous runs any more. */
export function killAllNow(): void {
  closed = true;
  for (const pid of live.keys()) killGroup(pid, "SIGKILL");
  live.clear();
  syncPidFile();
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64

/** CPU seconds (user + system, all threads) used so far by the live processes of a group. */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const pid of groupMembers(pgid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      // Exited between the listing and the read.
    }
  }
  return ticks / CLK_TCK;
}

export interface GroupMemory {
  /** Sum of Pss over the group's processes (shared pages counted once overall), bytes. */
  pss: number;
  /** Sum of VmRSS over the group's processes, bytes. */
  rss: number;
  processes: number;
  fds: number;
}

function kbField(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m?.[1] ? Number(m[1]) * 1024 : 0;
}

export function groupMemory(pgid: number): GroupMemory {
  const result: GroupMemory = { pss: 0, rss: 0, processes: 0, fds: 0 };
  for (const pid of groupMembers(pgid)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      result.rss += kbField(status, "VmRSS");
      result.pss += kbField(rollup, "Pss");
      result.fds += readdirSync(`/proc/${pid}/fd`).length;
      result.processes++;
    } catch {
      // Exited between the listing and the read.
    }
  }
  return result;
}

/** The last lines of a log file, for error messages. */
export function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}
