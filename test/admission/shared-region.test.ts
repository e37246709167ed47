// Server places and queue cells shared by every Worker: exact under races, stable by name, recoverable.
import { expect, test } from "bun:test";
import { SharedAdmission } from "../../src/admission/shared-region.ts";
import { forgetWorker } from "../../src/shared/forget-worker.ts";
import { SharedMap, UPSTREAM_CELLS, admissionBytes } from "../../src/shared/layout.ts";
import type { HammerJob } from "./fixtures/hammer-worker.ts";

const CAPACITY = 256;
const WORKERS = 8;
const region = () => {
  const sab = new SharedArrayBuffer(admissionBytes(CAPACITY, WORKERS));
  return { sab, shared: new SharedAdmission(sab, 0, CAPACITY, WORKERS) };
};
/** The whole shared buffer, which forgetWorker gives back in. */
const whole = () => {
  const map = new SharedMap({ listenerCapacity: 1, serverCapacity: CAPACITY }, WORKERS);
  const sab = map.allocate();
  return { sab, map, shared: new SharedAdmission(sab, map.admission.offset, CAPACITY, WORKERS) };
};

test("a hard limit is never passed; an unlimited server is still counted", () => {
  const { shared } = region();
  expect(shared.takeServer(0, 2, 0)).toBe(true);
  expect(shared.takeServer(0, 2, 1)).toBe(true);
  expect(shared.takeServer(0, 2, 1)).toBe(false);
  expect(shared.serverLoad(0)).toBe(2);
  shared.giveServer(0, 0);
  expect(shared.takeServer(0, 2, 1)).toBe(true);
  for (let i = 0; i < 5; i++) expect(shared.takeServer(1, 0, 0)).toBe(true);
  expect(shared.serverLoad(1)).toBe(5);
});

test("queue cells are found by upstream name, the same for every Worker and every reload", () => {
  const { sab, shared } = region();
  const other = new SharedAdmission(sab, 0, CAPACITY, WORKERS);
  const cells = ["app", "db", "cache"].map((n) => shared.queueCell(n));
  expect(new Set(cells).size).toBe(3);
  expect(["app", "db", "cache"].map((n) => other.queueCell(n))).toEqual(cells);
  for (let i = 0; i < UPSTREAM_CELLS - 3; i++) expect(shared.queueCell(`u${i}`)).toBeGreaterThanOrEqual(0);
  expect(shared.queueCell("one-too-many")).toBe(-1);
  expect(shared.queueCell("db")).toBe(cells[1]!);
});

test("a queue is bounded for all Workers together, and its tickets order arrivals across Workers", () => {
  const { shared } = region();
  const cell = shared.queueCell("app");
  const first = shared.enqueue(cell, 3, 0);
  const second = shared.enqueue(cell, 3, 1);
  expect(second).toBe(first + 1);
  expect(shared.enqueue(cell, 2, 2)).toBe(0); // full
  expect(shared.queued(cell)).toBe(2);
  expect(shared.queuedAnywhere()).toBe(2);
  expect(shared.oldestHead(cell)).toBe(0);
  shared.publishHead(cell, 1, second);
  shared.publishHead(cell, 0, first);
  expect(shared.oldestHead(cell)).toBe(first);
  shared.dequeue(cell, 0);
  shared.publishHead(cell, 0, 0);
  expect(shared.oldestHead(cell)).toBe(second);
  expect(shared.queuedAnywhere()).toBe(1);
});

test("ticket order survives the counter wrapping past 2^31", () => {
  const { shared } = region();
  const cell = shared.queueCell("app");
  shared.publishHead(cell, 0, 0x7fffffff);
  shared.publishHead(cell, 1, -0x80000000); // the next ticket after the wrap
  expect(shared.oldestHead(cell)).toBe(0x7fffffff);
});

test("forgetWorker gives back exactly what a dead Worker held", () => {
  const { sab, map, shared } = whole();
  const cell = shared.queueCell("app");
  shared.takeServer(7, 10, 3);
  shared.takeServer(7, 10, 3);
  shared.takeServer(7, 10, 4);
  shared.enqueue(cell, 10, 3);
  shared.publishHead(cell, 3, 77);
  shared.enqueue(cell, 10, 4);
  forgetWorker(sab, map, 3);
  expect(shared.oldestHead(cell)).toBe(0);
  expect(shared.serverLoad(7)).toBe(1);
  expect(shared.queued(cell)).toBe(1);
  expect(shared.queuedAnywhere()).toBe(1);
  forgetWorker(sab, map, 3); // twice is harmless
  expect(shared.serverLoad(7)).toBe(1);
});

test("a wake-up reaches a waiting Worker; with nobody waking, the wait ends at its timeout", async () => {
  const { shared } = region();
  const started = performance.now();
  expect(await shared.waitForSlot(50)).toBe("timed-out");
  expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  const woken = shared.waitForSlot(5000);
  shared.wake();
  expect(await woken).toBe("ok");
});

test("exact across Workers: racing threads never hold more places than the hard limit", async () => {
  const { sab } = region();
  const watch = new SharedArrayBuffer(8);
  const max = 2;
  const workers = Array.from({ length: 4 }, () => new Worker(new URL("./fixtures/hammer-worker.ts", import.meta.url).href));
  const results = await Promise.all(workers.map((w, i) => new Promise<{ refused: number }>((resolve, reject) => {
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => reject(new Error(e.message));
    const job: HammerJob = { kind: "server", sab, offset: 0, size: CAPACITY, worker: i, rounds: 100_000, max, watch, addresses: [] };
    w.postMessage(job);
  })));
  for (const w of workers) w.terminate();
  const seen = new Int32Array(watch);
  expect(seen[1]).toBeLessThanOrEqual(max);
  expect(seen[1]).toBe(max);
  expect(results.reduce((n, r) => n + r.refused, 0)).toBeGreaterThan(0);
  expect(new SharedAdmission(sab, 0, CAPACITY, WORKERS).serverLoad(3)).toBe(0);
}, 30_000);
