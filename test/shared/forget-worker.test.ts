// forgetWorker against a real shared buffer: a Worker takes something in every region of the map,
// dies, and everything it held is given back while another Worker's holdings stay. A region added to
// the map without a check here fails the test, so a new region cannot be forgotten by forgetWorker.
import { expect, test } from "bun:test";
import { newIpWords, parseIp } from "../../src/net/ip.ts";
import { SharedAdmission } from "../../src/admission/shared-region.ts";
import { TokenBucket } from "../../src/admission/token-bucket.ts";
import { admissionCell, tryAdmit } from "../../src/shared/connections.ts";
import { forgetWorker } from "../../src/shared/forget-worker.ts";
import {
  A, CounterLayout, IP_SLOT, IP_TABLE_SLOTS, L, LISTENER_GAUGES, S, SERVER_GAUGES, UPSTREAM_CELLS, workerCells, type Region,
} from "../../src/shared/layout.ts";

const WORKERS = 3;
const DEAD = 1;
const ALIVE = 2;
// Slots away from 0, so a region read at a wrong offset cannot pass by luck.
const layout = new CounterLayout({ listeners: [0, 5], servers: [[3, 9]], listenerCapacity: 8, serverCapacity: 16 }, WORKERS);
const map = layout.map;

const a = map.admission;
const ints = (sab: SharedArrayBuffer, offset: number, length: number) => new Int32Array(sab, offset, length);
const perWorker = (f: (w: number) => number) => Array.from({ length: WORKERS }, (_, w) => f(w)).reduce((x, y) => x + y, 0);

/**
 * Per region: what the Workers hold there, all together, read straight from the buffer through the
 * map; or why nothing in it is ever held.
 */
const HOLDINGS: Record<Region["name"], ((sab: SharedArrayBuffer) => number) | string> = {
  header: (sab) => Atomics.load(admissionCell(sab), 0),
  counters: (sab) => perWorker((w) => {
    const cells = new Float64Array(sab, map.counterOffset(w), map.stride);
    let n = 0;
    for (let s = 0; s < map.capacities.listenerCapacity; s++) for (const g of LISTENER_GAUGES) n += cells[map.listenerCells(s) + g]!;
    for (let s = 0; s < map.capacities.serverCapacity; s++) for (const g of SERVER_GAUGES) n += cells[map.serverCells(s) + g]!;
    return n;
  }),
  admissionHeader: (sab) => Atomics.load(ints(sab, a.header, a.lineInts), A.queued),
  serverPlaces: (sab) => sumStrided(ints(sab, a.servers, map.capacities.serverCapacity * a.lineInts), a.lineInts, 0),
  queueNames: "an upstream's name keeps its queue cell for the life of the process, whoever claimed it",
  queues: (sab) => sumStrided(ints(sab, a.queues, UPSTREAM_CELLS * a.lineInts), a.lineInts, 0),
  held: (sab) => perWorker((w) => ints(sab, a.held + w * a.heldStride * 4, a.heldStride)
    .reduce((n, v, i) => n + (i < a.heldHeads ? v : v !== 0 ? 1 : 0), 0)), // places held, then queue heads set
  ipHeld: (sab) => perWorker((w) => ints(sab, a.ipHeld + w * IP_TABLE_SLOTS * 4, IP_TABLE_SLOTS).reduce((n, v) => n + v, 0)),
  ipTable: (sab) => sumStrided(ints(sab, a.ipTable, IP_TABLE_SLOTS * IP_SLOT.narrow), IP_SLOT.narrow, IP_SLOT.count),
};

function sumStrided(cells: Int32Array, stride: number, at: number): number {
  let n = 0;
  for (let i = at; i < cells.length; i += stride) n += Atomics.load(cells, i);
  return n;
}

/** Worker `w` takes one of everything there is to take, the way its data plane does. */
function takeEverything(sab: SharedArrayBuffer, w: number, client: string): void {
  const cells = workerCells(sab, layout, w);
  expect(tryAdmit(admissionCell(sab), 100)).toBe(true);
  cells[layout.listenerBase(1) + L.active]! += 1;
  cells[layout.listenerBase(1) + L.connections]! += 1;
  cells[layout.listenerBase(0) + L.queued]! += 1;
  cells[layout.serverBase(0, 1) + S.active]! += 1;
  cells[layout.serverBase(0, 0) + S.poolIdle]! += 2;
  const shared = new SharedAdmission(sab, layout.admissionOffset, map.capacities.serverCapacity, WORKERS, w);
  expect(shared.takeServer(9, 0, w)).toBe(true);
  const cell = shared.queueCell("app");
  const ticket = shared.enqueue(cell, 10, w);
  expect(ticket).toBeGreaterThan(0);
  shared.publishHead(cell, w, ticket);
  const ip = newIpWords();
  parseIp(client, ip);
  expect(shared.ipTable.acquire(ip, 0, 10, new TokenBucket({ count: 5, periodMs: 1000 }), 0n)).toBeGreaterThanOrEqual(0);
}

test("the map's regions tile the whole buffer, in order, each of them checked here", () => {
  const regions = map.regions();
  expect(regions[0]!.offset).toBe(0);
  regions.forEach((r, i) => {
    expect(r.bytes).toBeGreaterThan(0);
    if (i > 0) expect(r.offset).toBe(regions[i - 1]!.offset + regions[i - 1]!.bytes);
  });
  expect(regions.at(-1)!.offset + regions.at(-1)!.bytes).toBe(map.byteLength);
  expect(regions.map((r): string => r.name).sort()).toEqual(Object.keys(HOLDINGS).sort());
});

const holdings = (sab: SharedArrayBuffer) =>
  Object.fromEntries(map.regions().flatMap((r) => { const h = HOLDINGS[r.name]; return typeof h === "string" ? [] : [[r.name, h(sab)]]; }));

test("forgetWorker gives back what a dead Worker held in every region, and only that", () => {
  // The same live Worker's holdings, once beside a Worker that then dies, once alone.
  const sab = map.allocate();
  takeEverything(sab, DEAD, "10.0.0.1");
  takeEverything(sab, ALIVE, "10.0.0.2");
  const alone = map.allocate();
  takeEverything(alone, ALIVE, "10.0.0.2");
  const before = holdings(sab);
  const expected = holdings(alone);
  for (const [region, n] of Object.entries(before)) expect({ region, more: n > expected[region]! }).toEqual({ region, more: true });
  const total = workerCells(sab, layout, DEAD)[layout.listenerBase(1) + L.connections];

  forgetWorker(sab, map, DEAD);
  expect(holdings(sab)).toEqual(expected); // as if the dead Worker had never taken anything
  expect(workerCells(sab, layout, DEAD)[layout.listenerBase(1) + L.connections]).toBe(total!); // what happened stays counted
  forgetWorker(sab, map, DEAD); // twice is harmless
  expect(holdings(sab)).toEqual(expected);
});

test("forgetWorker wakes the sessions other Workers queue", async () => {
  const sab = map.allocate();
  const shared = new SharedAdmission(sab, layout.admissionOffset, map.capacities.serverCapacity, WORKERS, ALIVE);
  const woken = shared.waitForSlot(5000);
  forgetWorker(sab, map, DEAD);
  expect(await woken).toBe("ok");
});
