// Recycler: fixed-size chunks carved from 1 MiB slabs, reused forever, within a byte budget.
import { describe, expect, test } from "bun:test";
import { CHUNK_SIZE, Recycler } from "../../src/primitives/recycler.ts";

const SLAB_CHUNKS = (1024 * 1024) / CHUNK_SIZE;

describe("Recycler", () => {
  test("allocates nothing until asked, then one slab at a time", () => {
    const rec = new Recycler(8 * 1024 * 1024);
    expect(rec.bytesAllocated).toBe(0);
    const first = rec.take();
    expect(first).toBeGreaterThanOrEqual(0);
    expect(rec.bytesAllocated).toBe(1024 * 1024);
    for (let i = 1; i < SLAB_CHUNKS; i++) rec.take();
    expect(rec.bytesAllocated).toBe(1024 * 1024);
    rec.take();
    expect(rec.bytesAllocated).toBe(2 * 1024 * 1024);
    expect(rec.chunksInUse).toBe(SLAB_CHUNKS + 1);
  });

  test("every chunk taken is a distinct 16 KiB region of a slab", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const seen = new Set<string>();
    for (let i = 0; i < 4 * SLAB_CHUNKS; i++) {
      const chunk = rec.take();
      expect(chunk).toBeGreaterThanOrEqual(0);
      const slab = rec.slabOf(chunk);
      const offset = rec.offsetOf(chunk);
      expect(offset % CHUNK_SIZE).toBe(0);
      expect(offset + CHUNK_SIZE).toBeLessThanOrEqual(slab.length);
      seen.add(`${rec.slabs.indexOf(slab)}:${offset}`);
    }
    expect(seen.size).toBe(4 * SLAB_CHUNKS);
  });

  test("the budget is never passed: take gives -1 and reserve false, and nothing more is allocated", () => {
    const rec = new Recycler(2 * 1024 * 1024);
    for (let i = 0; i < 2 * SLAB_CHUNKS; i++) expect(rec.take()).toBeGreaterThanOrEqual(0);
    expect(rec.take()).toBe(-1);
    expect(rec.reserve(1)).toBe(false);
    expect(rec.bytesAllocated).toBe(2 * 1024 * 1024);
    expect(rec.chunksInUse).toBe(2 * SLAB_CHUNKS);
  });

  test("a budget below one slab still gets one slab", () => {
    const rec = new Recycler(1);
    expect(rec.reserve(SLAB_CHUNKS)).toBe(true);
    expect(rec.reserve(SLAB_CHUNKS + 1)).toBe(false);
  });

  test("given-back chunks are taken again before any new slab", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const chunks = Array.from({ length: SLAB_CHUNKS }, () => rec.take());
    rec.give(chunks[3]!);
    rec.give(chunks[7]!);
    expect(rec.chunksInUse).toBe(SLAB_CHUNKS - 2);
    const again = [rec.take(), rec.take()].sort((a, b) => a - b);
    expect(again).toEqual([chunks[3]!, chunks[7]!].sort((a, b) => a - b));
    expect(rec.bytesAllocated).toBe(1024 * 1024);
  });

  test("reserve grows enough for the count asked and takes nothing", () => {
    const rec = new Recycler(8 * 1024 * 1024);
    expect(rec.reserve(3 * SLAB_CHUNKS)).toBe(true);
    expect(rec.bytesAllocated).toBe(3 * 1024 * 1024);
    expect(rec.chunksInUse).toBe(0);
    for (let i = 0; i < 3 * SLAB_CHUNKS; i++) expect(rec.take()).toBeGreaterThanOrEqual(0);
    expect(rec.bytesAllocated).toBe(3 * 1024 * 1024);
  });

  test("a taken chunk's link is cleared (queues chain through `next`)", () => {
    const rec = new Recycler(1024 * 1024);
    const a = rec.take();
    const b = rec.take();
    expect(rec.next[a]).toBe(-1);
    expect(rec.next[b]).toBe(-1);
  });

  test("trim gives back slabs found empty for the idle period, keeping the reserve, and reuses their room", () => {
    const rec = new Recycler(8 * 1024 * 1024);
    const taken = Array.from({ length: 3 * SLAB_CHUNKS }, () => rec.take());
    expect(rec.bytesAllocated).toBe(3 * 1024 * 1024);
    for (const c of taken.slice(0, 2 * SLAB_CHUNKS)) rec.give(c); // slabs 0 and 1 empty, 2 busy
    expect(rec.trim(0, 1000, 1)).toBe(0); // first sight of them empty
    expect(rec.trim(999, 1000, 1)).toBe(0); // not empty long enough
    expect(rec.trim(1000, 1000, 1)).toBe(2);
    expect(rec.bytesAllocated).toBe(1024 * 1024);
    expect(rec.slabs.filter((s) => s === null).length).toBe(2);
    // The busy slab's chunks still work, and new takes regrow into a freed place.
    const again = Array.from({ length: SLAB_CHUNKS }, () => rec.take());
    expect(new Set(again).size).toBe(SLAB_CHUNKS);
    for (const c of again) expect(rec.slabOf(c)).toBeInstanceOf(Uint8Array);
    expect(rec.bytesAllocated).toBe(2 * 1024 * 1024);
    for (const c of [...again, ...taken.slice(2 * SLAB_CHUNKS)]) rec.give(c);
    rec.trim(2000, 1000, 1);
    expect(rec.trim(3000, 1000, 1)).toBe(1); // the reserve of one slab stays
    expect(rec.bytesAllocated).toBe(1024 * 1024);
    const last = Array.from({ length: SLAB_CHUNKS }, () => rec.take());
    expect(new Set(last).size).toBe(SLAB_CHUNKS);
    expect(rec.bytesAllocated).toBe(1024 * 1024);
  });

  test("a slab that was busy at any trim restarts its idle period", () => {
    const rec = new Recycler(8 * 1024 * 1024);
    const a = Array.from({ length: 2 * SLAB_CHUNKS }, () => rec.take());
    for (const c of a) rec.give(c);
    rec.trim(0, 1000, 0);
    const c = rec.take();
    rec.trim(500, 1000, 0);
    rec.give(c);
    expect(rec.trim(1000, 1000, 0)).toBe(1); // the other slab, empty since 0
    expect(rec.trim(1499, 1000, 0)).toBe(0); // c's slab: empty only since 1000
    expect(rec.trim(2000, 1000, 0)).toBe(1);
    expect(rec.bytesAllocated).toBe(0);
  });
});
