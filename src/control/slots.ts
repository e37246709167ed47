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

export class SlotRegistry {
  readonly #listeners = new Map<string, number>();
  readonly #servers = new Map<string, number>();
  readonly listenerCapacity: number;
  readonly serverCapacity: number;

  /** Room for four times the first config's size (at least 64 listeners and 256 servers). */
  constructor(first: Config) {
    this.listenerCapacity = Math.max(64, 4 * first.listeners.length);
    this.serverCapacity = Math.max(256, 4 * first.upstreams.reduce((n, u) => n + u.servers.length, 0));
  }

  /** Slots for `config`, reusing every name seen before. Throws when a reload would outgrow the room. */
  assign(config: Config): CounterSlots {
    const listeners = config.listeners.map((l) => this.#slot(this.#listeners, l.name, this.listenerCapacity, "listeners"));
    const servers = config.upstreams.map((u) => u.servers.map((s) => this.#slot(this.#servers, `${u.name}\n${s.name}`, this.serverCapacity, "servers")));
    return { listeners, servers, listenerCapacity: this.listenerCapacity, serverCapacity: this.serverCapacity };
  }

  #slot(map: Map<string, number>, key: string, capacity: number, what: string): number {
    const known = map.get(key);
    if (known !== undefined) return known;
    if (map.size >= capacity) throw new Error(`this process has counter room for ${capacity} ${what} over its life; restart aegis to load more`);
    map.set(key, map.size);
    return map.size - 1;
  }
}
