// ByteQueue: unsent bytes of one relay direction in recycler chunks, written out oldest first.
import { describe, expect, test } from "bun:test";
import { ByteQueue, NO_QUEUE, QueuePool, type Writable } from "../../src/primitives/byte-queue.ts";
import { CHUNK_SIZE, Recycler } from "../../src/primitives/recycler.ts";

/** A socket that takes at most `takes()` bytes per write (0: full; -1: closed), keeping what it took. */
class FakeSocket implements Writable {
  readonly received: number[] = [];
  calls = 0;
  constructor(public takes: () => number) {}
  write(data: Uint8Array, byteOffset: number, byteLength: number): number {
    this.calls++;
    const n = this.takes();
    if (n < 0) return -1;
    const taken = Math.min(n, byteLength);
    for (let i = 0; i < taken; i++) this.received.push(data[byteOffset + i]!);
    return taken;
  }
}

const bytes = (length: number, seed = 0) => Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);

describe("ByteQueue", () => {
  test("push copies from the given offset; writeTo gives the bytes back in order, across chunk boundaries", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const q = new ByteQueue(rec, 1024 * 1024);
    const a = bytes(CHUNK_SIZE + 100, 1);
    const b = bytes(2 * CHUNK_SIZE - 7, 2);
    expect(q.push(a, 0)).toBe(true);
    expect(q.push(b, 50)).toBe(true);
    expect(q.size).toBe(a.length + b.length - 50);
    expect(q.empty).toBe(false);
    const socket = new FakeSocket(() => 1 << 30);
    expect(q.writeTo(socket)).toBe(a.length + b.length - 50);
    expect(q.empty).toBe(true);
    expect(Uint8Array.from(socket.received)).toEqual(Uint8Array.from([...a, ...b.subarray(50)]));
    expect(rec.chunksInUse).toBe(0);
  });

  test("the source buffer can be reused after push: the queue holds a copy", () => {
    const q = new ByteQueue(new Recycler(1024 * 1024), 64 * 1024);
    const src = bytes(10);
    q.push(src, 0);
    src.fill(0xee);
    const socket = new FakeSocket(() => 100);
    q.writeTo(socket);
    expect(socket.received).toEqual([...bytes(10)]);
  });

  test("short writes leave the rest queued, and later writes carry on from exactly there", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const q = new ByteQueue(rec, 1024 * 1024);
    const data = bytes(3 * CHUNK_SIZE + 5, 3);
    q.push(data, 0);
    const sizes = [1, 0, CHUNK_SIZE - 1, 3, CHUNK_SIZE, 0, 2 * CHUNK_SIZE];
    let call = 0;
    const socket = new FakeSocket(() => sizes[call++ % sizes.length]!);
    let total = 0;
    for (let round = 0; round < 100 && !q.empty; round++) {
      const before = q.size;
      const n = q.writeTo(socket);
      expect(n).toBeGreaterThanOrEqual(0);
      expect(q.size).toBe(before - n);
      total += n;
    }
    expect(q.empty).toBe(true);
    expect(total).toBe(data.length);
    expect(Uint8Array.from(socket.received)).toEqual(data);
    expect(rec.chunksInUse).toBe(0);
  });

  test("pushes between short writes keep their order", () => {
    const q = new ByteQueue(new Recycler(4 * 1024 * 1024), 1024 * 1024);
    const socket = new FakeSocket(() => 5000);
    const expected: number[] = [];
    for (let i = 0; i < 20; i++) {
      const piece = bytes(3000 + i * 997, i);
      expect(q.push(piece, 0)).toBe(true);
      expected.push(...piece);
      q.writeTo(socket);
    }
    socket.takes = () => 1 << 30;
    q.writeTo(socket);
    expect(q.empty).toBe(true);
    expect(socket.received).toEqual(expected);
  });

  test("past the capacity, push copies only the unsent part of the read, and is full until written", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const q = new ByteQueue(rec, 2 * CHUNK_SIZE);
    const first = bytes(CHUNK_SIZE, 1);
    expect(q.push(first, 0)).toBe(true);
    expect(q.full).toBe(false);
    // A read of 4 chunks whose first 2 were written: the 2 unsent ones are copied, not the buffer kept.
    const big = bytes(4 * CHUNK_SIZE, 2);
    expect(q.push(big, 2 * CHUNK_SIZE)).toBe(true);
    expect(q.size).toBe(3 * CHUNK_SIZE);
    expect(rec.chunksInUse).toBe(3);
    expect(q.full).toBe(true);
    big.fill(0); // the read's buffer is not referenced: changing it changes nothing queued
    const late = bytes(100, 3);
    expect(q.push(late, 10)).toBe(true);
    const unsent = [...first, ...bytes(4 * CHUNK_SIZE, 2).subarray(2 * CHUNK_SIZE), ...late.subarray(10)];
    expect(Uint8Array.from(q.copyOut())).toEqual(Uint8Array.from(unsent));
    const socket = new FakeSocket(() => 7000);
    for (let round = 0; round < 100 && !q.empty; round++) expect(q.writeTo(socket)).toBeGreaterThanOrEqual(0);
    expect(Uint8Array.from(socket.received)).toEqual(Uint8Array.from(unsent));
    expect(q.full).toBe(false);
    expect(rec.chunksInUse).toBe(0);
  });

  test("past the Worker's chunk budget, push keeps the buffer rather than allocate, even below its own capacity", () => {
    const rec = new Recycler(64 * CHUNK_SIZE); // one slab: the smallest budget
    const first = new ByteQueue(rec, 1024 * 1024);
    const second = new ByteQueue(rec, 1024 * 1024);
    expect(first.push(bytes(60 * CHUNK_SIZE), 0)).toBe(true);
    expect(second.push(bytes(5 * CHUNK_SIZE, 4), 0)).toBe(true);
    expect(second.size).toBe(5 * CHUNK_SIZE);
    expect(second.full).toBe(true);
    expect(rec.chunksInUse).toBe(60);
    expect(rec.bytesAllocated).toBe(64 * CHUNK_SIZE);
    const out = new Uint8Array(CHUNK_SIZE);
    expect(second.copyInto(out, 0)).toBe(CHUNK_SIZE);
    expect(out).toEqual(bytes(5 * CHUNK_SIZE, 4).subarray(0, CHUNK_SIZE));
    second.discard(CHUNK_SIZE);
    const socket = new FakeSocket(() => 1 << 30);
    expect(second.writeTo(socket)).toBe(4 * CHUNK_SIZE);
    expect(Uint8Array.from(socket.received)).toEqual(bytes(5 * CHUNK_SIZE, 4).subarray(CHUNK_SIZE));
    expect(second.empty).toBe(true);
  });

  test("a closed socket: writeTo returns -1", () => {
    const q = new ByteQueue(new Recycler(1024 * 1024), 64 * 1024);
    q.push(bytes(10), 0);
    expect(q.writeTo(new FakeSocket(() => -1))).toBe(-1);
  });

  test("clear gives every chunk back; the queue is usable again", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const q = new ByteQueue(rec, 1024 * 1024);
    q.push(bytes(5 * CHUNK_SIZE + 1), 0);
    expect(rec.chunksInUse).toBe(6);
    q.clear();
    expect(q.size).toBe(0);
    expect(q.empty).toBe(true);
    expect(rec.chunksInUse).toBe(0);
    q.push(bytes(3, 9), 0);
    const socket = new FakeSocket(() => 100);
    expect(q.writeTo(socket)).toBe(3);
    expect(socket.received).toEqual([...bytes(3, 9)]);
  });

  test("an empty push and a push from past the end change nothing", () => {
    const rec = new Recycler(1024 * 1024);
    const q = new ByteQueue(rec, 1024);
    expect(q.push(new Uint8Array(0), 0)).toBe(true);
    expect(q.push(bytes(10), 10)).toBe(true);
    expect(q.size).toBe(0);
    expect(rec.chunksInUse).toBe(0);
    expect(q.writeTo(new FakeSocket(() => 100))).toBe(0);
  });

  test("a chunk is given back as soon as it is written out, not when the queue empties", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const q = new ByteQueue(rec, 1024 * 1024);
    q.push(bytes(4 * CHUNK_SIZE), 0);
    expect(rec.chunksInUse).toBe(4);
    const takes = [CHUNK_SIZE, CHUNK_SIZE, 10];
    let call = 0;
    // One write per chunk: the first two take their whole chunk, the third 10 bytes, then the socket is full.
    expect(q.writeTo(new FakeSocket(() => takes[call++] ?? 0))).toBe(2 * CHUNK_SIZE + 10);
    expect(rec.chunksInUse).toBe(2);
    expect(q.size).toBe(2 * CHUNK_SIZE - 10);
  });
});

describe("copyInto and discard (a header written with the bytes behind it)", () => {
  const pattern = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

  test("copyInto copies the oldest bytes across chunks, as many as fit, and leaves the queue as it was", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const q = new ByteQueue(rec, 1024 * 1024);
    const data = pattern(CHUNK_SIZE * 2 + 100);
    q.push(data, 0);
    q.discard(10); // the head chunk starts part-way
    const out = new Uint8Array(CHUNK_SIZE + 7);
    expect(q.copyInto(out, 7)).toBe(CHUNK_SIZE);
    expect(out.subarray(7)).toEqual(data.subarray(10, 10 + CHUNK_SIZE));
    const all = new Uint8Array(3 * CHUNK_SIZE);
    expect(q.copyInto(all, 0)).toBe(data.length - 10);
    expect(all.subarray(0, data.length - 10)).toEqual(data.subarray(10));
    expect(q.size).toBe(data.length - 10);
    expect(new ByteQueue(rec, 1024).copyInto(all, 0)).toBe(0);
  });

  test("discard drops the oldest n bytes, within a chunk, across chunks, or all, giving chunks back", () => {
    const rec = new Recycler(4 * 1024 * 1024);
    const q = new ByteQueue(rec, 1024 * 1024);
    const data = pattern(CHUNK_SIZE * 3);
    q.push(data, 0);
    q.discard(5);
    expect(q.copyOut()).toEqual(data.subarray(5));
    q.discard(CHUNK_SIZE); // across the first boundary
    expect(q.copyOut()).toEqual(data.subarray(5 + CHUNK_SIZE));
    expect(rec.chunksInUse).toBe(2);
    q.discard(10 * CHUNK_SIZE); // more than is queued: all of it
    expect(q.size).toBe(0);
    expect(q.empty).toBe(true);
    expect(rec.chunksInUse).toBe(0);
    q.push(pattern(3, 1), 0); // usable again
    expect(q.copyOut()).toEqual(pattern(3, 1));
  });
});

describe("NO_QUEUE and QueuePool", () => {
  test("NO_QUEUE reads as empty and never full, writes nothing, and refuses a push", () => {
    const socket = new FakeSocket(() => 100);
    expect([NO_QUEUE.empty, NO_QUEUE.full, NO_QUEUE.size]).toEqual([true, false, 0]);
    expect(NO_QUEUE.writeTo(socket)).toBe(0);
    expect(socket.calls).toBe(0);
    expect(NO_QUEUE.copyOut().length).toBe(0);
    NO_QUEUE.clear();
    NO_QUEUE.discard(0);
    expect(() => NO_QUEUE.push(new Uint8Array([1]), 0)).toThrow("push on NO_QUEUE");
    expect(NO_QUEUE.push(new Uint8Array(0), 0)).toBe(true); // nothing to queue: nothing refused
    expect([NO_QUEUE.empty, NO_QUEUE.size]).toEqual([true, 0]);
  });

  test("a taken queue has the asked capacity; given back, it is emptied, its chunks returned, and taken again", () => {
    const recycler = new Recycler(1 << 20);
    const pool = new QueuePool(recycler);
    const q = pool.take(1000);
    expect(q).not.toBe(NO_QUEUE);
    expect(q.capacity).toBe(1000);
    q.push(new Uint8Array(CHUNK_SIZE + 10).fill(7), 0);
    expect(recycler.chunksInUse).toBe(2);
    expect(pool.give(q)).toBe(NO_QUEUE);
    expect([q.size, recycler.chunksInUse, pool.spare]).toEqual([0, 0, 1]);
    const again = pool.take(64);
    expect(again).toBe(q); // no new object once warm
    expect([again.capacity, again.empty, pool.spare]).toEqual([64, true, 0]);
    expect(pool.give(NO_QUEUE)).toBe(NO_QUEUE); // giving back "no queue" keeps nothing
    expect(pool.spare).toBe(0);
  });
});
