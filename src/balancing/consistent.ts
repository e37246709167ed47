// Consistent hashing on the client IP with Maglev's lookup table (Eisenbud et al., NSDI 2016), weighted.
import type { Balancer, BalancerFactory, PickContext, ServerView } from "./balancer.ts";
import { eligible } from "./eligible.ts";
import { clientKey, hash32 } from "./hash.ts";

/** Table slots per server before rounding up to a prime: more slots, finer shares and fewer bystanders moved. */
const SLOTS_PER_SERVER = 1024;
const MIN_TABLE = 1031;
const MAX_TABLE = 65_537;
const KEY_SEED = 0;
const STEP_SEED = 0x9e3779b9;

/**
 * Contract: each available server owns a share of a prime-sized table in proportion to its
 * weight, and a client IP maps to a slot. When a server becomes unavailable the table is rebuilt
 * and only about its share of clients move (Maglev's minimal disruption); when it returns the
 * table is rebuilt identically, so exactly those clients come back. A server excluded for one pick
 * (tried already, at its limit, busy) is passed over by probing the client's next slots, which
 * leaves every other client where it is. Servers are identified by their position in the config.
 */
export const consistent: BalancerFactory = (servers) => new Maglev(servers);

class Maglev implements Balancer {
  #servers: readonly ServerView[];
  readonly #size: number;
  readonly #table: Int32Array;
  /** Each server's weight when the table was built, 0 when it was left out. */
  readonly #built: Float64Array;

  constructor(servers: readonly ServerView[]) {
    this.#servers = servers;
    this.#size = tableSize(servers.length);
    this.#table = new Int32Array(this.#size);
    this.#built = new Float64Array(servers.length);
    this.#build();
  }

  pick(ctx: PickContext): number {
    const key = clientKey(ctx.clientAddress);
    let slot = hash32(key, KEY_SEED) % this.#size;
    const owner = this.#table[slot]!;
    if (owner < 0) return -1; // nothing available
    if (eligible(this.#servers, owner, ctx)) return owner;
    if (!this.#anyEligible(ctx)) return -1;
    // The size is prime, so any step from 1 to size-1 visits every slot.
    const step = 1 + (hash32(key, STEP_SEED) % (this.#size - 1));
    for (let k = 1; k < this.#size; k++) {
      slot = (slot + step) % this.#size;
      if (eligible(this.#servers, this.#table[slot]!, ctx)) return this.#table[slot]!;
    }
    return -1;
  }

  update(servers: readonly ServerView[]): void {
    this.#servers = servers;
    if (servers.some((s, i) => weightInTable(s) !== this.#built[i])) this.#build();
  }

  #anyEligible(ctx: PickContext): boolean {
    for (let i = 0; i < this.#servers.length; i++) if (eligible(this.#servers, i, ctx)) return true;
    return false;
  }

  /** Maglev's population: servers take turns claiming their next preferred free slot. */
  #build(): void {
    const size = this.#size;
    const members: number[] = [];
    this.#servers.forEach((s, i) => {
      this.#built[i] = weightInTable(s);
      if (this.#built[i]! > 0) members.push(i);
    });
    this.#table.fill(-1);
    if (members.length === 0) return;
    const offset = members.map((i) => hash32(`server-${i}`, KEY_SEED) % size);
    const skip = members.map((i) => 1 + (hash32(`server-${i}`, STEP_SEED) % (size - 1)));
    const next = members.map(() => 0);
    const maxWeight = Math.max(...members.map((i) => this.#built[i]!));
    // Weighted: a server's turn comes weight/maxWeight times per round, so shares follow weights.
    const credit = members.map(() => 0);
    let filled = 0;
    while (filled < size) {
      for (let m = 0; m < members.length && filled < size; m++) {
        credit[m]! += this.#built[members[m]!]! / maxWeight;
        if (credit[m]! < 1) continue;
        credit[m]! -= 1;
        let slot: number;
        do slot = (offset[m]! + next[m]!++ * skip[m]!) % size;
        while (this.#table[slot] !== -1);
        this.#table[slot] = members[m]!;
        filled++;
      }
    }
  }
}

function weightInTable(s: ServerView): number {
  return s.available && s.weight > 0 ? s.weight : 0;
}

/** The smallest prime of at least SLOTS_PER_SERVER slots per server, within [MIN_TABLE, MAX_TABLE]. */
export function tableSize(servers: number): number {
  let n = Math.min(Math.max(servers * SLOTS_PER_SERVER, MIN_TABLE), MAX_TABLE);
  n = Math.max(n, servers + 1);
  while (!isPrime(n)) n++;
  return n;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
