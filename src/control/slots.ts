// Assigns each listener and server a counter slot by name, stable for the life of the process, so a
// reload keeps totals continuous and never moves the cells an in-flight session writes to.
import type { Config } from "../config/types.ts";
import { SharedMap, type CounterSlots } from "../shared/layout.ts";

/** The buffer every thread shares, and the registry whose capacities sized it. */
export interface SharedMemory {
  sab: SharedArrayBuffer;
  registry: SlotRegistry;
}

/** Size and allocate the shared memory for a process that starts with `config`. */
export function allocateShared(config: Config): SharedMemory {
  const registry = new SlotRegistry(config);
  return { sab: new SharedMap(registry, config.global.workers).allocate(), registry };
}

/** How the registry may take back a gone server's slot: the supervisor knows the counters. */
export interface Reclaim {
  now: number;
  /** Gone at least this long: a session that picked it before has connected or failed by then. */
  goneForMs: number;
  /** No session or pooled socket counts on the slot in any Worker. */
  idle(slot: number): boolean;
  /** Zero the slot's counters and histograms in every Worker, for the server that gets it. */
  zero(slot: number): void;
}

export class SlotRegistry {
  readonly #listeners = new Map<string, number>();
  readonly #servers = new Map<string, number>();
  /** Servers not in the running config, and since when (milliseconds of `Reclaim.now`). */
  readonly #goneSince = new Map<string, number>();
  readonly listenerCapacity: number;
  readonly serverCapacity: number;

  /** Room for four times the first config's size (at least 64 listeners and 256 servers). */
  constructor(first: Config) {
    this.listenerCapacity = Math.max(64, 4 * first.listeners.length);
    this.serverCapacity = Math.max(256, 4 * first.upstreams.reduce((n, u) => n + u.servers.length, 0));
  }

  /**
   * Slots for `config`, reusing every name seen before. When the room is full, a server slot is
   * taken back from a server gone long enough that nothing writes to it (`reclaim`), so servers
   * that discovery adds and removes over months never run out of room. Throws when none can be.
   */
  assign(config: Config, reclaim?: Reclaim): CounterSlots {
    const listeners = config.listeners.map((l) => this.#slot(this.#listeners, l.name, this.listenerCapacity, "listeners"));
    const wanted = new Set(config.upstreams.flatMap((u) => u.servers.map((s) => `${u.name}\n${s.name}`)));
    const servers = config.upstreams.map((u) => u.servers.map((s) => {
      const key = `${u.name}\n${s.name}`;
      if (this.#servers.has(key) || this.#servers.size < this.serverCapacity) return this.#slot(this.#servers, key, this.serverCapacity, "servers");
      const slot = reclaim && this.#reclaim(wanted, reclaim);
      if (slot === undefined || slot === null) throw new Error(`this process has counter room for ${this.serverCapacity} servers and none has been gone long enough to reuse; restart aegis to load more`);
      this.#servers.set(key, slot);
      return slot;
    }));
    return { listeners, servers, listenerCapacity: this.listenerCapacity, serverCapacity: this.serverCapacity };
  }

  /** The servers of `config` are the ones in use now: any other starts its time as gone. */
  inUse(config: Config, now: number): void {
    const live = new Set(config.upstreams.flatMap((u) => u.servers.map((s) => `${u.name}\n${s.name}`)));
    for (const key of this.#servers.keys()) {
      if (live.has(key)) this.#goneSince.delete(key);
      else if (!this.#goneSince.has(key)) this.#goneSince.set(key, now);
    }
  }

  #reclaim(wanted: Set<string>, r: Reclaim): number | null {
    for (const [key, since] of this.#goneSince) {
      if (wanted.has(key) || r.now - since < r.goneForMs) continue;
      const slot = this.#servers.get(key)!;
      if (!r.idle(slot)) continue;
      this.#servers.delete(key);
      this.#goneSince.delete(key);
      r.zero(slot);
      return slot;
    }
    return null;
  }

  #slot(map: Map<string, number>, key: string, capacity: number, what: string): number {
    const known = map.get(key);
    if (known !== undefined) return known;
    if (map.size >= capacity) throw new Error(`this process has counter room for ${capacity} ${what} over its life; restart aegis to load more`);
    map.set(key, map.size);
    return map.size - 1;
  }
}
