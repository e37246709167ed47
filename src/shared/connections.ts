// The process-wide count of admitted client connections: the header's one Int32, exact across Workers.
import { HEADER } from "./layout.ts";

/** The count's cell, for `tryAdmit` and `release`. */
export function admissionCell(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, HEADER.connections * 4, 1);
}

/**
 * Try to admit one connection. The check and the increment are one compare-and-swap, so the
 * count never passes `max` and no Worker refuses because of another's transient increment.
 */
export function tryAdmit(cell: Int32Array, max: number): boolean {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const current = Atomics.load(cell, 0);
    if (current >= max) return false;
    if (Atomics.compareExchange(cell, 0, current, current + 1) === current) return true;
  }
  return false; // pathological contention: refusing is the safe answer
}

export function release(cell: Int32Array): void {
  Atomics.sub(cell, 0, 1);
}
