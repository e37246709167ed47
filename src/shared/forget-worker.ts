// What a dead Worker held, given back in every region of the shared map at once, so no count stays
// taken by sessions that no longer exist.
import { admissionCell } from "./connections.ts";
import { A, IP_SLOT, IP_TABLE_SLOTS, LISTENER_GAUGES, L, SERVER_GAUGES, UPSTREAM_CELLS, type SharedMap } from "./layout.ts";

/**
 * Worker `worker` has exited with its sessions: give back
 *   - the process-wide connection count its listeners' `active` gauges add up to (header),
 *   - its gauges (counters: active and queued per listener, active and pool idle per server, in
 *     every slot, old configs' too; totals stay, they happened),
 *   - the server places, queue places and queue heads it held (admission),
 *   - the per-IP counts it held (per-IP table),
 * then wake the sessions other Workers queue, for the places it freed.
 * Only for a Worker that has exited: its own records are read without atomics. Twice is harmless.
 */
export function forgetWorker(sab: SharedArrayBuffer, map: SharedMap, worker: number): void {
  const { listenerCapacity, serverCapacity } = map.capacities;
  const a = map.admission;

  const cells = new Float64Array(sab, map.counterOffset(worker), map.stride);
  let active = 0;
  for (let slot = 0; slot < listenerCapacity; slot++) {
    const base = map.listenerCells(slot);
    active += cells[base + L.active]!;
    for (const gauge of LISTENER_GAUGES) cells[base + gauge] = 0;
  }
  for (let slot = 0; slot < serverCapacity; slot++) {
    for (const gauge of SERVER_GAUGES) cells[map.serverCells(slot) + gauge] = 0;
  }
  if (active > 0) Atomics.sub(admissionCell(sab), 0, active);

  const header = new Int32Array(sab, a.header, a.lineInts);
  const servers = new Int32Array(sab, a.servers, serverCapacity * a.lineInts);
  const queues = new Int32Array(sab, a.queues, UPSTREAM_CELLS * a.lineInts);
  const held = new Int32Array(sab, a.held + worker * a.heldStride * 4, a.heldStride);
  for (let slot = 0; slot < serverCapacity; slot++) {
    if (held[slot]! !== 0) Atomics.sub(servers, slot * a.lineInts, held[slot]!);
    held[slot] = 0;
  }
  for (let cell = 0; cell < UPSTREAM_CELLS; cell++) {
    const n = held[a.heldQueues + cell]!;
    if (n !== 0) {
      Atomics.sub(queues, cell * a.lineInts, n);
      Atomics.sub(header, A.queued, n);
    }
    held[a.heldQueues + cell] = 0;
    Atomics.store(held, a.heldHeads + cell, 0);
  }

  const ipHeld = new Int32Array(sab, a.ipHeld + worker * IP_TABLE_SLOTS * 4, IP_TABLE_SLOTS);
  const ipCounts = new Int32Array(sab, a.ipTable, IP_TABLE_SLOTS * IP_SLOT.narrow);
  for (let slot = 0; slot < IP_TABLE_SLOTS; slot++) {
    const n = ipHeld[slot]!;
    if (n === 0) continue;
    if (n > 0) Atomics.sub(ipCounts, slot * IP_SLOT.narrow + IP_SLOT.count, n);
    ipHeld[slot] = 0;
  }

  Atomics.add(header, A.wake, 1);
  Atomics.notify(header, A.wake);
}
