// The main thread's side of the stick table: reading every entry consistently, and removing entries while Workers claim.
//
// A removal ("wipe") takes the slot busy from any count, so no Worker can count on it, change its
// server or reuse it meanwhile; it empties the slot and moves it to the next generation, which
// forgets the sessions counted there (their `release` sees another generation and does nothing).
// The main thread never blocks: a slot a Worker holds busy longer than a short spin is left as it
// is, since that Worker is writing an entry at the same moment (one made concurrently is fine).
import { keyText } from "./client-key.ts";
import {
  BUSY, COUNT_MASK, KEY_HI, KEY_LO, LAST, SERVER, STATE, TICK_MS,
  generationOf, idleBeyond, letGo, nextIncarnation, wordOf,
} from "./layout.ts";

/** One live entry, as the admin API lists it. */
export interface StickEntry {
  /** IPv4 dotted, or the IPv6 /64 prefix ("2001:db8:1:2::/64"). */
  client: string;
  server: number;
  sessions: number;
  /** ms since the last session ended (TICK_MS resolution); 0 while sessions are open. */
  idleMs: number;
}

/** Loads of a busy slot's state before a wipe or a read gives up on it (a few µs). */
const SPIN = 4096;

/** What `wipe` removes: an entry stuck to `server`, or with key `hi`/`lo`, or (all three 0) any entry. */
export function wipe(words: Int32Array, slot: number, server: number, hi: number, lo: number): boolean {
  const at = wordOf(slot, 0);
  for (let spin = 0; spin < SPIN; spin++) {
    if (!matches(words, at, server, hi, lo)) return false;
    const state = Atomics.load(words, at + STATE);
    if ((state & BUSY) !== 0) continue;
    if (Atomics.compareExchange(words, at + STATE, state, state | BUSY) !== state) continue;
    // Ours alone now (releases may still count down, which the wipe makes moot): look again.
    if (!matches(words, at, server, hi, lo)) {
      letGo(words, at);
      return false;
    }
    Atomics.store(words, at + KEY_HI, 0);
    Atomics.store(words, at + KEY_LO, 0);
    Atomics.store(words, at + SERVER, 0);
    Atomics.store(words, at + STATE, nextIncarnation(state));
    return true;
  }
  return false;
}

function matches(words: Int32Array, at: number, server: number, hi: number, lo: number): boolean {
  const keyHi = Atomics.load(words, at + KEY_HI);
  const keyLo = Atomics.load(words, at + KEY_LO);
  if (keyHi === 0 && keyLo === 0) return false;
  if (server !== 0) return Atomics.load(words, at + SERVER) === server;
  if (hi !== 0 || lo !== 0) return keyHi === hi && keyLo === lo;
  return true;
}

export function dropServer(words: Int32Array, capacity: number, server: number): number {
  let dropped = 0;
  for (let slot = 0; slot < capacity; slot++) {
    if (Atomics.load(words, wordOf(slot, SERVER)) === server && wipe(words, slot, server, 0, 0)) dropped++;
  }
  return dropped;
}

export function clearAll(words: Int32Array, capacity: number): number {
  let cleared = 0;
  for (let slot = 0; slot < capacity; slot++) if (wipe(words, slot, 0, 0, 0)) cleared++;
  return cleared;
}

/** One slot read consistently: [key hi, key lo, server, sessions, last tick as Int32]. */
const seen = new Int32Array(5);

/** Fills `seen` from an occupied slot; false when it is empty or stayed busy (mid-change) through the spin. */
function snapshot(words: Int32Array, slot: number): boolean {
  const at = wordOf(slot, 0);
  for (let spin = 0; spin < SPIN; spin++) {
    if (Atomics.load(words, at + KEY_HI) === 0 && Atomics.load(words, at + KEY_LO) === 0) return false;
    const before = Atomics.load(words, at + STATE);
    if ((before & BUSY) !== 0) continue;
    seen[0] = Atomics.load(words, at + KEY_HI);
    seen[1] = Atomics.load(words, at + KEY_LO);
    seen[2] = Atomics.load(words, at + SERVER);
    seen[4] = Atomics.load(words, at + LAST);
    const after = Atomics.load(words, at + STATE);
    // The same generation, not busy at either end: key and server are of one incarnation.
    if ((after & BUSY) !== 0 || generationOf(after) !== generationOf(before)) continue;
    if (seen[0] === 0 && seen[1] === 0) return false;
    seen[3] = after & COUNT_MASK;
    return true;
  }
  return false;
}

function liveSeen(now: number, ttlMs: number): boolean {
  return seen[3]! > 0 || !idleBeyond(seen[4]! >>> 0, now, ttlMs);
}

export function entries(words: Int32Array, capacity: number, now: number, ttlMs: number, limit: number): StickEntry[] {
  const out: StickEntry[] = [];
  for (let slot = 0; slot < capacity && out.length < limit; slot++) {
    if (!snapshot(words, slot) || !liveSeen(now, ttlMs)) continue;
    const sessions = seen[3]!;
    out.push({
      client: keyText(seen[0]!, seen[1]!),
      server: seen[2]!,
      sessions,
      idleMs: sessions > 0 ? 0 : Math.max(0, now - (seen[4]! >>> 0)) * TICK_MS,
    });
  }
  return out;
}

export function live(words: Int32Array, capacity: number, now: number, ttlMs: number): number {
  let n = 0;
  for (let slot = 0; slot < capacity; slot++) if (snapshot(words, slot) && liveSeen(now, ttlMs)) n++;
  return n;
}
