// The stick table's memory: its header, the five words of a slot, the state word's fields, and time in ticks.
//
// Header (HEADER_BYTES): Int32 words [magic, capacity, hash seed, unused], then at byte 16 the epoch
// (wall-clock ms, a Float64 written once before the buffer is posted to any Worker, so plain reads
// see it). Slots follow, SLOT_WORDS Int32 words each, every one read and written with Atomics:
//   STATE   generation (15 bits) | busy (1 bit) | open sessions (16 bits), see below
//   KEY_HI  the client's key, two halves (src/stick/client-key.ts); both 0 = empty
//   KEY_LO
//   SERVER  the server id the client is stuck to (nonzero while the slot holds a client)
//   LAST    when the last session ended (or the entry was made), in ticks since the epoch

export const TABLE_MAGIC = 0x53544b31; // "STK1"
export const HEADER_BYTES = 64;
export const HEADER_WORDS = HEADER_BYTES / 4;
const MAGIC_AT = 0;
const CAPACITY_AT = 1;
const SEED_AT = 2;
const EPOCH_F64_AT = 2; // byte 16

export const SLOT_WORDS = 5;
export const STATE = 0;
export const KEY_HI = 1;
export const KEY_LO = 2;
export const SERVER = 3;
export const LAST = 4;

/** Slots per bucket; a client may live in either of two buckets. */
export const BUCKET = 8;
/** Two buckets at least, so the two choices differ. */
export const MIN_CAPACITY = 2 * BUCKET;
/** A release handle is slot * GEN_SPAN + generation: 2^24 slots keep it an exact integer with room to spare. */
export const MAX_CAPACITY = 1 << 24;

// The state word. Open sessions in the low 16 bits: all of one client's sessions go to one server,
// through aegis's ephemeral ports towards one address, so fewer than 65,536 can be open at once.
// BUSY marks a slot one thread alone is changing (its key, its server, or wiping it); others retry.
// The generation changes whenever the slot's key does (an insert, a withdrawal, a wipe): a count is
// taken and given back by CAS on the whole word, so a count taken on one incarnation of a slot can
// never land on the next, and a reader that sees the same generation before and after reading the
// other words read one consistent entry. It wraps after 32,768 changes of one slot; a stale handle
// would also need the same client back in the same slot at exactly that count to do any harm.
export const COUNT_MASK = 0xffff;
export const BUSY = 0x10000;
export const GEN_SHIFT = 17;
export const GEN_SPAN = 1 << 15;
const GEN_ONE = 1 << GEN_SHIFT;
const GEN_BITS = ~(BUSY | COUNT_MASK);

export const generationOf = (state: number): number => state >>> GEN_SHIFT;
/** The state word of the next incarnation: generation + 1 (wrapping), not busy, no sessions. */
export const nextIncarnation = (state: number): number => ((state & GEN_BITS) + GEN_ONE) | 0;

/**
 * Times are stored as Uint32 ticks of TICK_MS since the table's epoch: 100 ms resolution (expiry
 * happens within one tick of `ttl`, which the config keeps at 1 s or more), 13.6 years of range.
 * Wall-clock ms, because every Worker's performance.now() has its own origin.
 */
export const TICK_MS = 100;
const MAX_TICK = 0xffffffff;

/** `nowMs` as a tick, clamped to the range a Uint32 holds (a clock set back before the epoch is tick 0). */
export function tickOf(nowMs: number, epochMs: number): number {
  if (!Number.isFinite(nowMs)) throw new RangeError(`stick: now must be a time in ms (Date.now()), not ${nowMs}`);
  const tick = Math.floor((nowMs - epochMs) / TICK_MS);
  return tick > 0 ? (tick < MAX_TICK ? tick : MAX_TICK) : 0;
}

/** Idle longer than `ttlMs` since tick `last` (a LAST word read as Uint32). A clock set back is not idle. */
export function idleBeyond(last: number, now: number, ttlMs: number): boolean {
  return (now - last) * TICK_MS > ttlMs;
}

/** Slots for at least `maxEntries` entries: whole buckets, two at least. */
export function capacityFor(maxEntries: number): number {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`stick table: max_entries must be a positive integer, not ${maxEntries}`);
  const capacity = Math.max(MIN_CAPACITY, Math.ceil(maxEntries / BUCKET) * BUCKET);
  if (capacity > MAX_CAPACITY) throw new RangeError(`stick table: max_entries ${maxEntries} is more than the ${MAX_CAPACITY} a table can hold`);
  return capacity;
}

/** A SharedArrayBuffer for a table of at least maxEntries entries (rounded up to whole buckets), zeroed, with its epoch and hash seed set. */
export function allocateStickTable(maxEntries: number): SharedArrayBuffer {
  const capacity = capacityFor(maxEntries);
  const sab = new SharedArrayBuffer(HEADER_BYTES + capacity * SLOT_WORDS * 4);
  const header = new Int32Array(sab, 0, HEADER_WORDS);
  header[MAGIC_AT] = TABLE_MAGIC;
  header[CAPACITY_AT] = capacity;
  // Random per table, so nobody can aim addresses at one bucket; odd, so never 0.
  header[SEED_AT] = (Math.random() * 0x7fffffff) | 1;
  new Float64Array(sab, 0, HEADER_BYTES / 8)[EPOCH_F64_AT] = Date.now();
  return sab;
}

export interface StickHeader {
  capacity: number;
  seed: number;
  epochMs: number;
}

/** The header of a buffer `allocateStickTable` made; throws on anything else. */
export function readHeader(sab: SharedArrayBuffer): StickHeader {
  if (!(sab instanceof SharedArrayBuffer)) throw new TypeError("stick table: expected a SharedArrayBuffer");
  if (sab.byteLength < HEADER_BYTES) throw new RangeError(`stick table: a buffer of ${sab.byteLength} bytes has no header`);
  const header = new Int32Array(sab, 0, HEADER_WORDS);
  if (header[MAGIC_AT] !== TABLE_MAGIC) throw new RangeError("stick table: the buffer was not made by allocateStickTable");
  const capacity = header[CAPACITY_AT]!;
  const valid = capacity >= MIN_CAPACITY && capacity <= MAX_CAPACITY && capacity % BUCKET === 0;
  if (!valid || sab.byteLength !== HEADER_BYTES + capacity * SLOT_WORDS * 4) {
    throw new RangeError(`stick table: capacity ${capacity} does not match a buffer of ${sab.byteLength} bytes`);
  }
  return { capacity, seed: header[SEED_AT]!, epochMs: new Float64Array(sab, 0, HEADER_BYTES / 8)[EPOCH_F64_AT]! };
}

/** Index of `field` of `slot` in the buffer's Int32 view. */
export const wordOf = (slot: number, field: number): number => HEADER_WORDS + slot * SLOT_WORDS + field;

/** Clear the busy bit of the slot whose words start at `at`, held without changing its key (releases may have counted down meanwhile). */
export function letGo(words: Int32Array, at: number): void {
  for (let current = Atomics.load(words, at + STATE); ; ) {
    const seen = Atomics.compareExchange(words, at + STATE, current, current & ~BUSY);
    if (seen === current) return;
    current = seen;
  }
}
