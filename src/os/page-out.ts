// Give back, once start-up is over, the pages of the executable that only start-up touched.
//
// Why: the binary is the Bun runtime (about 100 MiB of code). Loading the config, compiling the
// bundle and starting the Workers touch about 40 MiB of it, and those clean file pages stay mapped
// in this process for as long as it runs, although a proxy at rest runs a few hundred KiB of them.
// madvise(MADV_PAGEOUT) (Linux 5.4+) drops this process's mapping of them now, as the kernel would
// under memory pressure: they cost nothing to drop (clean, backed by the file) and what the relay
// runs afterwards comes back as minor faults from the page cache. Pages other processes also map
// are left alone by the kernel. Nothing anonymous (heap, stacks) is touched.
import { readFileSync, readlinkSync } from "node:fs";
import { dlopen, FFIType } from "bun:ffi";

const MADV_PAGEOUT = 21;

export interface PageOutResult {
  /** Mappings of the executable asked to be paged out. */
  mappings: number;
  /** Resident bytes of the executable's file pages before and after. */
  residentBefore: number;
  residentAfter: number;
}

/** Pages the executable's read-only mappings out; null where it cannot (no libc, not Linux, a kernel without MADV_PAGEOUT). */
export function pageOutExecutable(): PageOutResult | null {
  let madvise: (addr: bigint, length: bigint, advice: number) => number;
  let exe: string;
  let maps: string;
  try {
    const libc = dlopen("libc.so.6", { madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 } });
    madvise = libc.symbols.madvise as unknown as typeof madvise;
    exe = readlinkSync("/proc/self/exe").replace(/ \(deleted\)$/, "");
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch {
    return null;
  }
  const residentBefore = executableResident(exe);
  let mappings = 0;
  for (const line of maps.split("\n")) {
    // start-end perms offset dev inode path; only the file's own, never-written mappings
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s+(.+)$/.exec(line);
    if (!m || m[3]!.includes("w") || m[4]!.replace(/ \(deleted\)$/, "") !== exe) continue;
    const start = BigInt(`0x${m[1]}`);
    if (madvise(start, BigInt(`0x${m[2]}`) - start, MADV_PAGEOUT) !== 0) return null;
    mappings++;
  }
  return { mappings, residentBefore, residentAfter: executableResident(exe) };
}

/** Resident bytes of `exe`'s read-only mappings in process `pid` (this one by default), from its smaps. */
export function executableResident(exe: string, pid: number | "self" = "self"): number {
  let total = 0;
  let inside = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const m = /^[0-9a-f]+-[0-9a-f]+ (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) inside = !m[1]!.includes("w") && m[2]!.replace(/ \(deleted\)$/, "") === exe;
    else if (inside && line.startsWith("Rss:")) total += Number(line.split(/\s+/)[1]) * 1024;
  }
  return total;
}
