// For bench/heap-per-conn.ts only: with AEGIS_HEAP_PROBE=PATH set, each Worker writes, every 2 s
// after a full collection, its JS heap by class (objects and bytes, from a JSC heap snapshot) to
// PATH.<worker>. That is how the per-connection breakdown in bench/RESULTS.md is measured. Off (and
// never imported into the data path) unless the variable is set.
import { writeFileSync } from "node:fs";

const EVERY_MS = 2_000;

interface Snapshot {
  nodes: number[];
  nodeClassNames: string[];
}

/** Starts the probe when AEGIS_HEAP_PROBE names a path; `worker` tells this thread's file apart. */
export function startHeapProbe(worker: () => number): void {
  const path = process.env.AEGIS_HEAP_PROBE;
  if (!path) return;
  setInterval(() => {
    Bun.gc(true);
    const snapshot = Bun.generateHeapSnapshot() as unknown as Snapshot;
    const byClass: Record<string, { count: number; bytes: number }> = {};
    // Inspector snapshot v3: four numbers per node (id, size, class name index, flags).
    for (let i = 0; i < snapshot.nodes.length; i += 4) {
      const name = snapshot.nodeClassNames[snapshot.nodes[i + 2]!]!;
      const entry = (byClass[name] ??= { count: 0, bytes: 0 });
      entry.count++;
      entry.bytes += snapshot.nodes[i + 1]!;
    }
    writeFileSync(`${path}.${worker()}`, JSON.stringify(byClass));
  }, EVERY_MS).unref();
}
