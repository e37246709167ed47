// The stick table across real Worker threads: racing claims on the same new clients agree, and removals never tear an entry.
import { afterEach, describe, expect, test } from "bun:test";
import { allocateStickTable, StickTable } from "../../src/stick/table.ts";
import { COUNT_MASK, GEN_SPAN, STATE, generationOf, readHeader, wordOf } from "../../src/stick/layout.ts";
import { seeded } from "../helpers/random.ts";
import type { StickRaceCommand, StickRaceJob, StickRaceReport } from "../fixtures/stick-race-worker.ts";

const WORKER = new URL("../fixtures/stick-race-worker.ts", import.meta.url).href;
const TTL = 60_000;

/** `count` distinct clients, half IPv4, half IPv6 with random (seeded) /64s, as one shared buffer and their texts. */
function makeClients(count: number, seed: number): { buffer: SharedArrayBuffer; texts: Set<string> } {
  const random = seeded(seed);
  const words = new Uint32Array(new SharedArrayBuffer(16 * count));
  const texts = new Set<string>();
  for (let i = 0; texts.size < count; ) {
    const at = 4 * texts.size;
    let text: string;
    if (i++ % 2 === 0) {
      const v4 = (0x0a000000 + Math.floor(random() * 0x00ffffff)) >>> 0;
      words.set([0, 0, 0xffff, v4], at);
      text = `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`;
    } else {
      const hi = (0x20010000 + Math.floor(random() * 0xffff)) >>> 0;
      const lo = Math.floor(random() * 0x100000000) >>> 0;
      words.set([hi, lo, Math.floor(random() * 0x100000000) >>> 0, 1], at);
      const groups = [hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff].map((g) => g.toString(16));
      text = `${new URL(`http://[${groups.join(":")}::]/`).hostname.slice(1, -1)}/64`;
    }
    texts.add(text); // a repeat is written over by the next one
  }
  return { buffer: words.buffer as SharedArrayBuffer, texts };
}

/** Workers still running, ended after each test whatever its outcome (one stuck at a barrier would keep the process alive). */
const running = new Set<Worker>();
afterEach(() => {
  for (const w of running) w.terminate();
  running.clear();
});

interface Run {
  workers: Worker[];
  reports: StickRaceReport[];
}

/** Start `jobs.length` Workers on their jobs; `during` runs on this thread while they work. */
async function race(jobs: StickRaceJob[], during: () => void = () => {}): Promise<Run> {
  const workers = jobs.map(() => new Worker(WORKER));
  for (const w of workers) running.add(w);
  const reports = Promise.all(workers.map((w, i) => new Promise<StickRaceReport>((resolve, reject) => {
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => reject(new Error(e.message));
    w.postMessage(jobs[i]!);
  })));
  during();
  return { workers, reports: await reports };
}

/** Send every Worker `command` and wait until each has done it; returns the handles still open, all Workers'. */
async function release(run: Run, command: StickRaceCommand): Promise<number[]> {
  const open = await Promise.all(run.workers.map((w) => new Promise<number[]>((resolve, reject) => {
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => reject(new Error(e.message));
    w.postMessage(command);
  })));
  if (command === "release") {
    for (const w of run.workers) {
      w.terminate();
      running.delete(w);
    }
  }
  return open.flat();
}

/** Open sessions counted in each slot, straight from the state words. */
function countsBySlot(sab: SharedArrayBuffer): number[] {
  const words = new Int32Array(sab);
  return Array.from({ length: readHeader(sab).capacity }, (_, slot) => Atomics.load(words, wordOf(slot, STATE)) & COUNT_MASK);
}

/** What each slot should count: the open sessions whose handle names it in its current generation (a wiped one counts nowhere). */
function expectedCounts(sab: SharedArrayBuffer, handles: number[]): number[] {
  const words = new Int32Array(sab);
  const expected = new Array<number>(readHeader(sab).capacity).fill(0);
  for (const handle of handles) {
    if (handle < 0) continue;
    const slot = Math.floor(handle / GEN_SPAN);
    if (generationOf(Atomics.load(words, wordOf(slot, STATE))) === handle % GEN_SPAN) expected[slot]!++;
  }
  return expected;
}

function job(kind: StickRaceJob["kind"], table: SharedArrayBuffer, clients: SharedArrayBuffer, workers: number, nowMs: number): StickRaceJob {
  return { kind, table, clients, control: new SharedArrayBuffer(16), workers, nowMs, ttlMs: TTL, id: 0, chunk: 0, rounds: 0, quietRounds: 0, ids: [], seed: 0 };
}

describe("StickTable across Workers", () => {
  test("four Workers claiming the same 5,000 new clients, each with its own id, are all told one id per client", async () => {
    const workers = 4;
    const count = 5000;
    // A race proves nothing unless the Workers really overlapped: on a busy machine one may run
    // through a chunk before the next is scheduled. Try again (three times at most) until the
    // winners of one chunk are mixed; every try must be exact either way.
    let interleaved = 0;
    for (let attempt = 0; attempt < 3 && interleaved === 0; attempt++) {
      const sab = allocateStickTable(16_384);
      const t0 = readHeader(sab).epochMs;
      const { buffer, texts } = makeClients(count, 100 + attempt);
      const control = new SharedArrayBuffer(16);
      const jobs = Array.from({ length: workers }, (_, w) => ({ ...job("same-clients", sab, buffer, workers, t0 + 1000), control, id: 1000 + w, chunk: 250 }));
      const run = await race(jobs);
      expect(run.reports.map((r) => [r.wrong, r.notStored])).toEqual(jobs.map(() => [0, 0]));

      const table = new StickTable(sab);
      const words = new Uint32Array(buffer);
      const winners = run.reports[0]!.told;
      for (const report of run.reports) expect(report.told).toEqual(winners); // every Worker was told the same id
      for (let i = 0; i < count; i++) {
        if (table.find(words.subarray(4 * i, 4 * i + 4), t0 + 1000, TTL) !== winners[i]) throw new Error(`client ${i}: find gives another id than claims were told`);
        if (i % 250 !== 0 && winners[i] !== winners[i - 1]) interleaved++;
      }
      const listed = table.entries(t0 + 1000, TTL);
      expect(listed).toHaveLength(count);
      expect(new Set(listed.map((e) => e.client))).toEqual(texts);
      expect(listed.every((e) => e.sessions === workers && e.idleMs === 0)).toBe(true); // two claims, one release each
      expect(countsBySlot(sab).reduce((a, b) => a + b, 0)).toBe(workers * count);
      expect(table.live(t0 + 1000, TTL)).toBe(count);

      expect(await release(run, "release")).toEqual([]);
      expect(countsBySlot(sab).every((n) => n === 0)).toBe(true);
      expect(table.live(t0 + 1000, TTL)).toBe(count);
      expect(table.live(t0 + 1000 + TTL + 1000, TTL)).toBe(0);
    }
    expect(interleaved).toBeGreaterThan(0); // the race was real: Workers won clients of one chunk in turn
  }, 60_000);

  test("claims racing dropServer and clear from the main thread leave no torn entry and count every session right", async () => {
    const workers = 4;
    const ids = [11, 22, 33, 44];
    const rounds = 20_000;
    const { buffer, texts } = makeClients(64, 7);
    const sab = allocateStickTable(256);
    const t0 = readHeader(sab).epochMs;
    const table = new StickTable(sab);
    const control = new SharedArrayBuffer(16);
    const cells = new Int32Array(control);
    const jobs = Array.from({ length: workers }, (_, w) => ({ ...job("churn", sab, buffer, workers, t0 + 1000), control, rounds, quietRounds: 2000, ids, seed: 1 + w }));
    let dropped = 0;
    let checks = 0;
    let overlapped = false;
    const torn: string[] = [];
    const check = () => {
      checks++;
      for (const e of table.entries(t0 + 1000, TTL)) {
        if (!texts.has(e.client) || !ids.includes(e.server) || e.sessions > workers * rounds) torn.push(JSON.stringify(e));
      }
    };
    const run = await race(jobs, () => {
      // This thread must not block, so it works in a bounded loop until the Workers are done.
      const deadline = performance.now() + 30_000;
      for (let i = 0; i < 5_000_000 && Atomics.load(cells, 2) < workers && performance.now() < deadline; i++) {
        if (i % 64 === 63) table.clear();
        else dropped += table.dropServer(ids[i % ids.length]!);
        if (i % 16 === 0) check();
      }
      overlapped = Atomics.load(cells, 2) === workers; // not cut short by the bounds
      Atomics.store(cells, 3, 1); // stopped: the Workers claim on, on their own
      Atomics.notify(cells, 3);
    });
    expect(overlapped).toBe(true);
    expect(run.reports.map((r) => r.wrong)).toEqual([0, 0, 0, 0]);
    expect(torn).toEqual([]);
    expect(dropped).toBeGreaterThan(0); // the race was real: entries the Workers made were dropped meanwhile
    check();
    expect(checks).toBeGreaterThan(1);
    const clients = table.entries(t0 + 1000, TTL).map((e) => e.client);
    expect(new Set(clients).size).toBe(clients.length); // one entry per client

    // Every open session is counted exactly where its handle says, if its entry still exists.
    const open = run.reports.flatMap((r) => r.held);
    expect(countsBySlot(sab)).toEqual(expectedCounts(sab, open));
    // Half of them end now, those of wiped entries among them: they must not count down whatever
    // entry took their slot since.
    const left = await release(run, "release-half");
    expect(left.length).toBeLessThan(open.length);
    expect(countsBySlot(sab)).toEqual(expectedCounts(sab, left));
    expect(await release(run, "release")).toEqual([]);
    expect(countsBySlot(sab).every((n) => n === 0)).toBe(true);
    expect(table.live(t0 + 1000, TTL)).toBe(table.entries(t0 + 1000, TTL).length);
    expect(table.live(t0 + 1000 + TTL + 1000, TTL)).toBe(0);
  }, 60_000);
});
