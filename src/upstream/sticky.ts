// stick: an upstream's view of the shared stick table: which of its servers a client is stuck to, and sticking it.
//
// Entries name a server by an id made from its address as written, not by its index, so a reload
// that adds, removes or reorders servers leaves every other entry pointing at the same server;
// an entry whose server is gone simply finds no server and is replaced at the client's next pick.
import type { ServerConfig, StickConfig } from "../config/types.ts";
import { hash32 } from "../balancing/hash.ts";
import { takesStuckClients, type ServerState } from "../health/server-state.ts";
import type { StickTable } from "../stick/table.ts";
import type { IpWords } from "../net/ip.ts";
import type { ServerLimits } from "./limits.ts";

/** What stickiness reads of a claim, and where it keeps the claim's entry. */
export interface StickyClaim {
  readonly exclude: readonly number[];
  clientIp(): IpWords | null;
  stickSlot: number;
}

/** The id of a server in stick tables: nonzero, the same in every Worker and across reloads. */
export function stickId(server: ServerConfig): number {
  return hash32(server.name, 0x5717c) | 1;
}

export class Stickiness {
  readonly #ids: Int32Array;
  readonly #byId = new Map<number, number>();
  readonly ttlMs: number;

  constructor(readonly table: StickTable, config: StickConfig, servers: readonly ServerConfig[]) {
    this.ttlMs = config.ttlMs;
    this.#ids = Int32Array.from(servers, stickId);
    this.#ids.forEach((id, server) => {
      // Two addresses of one upstream with one 32-bit id: the second is not sticky (it never is found).
      if (!this.#byId.has(id)) this.#byId.set(id, server);
    });
  }

  idOf(server: number): number {
    return this.#ids[server]!;
  }

  serverOf(id: number): number {
    return this.#byId.get(id) ?? -1;
  }

  /**
   * The server the claim's client is stuck to, with a place on it now held, or -1: no entry, or
   * its server takes no stuck clients (down, ejected, disabled, removed; a draining one still
   * does), was already tried by this session, or is at its hard limit (then the client is
   * balanced anew).
   */
  preferred(claim: StickyClaim, states: readonly ServerState[], limits: ServerLimits): number {
    const ip = claim.clientIp();
    if (ip === null) return -1;
    const server = this.serverOf(this.table.find(ip, Date.now(), this.ttlMs));
    if (!this.#usable(server, claim, states)) return -1;
    return limits.take(server) ? server : -1;
  }

  /**
   * Stick the client to `server` (where it holds a place) and count its session on the entry.
   * Returns `server`, or the server another Worker stuck the client to a moment before, with a
   * place on it now held, when that one can take it.
   */
  bind(claim: StickyClaim, server: number, states: readonly ServerState[], limits: ServerLimits): number {
    const ip = claim.clientIp();
    if (ip === null) return server;
    const now = Date.now();
    this.release(claim, now); // a retry after a failed connect moves the entry, it does not count twice
    const id = this.#ids[server]!;
    const found = this.table.find(ip, now, this.ttlMs);
    // Replace an entry whose server is not usable for this session; otherwise only fill an empty one.
    const replacing = found !== 0 && found !== id && !this.#usable(this.serverOf(found), claim, states) ? found : 0;
    const stuck = this.table.claim(ip, id, now, this.ttlMs, replacing);
    claim.stickSlot = stuck.slot;
    if (stuck.id === id) return server;
    const other = this.serverOf(stuck.id);
    return this.#usable(other, claim, states) && limits.take(other) ? other : server;
  }

  /** The claim's session is over (or moves): its entry counts one session fewer. */
  release(claim: StickyClaim, now = Date.now()): void {
    if (claim.stickSlot < 0) return;
    const ip = claim.clientIp();
    if (ip !== null) this.table.release(claim.stickSlot, ip, now);
    claim.stickSlot = -1;
  }

  #usable(server: number, claim: StickyClaim, states: readonly ServerState[]): boolean {
    return server >= 0 && takesStuckClients(states[server] ?? "up") && !claim.exclude.includes(server);
  }
}
